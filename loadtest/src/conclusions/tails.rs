//! The latency tails under load: p50 and p99 of each server.

use super::servers_in;
use crate::summary::{RunSummary, ScenarioKey};

/// p50 and p99 of each server under the headline load.
pub(super) fn tails(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut parts = Vec::new();
    for server in servers_in(summary, scenario) {
        if let (Some(p50), Some(p99)) = (server.latency_p50_ms, server.latency_p99_ms) {
            parts.push(format!(
                "{} p50 {p50:.1} ms, p99 {p99:.1} ms (p99/p50 {:.1})",
                server.server,
                if p50 > 0.0 { p99 / p50 } else { f64::NAN }
            ));
        }
    }
    if parts.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Latency over 2xx answers at {} connections (closed loop, so queueing in the server shows as latency): {}.",
        scenario.concurrency,
        parts.join("; ")
    )]
}
