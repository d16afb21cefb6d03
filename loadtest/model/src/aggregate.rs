//! From trials to results: per server and scenario, the figures over valid measured trials
//! (medians of per-trial values; percentiles are never averaged), outliers flagged in place, and
//! the ratio between every pair of servers.

use crate::bottleneck::{judge, waits_ceiling};
use crate::cpu_split::{cpu_shares, noise};
use crate::stats::{Verdict, outliers, ratio_of_medians, stats};
use crate::summary::{Comparison, Phase, RunSummary, ScenarioKey, ScenarioResult, TrialRecord, WorkCost};

/// Draws `summary`'s results and comparisons from its trials and work costs again, outliers
/// flagged in place: what a run does after each scenario, and once more at its end.
pub fn recompute(summary: &mut RunSummary) {
    let names: Vec<String> = summary.servers.iter().map(|s| s.name.clone()).collect();
    flag_outliers(&mut summary.trials, &names);
    summary.results = results(&summary.trials, &names);
    attach_work_costs(&mut summary.results, &summary.work_costs);
    summary.comparisons = comparisons(&summary.trials, &summary.results, &names);
    attach_bottlenecks(&mut summary.results, &summary.servers);
    // The fingerprint's kernel facts were read when the run began; its shares come from the
    // trials so far.
    if let Some(before) = summary.noise.take() {
        summary.noise = Some(noise(&summary.trials, before.transparent_hugepages, before.kernel));
    }
}

/// Each result's bottleneck, by [`crate::bottleneck::judge`], with its server's pool size
/// lowering an io scenario's ceiling.
fn attach_bottlenecks(results: &mut [ScenarioResult], servers: &[crate::summary::ServerInfo]) {
    for result in results {
        let pool = (servers.iter())
            .find(|s| s.name == result.server)
            .and_then(|s| s.pool_size);
        let ceiling = waits_ceiling(result.scenario, pool);
        result.bottleneck = judge(result.rps_median, ceiling, result.cpu_shares);
    }
}

/// The measured trials of `server` in `scenario`.
fn measured<'a>(
    trials: &'a [TrialRecord],
    server: &'a str,
    scenario: ScenarioKey,
) -> impl Iterator<Item = &'a TrialRecord> {
    trials
        .iter()
        .filter(move |t| t.phase == Phase::Measured && t.server == server && t.scenario == scenario)
}

/// The scenarios of `trials`, in the order they first ran.
pub fn scenarios(trials: &[TrialRecord]) -> Vec<ScenarioKey> {
    let mut seen = Vec::new();
    for trial in trials {
        if !seen.contains(&trial.scenario) {
            seen.push(trial.scenario);
        }
    }
    seen
}

/// Flags the RPS outliers among each server's valid measured trials of each scenario.
pub fn flag_outliers(trials: &mut [TrialRecord], servers: &[String]) {
    // Under an open loop req/s is the offered rate, not the server's: nothing to flag.
    for scenario in scenarios(trials).into_iter().filter(|s| s.offered_rps.is_none()) {
        for server in servers {
            let indices: Vec<usize> = (0..trials.len())
                .filter(|&i| {
                    let t = &trials[i];
                    t.counts() && &t.server == server && t.scenario == scenario
                })
                .collect();
            let rps: Vec<f64> = indices.iter().map(|&i| trials[i].rps_2xx.unwrap_or(f64::NAN)).collect();
            for (i, outlier) in indices.into_iter().zip(outliers(&rps)) {
                trials[i].outlier = outlier;
            }
        }
    }
}

/// One result per server (in `servers` order) and scenario that has measured trials.
pub fn results(trials: &[TrialRecord], servers: &[String]) -> Vec<ScenarioResult> {
    let mut results = Vec::new();
    for scenario in scenarios(trials) {
        for server in servers {
            if let Some(result) = result(trials, server, scenario) {
                results.push(result);
            }
        }
    }
    results
}

