//! Where a request's time goes, from a traced window: the ledger (`summary.json`'s `ledger`).
//!
//! Each request whose whole life the window holds is cut into critical-path phases that tile
//! its handler's span: [`PHASES`], from admission to serialising, with `other` what none of
//! them covers (routing, building the response). Per phase, its wall time and the CPU spent in
//! it where the trace measured it: the request's thread's CPU clock over generation,
//! serialising and its hand-off and way-back events; every band's own CPU (concurrent bands
//! summed, since each burned its CPU); a forked child's exit (its `wait4` CPU beyond its own
//! clock) in the way back. Waits (admission, queueing) cost the request no CPU of its own. Two
//! phases are CPU alone, read from the process tree over the window per answer: [`FORK_SERVER`],
//! the fork server's own CPU (the forks), where a server has one, and [`OUTSIDE`], the tree's
//! CPU less everything else: HTTP, the async runtime, the pool's supervisor.

use std::collections::BTreeMap;

use crate::scenario::ScenarioKey;
use matrix_service::trace::Phase;
use serde::{Deserialize, Serialize};

use crate::trace::{Trace, TraceEvent};
use matrix_service::trace::LANE_TID_BASE;

/// The critical-path phases, in a request's order. `back to the loop` is the wait, once the
/// answer is made on its thread, for an async worker to take the request up again and send it.
/// `awaiting` and `queued on the loop` are a task's (the event loop's): its bands awaiting their
/// timers, and ready while the loop ran something else; for a task, `waiting for bands` is its
/// bands' runs on the loop, one after another.
pub const PHASES: [&str; 12] = [
    "admission",
    "queueing",
    "parse",
    "generation",
    "hand-off",
    "awaiting",
    "queued on the loop",
    "waiting for bands",
    "way back",
    "serialise",
    "back to the loop",
    "other",
];

/// Where `other`, the span no phase covers, is in [`PHASES`].
const OTHER: usize = PHASES.len() - 1;

/// Generation, in [`PHASES`]: the computation's first phase, which no recording enters.
pub const GENERATION: &str = PHASES[3];

/// The fork server's CPU per answer over the window: the forks of fork per request.
pub const FORK_SERVER: &str = "the fork server";

/// The CPU of the server's process tree that no phase of a request accounts for.
pub const OUTSIDE: &str = "outside the handler";

/// The phases with CPU alone, after [`PHASES`].
pub const CPU_ONLY: [&str; 2] = [FORK_SERVER, OUTSIDE];

/// Every phase a ledger may hold, in the order tables and charts show them.
pub fn all_phases() -> impl Iterator<Item = &'static str> {
    PHASES.into_iter().chain(CPU_ONLY)
}

/// A request counts as covered when its named phases (all but `other`) cover its handler's
/// span to within this share of it, or within [`COVERED_WITHIN_MS`].
pub const COVERED_WITHIN_SHARE: f64 = 0.05;
pub const COVERED_WITHIN_MS: f64 = 0.05;

/// One phase's cost, per request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseCost {
    /// Mean wall time, ms.
    pub wall_ms: f64,
    /// Mean CPU time, ms.
    pub cpu_ms: f64,
    /// Median wall time, ms.
    pub wall_median_ms: f64,
}

/// One server's ledger for one kind of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub server: String,
    /// The scenario oha loaded the server at while the window was traced: its kind of work's
    /// headline (`work`, `concurrency`, `n`, `workers`, `wait_ms`).
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    /// Requests whose whole life the window holds, the ledger's sample.
    pub requests: u64,
    /// Their handler's span: mean and median, ms.
    pub handler_ms: f64,
    pub handler_median_ms: f64,
    /// Phase name ([`PHASES`], and [`OUTSIDE`] when the window's CPU was sampled) to its cost.
    pub phases: BTreeMap<String, PhaseCost>,
    /// The share of requests whose named phases cover their handler's span (see
    /// [`COVERED_WITHIN_SHARE`]).
    pub covered_share: f64,
    /// The process tree's CPU over the window per answer the server counted in it, ms: what
    /// the phases, [`OUTSIDE`] included, add up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_cpu_ms_per_request: Option<f64>,
    /// The same over the second just before the trace, under the same load with nothing
    /// recorded: what a trial would have measured then. The trials ran minutes earlier, on a
    /// machine whose speed drifts; this says how far it moved since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untraced_cpu_ms_per_request: Option<f64>,
    /// The generation phase's CPU per request with the server unloaded, ms: the median of a few
    /// requests sent one at a time under a short trace just before the load. The recorder does not enter
    /// generation, so a traced second whose generation took much more than this ran slow
    /// throughout, recording or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_alone_cpu_ms: Option<f64>,
    /// Threads started and processes forked per request, means: what the hand-off's and the
    /// fork server's CPU are divided by to set them against their floors.
    #[serde(default)]
    pub thread_starts: f64,
    #[serde(default)]
    pub forks: f64,
    /// A forked child's minor page faults, as `wait4` counted them: the mean over every child of
    /// the requests in the ledger; `None` for a server that forks none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_minor_faults: Option<f64>,
}

