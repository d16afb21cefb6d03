//! `loadtest compare BASE NEW`: two runs set side by side, figure by figure, with the spread of
//! their trials: is NEW faster than BASE, and is that more than noise?
//!
//! For every server and scenario both runs measured, four figures (req/s, p50, p99, CPU per
//! request) as NEW over BASE, the ratio of their medians, with the 95% bootstrap interval of
//! [`crate::stats::ratio_of_medians`] and the harness's rule: a figure is `faster` or `slower`
//! only when its whole interval lies beyond the ±5% band, in the direction that is better for
//! that figure (more req/s; less time, less CPU). The Mann-Whitney p-value
//! ([`crate::rank_test`]) stands beside it, with the least it could be for so many trials.
//! What differs between the two runs (machine, versions, commit, design, servers) comes first,
//! because a difference there can explain every figure after it.

use serde::{Deserialize, Serialize};

pub use crate::compare_setup::Difference;
use crate::rank_test::{mann_whitney_p, p_value_floor};
use crate::stats::{NOISE_BAND, Verdict, ratio_of_medians};
use crate::summary::{LoadLoop, RunSummary, ScenarioKey, TrialRecord};

/// What `compare.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRun {
    /// `loadtest` and its version.
    pub tool: String,
    /// The two runs: where they were read from, and when and at which commit they ran.
    pub base: RunOrigin,
    pub new: RunOrigin,
    /// What differs between the two runs beyond their figures: read these first.
    pub differences: Vec<Difference>,
    /// The half-width of the band a ratio's interval must clear to count (0.05).
    pub noise_band: f64,
    /// `--fail-on-regression`, in percent, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_regression_pct: Option<f64>,
    /// Every figure of every server and scenario both runs hold, NEW over BASE.
    pub comparisons: Vec<FigureComparison>,
    /// Server and scenario pairs one run measured and the other did not: listed, not compared.
    pub only_in_base: Vec<Unmatched>,
    pub only_in_new: Vec<Unmatched>,
}

/// One run of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOrigin {
    /// The results folder, as given on the command line.
    pub dir: String,
    pub started_utc: String,
    pub git_commit: Option<String>,
    /// How noisy its machine was during its trials (`None` for a run from before it was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<crate::noise::Noise>,
}

/// A server and scenario only one run holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmatched {
    pub server: String,
    #[serde(flatten)]
    pub scenario: ScenarioKey,
}

/// The figures a comparison is made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// 2xx answers a second: more is better.
    Rps,
    /// Median latency: less is better.
    P50Ms,
    /// 99th percentile latency: less is better.
    P99Ms,
    /// The server's CPU per answer: less is better.
    CpuMsPerRequest,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Self::Rps, Self::P50Ms, Self::P99Ms, Self::CpuMsPerRequest];

    /// As `compare.json` writes it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Rps => "rps",
            Self::P50Ms => "p50_ms",
            Self::P99Ms => "p99_ms",
            Self::CpuMsPerRequest => "cpu_ms_per_request",
        }
    }

    /// Whether a higher figure is the better one.
    pub fn higher_is_better(self) -> bool {
        self == Self::Rps
    }

    /// The figure in one trial.
    pub fn of(self, trial: &TrialRecord) -> Option<f64> {
        match self {
            Self::Rps => trial.rps_2xx,
            Self::P50Ms => trial.latency_p50_ms,
            Self::P99Ms => trial.latency_p99_ms,
            Self::CpuMsPerRequest => trial.cpu_ms_per_request,
        }
    }
}

/// One figure of one server and scenario, NEW against BASE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureComparison {
    pub server: String,
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    #[serde(rename = "loop")]
    pub load_loop: LoadLoop,
    pub metric: Metric,
    /// The medians over each run's valid measured trials.
    pub base: f64,
    pub new: f64,
    /// `new / base`.
    pub ratio: f64,
    /// The 95% bootstrap interval of `ratio`; `None` when a side has a single trial.
    pub interval: Option<[f64; 2]>,
    /// `faster` or `slower` (NEW against BASE, whichever way is better for the figure),
    /// `within noise`, or `one trial: no verdict`.
    pub verdict: Verdict,
    /// The two-sided Mann-Whitney U p-value of the two runs' trials.
    pub p_value: Option<f64>,
    /// The least `p_value` can be with these numbers of trials (0.1 with 3 a side).
    pub p_value_floor: f64,
    pub base_trials: u32,
    pub new_trials: u32,
    /// Worse beyond noise and by more than `--fail-on-regression` percent.
    #[serde(default)]
    pub regression: bool,
}

impl FigureComparison {
    /// How much worse NEW is than BASE, in percent (negative when it is better).
    pub fn worse_by_pct(&self) -> f64 {
        if self.metric.higher_is_better() {
            (1.0 - self.ratio) * 100.0
        } else {
            (self.ratio - 1.0) * 100.0
        }
    }
}

