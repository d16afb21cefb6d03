//! A task's phases on an event loop, for its lane: awaiting, queued on the loop, running.
//!
//! A task's bands are futures joined in the task, so at any moment the task is in one of three
//! states: *running* (one of its bands computes on the loop's thread; the loop runs one at a
//! time), *queued on the loop* (a band is ready, its timer fired, but the loop is busy with
//! something else), or *awaiting* (every band not yet done awaits its timer). The bands' own
//! runs are events of the loop's thread ([`Phase::Band`]), where they never overlap; the other
//! two states are cut from the bands' times here and recorded on the task's lane, so that the
//! lane's events tile the computation without overlapping, as the trace format wants.

use super::{Mark, Phase, Place, Trace};

/// One band's life on the loop, in µs on `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandOnLoop {
    /// When it began to await its timer (or, with no wait, when it began).
    pub awaited_us: u64,
    /// When its timer's deadline passed: from then on it could run.
    pub ready_us: u64,
    /// When the loop ran it, and when it was done.
    pub ran_us: (u64, u64),
}

/// What a task was doing between two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Queued,
    Awaiting,
    /// None of its bands had begun, or all were done.
    Idle,
}

/// The task's awaiting ([`Phase::Await`]) and queued ([`Phase::LoopQueue`]) spans, in order,
/// merged where one state lasts across several bands' instants.
pub fn lane_spans(bands: &[BandOnLoop]) -> Vec<(Phase, u64, u64)> {
    let mut instants: Vec<u64> = (bands.iter())
        .flat_map(|b| [b.awaited_us, b.ready_us, b.ran_us.0, b.ran_us.1])
        .collect();
    instants.sort_unstable();
    instants.dedup();
    let state_at = |t: u64| {
        let during = |from: u64, to: u64| from <= t && t < to;
        if bands.iter().any(|b| during(b.ran_us.0, b.ran_us.1)) {
            State::Running
        } else if bands.iter().any(|b| during(b.ready_us, b.ran_us.0)) {
            State::Queued
        } else if bands.iter().any(|b| during(b.awaited_us, b.ready_us)) {
            State::Awaiting
        } else {
            State::Idle
        }
    };
    let mut spans: Vec<(Phase, u64, u64)> = Vec::new();
    for pair in instants.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let phase = match state_at(from) {
            State::Awaiting => Phase::Await,
            State::Queued => Phase::LoopQueue,
            State::Running | State::Idle => continue,
        };
        match spans.last_mut() {
            Some((last, _, end)) if *last == phase && *end == from => *end = to,
            _ => spans.push((phase, from, to)),
        }
    }
    spans
}

/// Records the task's awaiting and queued spans on its lane.
pub fn record_lane(trace: Trace<'_>, bands: &[BandOnLoop]) {
    if !trace.is_on() {
        return;
    }
    for (phase, from, to) in lane_spans(bands) {
        trace.record(Mark::new(phase, from, to), Place::Lane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(awaited_us: u64, ready_us: u64, ran_us: (u64, u64)) -> BandOnLoop {
        BandOnLoop {
            awaited_us,
            ready_us,
            ran_us,
        }
    }

    #[test]
    fn bands_that_wait_together_and_run_in_turn_show_one_await_and_the_loop_s_queue() {
        // Two bands await 100 µs from 0; the loop is busy until 130, runs the first to 140 and
        // the second to 150.
        let spans = lane_spans(&[band(0, 100, (130, 140)), band(0, 100, (140, 150))]);
        assert_eq!(spans, [(Phase::Await, 0, 100), (Phase::LoopQueue, 100, 130)]);
    }

    #[test]
    fn a_band_ready_while_another_runs_is_not_queued_and_the_spans_tile_the_gaps() {
        // The second band's timer fires while the first runs: the task is running, not queued.
        let spans = lane_spans(&[band(0, 50, (60, 80)), band(0, 70, (90, 95))]);
        assert_eq!(
            spans,
            [
                (Phase::Await, 0, 50),
                (Phase::LoopQueue, 50, 60),
                (Phase::LoopQueue, 80, 90)
            ]
        );
        let covered: u64 = spans.iter().map(|(_, from, to)| to - from).sum::<u64>() + 20 + 5;
        assert_eq!(covered, 95, "with the runs, the spans cover the task's life");
    }

    #[test]
    fn bands_with_no_wait_run_back_to_back_with_nothing_on_the_lane() {
        let spans = lane_spans(&[band(10, 10, (10, 20)), band(20, 20, (20, 30))]);
        assert!(spans.is_empty(), "{spans:?}");
    }
}
