//! A scenario: what one trial asks of a server (kind of work, connections, n, workers, and an
//! open loop's rate), the key every result, probe and comparison is filed under.

use matrix_service::WorkKind;
use serde::{Deserialize, Serialize};

/// Connections of the classic load (`oha -n 200 -c 20`), and of a run that sweeps none.
pub const DEFAULT_CONCURRENCY: u32 = 20;

/// One scenario: a server under one load and parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScenarioKey {
    /// The kind of work asked for (`add` in runs from before there were others).
    #[serde(default)]
    pub work: WorkKind,
    pub concurrency: u32,
    pub n: u32,
    pub workers: u32,
    /// An `io` scenario's `wait_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u32>,
    /// Open loop: the requests per second oha sends whatever the answers (`-q`, latency
    /// corrected); `None` is the closed loop, each connection sending when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<u32>,
}

impl ScenarioKey {
    /// The lab's default scenario: `add` at n=500 with 4 workers, 20 connections, closed loop.
    pub const DEFAULT: Self = Self {
        work: WorkKind::Add,
        concurrency: DEFAULT_CONCURRENCY,
        n: matrix_service::params::DEFAULT_N as u32,
        workers: matrix_service::params::DEFAULT_WORKERS as u32,
        wait_ms: None,
        offered_rps: None,
    };

    /// `--lab`'s many waits: io at n=100 with 100 ms waits, one worker, 1,024 connections, so
    /// the waits allow 10,240 req/s and only a model that holds a wait cheaply comes near.
    pub const MANY_WAITS: Self = Self {
        work: WorkKind::Io,
        concurrency: 1024,
        n: 100,
        workers: 1,
        wait_ms: Some(100),
        offered_rps: None,
    };

    /// `--lab`'s long waits: 200 connections of io whose 500 ms wait is shared by 4 bands, so
    /// 800 bands wait at once: what each model holds for them shows in its threads.
    pub const LONG_WAITS: Self = Self {
        work: WorkKind::Io,
        concurrency: 200,
        n: 100,
        workers: 4,
        wait_ms: Some(500),
        offered_rps: None,
    };

    /// The query a lab server is sent for it: `?n=500&workers=4`, then `&work=matmul` or
    /// `&work=io&wait_ms=W` (nothing for `add`, the servers' default, so the classic run's URLs
    /// stay as they were).
    pub fn lab_query(&self) -> String {
        let work = match (self.work, self.wait_ms) {
            (kind, _) if kind == WorkKind::default() => String::new(),
            (kind, Some(wait)) if kind.waits() => format!("&work={}&wait_ms={wait}", kind.name()),
            (kind, _) => format!("&work={}", kind.name()),
        };
        format!("?n={}&workers={}{work}", self.n, self.workers)
    }
}

/// How the load was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadLoop {
    /// Each connection sends its next request when the last is answered: a slow server is sent
    /// less, and its queueing never shows in the latency (coordinated omission).
    #[default]
    Closed,
    /// Requests are sent at a fixed rate whatever the answers.
    Open,
}

impl LoadLoop {
    /// The word `summary.json` writes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
        }
    }

    /// The loop a scenario's load runs in.
    pub fn of(scenario: ScenarioKey) -> Self {
        if scenario.offered_rps.is_some() {
            Self::Open
        } else {
            Self::Closed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_itself_in_the_query_as_the_servers_do() {
        let key = |work, wait_ms| ScenarioKey {
            work,
            wait_ms,
            concurrency: 20,
            n: 100,
            workers: 2,
            offered_rps: None,
        };
        assert_eq!(key(WorkKind::Add, Some(100)).lab_query(), "?n=100&workers=2");
        assert_eq!(key(WorkKind::Matmul, None).lab_query(), "?n=100&workers=2&work=matmul");
        assert_eq!(
            key(WorkKind::Io, Some(100)).lab_query(),
            "?n=100&workers=2&work=io&wait_ms=100"
        );
        assert_eq!(
            LoadLoop::of(ScenarioKey {
                offered_rps: Some(5),
                ..key(WorkKind::Add, None)
            }),
            LoadLoop::Open
        );
    }
}
