//! The figures claims are decided by, found in a run's data: a ratio of two sides' samples with
//! its interval, and a sentence saying where it came from.

use loadtest_model::claims::{Claim, ClaimVerdict, Expect};
use loadtest_model::stats::{Ratio, ratio_of_medians};
use loadtest_model::summary::{Phase, RunSummary, ScenarioKey, TrialRecord};
use matrix_service::WorkKind;

/// A ratio and what it is, or why there is none.
pub type Evidence = Result<(Ratio, String), String>;

/// A claim decided by `evidence` read as `expect` says.
pub fn decide(claim: &str, source: &str, expect: Expect, evidence: Evidence) -> Claim {
    let (verdict, figure, from) = match evidence {
        Ok((ratio, what)) => (
            expect.judge(&ratio),
            Some(ratio.value),
            format!(
                "{what}: {:.2}x, 95% interval {:.2}x to {:.2}x (medians of {} and {})",
                ratio.value, ratio.ci_low, ratio.ci_high, ratio.n_a, ratio.n_b
            ),
        ),
        Err(missing) => (ClaimVerdict::NotMeasured, None, missing),
    };
    Claim {
        claim: claim.to_owned(),
        source: source.to_owned(),
        verdict,
        figure,
        from,
    }
}

/// A figure of a trial, and how a sentence names it.
#[derive(Debug, Clone, Copy)]
pub enum Figure {
    Rps,
    P99,
    CpuPerRequest,
    PeakMemory,
}

impl Figure {
    fn of(self, trial: &TrialRecord) -> Option<f64> {
        match self {
            Self::Rps => trial.rps_2xx,
            Self::P99 => trial.latency_p99_ms,
            Self::CpuPerRequest => trial.cpu_ms_per_request,
            Self::PeakMemory => trial.peak_memory_bytes.map(|b| b as f64),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rps => "req/s",
            Self::P99 => "p99 latency",
            Self::CpuPerRequest => "CPU per request",
            Self::PeakMemory => "peak memory (PSS)",
        }
    }
}

/// Which trials a figure is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trials {
    /// The valid ones, as every table.
    Valid,
    /// Every measured trial: for req/s of 2xx answers where a server that cannot keep up fails
    /// its trials (timeouts at 1,024 connections), and that failing is the finding.
    Every,
}

/// `figure` of each measured trial of `server` at `scenario` that `trials` takes.
fn samples(summary: &RunSummary, server: &str, scenario: ScenarioKey, (figure, trials): (Figure, Trials)) -> Vec<f64> {
    (summary.trials.iter())
        .filter(|t| t.server == server && t.scenario == scenario && t.phase == Phase::Measured)
        .filter(|t| t.valid || trials == Trials::Every)
        .filter_map(|t| figure.of(t))
        .collect()
}

/// Measured trials of `server` at `scenario` that were not valid.
fn invalid(summary: &RunSummary, server: &str, scenario: ScenarioKey) -> usize {
    (summary.trials.iter())
        .filter(|t| t.server == server && t.scenario == scenario && t.phase == Phase::Measured && !t.valid)
        .count()
}

/// The first scenario in which both servers have measured trials and `pick` holds.
fn shared_scenario(summary: &RunSummary, a: &str, b: &str, pick: impl Fn(ScenarioKey) -> bool) -> Option<ScenarioKey> {
    let ran = |server: &str, s: ScenarioKey| {
        (summary.trials.iter()).any(|t| t.server == server && t.scenario == s && t.phase == Phase::Measured)
    };
    (summary.trials.iter())
        .map(|t| t.scenario)
        .find(|&s| pick(s) && ran(a, s) && ran(b, s))
}

/// `a`'s `figure` over `b`'s, trial by trial, in the first scenario both ran that `pick` holds
/// for.
pub fn servers(
    summary: &RunSummary,
    (a, b): (&str, &str),
    figure: (Figure, Trials),
    pick: impl Fn(ScenarioKey) -> bool,
    at: &str,
) -> Evidence {
    let scenario =
        shared_scenario(summary, a, b, pick).ok_or_else(|| format!("not in this run: {a} and {b} at {at}"))?;
    let label = crate::table::scenario_label(scenario);
    let ratio = ratio_of_medians(
        &samples(summary, a, scenario, figure),
        &samples(summary, b, scenario, figure),
    )
    .ok_or_else(|| format!("no valid trials of {a} and {b} at {label}"))?;
    let mut what = format!("{} of {a} over {b} at {label}", figure.0.name());
    if figure.1 == Trials::Every {
        let failed: Vec<String> = [a, b]
            .into_iter()
            .map(|server| (server, invalid(summary, server, scenario)))
            .filter(|&(_, n)| n > 0)
            .map(|(server, n)| format!("{n} of {server}'s"))
            .collect();
        if !failed.is_empty() {
            what.push_str(&format!(
                " (2xx answers of every trial: {} trials were not valid)",
                failed.join(" and ")
            ));
        }
    }
    Ok((ratio, what))
}

/// `server`'s `figure` at `more` workers over at `fewer`, at `work`'s first scenario it ran
/// with `more` workers (the many-waits scenarios of `--lab` aside).
pub fn workers(
    summary: &RunSummary,
    server: &str,
    work: WorkKind,
    (fewer, more): (u32, u32),
    figure: Figure,
) -> Evidence {
    let extra = [ScenarioKey::MANY_WAITS, ScenarioKey::LONG_WAITS];
    let at_more = (summary.results.iter())
        .map(|r| r.scenario)
        .zip(summary.results.iter().map(|r| r.server.as_str()))
        .find(|&(s, name)| name == server && s.work == work && s.workers == more && !extra.contains(&s))
        .map(|(s, _)| s)
        .ok_or_else(|| format!("not in this run: {server} at {} with {more} workers", work.name()))?;
    let at_fewer = ScenarioKey {
        workers: fewer,
        ..at_more
    };
    let ratio = ratio_of_medians(
        &samples(summary, server, at_more, (figure, Trials::Valid)),
        &samples(summary, server, at_fewer, (figure, Trials::Valid)),
    )
    .ok_or_else(|| {
        format!(
            "not in this run: {server} at {}",
            crate::table::scenario_label(at_fewer)
        )
    })?;
    Ok((
        ratio,
        format!(
            "{}'s {} at {more} workers over {fewer} ({})",
            server,
            figure.name(),
            crate::table::scenario_label(at_more)
        ),
    ))
}

/// One request at a time on `server`: its time with 1 worker over 2, from the worker probes.
pub fn one_request(summary: &RunSummary, server: &str, implementation: &str) -> Evidence {
    let probe = (summary.worker_probes.iter())
        .find(|p| p.server == server && p.implementation == implementation)
        .ok_or_else(|| format!("not in this run: {server}'s one-request probe ({implementation})"))?;
    let ratio = probe
        .speedup()
        .ok_or_else(|| format!("{server}'s one-request probe ({implementation}) has too few answers"))?;
    Ok((
        ratio,
        format!(
            "{server}, one request at a time, {} n={} ({}): its bands' time with 1 worker over 2",
            probe.work.name(),
            probe.n,
            implementation
        ),
    ))
}
