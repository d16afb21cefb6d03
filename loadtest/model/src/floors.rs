//! The floors a run measures beside its servers, that the ledger's phases are set against
//! (`summary.json`'s `floors`): one core's memory bandwidth, and a fork of a process the size of
//! each fork server. The work's own one-thread cost (generation, the kernel) and a thread's
//! start are `work_costs` and `thread_start_cpu_us`, from before there was a ledger.

use serde::{Deserialize, Serialize};

/// `summary.json`'s `floors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Floors {
    /// One core's memory bandwidth, GB/s, as the lab's add streams matrices far bigger than
    /// any cache (the higher of before and after the trials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gb_s: Option<f64>,
    /// A fork of a process sized like each fork-per-request server's fork server, measured
    /// after its trials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forks: Vec<ForkFloor>,
}

impl Floors {
    pub fn is_empty(&self) -> bool {
        self.memory_bandwidth_gb_s.is_none() && self.forks.is_empty()
    }

    /// The fork floor measured beside `server`'s fork server.
    pub fn fork_of(&self, server: &str) -> Option<&ForkFloor> {
        self.forks.iter().find(|f| f.server == server)
    }
}

/// What `fork-floor` measured: forks of a process with `private_bytes` and `shared_bytes`
/// resident, one at a time, each child exiting at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkFloor {
    /// The server whose fork server the process was sized like.
    pub server: String,
    pub private_bytes: u64,
    pub shared_bytes: u64,
    pub forks: u32,
    /// The parent's `fork()` call, wall time, median, µs.
    pub fork_us: f64,
    /// The parent's `fork()` call, its CPU, mean, µs.
    pub fork_cpu_us: f64,
    /// From the fork to the child reaped, wall time, median, µs.
    pub cycle_us: f64,
    /// The empty child's CPU, its exit, from `wait4`, mean, µs.
    pub exit_cpu_us: f64,
    /// The empty child's minor page faults from `wait4`, mean (absent in runs from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_minor_faults: Option<f64>,
}

/// The bytes an add at side `n` moves: two matrices of `i64` read, one written.
pub fn add_bytes(n: u32) -> u64 {
    3 * u64::from(n) * u64::from(n) * size_of::<i64>() as u64
}
