//! Reaping one child by pid with the CPU it used: `wait4(2)`, which nix does not wrap.
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

/// Waits for child `pid` (blocking, retried on EINTR): how it ended, and the user and system
/// CPU it used in all, in microseconds, as the kernel accounted it at its exit.
pub fn wait_with_cpu(pid: Pid) -> nix::Result<(WaitStatus, u64)> {
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
                let status = WaitStatus::from_raw(pid, status)?;
                let micros = |time: libc::timeval| {
                    u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(time.tv_usec).unwrap_or(0)
                };
                return Ok((status, micros(usage.ru_utime) + micros(usage.ru_stime)));
            }
        }
    }
}
