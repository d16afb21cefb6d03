//! What `loadtest cluster` writes in `summary.json`: the run ([`ClusterRun`]), the scaling and
//! fault trials ([`summary`]), and the faults it injects ([`fault`]).

pub mod balance;
pub mod fault;
pub mod summary;

use serde::{Deserialize, Serialize};

use crate::summary::Machine;

/// The fault timeline's resolution, in ms.
pub const SLOT_MS: u64 = 100;

/// How often a fault trial reads the balancer's view of the failed host, ms: `detect_s` is
/// the first read that saw it down, so the balancer marked it down at most this long before.
pub const STATE_POLL_MS: u64 = 100;

/// When a fault strikes and when it is healed, as shares of its trial.
pub const FAULT_AT: f64 = 0.3;
pub const HEAL_AT: f64 = 0.6;
pub use crate::scenario::LoadLoop;
pub use balance::Balance;
pub use summary::{BalancerSettings, ClusterSummary, FaultEntry, HostUse, ScalingEntry, Slot};

/// Everything `summary.json` holds for a cluster run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterRun {
    pub command: Vec<String>,
    pub started_utc: String,
    pub elapsed_secs: f64,
    pub machine: Machine,
    pub cluster: ClusterSummary,
    pub conclusions: Vec<String>,
    /// The lab's cluster targets this run's trials cover, each checked against its own data;
    /// empty in runs from before they were.
    #[serde(default)]
    pub targets: Vec<crate::summary::TargetCheck>,
}
