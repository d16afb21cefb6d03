//! The life of a band child, from its first instruction to `_exit`.
//!
//! The server is multi-threaded when it forks (actix workers, the blocking pool), so the child
//! starts with one thread and a copy of memory in which other threads may have held locks: the
//! allocator's, stdout's, tracing's, tokio's. Until it exits it may only do async-signal-safe
//! things (fork(2), signal-safety(7)). So the child:
//! - computes on memory that existed before the fork (its band of A, its band or all of B, a
//!   stack buffer);
//! - `write(2)`s the result to its own pipe, retrying on EINTR and partial writes, and after it
//!   [`BandTimes`]: when it started and ended its band and the CPU it used, read with
//!   `clock_gettime(2)`, so the server can trace the band without the child allocating;
//! - ends with `_exit(2)`, never returning into the parent's code: a returning child would run
//!   the copied tokio runtime, which shares the parent's epoll instance and client sockets;
//! - never allocates, locks, logs or panics; an `ExitOnUnwind` guard turns any unwind into
//!   `_exit` all the same.
#![allow(unsafe_code)]

use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::unistd::{Pid, getppid};

use matrix_service::Kernel;

use super::fds::close_all_fds_but;
use super::signals::ignore_stop_signals;
use crate::exit_code;
use crate::hooks::fault::ChildFault;
use crate::protocol::BandTimes;

/// Elements the child computes per `write(2)`: 64 KiB of stack, one default pipe's worth. A
/// product's child computes whole rows at a time, so no row of a result may be wider
/// ([`MAX_RESULT_COLS`]).
const CHUNK_ELEMENTS: usize = 8192;

/// The widest result a band child can compute: one row must fit its stack buffer. The server
/// refuses a `--max-n` above it.
pub const MAX_RESULT_COLS: usize = CHUNK_ELEMENTS;

/// A child's whole job. Everything it refers to exists before the fork, so the child needs no
/// allocation.
pub struct BandTask<'a> {
    /// The child's rows of A, and its rows of B (a sum) or all of B (a product), flattened.
    pub a: &'a [i64],
    pub b: &'a [i64],
    pub kernel: Kernel,
    /// Elements of the result the child computes and writes.
    pub out_len: usize,
    /// The write end of the child's own pipe.
    pub write_end: BorrowedFd<'a>,
    /// The server's pid, to detect a parent that died before the child armed PR_SET_PDEATHSIG.
    pub parent: Pid,
    pub fault: ChildFault,
    /// How long to wait before adding: an io band's share of its request's wait.
    pub wait: std::time::Duration,
}

/// The child: computes its band into a stack buffer chunk by chunk, writes each chunk, exits.
pub(super) fn child_main(task: &BandTask<'_>) -> ! {
    let _exit_on_unwind = ExitOnUnwind;
    prepare_child(task);
    let started_us = matrix_service::trace::now_us(); // clock_gettime(2): async-signal-safe
    match task.fault {
        // The pool's own faults mean nothing to a per-request child.
        ChildFault::None
        | ChildFault::HalfWrite
        | ChildFault::ExtraByte
        | ChildFault::StaleDone
        | ChildFault::CrashAtStart
        | ChildFault::LingerIf { .. }
        | ChildFault::ParentHangsUp
        | ChildFault::SupervisorPollFails => {}
        ChildFault::Sleep(pause) => std::thread::sleep(pause), // nanosleep(2), retried on EINTR
        ChildFault::Exit(code) => exit_now(code),
        ChildFault::Hang => loop {
            nix::unistd::pause();
        },
        ChildFault::Panic => panic!("injected child panic (--debug-child-fault panic)"),
        ChildFault::Abort => std::process::abort(),
    }

    if !task.wait.is_zero() {
        std::thread::sleep(task.wait); // nanosleep(2), retried on EINTR
    }
    if !task.kernel.fits(task.a.len(), task.b.len(), task.out_len) {
        exit_now(exit_code::BAD_BAND);
    }
    let limit = match task.fault {
        ChildFault::HalfWrite => task.out_len / 2,
        _ => task.out_len,
    };
    let mut chunk = [0i64; CHUNK_ELEMENTS];
    let (mut overflowed, mut written) = (false, 0);
    for (a, b, len) in task.kernel.pieces(task.a, task.b, CHUNK_ELEMENTS) {
        let Some(piece) = chunk.get_mut(..len) else {
            exit_now(exit_code::BAD_BAND)
        };
        overflowed |= task.kernel.run(a, b, piece).overflowed;
        let send = piece.get(..len.min(limit - written)).unwrap_or_default();
        let Ok(bytes) = bytemuck::try_cast_slice::<i64, u8>(send) else {
            exit_now(exit_code::WRITE_FAILED)
        };
        if write_all(task.write_end, bytes).is_err() {
            exit_now(exit_code::WRITE_FAILED);
        }
        written += send.len();
        if written == limit {
            break;
        }
    }
    let times = BandTimes {
        started_us,
        ended_us: matrix_service::trace::now_us(),
        cpu_us: process_cpu_us(),
    };
    if write_all(task.write_end, &times.encode()).is_err() {
        exit_now(exit_code::WRITE_FAILED);
    }
    if task.fault == ChildFault::ExtraByte && write_all(task.write_end, &[0]).is_err() {
        exit_now(exit_code::WRITE_FAILED);
    }
    if let ChildFault::LingerIf { first, pause } = task.fault
        && task.a.first() == Some(&first)
    {
        std::thread::sleep(pause);
    }
    exit_now(if overflowed { exit_code::OVERFLOW } else { exit_code::OK })
}

/// CPU this process has used since its fork, in microseconds (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_us() -> u64 {
    let Ok(used) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID) else {
        return 0;
    };
    u64::try_from(used.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(used.tv_nsec()).unwrap_or(0) / 1000
}

/// A band child's process name, as `ps` and `/proc/PID/comm` show it.
pub const BAND_CHILD_NAME: &std::ffi::CStr = c"band-child";

/// Makes the child independent of the server's signals and descriptors.
fn prepare_child(task: &BandTask<'_>) {
    // prctl(PR_SET_NAME): a system call, async-signal-safe.
    let _ = nix::sys::prctl::set_name(BAND_CHILD_NAME);
    // Ctrl-C or SIGTERM to the process group must not kill a child mid-band while the server
    // drains its in-flight requests; the server stops children with SIGKILL only. (Inherited
    // tokio handlers would swallow these signals anyway, and write into the server's self-pipe.)
    ignore_stop_signals();
    // Die with the server. The thread that counts as this child's parent outlives it: forked
    // by the server, the forking thread, which drains the child's pipe for the child's whole
    // life; forked by the fork server (CLONE_PARENT), the server's main thread, which forked
    // the fork server. So the thread-exit caveat of PR_SET_PDEATHSIG does not apply.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and no user-space lock.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if getppid() != task.parent {
        exit_now(exit_code::ORPHANED); // the server died before the line above took effect
    }
    // Close every inherited descriptor but stdio and our pipe: the listening socket, client
    // connections, and other requests' pipes, whose readers and writers must not be kept alive.
    close_all_fds_but(task.write_end);
}

/// Writes all of `bytes`, retrying on EINTR and partial writes. Allocation-free.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ends the process at once: no destructors, no atexit handlers, no stdio flush (a flush would
/// print the parent's buffered output a second time).
pub(super) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and touches nothing in user space.
    unsafe { libc::_exit(code) }
}

/// Ends the child if anything unwinds, so a panic can never return into the server's code.
pub(super) struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        exit_now(exit_code::UNWOUND);
    }
}
