//! The run marker every created name carries, so that `loadtest cluster --cleanup` can tell what
//! a run made (and which run) from anything else on the machine.
//!
//! A name is `ltc<pid>-<role>`: `ltc` for "loadtest cluster", the harness's process id in hex
//! (so a leftover's run can be checked for life), and the role: `br` the bridge, `lb` the
//! balancer's namespace, `cl` the client's, `h1`, `h2`, ... the hosts. The same name is used for
//! a namespace, the root end of its link and its cgroups. Linux caps an interface name at 15
//! bytes; the longest name here, a 7-digit pid with host 64, is 14.

use std::fmt;

/// The most hosts a run may create (names and addresses are sized for it).
pub const MAX_HOSTS: u32 = 64;

const PREFIX: &str = "ltc";

/// The marker of one run: the pid of the harness that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunMarker {
    pub pid: u32,
}

/// What a marked name is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Bridge,
    Balancer,
    Client,
    /// Host `i`, from 1.
    Host(u32),
}

impl RunMarker {
    /// This process's marker.
    pub fn own() -> Self {
        Self {
            pid: std::process::id(),
        }
    }

    /// The name of `role` in this run.
    pub fn name(self, role: Role) -> String {
        format!("{PREFIX}{:x}-{role}", self.pid)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Bridge => f.write_str("br"),
            Role::Balancer => f.write_str("lb"),
            Role::Client => f.write_str("cl"),
            Role::Host(i) => write!(f, "h{i}"),
        }
    }
}

/// The run and role of a name a run made, or `None` for any other name.
pub fn parse(name: &str) -> Option<(RunMarker, Role)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, role) = rest.split_once('-')?;
    if pid.is_empty() || pid.len() > 8 || !pid.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    let pid = u32::from_str_radix(pid, 16).ok()?;
    let role = match role {
        "br" => Role::Bridge,
        "lb" => Role::Balancer,
        "cl" => Role::Client,
        host => {
            let i: u32 = host.strip_prefix('h')?.parse().ok()?;
            if i == 0 || i > MAX_HOSTS || host != format!("h{i}") {
                return None;
            }
            Role::Host(i)
        }
    };
    Some((RunMarker { pid }, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_to_their_run_and_role() {
        let run = RunMarker { pid: 0x3f_ffff };
        for role in [
            Role::Bridge,
            Role::Balancer,
            Role::Client,
            Role::Host(1),
            Role::Host(MAX_HOSTS),
        ] {
            let name = run.name(role);
            assert!(name.len() <= 15, "{name} is too long for an interface");
            assert_eq!(parse(&name), Some((run, role)), "{name}");
        }
        assert_eq!(run.name(Role::Host(3)), "ltc3fffff-h3");
    }

    #[test]
    fn other_names_are_not_ours() {
        for name in [
            "eth0",
            "docker0",
            "ltc-h1",
            "ltc12-",
            "ltc12-h0",
            "ltc12-h01",
            "ltc12-x",
            "ltcZZ-br",
            "ltc1A-br",
            "ltc12-h65",
            "xltc12-br",
            "ltc12-br-2",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }
}
