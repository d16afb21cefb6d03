//! The latency tails under load: p50 and p99 of each server, and the lab's tail target, p99 at
//! most [`TAIL_TARGET`] times p50 at 20 connections. A long tail against the median means some
//! requests waited far longer than most: queueing behind a slow one, or a stall.

use super::{and_list, servers_in};
use loadtest_model::summary::{RunSummary, ScenarioKey};

/// The lab's target for p99 over p50.
pub const TAIL_TARGET: f64 = 3.0;

/// p50 and p99 of each server under the headline load, then who meets the tail target.
pub(super) fn tails(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut met, mut missed) = (Vec::new(), Vec::new());
    for server in servers_in(summary, scenario) {
        if let (Some(p50), Some(p99)) = (server.latency_p50_ms, server.latency_p99_ms) {
            parts.push(format!("{} p50 {p50:.1} ms, p99 {p99:.1} ms", server.server));
        }
        if let Some(ratio) = server.latency_p99_over_p50 {
            let named = format!("{} ({ratio:.1}x)", server.server);
            if ratio <= TAIL_TARGET { &mut met } else { &mut missed }.push(named);
        }
    }
    let mut out = Vec::new();
    if !parts.is_empty() {
        out.push(format!(
            "Latency over 2xx answers at {} connections (closed loop, so queueing in the server shows as latency): \
             {}.",
            scenario.concurrency,
            parts.join("; ")
        ));
    }
    out.extend(target(scenario, &met, &missed));
    out
}

/// "Tail target, p99 at most 3x p50, at 20 connections. Met by a (1.5x); missed by b (4.2x)."
fn target(scenario: ScenarioKey, met: &[String], missed: &[String]) -> Option<String> {
    let verdict = match (met.is_empty(), missed.is_empty()) {
        (true, true) => return None,
        (false, true) => format!("Met by every server: {}", and_list(met)),
        (true, false) => format!("Missed by every server: {}", and_list(missed)),
        (false, false) => format!("Met by {}; missed by {}", and_list(met), and_list(missed)),
    };
    Some(format!(
        "Tail target, p99 at most {TAIL_TARGET:.0}x p50, at {} connections. {verdict}.",
        scenario.concurrency
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, summary, three_servers};

    #[test]
    fn a_server_over_the_target_is_named() {
        let lines = tails(&three_servers(), KEY);
        assert_eq!(
            lines[1],
            "Tail target, p99 at most 3x p50, at 20 connections. Met by threading (1.5x), multiprocessing (1.5x) \
             and prefork (1.5x); missed by python (4.5x)."
        );
        assert!(lines[0].contains("python p50 199.0 ms, p99 895.5 ms"), "{lines:?}");
    }

    #[test]
    fn when_every_server_meets_it_the_line_says_so() {
        let lines = tails(&summary(), KEY);
        assert!(
            lines[1].ends_with("Met by every server: threading (1.5x) and multiprocessing (1.5x)."),
            "{lines:?}"
        );
    }

    #[test]
    fn exactly_three_times_is_within_the_target() {
        let mut s = three_servers();
        s.results[3].latency_p99_over_p50 = Some(3.0);
        assert!(
            tails(&s, KEY)[1].contains("Met by every server"),
            "{:?}",
            tails(&s, KEY)
        );
        for result in &mut s.results {
            result.latency_p99_over_p50 = None;
        }
        assert_eq!(tails(&s, KEY).len(), 1, "no ratio, no target line");
    }
}