/// Compares `new` against `base`; `fail_on_regression_pct` marks the figures worse beyond noise
/// by more than it. `None` when the two runs share no server and scenario.
pub fn compare(
    (base_dir, base): (&str, &RunSummary),
    (new_dir, new): (&str, &RunSummary),
    fail_on_regression_pct: Option<f64>,
) -> Option<CompareRun> {
    let mut comparisons = Vec::new();
    let (mut only_in_base, mut only_in_new) = (Vec::new(), Vec::new());
    for result in &base.results {
        match new.result(&result.server, result.scenario) {
            Some(_) => {
                for metric in Metric::ALL {
                    comparisons.extend(figure(base, new, &result.server, result.scenario, metric));
                }
            }
            None => only_in_base.push(unmatched(&result.server, result.scenario)),
        }
    }
    for result in &new.results {
        if base.result(&result.server, result.scenario).is_none() {
            only_in_new.push(unmatched(&result.server, result.scenario));
        }
    }
    if comparisons.is_empty() {
        return None;
    }
    if let Some(pct) = fail_on_regression_pct {
        for c in &mut comparisons {
            c.regression = c.verdict == Verdict::Lower && c.worse_by_pct() > pct;
        }
    }
    Some(CompareRun {
        tool: format!("loadtest {}", env!("CARGO_PKG_VERSION")),
        base: origin(base_dir, base),
        new: origin(new_dir, new),
        differences: crate::compare_setup::differences(base, new),
        noise_band: NOISE_BAND,
        fail_on_regression_pct,
        comparisons,
        only_in_base,
        only_in_new,
    })
}

fn origin(dir: &str, summary: &RunSummary) -> RunOrigin {
    RunOrigin {
        dir: dir.to_owned(),
        started_utc: summary.started_utc.clone(),
        git_commit: summary.machine.git_commit.clone(),
        noise: summary.noise.clone(),
    }
}

fn unmatched(server: &str, scenario: ScenarioKey) -> Unmatched {
    Unmatched {
        server: server.to_owned(),
        scenario,
    }
}