fn result(trials: &[TrialRecord], server: &str, scenario: ScenarioKey) -> Option<ScenarioResult> {
    let all: Vec<&TrialRecord> = measured(trials, server, scenario).collect();
    if all.is_empty() {
        return None;
    }
    let valid: Vec<&TrialRecord> = all.iter().copied().filter(|t| t.valid).collect();
    let figure = |get: fn(&TrialRecord) -> Option<f64>| stats(&valid.iter().filter_map(|t| get(t)).collect::<Vec<_>>());
    let rps = figure(|t| t.rps_2xx);
    let latency_p50 = figure(|t| t.latency_p50_ms);
    let latency_p99 = figure(|t| t.latency_p99_ms);
    let cpu_per_request = figure(|t| t.cpu_ms_per_request);
    let answered: u64 = all
        .iter()
        .map(|t| t.responses_2xx + t.responses_non_2xx + t.transport_errors)
        .sum();
    let ok: u64 = all.iter().map(|t| t.responses_2xx).sum();
    Some(ScenarioResult {
        server: server.to_owned(),
        scenario,
        load_loop: crate::summary::LoadLoop::of(scenario),
        requests: valid.iter().map(|t| t.responses_2xx).sum(),
        success_rate: if answered == 0 {
            0.0
        } else {
            ok as f64 / answered as f64
        },
        rps_median: rps.map(|s| s.median),
        latency_p50_ms: latency_p50.map(|s| s.median),
        latency_p99_ms: latency_p99.map(|s| s.median),
        cpu_ms_per_request: cpu_per_request.map(|s| s.median),
        client_cpu_ms_per_request: figure(TrialRecord::client_cpu_ms_per_request).map(|s| s.median),
        bottleneck: None,
        cpu_shares: cpu_shares(valid.iter().copied()),
        peak_memory_bytes: valid.iter().filter_map(|t| t.peak_memory_bytes).max(),
        peak_threads: valid.iter().filter_map(|t| t.peak_threads).max(),
        memory_after_bytes: valid.iter().rev().find_map(|t| t.memory_after_bytes),
        cpu_vs_work: None,
        latency_p99_over_p50: tail_ratio(latency_p50.map(|s| s.median), latency_p99.map(|s| s.median)),
        cpu_ns_per_element: cpu_per_request.map(|s| s.median * 1.0e6 / f64::from(scenario.n).powi(2)),
        trials_valid: valid.len() as u32,
        trials_invalid: (all.len() - valid.len()) as u32,
        rps,
        latency_p50,
        latency_p99,
        cpu_per_request,
        outlier_trials: valid.iter().filter(|t| t.outlier).count() as u32,
        client_bound_trials: valid.iter().filter(|t| t.client_bound).count() as u32,
        overloaded_share: overloaded_share(&valid),
    })
}

/// p99 over p50, both medians over trials, as the results table shows them.
fn tail_ratio(p50: Option<f64>, p99: Option<f64>) -> Option<f64> {
    match (p50, p99) {
        (Some(p50), Some(p99)) if p50 > 0.0 => Some(p99 / p50),
        _ => None,
    }
}

/// For every scenario, every pair of servers (earlier over later, in `servers` order).
pub fn comparisons(trials: &[TrialRecord], results: &[ScenarioResult], servers: &[String]) -> Vec<Comparison> {
    let mut comparisons = Vec::new();
    for scenario in scenarios(trials) {
        for (i, a) in servers.iter().enumerate() {
            for b in &servers[i + 1..] {
                let values = |server: &str, get: fn(&TrialRecord) -> Option<f64>| -> Vec<f64> {
                    measured(trials, server, scenario)
                        .filter(|t| t.valid)
                        .filter_map(get)
                        .collect()
                };
                let rps_ratio = ratio_of_medians(&values(a, |t| t.rps_2xx), &values(b, |t| t.rps_2xx));
                let Some(rps) = rps_ratio else { continue };
                let cpu_ratio = ratio_of_medians(
                    &values(a, |t| t.cpu_ms_per_request),
                    &values(b, |t| t.cpu_ms_per_request),
                );
                let peak = |server: &str| {
                    results
                        .iter()
                        .find(|r| r.server == server && r.scenario == scenario)
                        .and_then(|r| r.peak_memory_bytes)
                };
                let memory_ratio = match (peak(a), peak(b)) {
                    (Some(x), Some(y)) if y > 0 => Some(x as f64 / y as f64),
                    _ => None,
                };
                let verdict = Verdict::of(&rps);
                comparisons.push(Comparison {
                    scenario,
                    a: a.clone(),
                    b: b.clone(),
                    rps_ratio,
                    cpu_ratio,
                    memory_ratio,
                    verdict,
                });
            }
        }
    }
    comparisons
}

