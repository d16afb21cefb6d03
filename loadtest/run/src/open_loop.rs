//! Open-loop load: requests sent at a fixed rate whatever the answers.
//!
//! In the closed loop (oha's default, and the lab's) each connection sends its next request
//! only when the last is answered, so a server that slows down is simply sent less, and the time
//! a request would have waited for its turn never shows in the latency: coordinated omission.
//! In the open loop oha sends `-q R` requests a second and, with `--latency-correction`, counts
//! each latency from when its request was due. Latency then includes the queueing a real
//! client population would see.
//!
//! `--rate R` offers R req/s to every server. `--rate-fraction F` first measures the closed
//! loop, as a run without it would, then offers F times the slowest lab server's closed-loop
//! median to every server, so every server gets the same load and all of them can serve it
//! when F < 1.

use std::collections::BTreeMap;

use loadtest_model::summary::{ScenarioKey, TrialRecord};

/// How the open loop's rate is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenLoop {
    /// `--rate R`: R requests a second, and no closed loop.
    Rate(u32),
    /// `--rate-fraction F`: the closed loop first, then F times the slowest lab server's median.
    Fraction(f64),
}

/// For each closed-loop scenario the lab servers took part in: the open-loop scenario at
/// `fraction` times the slowest lab server's median req/s over its valid measured trials
/// (at least 1 req/s), and that median.
pub fn offered_rates(trials: &[TrialRecord], lab_servers: &[&str], fraction: f64) -> Vec<(ScenarioKey, f64)> {
    let mut medians: BTreeMap<ScenarioKey, Vec<f64>> = BTreeMap::new();
    for server in lab_servers {
        let mut by_scenario: BTreeMap<ScenarioKey, Vec<f64>> = BTreeMap::new();
        for trial in trials.iter().filter(|t| t.server == *server && t.counts()) {
            if let (None, Some(rps)) = (trial.scenario.offered_rps, trial.rps_2xx) {
                by_scenario.entry(trial.scenario).or_default().push(rps);
            }
        }
        for (scenario, rps) in by_scenario {
            if let Some(stats) = loadtest_model::stats::stats(&rps) {
                medians.entry(scenario).or_default().push(stats.median);
            }
        }
    }
    medians
        .into_iter()
        .filter_map(|(scenario, per_server)| {
            let slowest = per_server.into_iter().min_by(f64::total_cmp)?;
            let rate = (slowest * fraction).round().max(1.0) as u32;
            Some((
                ScenarioKey {
                    offered_rps: Some(rate),
                    ..scenario
                },
                slowest,
            ))
        })
        .collect()
}

/// `--rate-fraction`'s value: more than 0 and at most 4.
pub fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 4.0 => Ok(f),
        _ => Err(format!(
            "{raw:?} must be a number more than 0 and at most 4: the share of the slowest lab server's \
             closed-loop req/s to offer, such as 0.7"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadtest_model::summary::Phase;
    use loadtest_model::testdata::{KEY, trial};

    #[test]
    fn every_server_is_offered_a_share_of_the_slowest_ones_median() {
        let mut trials = vec![
            trial("threading", KEY, Phase::Measured, 1, 1000.0, true),
            trial("threading", KEY, Phase::Measured, 2, 1200.0, true),
            trial("threading", KEY, Phase::Measured, 3, 1100.0, true),
            trial("multiprocessing", KEY, Phase::Measured, 1, 400.0, true),
            trial("multiprocessing", KEY, Phase::Measured, 2, 500.0, true),
            trial("multiprocessing", KEY, Phase::Measured, 3, 450.0, true),
            // Left out: a warm-up, an invalid trial, a server that is not a lab server.
            trial("multiprocessing", KEY, Phase::Warmup, 1, 10.0, true),
            trial("multiprocessing", KEY, Phase::Measured, 4, 20.0, false),
            trial("python", KEY, Phase::Measured, 1, 50.0, true),
        ];
        let rates = offered_rates(&trials, &["threading", "multiprocessing"], 0.7);
        assert_eq!(rates.len(), 1);
        assert_eq!(
            rates[0].0,
            ScenarioKey {
                offered_rps: Some(315),
                ..KEY
            }
        );
        assert_eq!(rates[0].1, 450.0);

        // Open-loop trials already run are not scenarios to offer a rate to.
        trials.push(trial("threading", rates[0].0, Phase::Measured, 1, 315.0, true));
        assert_eq!(offered_rates(&trials, &["threading", "multiprocessing"], 0.7).len(), 1);
        assert!(offered_rates(&trials, &["nobody"], 0.7).is_empty());
    }

    #[test]
    fn the_fraction_is_checked() {
        assert_eq!(parse_fraction("0.7"), Ok(0.7));
        for bad in ["0", "-1", "5", "x", "NaN"] {
            let error = parse_fraction(bad).unwrap_err();
            assert!(error.contains("more than 0 and at most 4"), "{error}");
        }
    }
}
