//! The result model: what `summary.json` holds, and what every report (markdown, charts, the
//! terminal table) is drawn from. Raw per-trial figures ([`TrialRecord`]) and the aggregates
//! computed from them ([`ScenarioResult`], [`Comparison`]) are separate types, so a report can
//! always be recomputed from the raw data.
//!
//! Units are in the field names (`_ms`, `_secs`, `_bytes`). Keys are snake_case. The keys of
//! [`ScenarioResult`] up to `peak_memory_bytes`, `results` and `oha_version` are part of the
//! lab's contract (`docs/harness.md`, "What it writes"); the rest may grow.

use matrix_service::WorkKind;
use serde::{Deserialize, Serialize};

pub use crate::scenario::{LoadLoop, ScenarioKey};
use crate::stats::{Ratio, Stats, Verdict};
pub use crate::vocabulary::{Mode, Phase, SweepKind, TargetId};

/// Everything one harness run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `loadtest` and its version.
    pub tool: String,
    /// When the run started, RFC 3339, UTC.
    pub started_utc: String,
    /// Seconds the measurement took: from the servers being up to the last trial's end.
    pub wall_secs: f64,
    /// Seconds before it: finding (or installing) oha, building and starting the servers.
    #[serde(default)]
    pub setup_secs: f64,
    /// The machine and software the numbers come from.
    pub machine: Machine,
    /// `oha --version`, as printed.
    pub oha_version: String,
    /// The servers measured.
    pub servers: Vec<ServerInfo>,
    /// How the run was designed: load, trials, sweeps.
    pub design: Design,
    /// What the servers' own answers say their work costs, per scenario (sequential requests
    /// before the load).
    pub probes: Vec<Probe>,
    /// The in-process CPU cost of one request's work (generate and add, one thread), per n.
    pub work_costs: Vec<WorkCost>,
    /// How fast each CPU ran one fixed product before and after the trials (`None` in runs from
    /// before the check, and when the CPUs could not be pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_speed: Option<crate::cpu_speed::CpuSpeed>,
    /// CPU microseconds to start and join one thread in the harness's process, the lower of
    /// before and after the trials: what scoped threads pay per band beyond the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_start_cpu_us: Option<f64>,
    /// The floors the ledger's phases are set against, beyond `work_costs` and
    /// `thread_start_cpu_us`.
    #[serde(default, skip_serializing_if = "crate::floors::Floors::is_empty")]
    pub floors: crate::floors::Floors,
    /// `--python`: what one request to the lab handout's own processes app did (it cannot be
    /// measured: it deadlocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_processes_seed: Option<crate::python::SeedProbe>,
    /// `--python`: one request at a time, 1 worker against 2, on the servers whose claims
    /// depend on it (Python's threads and processes, Rust's threads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker_probes: Vec<crate::python::WorkerProbe>,
    /// One aggregate per server and scenario, over the valid measured trials.
    pub results: Vec<ScenarioResult>,
    /// Ratios between servers, per scenario.
    pub comparisons: Vec<Comparison>,
    /// Every trial, warm-ups and invalid ones included.
    pub trials: Vec<TrialRecord>,
    /// How noisy the machine was during the trials (`None` in runs from before it was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<crate::noise::Noise>,
    /// Everything a reader should know before trusting the numbers.
    pub warnings: Vec<String>,
    /// The verdict, at most three sentences: who served the most, by how much, at what cost
    /// (empty in runs from before it, whose first conclusion was their verdict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdict: Vec<String>,
    /// The conclusions drawn from the data, as sentences: what the tables cannot say.
    pub conclusions: Vec<String>,
    /// The seeds' claims, each decided by this run's data (`--python`; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<crate::claims::Claim>,
    /// The lab's targets this run's data covers, each checked (empty in runs from before them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetCheck>,
    /// The traced windows kept after the trials (`trace_<server>_<work>.json`), and the servers
    /// not traced, with why (empty in a `--quick` run and in runs from before them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<crate::trace::TracedWindow>,
    /// Where a request's time and CPU go, per lab server and kind of work, read from the traced
    /// windows ([`crate::ledger`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger: Vec<crate::ledger::LedgerEntry>,
    /// What recording a trace cost each lab server (`--trace-cost`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_cost: Vec<crate::trace_cost::TraceCost>,
    /// `false` while the run goes on, and in a run stopped or killed before its last scenario:
    /// it then holds the scenarios it finished. Written only when `false`.
    #[serde(default = "complete", skip_serializing_if = "is_complete")]
    pub complete: bool,
}

/// A summary without `complete` is a whole run: every run before the field was.
fn complete() -> bool {
    true
}

fn is_complete(complete: &bool) -> bool {
    *complete
}

