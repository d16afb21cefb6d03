//! The exit codes of band children and pool workers, in one table, and how a parent puts a
//! reaped process's end into words.

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

/// A band child wrote its band whole and no sum overflowed; a pool worker's server closed its
/// job pipe. A normal end.
pub const OK: i32 = 0;
/// A band child's write to its pipe failed (EPIPE: the parent stopped reading).
pub const WRITE_FAILED: i32 = 3;
/// A band child wrote its band whole, but some sum overflowed `i64` (the values wrapped).
pub const OVERFLOW: i32 = 4;
/// The server was gone before the process could arm its parent-death signal.
pub const ORPHANED: i32 = 5;
/// A pool worker's descriptors or shared memory could not be set up, or its pipes broke
/// mid-message.
pub const BROKEN: i32 = 6;
/// A pool worker acted out the `crash-at-start` test hook.
pub const CRASHED_AT_START: i32 = 7;
/// A band child's band did not make one band of its kernel, or a row of its result was wider
/// than its stack buffer (the server's limits prevent both).
pub const BAD_BAND: i32 = 8;
/// Something unwound (a panic) in a forked process: its guard exited instead of returning.
pub const UNWOUND: i32 = 101;

/// What an exit code means, where it means more than its number.
fn meaning(code: i32) -> Option<&'static str> {
    match code {
        WRITE_FAILED => Some("it could not write to its pipe"),
        OVERFLOW => Some("a sum overflowed"),
        ORPHANED => Some("the server was gone before it started"),
        BROKEN => Some("its pipes or shared memory broke"),
        BAD_BAND => Some("its band did not fit its kernel or its buffer"),
        UNWOUND => Some("it panicked"),
        _ => None,
    }
}

/// How a reaped child or worker ended, in words: "exited with code 3: it could not write to
/// its pipe", "was killed by SIGKILL (out of memory, or killed)", ...
pub fn describe(status: nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => match meaning(code) {
            Some(meaning) => format!("exited with code {code}: {meaning}"),
            None => format!("exited with code {code}"),
        },
        Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) => "was killed by SIGKILL (out of memory, or killed)".into(),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {signal}"),
        Ok(other) => format!("changed state ({other:?})"),
        Err(e) => format!("could not be reaped ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn codes_are_distinct_and_described() {
        let codes = [
            OK,
            WRITE_FAILED,
            OVERFLOW,
            ORPHANED,
            BROKEN,
            CRASHED_AT_START,
            BAD_BAND,
            UNWOUND,
        ];
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        let pid = Pid::from_raw(1);
        assert_eq!(
            describe(Ok(WaitStatus::Exited(pid, WRITE_FAILED))),
            "exited with code 3: it could not write to its pipe"
        );
        assert_eq!(describe(Ok(WaitStatus::Exited(pid, 9))), "exited with code 9");
        assert_eq!(
            describe(Ok(WaitStatus::Signaled(pid, Signal::SIGABRT, false))),
            "was killed by SIGABRT"
        );
    }
}
