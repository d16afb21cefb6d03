//! What a sweep shows: per server, where throughput peaked and how it moved.

use super::{POOL, PROCESSES, THREADS, result, rps_ratio};
use crate::summary::{RunSummary, ScenarioKey};

/// Per server with two or more points: the best value of the swept variable, and how throughput
/// moved across it; across workers, how the lab servers' ratios moved.
pub(super) fn findings(summary: &RunSummary, sweep: &str, scenarios: &[ScenarioKey]) -> Vec<String> {
    let value = |s: ScenarioKey| match sweep {
        "concurrency" => s.concurrency,
        "workers" => s.workers,
        _ => s.n,
    };
    let mut out = Vec::new();
    for server in summary.servers.iter().map(|s| s.name.as_str()) {
        let points: Vec<(u32, f64, Option<f64>)> = scenarios
            .iter()
            .filter_map(|s| {
                result(summary, server, *s).and_then(|r| r.rps_median.map(|rps| (value(*s), rps, r.cpu_ms_per_request)))
            })
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        if points.len() < 2 {
            continue;
        }
        let best = points
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("points is not empty");
        let mut sentence = format!(
            "Across {sweep} = {}: the {server} server peaked at {sweep}={} with {:.0} req/s; from {sweep}={} to {} it \
             went from {:.0} to {:.0} req/s.",
            points.iter().map(|p| p.0.to_string()).collect::<Vec<_>>().join(", "),
            best.0,
            best.1,
            first.0,
            last.0,
            first.1,
            last.1
        );
        if sweep == "n"
            && let (Some(cpu_first), Some(cpu_last)) = (first.2, last.2)
        {
            let area = (f64::from(last.0) / f64::from(first.0)).powi(2);
            sentence.push_str(&format!(
                " CPU per request grew {:.1}x while n² grew {area:.0}x.",
                cpu_last / cpu_first
            ));
        }
        out.push(sentence);
    }
    if sweep == "workers" {
        for (a, b) in [(THREADS, PROCESSES), (THREADS, POOL), (POOL, PROCESSES)] {
            out.extend(ratios_by_workers(summary, a, b, scenarios));
        }
    }
    out
}

/// "threading over multiprocessing in req/s, by workers: 1: 5.10x, 2: 4.80x."
fn ratios_by_workers(summary: &RunSummary, a: &str, b: &str, scenarios: &[ScenarioKey]) -> Option<String> {
    let ratios: Vec<String> = scenarios
        .iter()
        .filter_map(|s| rps_ratio(summary, a, b, *s).map(|r| format!("{}: {:.2}x", s.workers, r.value)))
        .collect();
    (!ratios.is_empty()).then(|| format!("{a} over {b} in req/s, by workers: {}.", ratios.join(", ")))
}
