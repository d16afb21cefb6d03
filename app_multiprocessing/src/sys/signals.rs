//! Signals: the stop signals a child or worker ignores, and a test hook that interrupts
//! blocking calls on purpose.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{Pid, getpid};

/// SIG_IGN for the stop signals a terminal or a process manager sends the whole group: a
/// worker ends when the server closes its job pipe, after the server has drained.
pub fn ignore_stop_signals() {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT] {
        // SAFETY: installing SIG_IGN runs no handler code; sigaction is async-signal-safe.
        let _ = unsafe { sigaction(signal, &ignore) };
    }
}

// Test hook: interrupting signals (pitfall A8 in `docs/multiprocessing.md`).

/// Signals [`count_signal`] has handled, in every thread of this process.
static SIGNALS_HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs a handler for `signal` that only counts, without `SA_RESTART`: a thread blocked in
/// poll(2), read(2), write(2) or waitpid(2) when the signal arrives returns from it with EINTR
/// (poll does so even with `SA_RESTART`), which every such call of the server must retry.
pub fn interrupt_on(signal: Signal) -> nix::Result<()> {
    let action = SigAction::new(SigHandler::Handler(count_signal), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only increments an atomic counter, which is async-signal-safe, so it
    // may run on any thread at any point, in a forked child (which inherits it) too.
    unsafe { sigaction(signal, &action) }.map(drop)
}

/// How many signals the handler of [`interrupt_on`] has handled so far.
pub fn signals_handled() -> u64 {
    SIGNALS_HANDLED.load(Ordering::Relaxed)
}

/// Sends `signal` to thread `tid` of this process: tgkill(2), so a thread that has exited and
/// whose id now belongs to another process's thread is not signalled (ESRCH instead).
pub fn signal_own_thread(tid: Pid, signal: Signal) -> nix::Result<()> {
    // SAFETY: tgkill takes three integers and touches no memory of this process.
    let result = unsafe { libc::syscall(libc::SYS_tgkill, getpid().as_raw(), tid.as_raw(), signal as libc::c_int) };
    Errno::result(result).map(drop)
}