/// One figure of `server` in `scenario`, from both runs' valid measured trials; `None` when
/// either run has no value of it (an old run without CPU, a server not sampled).
fn figure(
    base: &RunSummary,
    new: &RunSummary,
    server: &str,
    scenario: ScenarioKey,
    metric: Metric,
) -> Option<FigureComparison> {
    let values = |run: &RunSummary| -> Vec<f64> {
        (run.measured_trials(server, scenario))
            .filter_map(|t| metric.of(t))
            .collect()
    };
    let (before, after) = (values(base), values(new));
    let ratio = ratio_of_medians(&after, &before)?;
    // The band is around NEW over BASE, the ratio shown, whichever way is better; the verdict
    // reads "faster" when NEW is better: for a figure where less is better, a ratio below it.
    let verdict = match (Verdict::of(&ratio), metric.higher_is_better()) {
        (Verdict::Higher, false) => Verdict::Lower,
        (Verdict::Lower, false) => Verdict::Higher,
        (verdict, _) => verdict,
    };
    let has_spread = ratio.n_a >= 2 && ratio.n_b >= 2;
    Some(FigureComparison {
        server: server.to_owned(),
        scenario,
        load_loop: LoadLoop::of(scenario),
        metric,
        base: crate::stats::median(&before)?,
        new: crate::stats::median(&after)?,
        ratio: ratio.value,
        interval: has_spread.then_some([ratio.ci_low, ratio.ci_high]),
        verdict,
        p_value: mann_whitney_p(&after, &before),
        p_value_floor: p_value_floor(ratio.n_a, ratio.n_b),
        base_trials: ratio.n_b,
        new_trials: ratio.n_a,
        regression: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::with_trials;

    fn one<'a>(run: &'a CompareRun, server: &str, metric: Metric) -> &'a FigureComparison {
        (run.comparisons.iter())
            .find(|c| c.server == server && c.metric == metric)
            .unwrap_or_else(|| panic!("{server} {metric:?}"))
    }

    #[test]
    fn a_slower_server_is_slower_on_every_figure_and_a_steady_one_within_noise() {
        let base = with_trials(&[
            ("threading", &[800.0, 820.0, 780.0, 810.0, 790.0]),
            ("prefork", &[400.0, 390.0, 410.0, 405.0, 395.0]),
        ]);
        let new = with_trials(&[
            ("threading", &[600.0, 615.0, 585.0, 607.0, 592.0]),
            ("prefork", &[402.0, 388.0, 411.0, 404.0, 396.0]),
        ]);
        let run = compare(("a", &base), ("b", &new), Some(10.0)).unwrap();
        assert_eq!(run.comparisons.len(), 8, "two servers, four figures");
        assert_eq!(run.differences, vec![]);

        let rps = one(&run, "threading", Metric::Rps);
        assert_eq!((rps.base, rps.new), (800.0, 600.0));
        assert!((rps.ratio - 0.75).abs() < 1e-12);
        let [low, high] = rps.interval.unwrap();
        assert!(low <= 0.75 && (0.75..0.95).contains(&high), "{low} {high}");
        assert_eq!((rps.verdict, rps.regression), (Verdict::Lower, true));
        assert!((rps.p_value.unwrap() - 2.0 / 252.0).abs() < 1e-12, "fully apart");
        // The fixture's latency and CPU are inverse to req/s: more of them is worse, so slower.
        for metric in [Metric::P50Ms, Metric::P99Ms, Metric::CpuMsPerRequest] {
            let c = one(&run, "threading", metric);
            assert!((c.ratio - 800.0 / 600.0).abs() < 1e-9, "{metric:?}");
            assert_eq!((c.verdict, c.regression), (Verdict::Lower, true), "{metric:?}");
            assert!((c.worse_by_pct() - 100.0 / 3.0).abs() < 1e-9);
        }
        for metric in Metric::ALL {
            let c = one(&run, "prefork", metric);
            assert_eq!((c.verdict, c.regression), (Verdict::WithinNoise, false), "{metric:?}");
        }
    }

    #[test]
    fn a_faster_run_is_faster_and_no_regression_without_the_flag() {
        let base = with_trials(&[("threading", &[600.0, 615.0, 585.0])]);
        let new = with_trials(&[("threading", &[800.0, 820.0, 780.0])]);
        let run = compare(("a", &base), ("b", &new), None).unwrap();
        for metric in Metric::ALL {
            let c = one(&run, "threading", metric);
            assert_eq!((c.verdict, c.regression), (Verdict::Higher, false), "{metric:?}");
            assert!((c.p_value.unwrap() - 0.1).abs() < 1e-12 && (c.p_value_floor - 0.1).abs() < 1e-12);
        }
        let worse = compare(("b", &new), ("a", &base), Some(30.0)).unwrap();
        let rps = one(&worse, "threading", Metric::Rps);
        assert_eq!(
            (rps.verdict, rps.regression),
            (Verdict::Lower, false),
            "25% worse, under 30%"
        );
    }

    #[test]
    fn servers_only_one_run_holds_are_listed_and_nothing_in_common_is_none() {
        let base = with_trials(&[("threading", &[800.0, 810.0]), ("prefork", &[400.0, 410.0])]);
        let new = with_trials(&[("threading", &[800.0, 810.0]), ("python", &[100.0, 101.0])]);
        let run = compare(("a", &base), ("b", &new), None).unwrap();
        let names = |list: &[Unmatched]| list.iter().map(|u| u.server.clone()).collect::<Vec<_>>();
        assert_eq!(
            (names(&run.only_in_base), names(&run.only_in_new)),
            (vec!["prefork".to_owned()], vec!["python".to_owned()])
        );
        assert!(run.comparisons.iter().all(|c| c.server == "threading"));
        let apart = with_trials(&[("python", &[100.0, 101.0])]);
        let other = with_trials(&[("prefork", &[400.0, 410.0])]);
        assert_eq!(compare(("a", &apart), ("b", &other), None), None);
    }

    #[test]
    fn the_band_is_the_same_on_either_side_whichever_way_is_better() {
        // CPU per request is 1600 / req/s in the fixture: req/s 5.3% lower is CPU 5.6% higher,
        // and an interval from 1.052 up is beyond the band, as it is for req/s below 0.948.
        let base = with_trials(&[("threading", &[1000.0, 1000.0, 1000.0])]);
        let new = with_trials(&[("threading", &[949.0, 949.0, 949.0])]);
        let run = compare(("a", &base), ("b", &new), None).unwrap();
        let cpu = one(&run, "threading", Metric::CpuMsPerRequest);
        assert!((cpu.interval.unwrap()[0] - 1000.0 / 949.0).abs() < 1e-9);
        assert_eq!(cpu.verdict, Verdict::Lower, "1.054x more CPU is beyond 1.05");
        let near = with_trials(&[("threading", &[953.0, 953.0, 953.0])]);
        let run = compare(("a", &base), ("b", &near), None).unwrap();
        assert_eq!(
            one(&run, "threading", Metric::CpuMsPerRequest).verdict,
            Verdict::WithinNoise,
            "1.049x"
        );
    }

    #[test]
    fn a_single_trial_a_side_gives_a_ratio_without_a_verdict() {
        let base = with_trials(&[("threading", &[800.0])]);
        let new = with_trials(&[("threading", &[400.0])]);
        let run = compare(("a", &base), ("b", &new), Some(5.0)).unwrap();
        let rps = one(&run, "threading", Metric::Rps);
        assert_eq!(
            (rps.ratio, rps.interval, rps.verdict, rps.regression),
            (0.5, None, Verdict::TooFewTrials, false)
        );
        assert!((rps.p_value_floor - 1.0).abs() < 1e-12);
    }
}
