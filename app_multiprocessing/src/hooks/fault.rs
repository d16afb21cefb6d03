//! Faults a child can be told to act out, for tests only (the hidden `--debug-child-fault` flag).
//!
//! Each one is a way a real child could go wrong (or, for `ParentHangsUp`, its pipe), so the
//! tests can prove the parent answers the request with an error, kills and reaps every child,
//! and keeps serving.

use std::str::FromStr;
use std::time::Duration;

/// What every child does differently from its normal job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChildFault {
    /// Behave.
    #[default]
    None,
    /// Sleep this long, then do the job (a slow request, for shutdown and concurrency tests).
    Sleep(Duration),
    /// Exit at once with this code, writing nothing.
    Exit(i32),
    /// Write half the band, then exit 0.
    HalfWrite,
    /// Write the band and one byte more, then exit 0.
    ExtraByte,
    /// Never finish (wait for signals forever), so the parent's deadline must fire.
    Hang,
    /// Panic before writing: the unwind guard must end the child.
    Panic,
    /// Abort (SIGABRT) before writing.
    Abort,
    /// Prefork only: answer every job twice, first with a wrong job id (a stale message).
    StaleDone,
    /// Prefork only: every worker exits as soon as it starts (a crash loop).
    CrashAtStart,
    /// Fork per request only: a child whose band of A starts with `first` writes its band, then
    /// sleeps this long before exiting, its pipe still open (for one slow request among others).
    LingerIf { first: i64, pause: Duration },
    /// Fork per request only: the parent closes its end of every pipe right after the forks,
    /// so a child's write fails with EPIPE (SIGPIPE is ignored, as Rust programs do).
    ParentHangsUp,
    /// Prefork only: the pool supervisor's `poll` fails (EINVAL) whenever a worker holds a job,
    /// which stops the supervisor with requests in flight and queued.
    SupervisorPollFails,
}

impl FromStr for ChildFault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
        let number = |what: &str| {
            arg.parse::<u64>()
                .map_err(|_| format!("{kind} needs {what}, as in {kind}:{}", 100))
        };
        let linger = || {
            let usage = || format!("{kind} needs a value and milliseconds, as in {kind}:7:2000");
            let (first, pause) = arg.split_once(':').ok_or_else(usage)?;
            Ok::<_, String>(Self::LingerIf {
                first: first.parse().map_err(|_| usage())?,
                pause: Duration::from_millis(pause.parse().map_err(|_| usage())?),
            })
        };
        Ok(match kind {
            "none" => Self::None,
            "sleep-ms" => Self::Sleep(Duration::from_millis(number("milliseconds")?)),
            "exit" => Self::Exit(i32::try_from(number("an exit code")?).map_err(|e| e.to_string())?),
            "half-write" => Self::HalfWrite,
            "extra-byte" => Self::ExtraByte,
            "hang" => Self::Hang,
            "panic" => Self::Panic,
            "abort" => Self::Abort,
            "stale-done" => Self::StaleDone,
            "crash-at-start" => Self::CrashAtStart,
            "linger-if" => linger()?,
            "parent-hangs-up" => Self::ParentHangsUp,
            "supervisor-poll-fails" => Self::SupervisorPollFails,
            _ => {
                return Err(format!(
                    "unknown fault {spec:?}; known: none, sleep-ms:MS, exit:CODE, half-write, extra-byte, hang, \
                     panic, abort, stale-done, crash-at-start, linger-if:VALUE:MS, parent-hangs-up, \
                     supervisor-poll-fails"
                ));
            }
        })
    }
}

/// The spec that parses back to the same fault, to pass it on to a re-executed pool worker.
impl std::fmt::Display for ChildFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Sleep(pause) => write!(f, "sleep-ms:{}", pause.as_millis()),
            Self::Exit(code) => write!(f, "exit:{code}"),
            Self::HalfWrite => f.write_str("half-write"),
            Self::ExtraByte => f.write_str("extra-byte"),
            Self::Hang => f.write_str("hang"),
            Self::Panic => f.write_str("panic"),
            Self::Abort => f.write_str("abort"),
            Self::StaleDone => f.write_str("stale-done"),
            Self::CrashAtStart => f.write_str("crash-at-start"),
            Self::LingerIf { first, pause } => write!(f, "linger-if:{first}:{}", pause.as_millis()),
            Self::ParentHangsUp => f.write_str("parent-hangs-up"),
            Self::SupervisorPollFails => f.write_str("supervisor-poll-fails"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_known() {
        assert_eq!(
            "sleep-ms:250".parse(),
            Ok(ChildFault::Sleep(Duration::from_millis(250)))
        );
        assert_eq!("exit:3".parse(), Ok(ChildFault::Exit(3)));
        assert_eq!("hang".parse(), Ok(ChildFault::Hang));
        for spec in [
            "none",
            "sleep-ms:5",
            "exit:9",
            "half-write",
            "extra-byte",
            "hang",
            "panic",
            "abort",
            "stale-done",
            "crash-at-start",
            "linger-if:-3:2000",
            "parent-hangs-up",
            "supervisor-poll-fails",
        ] {
            assert_eq!(spec.parse::<ChildFault>().map(|f| f.to_string()), Ok(spec.to_owned()));
        }
        assert!(
            "exit:x"
                .parse::<ChildFault>()
                .unwrap_err()
                .contains("exit needs an exit code")
        );
        assert!(
            "linger-if:5"
                .parse::<ChildFault>()
                .unwrap_err()
                .contains("needs a value and milliseconds")
        );
        assert!(
            "melt"
                .parse::<ChildFault>()
                .unwrap_err()
                .contains("known: none, sleep-ms:MS")
        );
    }
}
