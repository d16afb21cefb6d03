//! What a run will do: which servers, which scenarios, how many trials of what load.

use std::path::PathBuf;
use std::time::Duration;

use loadtest_model::catalogue::LabServer;
pub use loadtest_model::summary::{Mode, ScenarioKey, SweepKind};

/// The load of one trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialLoad {
    /// oha -n
    Requests(u64),
    /// oha -z
    Duration(Duration),
}

impl TrialLoad {
    /// As oha's flags would say it.
    pub fn describe(self) -> String {
        match self {
            Self::Requests(n) => format!("-n {n}"),
            Self::Duration(d) => format!("-z {}s", d.as_secs_f64()),
        }
    }
}

/// A sweep: one variable over several values, the others fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub kind: SweepKind,
    pub values: Vec<u32>,
}

/// A lab server taking part in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabTarget {
    pub server: LabServer,
    /// The URL of one already running (`--url NAME=URL`); `None`: the harness
    /// starts it.
    pub url: Option<String>,
    /// The root of its process tree, to sample one already running (`--pid`).
    pub pid: Option<i32>,
}

/// Another server to compare: `--target NAME=URL`, or one of the Python lab's apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub url: String,
    /// The root of its process tree, to sample (`--pid NAME=PID`).
    pub pid: Option<i32>,
    /// What it understands of the lab's protocol: [`Api::AsGiven`] for a `--target`.
    pub api: Api,
}

/// What a server under test understands of the lab's protocol, and so what the harness may ask
/// of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// A lab server of the catalogue: the lab's query and answer, `/healthz`, `/metrics` and
    /// `/debug/trace`.
    Lab,
    /// The lab's query and answer (`n`, `workers`, `work`, `wait_ms`, `seed`; a `checksum`)
    /// alone: the Python lab's `py-*` apps. No counters, no tracer.
    LabQuery,
    /// Its URL as given, with no query: the handout's apps and `--target` servers.
    AsGiven,
}

impl Api {
    /// Whether it is sent each scenario's query and answers with a checksum.
    pub fn takes_query(self) -> bool {
        matches!(self, Self::Lab | Self::LabQuery)
    }
}

/// A lab server already running, as `--url NAME=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    pub name: String,
    pub url: String,
}

/// A server's process to sample, as `--pid NAME=PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidSpec {
    pub name: String,
    pub pid: i32,
}

/// The workers the Python lab's `py-*` apps are swept over, each kind of work.
pub const PYTHON_WORKERS: [u32; 4] = [1, 2, 4, 8];

/// Their measured trials per scenario in that sweep: the Python apps are slow enough that two
/// trials of each keep `--lab --python` within 30 minutes.
pub const PYTHON_TRIALS: u32 = 2;

/// A scenario beyond the grid, and who runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Extra {
    pub scenario: ScenarioKey,
    /// The lab servers that run it; `None`: every lab server of the run.
    pub servers: Option<Vec<String>>,
}

/// The whole run, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub mode: Mode,
    /// Measured trials per server and scenario.
    pub trials: u32,
    pub trial_load: TrialLoad,
    /// Warm-up per server and scenario (discarded), if any.
    pub warmup: Option<Duration>,
    /// The scenario when nothing is swept; the fixed values when something is. Its `work` is
    /// the first of `works`.
    pub base: ScenarioKey,
    pub sweep: Option<Sweep>,
    /// The kinds of work (`--work`), each swept the same way: the one sweep of two variables.
    /// Each has its own base: `base` with its `work` (and `wait_ms` for `io`), and under
    /// `--lab` io's own n and connections.
    pub works: Vec<ScenarioKey>,
    /// Whether this is the `--lab` grid.
    pub lab_grid: bool,
    /// Scenarios beyond the grid, run after it, closed-loop: under `--lab`, io at many
    /// connections ([`ScenarioKey::MANY_WAITS`], [`ScenarioKey::LONG_WAITS`]).
    pub extra: Vec<Extra>,
    pub out_dir: PathBuf,
    pub oha: Option<PathBuf>,
    /// The lab servers taking part (`--servers`), in the catalogue's order.
    pub lab: Vec<LabTarget>,
    pub extra_targets: Vec<TargetSpec>,
    /// oha -t
    pub request_timeout: Duration,
    /// `--python`: the original Python lab's apps join the run.
    pub python: bool,
    /// `--python` with `--lab`, `--work` or `--workers`: the Python lab's `py-*` apps take their
    /// own sweep ([`Plan::lab_query_scenarios`]); otherwise they join what a `--target` joins.
    pub python_sweep: bool,
    /// `--trace-cost`: weigh what recording a trace costs each lab server, after the trials.
    pub trace_cost: bool,
    /// Open-loop load (`--rate`, `--rate-fraction`); `None`: the closed loop alone.
    pub open_loop: Option<crate::open_loop::OpenLoop>,
    /// `--server-cpus`: the CPUs the servers the harness starts are pinned to.
    pub server_cpus: Option<crate::pinning::CpuList>,
    /// `--client-cpus`: the CPUs oha is pinned to.
    pub client_cpus: Option<crate::pinning::CpuList>,
}

