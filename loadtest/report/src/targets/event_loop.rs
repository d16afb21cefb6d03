//! The event loop's targets: which model serves a thousand waits. At `--lab`'s
//! [`ScenarioKey::MANY_WAITS`] (1,024 connections, each request one 100 ms wait), its req/s as
//! a share of the 10,240 its waits allow and its p99; at [`ScenarioKey::LONG_WAITS`] (800 bands
//! waiting at once), the threads its process tree held. A server held to them gets its limits;
//! every other lab server measured there is reported beside it, with no limit. And, reported
//! with no limit, what computing on the loop costs: its CPU per request against the thread
//! pool's at the headline scenario.

use loadtest_model::catalogue::{Catalogue, Family};
use loadtest_model::scenario::ScenarioKey;
use loadtest_model::summary::{Limit, RunSummary, ScenarioResult, TargetCheck, TargetId, Unit};

use super::{checked, results};

/// The share of the waits' ceiling a server held to [`TargetId::ManyWaits`] reaches, at least.
pub const MANY_WAITS_SHARE: f64 = 0.8;
/// Its p99 at that load, ms, at most.
pub const MANY_WAITS_P99_MS: f64 = 200.0;
/// The threads it runs while 800 bands wait, at most.
pub const WAIT_THREADS: f64 = 40.0;

/// Every lab server's rows for the waits targets the run measured.
pub fn check(summary: &RunSummary, catalogue: &Catalogue) -> Vec<TargetCheck> {
    let lab = |r: &&ScenarioResult| catalogue.contains(&r.server);
    let limit = |target: &TargetId, server: &str, limit: Limit| {
        (catalogue.get(server)).and_then(|s| s.targets.contains(target).then_some(limit))
    };
    let many: Vec<&ScenarioResult> = results(summary, |r| r.scenario == ScenarioKey::MANY_WAITS)
        .filter(lab)
        .collect();
    let ceiling = ceiling(ScenarioKey::MANY_WAITS);
    let mut out: Vec<TargetCheck> = (many.iter())
        .filter_map(|r| {
            let rps = r.rps_median?;
            let from = format!("{rps:.0} req/s; the waits allow {ceiling:.0}{}", overloaded(r));
            let target = TargetId::ManyWaits;
            let limit = limit(&target, &r.server, Limit::AtLeast(MANY_WAITS_SHARE));
            Some(checked(target, &r.server, rps / ceiling, Unit::Share, limit, from))
        })
        .collect();
    out.extend(many.iter().filter_map(|r| {
        let p99 = r.latency_p99_ms?;
        let from = format!(
            "the median of the valid trials' p99s; their p50s' {:.0} ms",
            r.latency_p50_ms?
        );
        let target = TargetId::ManyWaitsTail;
        let limit = limit(&target, &r.server, Limit::AtMost(MANY_WAITS_P99_MS));
        Some(checked(target, &r.server, p99, Unit::Ms, limit, from))
    }));
    let long = results(summary, |r| r.scenario == ScenarioKey::LONG_WAITS).filter(lab);
    out.extend(long.filter_map(|r| {
        let threads = r.peak_threads?;
        let from = format!(
            "the most threads its process tree held at once in a sample (every 200 ms); {:.0} req/s",
            r.rps_median?
        );
        let target = TargetId::WaitThreads;
        let limit = limit(&target, &r.server, Limit::AtMost(WAIT_THREADS));
        Some(checked(target, &r.server, f64::from(threads), Unit::Count, limit, from))
    }));
    out.extend(cpu_against_the_pool(summary, catalogue));
    out
}

/// Each server held to [`TargetId::LoopCpu`]: its CPU per request over the thread pool's at
/// the headline scenario (add, n=500, 4 workers, 20 connections), a ratio of the trials'
/// medians with its 95% bootstrap interval.
fn cpu_against_the_pool(summary: &RunSummary, catalogue: &Catalogue) -> Vec<TargetCheck> {
    let Some(pool) = catalogue
        .iter()
        .find(|s| s.family == Family::Threads && s.pool.is_some())
    else {
        return Vec::new();
    };
    let scenario = ScenarioKey::DEFAULT;
    (catalogue.iter())
        .filter(|s| s.targets.contains(&TargetId::LoopCpu))
        .filter_map(|server| {
            let ratio = summary.comparisons.iter().find_map(|c| {
                if c.scenario != scenario {
                    None
                } else if (c.a.as_str(), c.b.as_str()) == (server.name.as_str(), pool.name.as_str()) {
                    c.cpu_ratio
                } else if (c.a.as_str(), c.b.as_str()) == (pool.name.as_str(), server.name.as_str()) {
                    c.cpu_ratio.map(|r| r.inverse())
                } else {
                    None
                }
            })?;
            let from = format!(
                "ratio of the trials' medians, 95% interval {:.2}x to {:.2}x, over {} ({} and {} trials)",
                ratio.ci_low, ratio.ci_high, pool.name, ratio.n_a, ratio.n_b
            );
            Some(checked(
                TargetId::LoopCpu,
                &server.name,
                ratio.value,
                Unit::Ratio,
                None,
                from,
            ))
        })
        .collect()
}

