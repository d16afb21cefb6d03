//! What a sweep of workers shows for each kind of work (`--work add,matmul,io`, `--lab`): who
//! is fastest at each worker count, where each server stops scaling, and why, from the data:
//! for `matmul` the cores (a request's own product on more workers, with no other load), for
//! `io` the waiting (against the ceiling the waits set), for `add` the cost of each worker.

use super::{probe, result};
use loadtest_model::catalogue::{BandsAtOnce, Catalogue};
use loadtest_model::cpu_speed::CpuSpeed;
use loadtest_model::stats::NOISE_BAND;
use loadtest_model::summary::{RunSummary, ScenarioKey};
use matrix_service::WorkKind;
use matrix_service::work::Bound;

/// Throughput must grow by more than this from one worker count to the next to count as
/// scaling: the noise between trials here is a few percent.
const SCALING: f64 = 1.10;

/// One sentence group per kind of work the run swept.
pub(super) fn findings(summary: &RunSummary, catalogue: &Catalogue, scenarios: &[ScenarioKey]) -> Vec<String> {
    let mut out = Vec::new();
    for &work in &summary.design.works {
        let points: Vec<ScenarioKey> = scenarios.iter().copied().filter(|s| s.work == work).collect();
        if points.len() < 2 {
            continue;
        }
        out.extend(fastest(summary, work, &points));
        out.extend(
            summary
                .servers
                .iter()
                .filter_map(|s| scaling(summary, &s.name, &points)),
        );
        out.extend(why(summary, catalogue, work, &points));
    }
    out
}

/// The servers' req/s at each point, `(workers, server, rps)`.
fn rps_at(summary: &RunSummary, point: ScenarioKey) -> Vec<(&str, f64)> {
    (summary.servers.iter())
        .filter_map(|s| Some((s.name.as_str(), result(summary, &s.name, point)?.rps_median?)))
        .collect()
}

/// "matmul (CPU-bound), n=500, 20 connections. Fastest by workers: 1: threading (195 req/s), ..."
fn fastest(summary: &RunSummary, work: WorkKind, points: &[ScenarioKey]) -> Option<String> {
    let first = points[0];
    let wait = first.wait_ms.map_or(String::new(), |w| format!(", wait_ms={w}"));
    let by_workers: Vec<String> = (points.iter())
        .filter_map(|&point| {
            let best = rps_at(summary, point).into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(format!("{}: {} ({:.0})", point.workers, best.0, best.1))
        })
        .collect();
    (!by_workers.is_empty()).then(|| {
        format!(
            "{} ({}), n={}, {} connections{wait}. Fastest by workers (req/s): {}.",
            work.name(),
            work.bound().describe(),
            first.n,
            first.concurrency,
            by_workers.join(", ")
        )
    })
}

/// "threading peaked at workers=2 (204 req/s) and stopped scaling at workers=2: ..."
fn scaling(summary: &RunSummary, server: &str, points: &[ScenarioKey]) -> Option<String> {
    let series: Vec<(u32, f64)> = (summary.across(server, points))
        .filter_map(|r| Some((r.scenario.workers, r.rps_median?)))
        .collect();
    let (first, last) = (series.first()?, series.last()?);
    if series.len() < 2 {
        return None;
    }
    let peak = series.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let stop = series
        .windows(2)
        .find(|pair| pair[1].1 < SCALING * pair[0].1)
        .map(|pair| pair[0].0);
    let stops = match stop {
        Some(w) if w == first.0 => format!("more workers never gained more than {:.0}%", (SCALING - 1.0) * 100.0),
        Some(w) => format!("it stopped scaling after workers={w}"),
        None => "it scaled all the way".into(),
    };
    Some(format!(
        "{server}: {:.0} req/s at workers={}, {:.0} at workers={}; peak {:.0} at workers={}; {stops}.",
        first.1, first.0, last.1, last.0, peak.1, peak.0
    ))
}

/// Why, for each kind, from the data.
fn why(summary: &RunSummary, catalogue: &Catalogue, work: WorkKind, points: &[ScenarioKey]) -> Vec<String> {
    match work.bound() {
        Bound::Cpu => why_cpu_bound(summary, catalogue, points),
        Bound::Waiting => why_waiting(summary, catalogue, points),
        Bound::Memory => why_memory_bound(summary, points),
    }
}

