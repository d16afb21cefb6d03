//! The `cluster` object of `summary.json`: what the report, its charts and its conclusions are
//! drawn from.

use serde::{Deserialize, Serialize};

use super::balance::Balance;
use super::fault::Fault;
use crate::scenario::LoadLoop;

/// The whole `loadtest cluster` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// Each emulated host's CPU quota as asked; `None` for hosts given by `--host-url`.
    pub host_cpus: Option<f64>,
    /// The quota as the kernel holds it, read back from the cgroup after it was written
    /// (quota over period); `None` for hosts given by URL and in runs from before it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpus_applied: Option<f64>,
    /// `netns` (hosts emulated here) or `urls` (`--host-url`).
    pub hosts_from: String,
    /// The cgroup hierarchy the quotas were set in, if any.
    pub cgroup: Option<String>,
    pub haproxy_version: String,
    /// The load: GET `path?n=N` with `concurrency` connections.
    pub n: u32,
    pub concurrency: u32,
    pub trial_secs: f64,
    pub trials: u32,
    pub fault_trial_secs: f64,
    /// The balancer's timeouts, health checks and retries, as its configuration was written.
    #[serde(default = "BalancerSettings::until_recorded")]
    pub balancer: BalancerSettings,
    pub scaling: Vec<ScalingEntry>,
    pub faults: Vec<FaultEntry>,
}

/// One server kind at one host count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingEntry {
    pub server: String,
    pub hosts: u32,
    /// Median over the trials of 2xx answers a second.
    pub rps_median: f64,
    /// Medians over the trials of oha's 2xx latency percentiles.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// rps(hosts) / (hosts x rps(1 host)); `None` without a 1-host entry.
    pub efficiency: Option<f64>,
    /// Each trial's 2xx answers a second.
    pub rps_trials: Vec<f64>,
    /// Answers that were not 2xx, and requests that failed, over the trials.
    pub failed: u64,
    /// The hosts' CPU time per request they were sent, in ms (emulated hosts only): what one
    /// answer costs each model, whatever its host count.
    pub host_cpu_ms_per_request: Option<f64>,
    /// Each host's share of the load and of its CPU, over the measured trials.
    pub host_use: Vec<HostUse>,
    /// The balancer's CPU use, in CPUs (emulated hosts only).
    pub balancer_cpus: Option<f64>,
    /// oha's CPU use, in CPUs.
    pub client_cpus: Option<f64>,
}

/// What one host did during a host count's measured trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostUse {
    /// `h1`, `h2`, ...
    pub host: String,
    /// Requests the balancer sent it.
    pub requests: u64,
    /// CPUs it used on average (emulated hosts only).
    pub cpus: Option<f64>,
    /// Share of the scheduler periods it ran in that its quota cut short.
    pub throttled_share: Option<f64>,
}

/// One fault trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEntry {
    pub server: String,
    pub fault: Fault,
    pub hosts: u32,
    /// Whether the balancer retried and redispatched.
    pub retries: bool,
    /// Requests the client (oha) saw end, `ok + lost`; its own deadline cuts are left out. In
    /// an open loop, `lost` and so `requests` also count the due requests never sent.
    pub requests: u64,
    /// Of those, answered 2xx.
    pub ok: u64,
    /// Of those, failed or answered otherwise.
    pub lost: u64,
    /// The lost by what the client got: a status (`503`, `504`) or oha's error message.
    pub lost_by: std::collections::BTreeMap<String, u64>,
    /// The same two counts from the balancer's log of every request, which the timeline is drawn
    /// from. It also logs the requests oha cut at its deadline, answered or not. `None` in runs
    /// from before the log was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_lost: Option<u64>,
    /// Lines of the balancer's log that could not be read (two written into each other) and
    /// are left out of the log's counts and timeline.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_unreadable: u64,
    /// Requests in flight to the failed host when the fault struck.
    pub in_flight: u64,
    /// Requests oha cut at its deadline (not counted in `requests`).
    pub aborted_at_deadline: u64,
    /// The balancer's retries and redispatches, from its counters.
    pub retried: u64,
    pub redispatched: u64,
    /// From the fault to the balancer marking the host down; `None` if it never did.
    pub detect_s: Option<f64>,
    /// From the fault to a lasting recovery: the earliest time from which every 500 ms window
    /// up to the heal holds 2xx answers at 90% of the remaining hosts' capacity (`rps_before x
    /// (hosts - 1) / hosts`), if that time is at least 2 s before the heal; `None` otherwise
    /// (not recovered before the heal).
    pub recover_s: Option<f64>,
    /// From the heal to the balancer marking the host up again; `None` if it was never down or
    /// not back before the trial ended.
    pub back_up_s: Option<f64>,
    /// When the fault was injected and healed, seconds from the trial's start.
    pub fault_at_s: f64,
    pub heal_at_s: f64,
    /// 2xx answers a second before the fault (from 10% to 30% of the trial).
    pub rps_before: f64,
    /// 2xx answers a second from the fault to the heal, and after it (from 70% to 90% of the
    /// trial, once the healed host is back in); `None` in runs from before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_during: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_after: Option<f64>,
    /// The fewest 2xx answers a second over any 500 ms from the fault to the heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_worst_500ms: Option<f64>,
    /// The longest stretch from the fault to the heal in which 2xx answers ran under a tenth of
    /// `rps_before`'s pace, in s (0 when there was none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_s: Option<f64>,
    /// Of the requests the balancer accepted from the fault to the heal, the share it sent to the
    /// failed host, and the median time (ms, accept to answer or failure) that host's and the
    /// others' took: where the load went, and what waiting on the failed host cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim_share_during: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim_p50_ms_during: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others_p50_ms_during: Option<f64>,
    /// The balancer's algorithm in this trial (`roundrobin` in runs from before it varied).
    #[serde(default)]
    pub balance: Balance,
    /// `closed` or `open`: how the client offered its load.
    #[serde(rename = "loop", default)]
    pub load_loop: LoadLoop,
    /// An open loop's offered rate, req/s, and the requests due at it over the trial; the due
    /// ones the client never sent are counted in `lost` (as `unsent` in `lost_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<u64>,
    /// Successful and failed requests per 100 ms, by when the balancer accepted them.
    pub timeline: Vec<Slot>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Requests that ended well and badly in one slot of a timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub ok: u32,
    pub failed: u32,
}

/// The balancer's settings as `loadtest cluster` wrote them into `haproxy.cfg`: what the report
/// quotes when it explains a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalancerSettings {
    /// `timeout connect`: the longest a connection to a host may take to open.
    pub connect_timeout_ms: u64,
    /// `timeout server`: the longest a host may take to answer; past it the request fails (504).
    pub server_timeout_ms: u64,
    /// `timeout check`, and each host's `check inter`, `fall` and `rise`: a health check's
    /// limit, how often one is sent, and how many in a row mark a host down or up.
    pub check_timeout_ms: u64,
    pub check_interval_ms: u64,
    pub check_fall: u32,
    pub check_rise: u32,
    /// `retries N` when the retries are on (`retries 0` when off).
    pub retries: u32,
}

impl BalancerSettings {
    /// What every cluster run wrote before `summary.json` recorded it (their `haproxy/*.cfg`
    /// files say so).
    pub fn until_recorded() -> Self {
        Self {
            connect_timeout_ms: 500,
            server_timeout_ms: 2000,
            check_timeout_ms: 500,
            check_interval_ms: 300,
            check_fall: 2,
            check_rise: 2,
            retries: 3,
        }
    }
}

/// `ms` as a person says it: `2 s`, `1.5 s`, `500 ms`.
pub fn spoken_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}
