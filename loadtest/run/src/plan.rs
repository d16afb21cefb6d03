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

/// Another server to compare, as `--target NAME=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub url: String,
    /// The root of its process tree, to sample (`--pid NAME=PID`).
    pub pid: Option<i32>,
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
    /// `--trace-cost`: weigh what recording a trace costs each lab server, after the trials.
    pub trace_cost: bool,
    /// Open-loop load (`--rate`, `--rate-fraction`); `None`: the closed loop alone.
    pub open_loop: Option<crate::open_loop::OpenLoop>,
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

    /// Whether a `--target` server (which is sent its URL as given) takes part in `scenario`:
    /// only where the work, n and workers are the defaults its URL implies.
    pub fn extra_targets_join(&self, scenario: ScenarioKey) -> bool {
        let default = ScenarioKey::DEFAULT;
        (scenario.work, scenario.n, scenario.workers) == (default.work, default.n, default.workers)
    }
}
