//! The open-files limit the harness, oha and the servers it starts run under. Every connection
//! is a descriptor in oha and another in the server, so 1,024 connections do not fit the usual
//! soft limit of 1,024. The harness raises its soft limit to the hard one at start (the processes
//! it starts inherit it) and says when even that is too low for the run's most connections.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors a process needs beside one per connection: its listening socket, logs, pipes,
/// the runtime's own.
pub const MARGIN: u64 = 64;

/// The soft limit before and after raising it to the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub before: u64,
    pub now: u64,
}

impl OpenFiles {
    /// What to say on the terminal when the limit was raised.
    pub fn raised(&self) -> Option<String> {
        (self.now > self.before).then(|| {
            format!(
                "open-files limit raised from {} to its hard limit, {}",
                self.before, self.now
            )
        })
    }

    /// The warning, for the terminal and the report, when the limit is below what a run of at
    /// most `connections` connections needs.
    pub fn too_low_for(&self, connections: u32) -> Option<String> {
        let needed = u64::from(connections) + MARGIN;
        (self.now < needed).then(|| {
            format!(
                "The open-files limit, {}, is below the {needed} descriptors {connections} connections need (one \
                 each in oha and in the server, and {MARGIN} more): connections past it may fail. Raise the hard \
                 limit (`ulimit -Hn`, or LimitNOFILE for a service) and run again.",
                self.now
            )
        })
    }
}

/// Raises this process's soft open-files limit to its hard limit.
pub fn raise_to_hard_limit() -> nix::Result<OpenFiles> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (now, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(OpenFiles { before: soft, now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_rises_to_the_hard_one_and_children_inherit_it() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let limits = raise_to_hard_limit().unwrap();
        assert_eq!(limits.now, hard);
        assert!(limits.before <= limits.now);
        let child = std::process::Command::new("sh")
            .args(["-c", "ulimit -n"])
            .output()
            .unwrap();
        let seen = String::from_utf8_lossy(&child.stdout).trim().to_owned();
        assert!(
            seen == hard.to_string() || (seen == "unlimited" && hard == u64::MAX),
            "{seen}"
        );
    }

    #[test]
    fn it_says_when_it_raised_the_limit_and_when_the_hard_one_is_too_low() {
        let limits = |before, now| OpenFiles { before, now };
        assert_eq!(limits(20_000, 20_000).raised(), None);
        assert_eq!(limits(20_000, 20_000).too_low_for(1024), None);
        assert_eq!(
            limits(1024, 20_000).raised().unwrap(),
            "open-files limit raised from 1024 to its hard limit, 20000"
        );
        let low = limits(256, 1024).too_low_for(1024).unwrap();
        assert!(low.starts_with("The open-files limit, 1024, is below the 1088 descriptors 1024 connections need"));
        assert_eq!(limits(256, 1088).too_low_for(1024), None, "exactly enough");
    }
}