/// What the harness sampled around a traced window: the server's process tree's CPU and the
/// answers it counted meanwhile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowCpu {
    pub cpu_ms: f64,
    pub answers: u64,
    /// The fork server's share of `cpu_ms`, for a server with one.
    pub fork_server_cpu_ms: Option<f64>,
}

/// The ledger of `trace`, the window of `server` under `scenario`'s load; `None` if no
/// request's whole life is in it.
pub fn ledger_of(server: &str, scenario: ScenarioKey, trace: &Trace, window: Option<WindowCpu>) -> Option<LedgerEntry> {
    let costs: Vec<RequestCost> = (trace.by_request().values())
        .filter_map(|events| RequestCost::of(events))
        .collect();
    if costs.is_empty() {
        return None;
    }
    let count = costs.len() as f64;
    let mut phases: BTreeMap<String, PhaseCost> = BTreeMap::new();
    for (i, name) in PHASES.iter().enumerate() {
        let walls: Vec<f64> = costs.iter().map(|c| c.wall_ms[i]).collect();
        phases.insert(
            (*name).to_owned(),
            PhaseCost {
                wall_ms: walls.iter().sum::<f64>() / count,
                cpu_ms: costs.iter().map(|c| c.cpu_ms[i]).sum::<f64>() / count,
                wall_median_ms: median(walls),
            },
        );
    }
    let spans: Vec<f64> = costs.iter().map(|c| c.span_ms).collect();
    let window = window.filter(|w| w.answers > 0);
    let tree = window.map(|w| w.cpu_ms / w.answers as f64);
    if let Some(forks) = window.and_then(|w| Some(w.fork_server_cpu_ms? / w.answers as f64)) {
        let cpu_only = PhaseCost {
            wall_ms: 0.0,
            cpu_ms: forks,
            wall_median_ms: 0.0,
        };
        phases.insert(FORK_SERVER.to_owned(), cpu_only);
    }
    if let Some(tree) = tree {
        let accounted: f64 = phases.values().map(|p| p.cpu_ms).sum();
        phases.insert(
            OUTSIDE.to_owned(),
            PhaseCost {
                wall_ms: 0.0,
                cpu_ms: tree - accounted,
                wall_median_ms: 0.0,
            },
        );
    }
    Some(LedgerEntry {
        server: server.to_owned(),
        scenario,
        requests: costs.len() as u64,
        handler_ms: spans.iter().sum::<f64>() / count,
        handler_median_ms: median(spans),
        covered_share: costs.iter().filter(|c| c.covered()).count() as f64 / count,
        tree_cpu_ms_per_request: tree,
        untraced_cpu_ms_per_request: None,
        generation_alone_cpu_ms: None,
        thread_starts: costs.iter().map(|c| c.thread_starts as f64).sum::<f64>() / count,
        forks: costs.iter().map(|c| c.forks as f64).sum::<f64>() / count,
        child_minor_faults: mean(costs.iter().flat_map(|c| c.child_faults.iter().map(|&f| f as f64))),
        phases,
    })
}

/// One request's phases, in [`PHASES`]' order.
struct RequestCost {
    span_ms: f64,
    wall_ms: [f64; PHASES.len()],
    cpu_ms: [f64; PHASES.len()],
    thread_starts: usize,
    forks: usize,
    /// Each child's minor page faults, where the trace has them.
    child_faults: Vec<u64>,
}