impl Plan {
    /// The scenarios, in the order they run: open-loop at `--rate`, or closed-loop (and, with
    /// `--rate-fraction`, open-loop after them at rates the closed loop decides).
    pub fn scenarios(&self) -> Vec<ScenarioKey> {
        let swept = |base: ScenarioKey| match &self.sweep {
            None => vec![base],
            Some(sweep) => sweep.values.iter().map(|v| sweep.kind.apply(base, *v)).collect(),
        };
        let offered_rps = match self.open_loop {
            Some(crate::open_loop::OpenLoop::Rate(rate)) => Some(rate),
            _ => None,
        };
        (self.works.iter())
            .flat_map(|base| swept(ScenarioKey { offered_rps, ..*base }))
            .chain(self.extra.iter().map(|extra| extra.scenario))
            .collect()
    }

    /// Whether the lab server `name` runs `scenario`: every one runs the grid, and an extra
    /// scenario's servers are its own.
    pub fn lab_server_runs(&self, scenario: ScenarioKey, name: &str) -> bool {
        (self.extra.iter())
            .find(|extra| extra.scenario == scenario)
            .and_then(|extra| extra.servers.as_ref())
            .is_none_or(|servers| servers.iter().any(|s| s == name))
    }

    /// Every scenario of the closed loop, in the order they run: [`Plan::scenarios`], then those
    /// only the Python lab's `py-*` apps run.
    pub fn all_scenarios(&self) -> Vec<ScenarioKey> {
        let mut all = self.scenarios();
        let own: Vec<ScenarioKey> = (self.lab_query_scenarios().into_iter())
            .filter(|s| !all.contains(s))
            .collect();
        all.extend(own);
        all
    }

    /// The scenarios the Python lab's `py-*` apps run: with their own sweep, each kind of
    /// work's base at [`PYTHON_WORKERS`] (and the many waits under `--lab`); otherwise what a
    /// `--target` joins.
    pub fn lab_query_scenarios(&self) -> Vec<ScenarioKey> {
        if !self.python_sweep {
            return (self.scenarios().into_iter())
                .filter(|&s| self.extra_targets_join(s))
                .collect();
        }
        let offered_rps = match self.open_loop {
            Some(crate::open_loop::OpenLoop::Rate(rate)) => Some(rate),
            _ => None,
        };
        (self.works.iter())
            .flat_map(|base| {
                PYTHON_WORKERS.map(|workers| ScenarioKey {
                    workers,
                    offered_rps,
                    ..*base
                })
            })
            .chain(
                (self.extra.iter())
                    .filter_map(|extra| (extra.scenario == ScenarioKey::MANY_WAITS).then_some(extra.scenario)),
            )
            .collect()
    }

    /// Whether the server `name`, which understands `api`, runs `scenario`.
    pub fn joins(&self, api: Api, name: &str, scenario: ScenarioKey) -> bool {
        // A scenario only the py-* apps' own sweep has is theirs alone.
        let theirs_alone = self.python_sweep
            && !self.scenarios().contains(&scenario)
            && self.lab_query_scenarios().contains(&scenario);
        match api {
            Api::Lab => !theirs_alone && self.lab_server_runs(scenario, name),
            Api::LabQuery if self.python_sweep => self.lab_query_scenarios().contains(&scenario),
            Api::LabQuery | Api::AsGiven => self.extra_targets_join(scenario),
        }
    }

    /// Measured trials per scenario for a server that understands `api`: the Python lab's
    /// `py-*` apps take [`PYTHON_TRIALS`] in their own sweep.
    pub fn trials_for(&self, api: Api) -> u32 {
        match api {
            Api::LabQuery if self.python_sweep => PYTHON_TRIALS.min(self.trials),
            _ => self.trials,
        }
    }

    /// Whether a `--target` server (which is sent its URL as given) takes part in `scenario`:
    /// only where the work, n and workers are the defaults its URL implies.
    pub fn extra_targets_join(&self, scenario: ScenarioKey) -> bool {
        let default = ScenarioKey::DEFAULT;
        (scenario.work, scenario.n, scenario.workers) == (default.work, default.n, default.workers)
    }
}
