//! A pool worker process: reads jobs on stdin, computes bands of the shared memory, answers on
//! stdout, and exits when the server closes its end (EOF).
//!
//! The same function runs in the workers forked at start-up and in replacements started by
//! re-executing this binary with `--pool-worker`, so there is one worker, however it started.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use matrix_service::trace::{now_us, thread_cpu_us};
use matrix_service::work::MAX_WAIT_MS;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid};

use crate::exit_code;
use crate::hooks::fault::ChildFault;
use crate::protocol::{BandTimes, Done, Job, Status};
use crate::sys::{SharedMemory, close_stray_fds, ignore_stop_signals, write_all};

/// A pool worker's name in traces.
pub const PROCESS_NAME: &str = "pool-worker";

/// The hidden flag that makes the binary a pool worker; its value is the server's pid.
pub const WORKER_FLAG: &str = "--pool-worker";

/// Runs a worker until the server closes its job pipe; returns the exit code.
pub fn run(server: Pid, fault: ChildFault) -> i32 {
    ignore_stop_signals();
    close_stray_fds();
    // Die with the server. Both ways a worker starts make the server's long-lived thread its
    // parent (main, or the pool's supervisor), so the thread-exit caveat of PR_SET_PDEATHSIG
    // does not cut a worker's life short.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != server {
        return exit_code::ORPHANED;
    }
    if fault == ChildFault::CrashAtStart {
        return exit_code::CRASHED_AT_START;
    }
    let Ok(memory) = SharedMemory::inherited() else {
        return exit_code::BROKEN;
    };
    // Replies go out with one write(2) each (atomic), not through stdout's line buffer.
    let (mut jobs, stdout) = (std::io::stdin().lock(), std::io::stdout());
    let done = stdout.as_fd();
    loop {
        let mut message = [0; Job::BYTES];
        match read_message(&mut jobs, &mut message) {
            Ok(true) => {}
            Ok(false) => return exit_code::OK,
            Err(_) => return exit_code::BROKEN,
        }
        let Some(job) = Job::decode(&message) else {
            return exit_code::BROKEN; // no healthy server sends an unknown kernel
        };
        if let Some(code) = act_out(fault, job, done) {
            return code;
        }
        let (started_us, cpu_before) = (now_us(), thread_cpu_us());
        if job.band.wait_us > 0 {
            // An io band's share of its request's wait: the worker is blocked, as a real one
            // reading a slow disk would be.
            std::thread::sleep(Duration::from_micros(job.band.wait_us.min(MAX_WAIT_MS * 1000)));
        }
        let band = memory.run_band(&job.band);
        let status = match band {
            Some(band) if band.overflowed => Status::Overflow,
            Some(_) => Status::Ok,
            None => Status::BadJob,
        };
        let checksum = band.map_or(0, |band| band.checksum);
        let mut reply = Done {
            id: job.id,
            status,
            checksum,
            ran: BandTimes {
                started_us,
                ended_us: now_us(),
                cpu_us: thread_cpu_us().saturating_sub(cpu_before),
            },
        }
        .encode()
        .to_vec();
        if fault == ChildFault::ExtraByte {
            reply.push(0);
        }
        if write_all(done, &reply).is_err() {
            return exit_code::OK; // the server is gone or stopped listening to us
        }
    }
}

/// Reads one whole message: `Ok(false)` on a clean EOF before its first byte.
fn read_message(from: &mut impl Read, message: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < message.len() {
        match from.read(&mut message[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The test hooks: what a misbehaving worker does on receiving `job`. `Some(code)` ends the
/// worker with that code.
fn act_out(fault: ChildFault, job: Job, done: BorrowedFd<'_>) -> Option<i32> {
    match fault {
        // The last two are the fork-per-request engine's; a pool worker behaves.
        ChildFault::None
        | ChildFault::ExtraByte
        | ChildFault::CrashAtStart
        | ChildFault::LingerIf { .. }
        | ChildFault::ParentHangsUp
        | ChildFault::SupervisorPollFails => None,
        ChildFault::Sleep(pause) => {
            std::thread::sleep(pause);
            None
        }
        ChildFault::Exit(code) => Some(code),
        ChildFault::HalfWrite => {
            let reply = Done {
                id: job.id,
                status: Status::Ok,
                checksum: 0,
                ran: BandTimes::default(),
            }
            .encode();
            let _ = write_all(done, &reply[..Done::BYTES / 2]);
            Some(exit_code::OK)
        }
        ChildFault::StaleDone => {
            let stale = Done {
                id: job.id ^ (1 << 63),
                status: Status::Ok,
                checksum: 0,
                ran: BandTimes::default(),
            };
            let _ = write_all(done, &stale.encode());
            None
        }
        ChildFault::Hang => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        ChildFault::Panic => panic!("injected worker panic (--debug-child-fault panic)"),
        ChildFault::Abort => std::process::abort(),
    }
}