/// Sets each result's CPU per request as a multiple of the in-process work of its kind at its n.
pub fn attach_work_costs(results: &mut [ScenarioResult], costs: &[WorkCost]) {
    for result in results {
        let work = costs
            .iter()
            .find(|c| c.n == result.scenario.n && c.work == result.scenario.work)
            .map(|c| c.cpu_ms)
            .filter(|ms| *ms > 0.0);
        result.cpu_vs_work = result.cpu_ms_per_request.zip(work).map(|(cpu, work)| cpu / work);
    }
}

/// 503 answers over all answers of `trials`, when there were any.
fn overloaded_share(trials: &[&TrialRecord]) -> Option<f64> {
    let refused: u64 = trials.iter().map(|t| t.responses_503).sum();
    let answered: u64 = trials.iter().map(|t| t.responses_2xx + t.responses_non_2xx).sum();
    (refused > 0 && answered > 0).then(|| refused as f64 / answered as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, trial};

    #[test]
    fn a_server_s_503s_are_its_overloaded_share_over_its_valid_trials() {
        let key = crate::testdata::KEY;
        let mut trials: Vec<TrialRecord> = (1..=3)
            .map(|i| crate::testdata::trial("threading", key, Phase::Measured, i, 100.0, true))
            .collect();
        let refs: Vec<&TrialRecord> = trials.iter().collect();
        assert_eq!(overloaded_share(&refs), None);
        trials[0].responses_non_2xx = 30;
        trials[0].responses_503 = 30;
        let refs: Vec<&TrialRecord> = trials.iter().collect();
        let answered: u64 = trials.iter().map(|t| t.responses_2xx + t.responses_non_2xx).sum();
        assert_eq!(overloaded_share(&refs), Some(30.0 / answered as f64));
    }

    #[test]
    fn results_use_valid_measured_trials_and_count_the_rest() {
        let key = KEY;
        let mut trials = vec![
            trial("threading", key, Phase::Warmup, 1, 50.0, true),
            trial("threading", key, Phase::Measured, 1, 800.0, true),
            trial("threading", key, Phase::Measured, 2, 820.0, true),
            trial("threading", key, Phase::Measured, 3, 780.0, true),
            trial("threading", key, Phase::Measured, 4, 10.0, false),
            trial("multiprocessing", key, Phase::Measured, 1, 200.0, true),
            trial("multiprocessing", key, Phase::Measured, 2, 210.0, true),
            trial("multiprocessing", key, Phase::Measured, 3, 190.0, true),
        ];
        let servers = vec!["threading".to_owned(), "multiprocessing".to_owned()];
        flag_outliers(&mut trials, &servers);
        let results = results(&trials, &servers);
        assert_eq!(results.len(), 2);
        let threads = &results[0];
        assert_eq!(
            (threads.trials_valid, threads.trials_invalid, threads.rps_median),
            (3, 1, Some(800.0))
        );
        assert_eq!(threads.requests, 3 * 1000);
        assert_eq!(threads.latency_p99_ms, Some(37.5));
        assert_eq!(threads.latency_p99_over_p50, Some(1.5), "37.5 ms over 25 ms");
        assert_eq!(threads.cpu_ms_per_request, Some(2.0));
        assert_eq!(threads.cpu_ns_per_element, Some(8.0), "2 ms over 500²");
        assert!(
            threads.success_rate < 1.0,
            "the invalid trial's failures count against the rate"
        );
        let comparisons = comparisons(&trials, &results, &servers);
        assert_eq!(comparisons.len(), 1);
        assert_eq!(comparisons[0].verdict, Verdict::Higher);
        assert_eq!(serde_json::to_value(comparisons[0].verdict).unwrap(), "faster");
        assert!((comparisons[0].rps_ratio.unwrap().value - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_far_trial_is_flagged_not_dropped() {
        let key = KEY;
        let mut trials: Vec<TrialRecord> = [800.0, 805.0, 795.0, 802.0, 400.0]
            .iter()
            .enumerate()
            .map(|(i, rps)| trial("threading", key, Phase::Measured, i as u32 + 1, *rps, true))
            .collect();
        let servers = vec!["threading".to_owned()];
        flag_outliers(&mut trials, &servers);
        assert_eq!(
            trials.iter().map(|t| t.outlier).collect::<Vec<_>>(),
            [false, false, false, false, true]
        );
        let result = &results(&trials, &servers)[0];
        assert_eq!((result.trials_valid, result.outlier_trials), (5, 1));
    }
}
