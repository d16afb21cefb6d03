//! The words `summary.json` spells as strings, as types: a run's mode, the variable it sweeps, a
//! trial's phase, and the lab's targets. Each is serialised to the string runs have always
//! written, so old and new `summary.json` files read alike; nothing outside serialisation
//! compares those strings.

use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioKey;

/// Quick look or measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `oha -n 200 -c 20` once per server: the classic load.
    Quick,
    /// Warm-up, then several alternating trials per server.
    Measured,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Measured => "measured",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The variable a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepKind {
    Concurrency,
    Workers,
    N,
}

impl SweepKind {
    /// The name used in reports and summary.json.
    pub fn name(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrency",
            Self::Workers => "workers",
            Self::N => "n",
        }
    }

    /// The flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Concurrency => "--concurrency",
            Self::Workers => "--workers",
            Self::N => "--sizes",
        }
    }

    /// What it is, as a chart's axis says it.
    pub fn axis(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrent connections (oha -c)",
            Self::Workers => "workers per request",
            Self::N => "matrix side n",
        }
    }

    /// `base` with this variable set to `value`.
    pub fn apply(self, base: ScenarioKey, value: u32) -> ScenarioKey {
        match self {
            Self::Concurrency => ScenarioKey {
                concurrency: value,
                ..base
            },
            Self::Workers => ScenarioKey { workers: value, ..base },
            Self::N => ScenarioKey { n: value, ..base },
        }
    }

    /// This variable's value in `key`.
    pub fn value(self, key: ScenarioKey) -> u32 {
        match self {
            Self::Concurrency => key.concurrency,
            Self::Workers => key.workers,
            Self::N => key.n,
        }
    }
}

/// A trial's part in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Run and discarded: caches, connection pools and the servers' own pools warmed.
    Warmup,
    /// Counted in the aggregates (if valid).
    Measured,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warmup => "warmup",
            Self::Measured => "measured",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for SweepKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One of the lab's targets, as `summary.json`'s `targets[].target` writes it: the words a
/// person reads. A label this version does not check (a retired target's, or a later
/// version's) loads as [`TargetId::Other`], so every committed run still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TargetId {
    /// The tail at 20 connections: p99 over p50.
    Tail,
    /// matmul at n=500, one request alone: its time with 2 workers over 1.
    ProductSpeedUp,
    /// io at n=100, wait_ms=100, 4 workers, 64 connections: req/s as a share of the ceiling.
    IoCeiling,
    /// A traced window's requests whose critical-path phases cover their handler's span.
    LedgerCovered,
    /// The ledger's CPU per request against the same server's trials', off by this share.
    LedgerTotal,
    /// Recording a trace: CPU per answer traced over untraced, the median of the pairs.
    TraceCost,
    /// Fork per request's CPU per request beyond the pre-forked pool's: the share the ledger
    /// puts in named phases.
    ForkExtraAttributed,
    /// io at n=100, wait_ms=100, 1 worker, 1,024 connections: req/s as a share of the ceiling.
    ManyWaits,
    /// The same scenario's p99, in ms.
    ManyWaitsTail,
    /// io at n=100, wait_ms=500, 4 workers, 200 connections: the server's threads at most.
    WaitThreads,
    /// add at n=500, 4 workers, 20 connections: CPU per request over the thread pool's
    /// (reported, no limit).
    LoopCpu,
    /// `loadtest cluster`: a slow host with `balance leastconn`: req/s from the fault to the heal
    /// as a share of the remaining hosts' capacity.
    SlowLeastconnKept,
    /// The same in round robin (reported, no limit).
    SlowRoundrobinKept,
    /// An open-loop crash with retries: requests lost.
    OpenCrashLost,
    /// An open-loop hang or partition without retries: requests lost over those due to the host
    /// between the fault and the last read of the balancer's view that still saw it up.
    OpenLossesOverDue,
    /// A target this version does not check, by its label.
    Other(String),
}