/// The look-ups every reader of a run makes: conclusions, targets, charts and tables ask these
/// rather than each searching the lists.
impl RunSummary {
    /// `server`'s result in `scenario`.
    pub fn result(&self, server: &str, scenario: ScenarioKey) -> Option<&ScenarioResult> {
        (self.results.iter()).find(|r| r.server == server && r.scenario == scenario)
    }

    /// `server`'s trials in `scenario` that count: measured and valid.
    pub fn measured_trials(&self, server: &str, scenario: ScenarioKey) -> impl Iterator<Item = &TrialRecord> {
        (self.trials.iter()).filter(move |t| t.server == server && t.scenario == scenario && t.counts())
    }

    /// `server` across `scenarios` (a sweep's points): each point where it has a result.
    pub fn across<'a>(
        &'a self,
        server: &'a str,
        scenarios: &'a [ScenarioKey],
    ) -> impl Iterator<Item = &'a ScenarioResult> + 'a {
        scenarios
            .iter()
            .filter_map(move |&scenario| self.result(server, scenario))
    }

    /// The servers' names, in the run's order.
    pub fn server_names(&self) -> Vec<&str> {
        self.servers.iter().map(|s| s.name.as_str()).collect()
    }
}

/// Where the numbers were measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub kernel: String,
    pub cpu_model: String,
    /// Logical CPUs available to the harness.
    pub cpus: u32,
    pub memory_bytes: u64,
    pub rustc: Option<String>,
    /// The project's git commit, if known.
    pub git_commit: Option<String>,
    /// `release` or `debug`: the profile the harness and managed servers were built with.
    pub build_profile: String,
}

/// One server under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `threading`, `multiprocessing`, or a `--target` name.
    pub name: String,
    /// The URL the load was sent to (default parameters; scenarios add their own query).
    pub url: String,
    /// Whether the harness started it.
    pub managed: bool,
    /// The root of the process tree whose CPU and memory were sampled: the harness's own child
    /// for a managed server, the `--pid` given for another; `None`: not sampled.
    pub pid: Option<i32>,
    /// The command line, for a managed server.
    pub command: Vec<String>,
    /// Threads or processes in the server's pool, from its `/metrics` (`lab_pool_threads`,
    /// `lab_pool_workers_alive`) once it was up; `None` for a server with no pool, or none to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
}

impl ServerInfo {
    /// Who started it and what was sampled, for a person.
    pub fn origin(&self) -> String {
        match (self.managed, self.pid) {
            (true, Some(pid)) => format!("started by the harness, pid {pid}"),
            (_, Some(pid)) => format!("already running; process tree of pid {pid} sampled"),
            (_, None) => "already running; not sampled".to_owned(),
        }
    }
}

/// How the run was designed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// `quick` (the classic `oha -n 200 -c 20`, one trial) or `measured`.
    pub mode: Mode,
    /// The load per trial: `-n 200` or `-z 5s`.
    pub load: String,
    pub warmup_trials: u32,
    pub measured_trials: u32,
    /// The swept variable (`concurrency`, `workers`, `n`), if any.
    pub sweep: Option<SweepKind>,
    /// Concurrency (oha `-c`) when it is not swept.
    pub concurrency: u32,
    /// Matrix side and workers asked of the servers when they are not swept.
    pub n: u32,
    pub workers: u32,
    /// The kind of work of the headline scenario (the first of `--work`), and io's wait.
    #[serde(default)]
    pub work: WorkKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u32>,
    /// Every kind of work the run asked for (`--work`), each swept alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub works: Vec<WorkKind>,
    /// Whether the run was `--lab`'s grid.
    #[serde(default)]
    pub lab: bool,
    /// `--rate`: every scenario open-loop at this many requests a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// `--rate-fraction`: the closed loop, then the open loop at this share of the slowest lab
    /// server's closed-loop median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_fraction: Option<f64>,
    /// `--server-cpus`: the CPUs the managed servers (and their children) were pinned to, as
    /// given (`0-1,3`); `None`: not pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpuset: Option<String>,
    /// `--client-cpus`: the CPUs oha was pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpuset: Option<String>,
}

impl Design {
    /// The headline scenario.
    pub fn base(&self) -> ScenarioKey {
        ScenarioKey {
            work: self.work,
            concurrency: self.concurrency,
            n: self.n,
            workers: self.workers,
            wait_ms: self.wait_ms,
            offered_rps: self.rate,
        }
    }
}

/// The timings a lab server reports in its answers (`generation_time_sec`,
/// `execution_time_sec`, `total_time_sec`), medians over sequential seeded requests made with no
/// other load: the cost of the work itself, without queueing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub server: String,
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    pub requests: u32,
    pub generation_ms: Option<f64>,
    /// The parallel addition alone.
    pub execution_ms: Option<f64>,
    pub total_ms: Option<f64>,
    /// The answer's checksum (the same seed is sent to every server).
    pub checksum: Option<i64>,
}