/// CPU-bound work: a request alone, from 1 worker to 2, against what more connections allow.
fn why_cpu_bound(summary: &RunSummary, catalogue: &Catalogue, points: &[ScenarioKey]) -> Vec<String> {
    let cpus = summary.machine.cpus;
    // A request alone (the probes: sequential, no other load): does its product get
    // faster with a second worker?
    let (one, two) = (
        points.iter().find(|p| p.workers == 1),
        points.iter().find(|p| p.workers == 2),
    );
    let Some((one, two)) = one.zip(two) else {
        return Vec::new();
    };
    let alone: Vec<String> = (summary.servers.iter())
        .filter_map(|s| {
            let t1 = probe(summary, &s.name, *one)?.execution_ms?;
            let t2 = probe(summary, &s.name, *two)?.execution_ms?;
            Some(format!("{} {t1:.1} to {t2:.1} ms ({:.2}x)", s.name, t2 / t1))
        })
        .collect();
    if alone.is_empty() {
        return Vec::new();
    }
    let uneven = (summary.cpu_speed.as_ref()).is_some_and(CpuSpeed::is_uneven);
    let caveat = if uneven {
        " (the CPUs ran at uneven speeds in this run, see the warnings: two bands finish at the slower \
         CPU's pace, so these speed-ups are below what two equal CPUs give)"
    } else {
        ""
    };
    // Two bands at once on two CPUs halve the time; a time that falls beyond the noise band is
    // bands running at once, one within it is bands taking turns. A server built to compute its
    // bands in turn (an event loop) is told apart: a time of its that falls is not bands at once.
    let in_turn: Vec<String> = (summary.servers.iter())
        .filter(|s| {
            catalogue
                .get(&s.name)
                .is_some_and(|l| l.bands == BandsAtOnce::WaitsAtOnce)
        })
        .map(|s| s.name.clone())
        .collect();
    let at_once: Vec<&str> = (summary.servers.iter())
        .filter(|s| !in_turn.contains(&s.name))
        .filter(|s| {
            let t = |point: &ScenarioKey| probe(summary, &s.name, *point).and_then(|p| p.execution_ms);
            t(one).zip(t(two)).is_some_and(|(t1, t2)| t2 < t1 / (1.0 + NOISE_BAND))
        })
        .map(|s| s.name.as_str())
        .collect();
    let others = if in_turn.is_empty() {
        "server's"
    } else {
        "other server's"
    };
    let verdict = match at_once.len() {
        0 => format!("No {others} product got faster beyond the ±5% noise band: its two bands did not run at once."),
        n if n + in_turn.len() == alone.len() => format!(
            "Every {others} product got faster beyond the ±5% noise band: its two bands ran on the {cpus} CPUs at once."
        ),
        _ => format!(
            "Only {} got faster beyond the ±5% noise band, its two bands running at once.",
            super::and_list(&at_once.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        ),
    };
    let verdict = match in_turn.is_empty() {
        true => verdict,
        false => format!(
            "{} {} its bands one after another on an event loop, by design, so its time is not two CPUs at once. {verdict}",
            super::and_list(&in_turn),
            if in_turn.len() == 1 { "computes" } else { "compute" }
        ),
    };
    vec![format!(
        "Why: the product is CPU-bound. One request alone (no other load), from 1 worker to 2: {}{caveat}. \
         {verdict} Under {} connections the {cpus} CPUs are already busy with other requests, so more workers \
         per request cannot add throughput beyond {cpus} CPUs' worth.",
        alone.join(", "),
        points[0].concurrency
    )]
}

/// Waiting: each server's share of the waits' ceiling, by workers.
fn why_waiting(summary: &RunSummary, catalogue: &Catalogue, points: &[ScenarioKey]) -> Vec<String> {
    let knobs: Vec<&str> = (catalogue.iter())
        .filter_map(|s| Some(s.pool.as_ref()?.flag.as_str()))
        .collect();
    let Some(wait) = points[0].wait_ms.filter(|w| *w > 0) else {
        return Vec::new();
    };
    // Every connection's request waits wait_ms / workers (its bands wait at once), so
    // c connections can complete at most c * workers * 1000 / wait_ms requests a second.
    let lines: Vec<String> = (points.iter())
        .map(|&point| {
            let ideal = f64::from(point.concurrency) * f64::from(point.workers.min(point.n)) * 1000.0 / f64::from(wait);
            let shares: Vec<String> = rps_at(summary, point)
                .into_iter()
                .map(|(server, rps)| format!("{server} {:.0}%", 100.0 * rps / ideal))
                .collect();
            format!("{}: {:.0} ({})", point.workers, ideal, shares.join(", "))
        })
        .collect();
    vec![format!(
        "Why: io is waiting, not computing. With {c} connections, each request waiting {wait} ms spread \
         over its bands (which wait at once), at most {c} x workers x 1000 / {wait} requests a second \
         can finish; by workers, that ceiling and each server's share of it: {}. A pool of P threads or \
         processes blocks in the waits, so it serves at most P x 1000 / {wait} requests a second \
         whatever the workers (its knob: {}).",
        lines.join("; "),
        knobs.join(" or "),
        c = points[0].concurrency
    )]
}

/// Memory-bound and short: what more workers did to req/s.
fn why_memory_bound(summary: &RunSummary, points: &[ScenarioKey]) -> Vec<String> {
    let (first, last) = (points[0], points[points.len() - 1]);
    let falls: Vec<String> = (summary.servers.iter())
        .filter_map(|s| {
            let a = result(summary, &s.name, first)?.rps_median?;
            let b = result(summary, &s.name, last)?.rps_median?;
            Some(format!("{} {:.2}x", s.name, b / a))
        })
        .collect();
    if falls.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "The sum is short (a fraction of a millisecond at n={}). Req/s at workers={} over workers={}: {}. \
         The traced windows measure one worker count only, so the ledger cannot say which cost of a worker \
         (a thread start, a fork, a hand-off to a pool) made the difference.",
        first.n,
        last.workers,
        first.workers,
        falls.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use loadtest_model::catalogue::Catalogue;
    use loadtest_model::cpu_speed::CpuSpeed;
    use loadtest_model::summary::RunSummary;

    /// The committed `--lab` run of 2026-12-06 (before the CPU speed check existed).
    fn lab_run() -> RunSummary {
        serde_json::from_str(include_str!("../../../../docs/runs/2026-12-06-lab/summary.json")).unwrap()
    }

    fn matmul_why(summary: &RunSummary) -> String {
        let conclusions = super::super::conclusions(summary, &Catalogue::lab());
        (conclusions.into_iter())
            .find(|line| line.starts_with("Why: the product is CPU-bound."))
            .expect("a matmul sweep explains its scaling")
    }

    #[test]
    fn an_event_loop_s_bands_in_turn_are_not_told_as_two_cpus_at_once() {
        let summary: RunSummary =
            serde_json::from_str(include_str!("../../../../docs/runs/2026-12-07-async-lab/summary.json")).unwrap();
        let why = matmul_why(&summary);
        // Its time fell 6% from 1 worker to 2, beyond the noise band, yet its bands take turns.
        assert!(why.contains("async 6.1 to 5.7 ms (0.94x)"), "{why}");
        assert!(
            why.contains(
                "async computes its bands one after another on an event loop, by design, so its time is not two \
                 CPUs at once. Every other server's product got faster beyond the ±5% noise band"
            ),
            "{why}"
        );
    }

    #[test]
    fn the_product_s_speed_up_comes_from_the_probes() {
        let why = matmul_why(&lab_run());
        assert!(
            why.contains("from 1 worker to 2: threading 9.8 to 5.5 ms (0.56x), thread-pool 10.8 to 5.4 ms (0.50x)"),
            "{why}"
        );
        assert!(!why.contains("uneven"), "{why}");
        // The cause is decided by the times: every server's fell beyond the noise band.
        assert!(
            why.contains(
                "Every server's product got faster beyond the ±5% noise band: its two bands ran on the 2 CPUs at once."
            ),
            "{why}"
        );
        assert!(!why.contains("interpreter lock"), "{why}");
    }

    #[test]
    fn uneven_cpus_qualify_the_speed_up() {
        let mut summary = lab_run();
        let mut speed: CpuSpeed = crate::testdata::steady_cpus();
        speed.checks[1].cpus[1].median_ms = 3.4;
        summary.cpu_speed = Some(speed);
        let why = matmul_why(&summary);
        assert!(
            why.contains("(0.56x)") && why.contains("the CPUs ran at uneven speeds"),
            "{why}"
        );
    }
}