impl TargetId {
    /// The targets checked, in the order reports list them.
    pub const CHECKED: [Self; 15] = [
        Self::Tail,
        Self::ProductSpeedUp,
        Self::IoCeiling,
        Self::LedgerCovered,
        Self::LedgerTotal,
        Self::TraceCost,
        Self::ForkExtraAttributed,
        Self::ManyWaits,
        Self::ManyWaitsTail,
        Self::WaitThreads,
        Self::LoopCpu,
        Self::SlowLeastconnKept,
        Self::SlowRoundrobinKept,
        Self::OpenCrashLost,
        Self::OpenLossesOverDue,
    ];

    pub fn label(&self) -> &str {
        match self {
            Self::Tail => "tail at 20 connections: p99 over p50",
            Self::ProductSpeedUp => "matmul n=500, one request alone: time with 2 workers over 1",
            Self::IoCeiling => "io n=100, wait_ms=100, 4 workers, 64 connections: share of the ceiling",
            Self::LedgerCovered => "ledger: traced requests whose phases cover their handler's span",
            Self::LedgerTotal => "ledger: its CPU per request against the trials', off by",
            Self::TraceCost => "recording a trace: CPU per answer, traced over untraced",
            Self::ForkExtraAttributed => "fork per request's extra CPU over the pre-forked pool: share in named phases",
            Self::ManyWaits => "io n=100, wait_ms=100, 1 worker, 1,024 connections: share of the ceiling",
            Self::ManyWaitsTail => "io n=100, wait_ms=100, 1 worker, 1,024 connections: p99",
            Self::WaitThreads => "io wait_ms=500, 4 workers, 200 connections: the server's threads",
            Self::LoopCpu => "add n=500, 4 workers, 20 connections: CPU per request over the thread pool's",
            Self::SlowLeastconnKept => {
                "cluster, slow host, leastconn: req/s kept, share of the remaining hosts' capacity"
            }
            Self::SlowRoundrobinKept => {
                "cluster, slow host, round robin: req/s kept, share of the remaining hosts' capacity"
            }
            Self::OpenCrashLost => "cluster, open loop, crash with retries: requests lost",
            Self::OpenLossesOverDue => {
                "cluster, open loop, no retries: lost over the requests due to the host while surely not yet marked down"
            }
            Self::Other(label) => label,
        }
    }
}

impl From<String> for TargetId {
    fn from(label: String) -> Self {
        (Self::CHECKED.into_iter())
            .find(|id| id.label() == label)
            .unwrap_or(Self::Other(label))
    }
}

impl From<TargetId> for String {
    fn from(id: TargetId) -> Self {
        id.label().to_owned()
    }
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_word_is_written_as_runs_always_wrote_it() {
        let json = |v: &dyn erased::Json| v.json();
        assert_eq!(json(&Mode::Quick), r#""quick""#);
        assert_eq!(json(&SweepKind::Workers), r#""workers""#);
        assert_eq!(json(&SweepKind::N), r#""n""#);
        assert_eq!(json(&Phase::Warmup), r#""warmup""#);
        for kind in [SweepKind::Concurrency, SweepKind::Workers, SweepKind::N] {
            assert_eq!(json(&kind), format!("{:?}", kind.name()));
        }
        assert_eq!(json(&Phase::Measured), format!("{:?}", Phase::Measured.name()));
        assert_eq!(json(&Mode::Measured), format!("{:?}", Mode::Measured.to_string()));
    }

    #[test]
    fn targets_round_trip_and_a_retired_label_loads_as_itself() {
        for id in TargetId::CHECKED {
            let text = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<TargetId>(&text).unwrap(), id);
        }
        let retired = r#""add n=500, 4 workers: the thread pool's CPU per request over scoped threads'""#;
        let id: TargetId = serde_json::from_str(retired).unwrap();
        assert!(matches!(&id, TargetId::Other(label) if label.starts_with("add n=500")));
        assert_eq!(serde_json::to_string(&id).unwrap(), retired, "written back as it was");
    }

    /// Serialising values of different types through one closure.
    mod erased {
        pub trait Json {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Json for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