/// The raw figures of one trial (one oha run against one server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub server: String,
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    /// `warmup` (discarded) or `measured`.
    pub phase: Phase,
    /// 1-based, per server, scenario and phase.
    pub index: u32,
    /// The oha command line, exactly as run.
    pub oha_command: Vec<String>,
    /// oha's JSON, verbatim, relative to the output directory.
    pub raw_file: String,
    pub oha_exit_code: Option<i32>,
    /// Wall time oha ran (as measured by the harness).
    pub wall_secs: f64,
    /// oha's `summary.total`: the load's own duration.
    pub load_secs: Option<f64>,
    pub responses_2xx: u64,
    pub responses_non_2xx: u64,
    /// Of those, 503 answers: the server's admission saying it is full. They leave the trial
    /// valid and the server shown as overloaded (0 in runs from before).
    #[serde(default)]
    pub responses_503: u64,
    /// Connection or protocol failures (not counting deadline aborts).
    pub transport_errors: u64,
    /// Requests still in flight at the `-z` deadline, aborted by oha: not failures.
    pub deadline_aborts: u64,
    /// 2xx answers per second of the load.
    pub rps_2xx: Option<f64>,
    /// Latency over 2xx answers.
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Server CPU (user + system, whole process tree, reaped children included) in the window.
    pub server_cpu_secs: Option<f64>,
    pub cpu_ms_per_request: Option<f64>,
    /// PSS summed over the server's process tree: before, peak during, and after the trial.
    pub memory_before_bytes: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    pub memory_after_bytes: Option<u64>,
    /// The most threads the server's process tree held at once during the trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_threads: Option<u32>,
    /// oha's own CPU time (user + system).
    pub oha_cpu_secs: Option<f64>,
    /// oha's CPU time over the wall time, per available CPU it was allowed (0 to 1).
    pub oha_cpu_share: Option<f64>,
    /// oha used nearly all the CPU it could: the server may have been faster than this shows.
    pub client_bound: bool,
    /// The whole machine's CPU over the trial (`None` in runs from before it was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_cpu: Option<crate::noise::MachineCpu>,
    /// Counted in the aggregates only if valid.
    pub valid: bool,
    /// Why the trial is invalid, if it is.
    pub invalid_reasons: Vec<String>,
    /// Its RPS is a MAD outlier among its scenario's measured trials (kept, flagged).
    pub outlier: bool,
    /// The answers the server itself counted on its endpoint during the trial (its
    /// `/metrics`), for lab servers; a check on oha's count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_answers: Option<u64>,
}

impl TrialRecord {
    /// Whether it counts in the aggregates: measured, and valid.
    pub fn counts(&self) -> bool {
        self.phase == Phase::Measured && self.valid
    }
}

/// The aggregate of one server and scenario over its valid measured trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub server: String,
    /// Its scenario (`work` is `add` in runs from before there were others).
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    /// `closed` (each connection sends its next request when answered) or `open` (oha sends
    /// `offered_rps` requests a second whatever the answers, latency counted from when each
    /// request was due).
    #[serde(rename = "loop", default)]
    pub load_loop: LoadLoop,
    /// 2xx answers over all measured trials.
    pub requests: u64,
    /// 2xx answers over all answers and transport errors, all measured trials (deadline aborts
    /// excluded), from 0 to 1.
    pub success_rate: f64,
    pub rps_median: Option<f64>,
    /// Medians of the per-trial percentiles (percentiles are never averaged).
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub cpu_ms_per_request: Option<f64>,
    /// oha's CPU per answer, median over trials: what the client spent beside the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_ms_per_request: Option<f64>,
    /// What held it back (`waiting`, `machine-full`, `server-cpu`, `client-cpu`), by the rule
    /// of [`crate::bottleneck`]; `None` in runs from before the machine's CPU was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottleneck: Option<crate::bottleneck::Bottleneck>,
    /// Who took the CPUs over its trials, each a share of all CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<crate::bottleneck::CpuShares>,
    /// The highest PSS seen in any measured trial.
    pub peak_memory_bytes: Option<u64>,
    /// The most threads the server's process tree held at once in any measured trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_threads: Option<u32>,
    /// PSS after the last measured trial.
    pub memory_after_bytes: Option<u64>,
    /// `cpu_ms_per_request` over the in-process cost of the same work: how many times the work's
    /// own CPU the server spent per answer.
    pub cpu_vs_work: Option<f64>,
    /// `latency_p99_ms` over `latency_p50_ms`: how long the tail is against the typical answer
    /// (the lab's target is at most 3 at 20 connections).
    pub latency_p99_over_p50: Option<f64>,
    /// `cpu_ms_per_request` over n², in nanoseconds: CPU per element of the sum, flat across n
    /// when the cost grows like the work (see `scaling`).
    pub cpu_ns_per_element: Option<f64>,
    pub trials_valid: u32,
    pub trials_invalid: u32,
    /// Spread across trials.
    pub rps: Option<Stats>,
    pub latency_p50: Option<Stats>,
    pub latency_p99: Option<Stats>,
    pub cpu_per_request: Option<Stats>,
    pub outlier_trials: u32,
    pub client_bound_trials: u32,
    /// The share of answers that were 503 over its valid measured trials, when any was: the
    /// server was overloaded, and its req/s counts the 2xx answers alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overloaded_share: Option<f64>,
}

