//! What the open loop shows (`--rate`, `--rate-fraction`): at a fixed offered rate, who answers
//! fastest, who could not keep up, and how its latency compares with the closed loop's at the
//! same connections, where each connection waits for its answer before sending again.

use loadtest_model::summary::{RunSummary, ScenarioKey, ScenarioResult};

use super::{and_list, describe, result, servers_in};

/// A server "kept up" when it answered at least this share of the offered rate.
const KEPT_UP: f64 = 0.95;

/// The ranking of the open-loop `scenario`, the verdict of a run whose main scenario it is.
pub fn ranking_of(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let rate = scenario.offered_rps?;
    let results: Vec<&ScenarioResult> = servers_in(summary, scenario).collect();
    (!results.is_empty()).then(|| ranking(summary, scenario, rate, &results))
}

/// The findings for each open-loop scenario of `scenarios`, the ranking first (but for the
/// `verdict`'s scenario, whose ranking is the verdict).
pub fn findings(summary: &RunSummary, scenarios: &[ScenarioKey], verdict: Option<ScenarioKey>) -> Vec<String> {
    let mut out = Vec::new();
    for &scenario in scenarios {
        let Some(rate) = scenario.offered_rps else { continue };
        let results: Vec<&ScenarioResult> = servers_in(summary, scenario).collect();
        if results.is_empty() {
            continue;
        }
        if verdict != Some(scenario) {
            out.push(ranking(summary, scenario, rate, &results));
        }
        let behind: Vec<String> = (results.iter())
            .filter_map(|r| {
                r.rps_median
                    .filter(|rps| *rps < KEPT_UP * f64::from(rate))
                    .map(|rps| (r, rps))
            })
            .map(|(r, rps)| format!("{} ({rps:.0} req/s, p99 {})", r.server, ms(r.latency_p99_ms)))
            .collect();
        if !behind.is_empty() {
            out.push(format!(
                "Could not keep up with {rate} req/s: {}. Requests it could not start on time waited in oha's \
                 queue, and each latency counts from when its request was due, so the wait shows.",
                and_list(&behind)
            ));
        }
        out.extend(against_closed(summary, scenario, &results));
    }
    out
}

/// Who answered fastest at the offered rate, by p99 (every server was sent the same load, so
/// req/s says only whether it kept up).
fn ranking(summary: &RunSummary, scenario: ScenarioKey, rate: u32, results: &[&ScenarioResult]) -> String {
    let mut ranked: Vec<&&ScenarioResult> = results.iter().filter(|r| r.latency_p99_ms.is_some()).collect();
    ranked.sort_by(|a, b| {
        a.latency_p99_ms
            .unwrap_or(f64::MAX)
            .total_cmp(&b.latency_p99_ms.unwrap_or(f64::MAX))
    });
    let listed: Vec<String> = (ranked.iter())
        .map(|r| format!("{} p50 {} p99 {}", r.server, ms(r.latency_p50_ms), ms(r.latency_p99_ms)))
        .collect();
    let why = match summary.design.rate_fraction {
        Some(fraction) => format!(" ({fraction} x the slowest lab server's closed-loop median)"),
        None => String::new(),
    };
    format!(
        "Open loop at {rate} req/s{why}, {}: every server was sent the same load, so the latency decides. \
         Ranked by p99 (latency corrected for coordinated omission): {}.",
        describe(ScenarioKey {
            offered_rps: None,
            ..scenario
        }),
        listed.join(", ")
    )
}

/// Each server's open-loop latency against its closed-loop latency in the same scenario.
fn against_closed(summary: &RunSummary, scenario: ScenarioKey, results: &[&ScenarioResult]) -> Option<String> {
    let closed = ScenarioKey {
        offered_rps: None,
        ..scenario
    };
    let pairs: Vec<String> = (results.iter())
        .filter_map(|open| {
            let shut = result(summary, &open.server, closed)?;
            let (open_p99, closed_p99) = (open.latency_p99_ms?, shut.latency_p99_ms?);
            Some(format!(
                "{} p99 {} open against {} closed ({:.2}x), at {:.0} against {:.0} req/s",
                open.server,
                ms(Some(open_p99)),
                ms(Some(closed_p99)),
                open_p99 / closed_p99,
                open.rps_median.unwrap_or(0.0),
                shut.rps_median.unwrap_or(0.0)
            ))
        })
        .collect();
    (!pairs.is_empty()).then(|| {
        format!(
            "Against the closed loop at {} connections: {}. The closed loop keeps every connection's request \
             in the server at once, so its latency is that of a saturated server; below saturation the open loop \
             shows what clients arriving at that rate wait.",
            scenario.concurrency,
            pairs.join("; ")
        )
    })
}

/// "12.3 ms", or "-".
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, with_open_loop};

    #[test]
    fn the_open_loop_ranks_by_tail_names_who_fell_behind_and_compares_with_the_closed_loop() {
        let summary = with_open_loop();
        let open = ScenarioKey {
            offered_rps: Some(300),
            ..KEY
        };
        let lines = findings(&summary, &[KEY, open], Some(KEY));
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "Open loop at 300 req/s (0.7 x the slowest lab server's closed-loop median), n=500, workers=4, 20 \
                 connections: every server was sent the same load"
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with(
                "Ranked by p99 (latency corrected for coordinated omission): threading p50 2.0 ms p99 6.0 ms, \
                 multiprocessing p50 40.0 ms p99 900.0 ms."
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("Could not keep up with 300 req/s: multiprocessing (200 req/s, p99 900.0 ms)."),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("threading p99 6.0 ms open against"), "{}", lines[2]);
        // And the whole run's conclusions carry them, plain text.
        let all = crate::conclusions::conclusions(&summary, &loadtest_model::catalogue::Catalogue::lab()).join("\n");
        assert!(all.contains("Open loop at 300 req/s"), "{all}");
    }
}
