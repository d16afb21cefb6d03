//! Forking: a band child from the server or from the fork server, and the long-lived helpers
//! (pool workers, the fork server) forked while the process still has one thread.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::{ForkResult, Pid, fork};

use super::child::{BandTask, ExitOnUnwind, child_main, exit_now};
use super::fds::worker_fds;
use crate::exit_code;

/// Forks a child that computes `task`, writes it to `task.write_end` and exits. Returns the
/// child's pid, in the parent only: the child never returns from this call.
///
/// The caller must hold the fork lock and close its copy of the write end right after, so no
/// other child inherits it (that would delay this pipe's EOF until the other child exits).
pub fn fork_band_child(task: &BandTask<'_>) -> nix::Result<Pid> {
    // SAFETY: `fork` is unsafe because the child of a multi-threaded process may only use
    // async-signal-safe operations until it exits. The child branch calls `child_main`, which
    // only reads existing memory, writes to a pipe, calls async-signal-safe functions
    // (sigaction, prctl, getppid, close_range, clock_gettime, write, nanosleep, pause, abort,
    // _exit) and ends in `_exit` on every path (`-> !`), so it never returns into this
    // function's callers, never drops a value, and never touches a lock or the allocator.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => child_main(task),
    }
}

/// Forks a child that `_exit`s at once: the fork floor's fork (see [`crate::fork_floor`]), a
/// fork, an exit and a reaping with nothing between. Returns the child's pid, in the parent.
pub fn fork_exiting_child() -> nix::Result<Pid> {
    // SAFETY: the child calls `_exit` (async-signal-safe) and nothing else, so it touches no
    // lock, allocates nothing and never returns into the caller, whatever threads the parent
    // has.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => exit_now(0),
    }
}

/// Forks a pool worker while the server is still single-threaded: the child moves its pipe
/// ends to stdin and stdout and the shared memory to [`WORKER_MEMORY_FD`](super::WORKER_MEMORY_FD), closes everything
/// else, runs `worker_main` and exits with its code. Returns the worker's pid, in the parent.
///
/// # Panics
/// If the process has more than one thread: forking then is exactly what the pool avoids.
pub fn fork_pool_worker(
    jobs: BorrowedFd<'_>,
    done: BorrowedFd<'_>,
    memory: BorrowedFd<'_>,
    worker_main: impl FnOnce() -> i32,
) -> nix::Result<Pid> {
    fork_single_threaded(|| {
        if worker_fds(jobs.as_raw_fd(), done.as_raw_fd(), memory.as_raw_fd()).is_err() {
            return exit_code::BROKEN;
        }
        worker_main()
    })
}

/// Forks a long-lived helper (a pool worker, the fork server) while the process still has a
/// single thread. The child runs `child` and `_exit`s with its result; returns its pid, in the
/// parent.
///
/// # Panics
/// If the process has more than one thread: forking then is exactly what helpers avoid.
pub fn fork_single_threaded(child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    assert_eq!(
        thread_count(),
        Some(1),
        "helper processes are forked before any thread starts"
    );
    // SAFETY: the process has one thread (asserted above), so the child's copy of memory holds
    // no lock another thread owned, and the child may run ordinary code. It never returns into
    // the caller: `child`'s result goes to `_exit`, and a panic inside it is caught by the
    // unwind guard, which also `_exit`s.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let _exit_on_unwind = ExitOnUnwind;
            exit_now(child())
        }
    }
}

/// In the fork server: forks a child that computes `task` and is the child not of the fork
/// server but of its parent, the HTTP server (`clone(CLONE_PARENT)`). So the server reaps it,
/// kills it at its deadline and sees it in its own process tree, exactly as if it had forked
/// it itself, and the child's `getppid()` and parent-death signal refer to the server.
///
/// Must only be called in the fork server, which has one thread.
pub fn fork_band_child_for_parent(task: &BandTask<'_>) -> nix::Result<Pid> {
    // SAFETY: a raw clone(2) with no new stack behaves like fork(2): the child continues on a
    // copy of this stack. The fork server has a single thread, so no lock in the child's copy
    // of memory is held by anyone. The raw call skips glibc's fork bookkeeping (atfork
    // handlers, the thread descriptor's cached tid), which `child_main` does not depend on: it
    // calls no pthread function, and raise/abort ask the kernel for the thread id. The child
    // branch calls `child_main`, which ends in `_exit` on every path and never returns. The
    // four trailing zeros (no stack, no tid pointers, no TLS) mean the same in every
    // architecture's argument order.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        -1 => Err(Errno::last()),
        0 => child_main(task),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// The process's thread count, from `/proc/self/status`.
pub fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("Threads:"))?;
    line.trim().parse().ok()
}
