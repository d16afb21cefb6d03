//! Reaping one child by pid with the CPU and page faults it used: `wait4(2)`, which nix does
//! not wrap.
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

/// What `wait4` tells of a child it reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub status: WaitStatus,
    /// The user and system CPU it used in all, in microseconds, as the kernel accounted it at
    /// its exit.
    pub cpu_us: u64,
    /// Its minor page faults (`ru_minflt`): pages it touched that had to be mapped or copied
    /// for it without reading from disk: after a fork, a page the parent shares copy-on-write
    /// or a shared page the child's page tables do not map yet.
    pub minor_faults: u64,
}

/// Waits for child `pid` (blocking, retried on EINTR), and what the kernel counted of it.
pub fn wait_with_usage(pid: Pid) -> nix::Result<Reaped> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero `rusage` is a valid value of this plain C struct of integers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 writes only through the two pointers, which point to live, writable
        // locals of the right types for the length of the call.
        let reaped = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut usage) };
        match reaped {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            _ => {
                let micros = |time: libc::timeval| {
                    u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(time.tv_usec).unwrap_or(0)
                };
                return Ok(Reaped {
                    status: WaitStatus::from_raw(pid, status)?,
                    cpu_us: micros(usage.ru_utime) + micros(usage.ru_stime),
                    minor_faults: u64::try_from(usage.ru_minflt).unwrap_or(0),
                });
            }
        }
    }
}