/// What `scenario`'s waits allow: each connection completes one request per wait, its bands
/// waiting at once.
pub fn ceiling(scenario: ScenarioKey) -> f64 {
    let wait = f64::from(scenario.wait_ms.unwrap_or(1).max(1));
    f64::from(scenario.concurrency) * f64::from(scenario.workers) * 1000.0 / wait
}

/// "; 12% of its answers 503 (overloaded)", when it turned requests away.
fn overloaded(r: &ScenarioResult) -> String {
    match r.overloaded_share {
        Some(share) if share > 0.0 => format!("; {:.0}% of its answers 503 (overloaded)", share * 100.0),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(server: &str, scenario: ScenarioKey, rps: f64, p99: f64, threads: u32) -> ScenarioResult {
        let mut r = loadtest_model::testdata::with_trials(&[("threading", &[800.0])]).results[0].clone();
        (r.server, r.scenario, r.rps_median) = (server.to_owned(), scenario, Some(rps));
        (r.latency_p99_ms, r.latency_p50_ms, r.peak_threads) = (Some(p99), Some(p99 / 2.0), Some(threads));
        r
    }

    #[test]
    fn the_event_loop_is_held_to_the_waits_targets_and_the_others_are_shown_beside_it() {
        let mut summary = loadtest_model::testdata::with_trials(&[]);
        summary.results = vec![
            at("threading", ScenarioKey::MANY_WAITS, 2648.0, 900.0, 482),
            at("async", ScenarioKey::MANY_WAITS, 9216.0, 150.0, 5),
            at("threading", ScenarioKey::LONG_WAITS, 1500.0, 140.0, 604),
            at("async", ScenarioKey::LONG_WAITS, 1590.0, 130.0, 5),
        ];
        let checks = check(&summary, &Catalogue::lab());
        let shown = |target: TargetId, server: &str| {
            let c = (checks.iter())
                .find(|c| c.target == target && c.server == server)
                .unwrap_or_else(|| panic!("no {server} row for {target}"));
            format!("{} {} {}", c.figure_text(), c.limit_text(), c.verdict())
        };
        assert_eq!(shown(TargetId::ManyWaits, "async"), "90% at least 80% met");
        assert_eq!(shown(TargetId::ManyWaits, "threading"), "26% none reported");
        assert_eq!(shown(TargetId::ManyWaitsTail, "async"), "150 ms at most 200 ms met");
        assert_eq!(shown(TargetId::ManyWaitsTail, "threading"), "900 ms none reported");
        assert_eq!(shown(TargetId::WaitThreads, "async"), "5 at most 40 met");
        assert_eq!(shown(TargetId::WaitThreads, "threading"), "604 none reported");
        assert_eq!(checks.len(), 6, "no comparison at add, no CPU row");
        assert_eq!(ceiling(ScenarioKey::MANY_WAITS), 10_240.0);
    }

    #[test]
    fn the_event_loop_s_cpu_is_set_against_the_thread_pool_s_with_its_interval() {
        let mut summary = loadtest_model::testdata::with_trials(&[
            ("thread-pool", &[1600.0, 1650.0, 1700.0]),
            ("async", &[800.0, 820.0, 790.0]),
        ]);
        summary.servers.truncate(2);
        for (server, name) in summary.servers.iter_mut().zip(["thread-pool", "async"]) {
            server.name = name.to_owned();
        }
        loadtest_model::aggregate::recompute(&mut summary);
        let checks = check(&summary, &Catalogue::lab());
        let row = (checks.iter())
            .find(|c| c.target == TargetId::LoopCpu)
            .expect("a CPU row for async");
        // The fixture's CPU per request is 1600 / rps: twice the pool's at half its rate.
        assert_eq!(
            (row.server.as_str(), row.limit, row.verdict()),
            ("async", None, "reported")
        );
        assert!((row.figure - 2.06).abs() < 0.05, "{row:?}");
        assert!(
            row.from.contains("95% interval") && row.from.contains("over thread-pool"),
            "{}",
            row.from
        );
    }
}