impl RequestCost {
    /// `None` for a request whose handler span or computation the window does not hold.
    fn of(events: &[TraceEvent]) -> Option<RequestCost> {
        let span = *events.iter().find(|e| e.phase == Phase::Request)?;
        let compute = *events.iter().find(|e| e.phase == Phase::Compute)?;
        let ms = |us: u64| us as f64 / 1000.0;
        let of =
            |phases: &[Phase]| -> Vec<&TraceEvent> { events.iter().filter(|e| phases.contains(&e.phase)).collect() };
        let wall = |phases: &[Phase]| ms(of(phases).iter().map(|e| e.dur_us).sum());
        let cpu = |phases: &[Phase]| ms(of(phases).iter().filter_map(|e| e.cpu_us).sum());
        let bands: Vec<&TraceEvent> = of(&[Phase::Band]);
        let (hand_off_end, bands_wall_us, last_end) =
            bands_held(&compute, &bands, &of(&[Phase::Await, Phase::LoopQueue]));
        let hand_off = [Phase::ThreadStart, Phase::ForkRequest];
        let way_back = [Phase::Join, Phase::PipeRead, Phase::Reap, Phase::DoneMessage];
        let exits: u64 = (bands.iter())
            .filter_map(|b| Some(b.rusage_cpu_us?.saturating_sub(b.cpu_us?)))
            .sum();
        // The request's thread's CPU in its computation that no event of that thread inside it
        // accounts for: making pipes, queueing jobs, its bookkeeping.
        let inside: u64 = (events.iter())
            .filter(|e| (e.pid, e.tid) == (compute.pid, compute.tid) && e.phase != Phase::Compute)
            .filter(|e| compute.contains(e))
            .filter_map(|e| e.cpu_us)
            .sum();
        let compute_rest = ms(compute.cpu_us.unwrap_or(0).saturating_sub(inside));
        // The answer is ready when it is serialised.
        let answered = (events.iter())
            .filter(|e| e.phase == Phase::Serialise)
            .map(TraceEvent::end_us)
            .max()
            .unwrap_or(span.end_us());
        let mut wall_ms = [
            wall(&[Phase::Admission]),
            wall(&[Phase::BlockingPool, Phase::BackgroundThread]),
            wall(&[Phase::Parse]),
            wall(&[Phase::Generate]),
            ms(hand_off_end.saturating_sub(compute.ts_us)),
            wall(&[Phase::Await]),
            wall(&[Phase::LoopQueue]),
            ms(bands_wall_us),
            ms(compute.end_us().saturating_sub(last_end)),
            wall(&[Phase::Serialise]),
            ms(span.end_us().saturating_sub(answered)),
            0.0,
        ];
        let named: f64 = wall_ms.iter().sum();
        wall_ms[OTHER] = ms(span.dur_us) - named;
        let cpu_ms = [
            0.0,
            0.0,
            0.0,
            cpu(&[Phase::Generate]),
            cpu(&hand_off),
            0.0,
            0.0,
            cpu(&[Phase::Band]),
            cpu(&way_back) + ms(exits),
            cpu(&[Phase::Serialise]),
            0.0,
            compute_rest,
        ];
        Some(RequestCost {
            span_ms: ms(span.dur_us),
            wall_ms,
            cpu_ms,
            thread_starts: of(&[Phase::ThreadStart]).len(),
            forks: of(&[Phase::Fork]).len(),
            child_faults: bands.iter().filter_map(|b| b.minor_faults).collect(),
        })
    }

    fn covered(&self) -> bool {
        let uncovered = self.wall_ms[OTHER].abs();
        uncovered <= COVERED_WITHIN_MS || uncovered <= COVERED_WITHIN_SHARE * self.span_ms
    }
}

/// Where a computation's hand-off ends, how long its bands held it, and when its last band
/// ended, µs. A task (its computation awaited, so it is on its lane) runs its bands one after
/// another on its loop, between its awaits and its time queued (`loop_spans`): the bands' runs
/// and those spans tile its computation from its first band's first instant. Elsewhere the
/// bands run at once, and the last one to start ends the hand-off.
fn bands_held(compute: &TraceEvent, bands: &[&TraceEvent], loop_spans: &[&TraceEvent]) -> (u64, u64, u64) {
    let last_end = (bands.iter().map(|b| b.end_us()).max()).unwrap_or(compute.ts_us);
    if compute.tid >= u64::from(LANE_TID_BASE) {
        let first = (bands.iter().chain(loop_spans).map(|e| e.ts_us).min()).unwrap_or(compute.ts_us);
        (first, bands.iter().map(|b| b.dur_us).sum(), last_end)
    } else {
        let last_start = bands.iter().map(|b| b.ts_us).max().unwrap_or(compute.ts_us);
        (last_start, last_end.saturating_sub(last_start), last_end)
    }
}

/// The mean of `values`, `None` when there are none.
fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0u64), |(sum, count), v| (sum + v, count + 1));
    (count > 0).then(|| sum / count as f64)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests;
