//! How the balancer spreads requests over the hosts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// HAProxy's `balance` algorithm for the hosts' backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Each host in turn, whatever it has on its hands: the lab's default.
    #[default]
    Roundrobin,
    /// The host with the fewest requests in flight: a slow host, whose requests pile up, is
    /// sent fewer.
    Leastconn,
}

impl Balance {
    /// The keyword in `haproxy.cfg` and `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Balance::Roundrobin => "roundrobin",
            Balance::Leastconn => "leastconn",
        }
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