/// How two servers compare on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    /// The server in the numerator.
    pub a: String,
    /// The server in the denominator.
    pub b: String,
    /// `a`'s RPS over `b`'s (median over median).
    pub rps_ratio: Option<Ratio>,
    /// `a`'s CPU per request over `b`'s.
    pub cpu_ratio: Option<Ratio>,
    /// `a`'s peak memory over `b`'s.
    pub memory_ratio: Option<f64>,
    /// `faster`, `slower`, or `within noise` (the RPS ratio's interval overlaps the noise band),
    /// or `one trial: no verdict`.
    pub verdict: Verdict,
}

/// One of the lab's targets for one server (checked in the `targets` module): what was
/// measured and whether it is within the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// The target, written for a person: its work, scenario and figure.
    pub target: TargetId,
    pub server: String,
    /// The figure measured, in `unit`.
    pub figure: f64,
    pub unit: Unit,
    /// The limit, or `None` for a figure reported without one (the fork server's io).
    pub limit: Option<Limit>,
    /// Whether the figure is within the limit (`None` without a limit).
    pub met: Option<bool>,
    /// The measurements the figure comes from.
    pub from: String,
}

/// What a target's figure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One figure over another (shown as 0.50x).
    Ratio,
    /// A share of a ceiling, from 0 to 1 (shown as 95%).
    Share,
    /// Milliseconds (shown as 185 ms).
    Ms,
    /// A count (shown as 12).
    Count,
}

/// A target's bound and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    AtMost(f64),
    AtLeast(f64),
}

impl Limit {
    /// Whether `figure` is on the right side of the line (the line itself included).
    pub fn holds(self, figure: f64) -> bool {
        match self {
            Self::AtMost(limit) => figure <= limit,
            Self::AtLeast(limit) => figure >= limit,
        }
    }
}

impl TargetCheck {
    /// The figure as the report shows it; with one more digit when the usual rounding would
    /// show it equal to a limit it is not (0.602 against at most 0.6 reads "0.602x", not "0.60x
    /// missed").
    pub fn figure_text(&self) -> String {
        let shown = self.unit.show(self.figure);
        let limit = match self.limit {
            Some(Limit::AtMost(l) | Limit::AtLeast(l)) => l,
            None => return shown,
        };
        if shown == self.unit.show(limit) && self.figure != limit {
            self.unit.show_finer(self.figure)
        } else {
            shown
        }
    }

    /// "at most 0.60x", "at least 80%", or "none".
    pub fn limit_text(&self) -> String {
        match self.limit {
            Some(Limit::AtMost(l)) => format!("at most {}", self.unit.show(l)),
            Some(Limit::AtLeast(l)) => format!("at least {}", self.unit.show(l)),
            None => "none".to_owned(),
        }
    }

    /// "met", "missed", or "reported".
    pub fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "reported",
        }
    }
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Self::Ratio => format!("{value:.2}x"),
            Self::Share => format!("{:.0}%", value * 100.0),
            Self::Ms => format!("{value:.0} ms"),
            Self::Count => format!("{value:.0}"),
        }
    }

    fn show_finer(self, value: f64) -> String {
        match self {
            Self::Ratio => format!("{value:.3}x"),
            Self::Share => format!("{:.1}%", value * 100.0),
            Self::Ms => format!("{value:.1} ms"),
            Self::Count => format!("{value:.1}"),
        }
    }
}

/// The cost of one request's work at one matrix size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkCost {
    /// The kind of work (`add` in runs from before there were others).
    #[serde(default)]
    pub work: WorkKind,
    pub n: u32,
    /// Median CPU time of one generate-and-add, in ms.
    pub cpu_ms: f64,
    pub iterations: u32,
    /// Of which generating the two matrices, and the kernel alone (the add, or the one-thread
    /// product), medians in ms: the floors the ledger's generation and bands are set against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_ms: Option<f64>,
}

impl WorkCost {
    /// The cheaper of two measurements of the same work.
    #[must_use]
    pub fn lower(self, other: Self) -> Self {
        if other.cpu_ms < self.cpu_ms { other } else { self }
    }
}
