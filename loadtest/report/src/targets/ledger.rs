//! The ledger's own targets, checked on every run that traced: that its phases tile the
//! requests' spans, that its CPU agrees with the trials', that recording costs little, and that
//! fork per request's extra CPU over the pre-forked pool lands in named phases.

use loadtest_model::catalogue::{Catalogue, Family};
use loadtest_model::cpu_speed::CpuSpeed;
use loadtest_model::ledger::{GENERATION, LedgerEntry, OUTSIDE};
use loadtest_model::summary::{Limit, RunSummary, TargetCheck, TargetId, Unit};

use super::checked;

/// At least this share of traced requests have their handler's span covered by their phases.
pub const COVERED: f64 = 0.95;
/// The ledger's CPU per request is within this share of the trials'.
pub const TOTAL_WITHIN: f64 = 0.15;
/// A traced second whose generation took more than this multiple of its CPU with the server
/// unloaded ran slow throughout (the recorder does not enter generation): it is not judged.
pub const GENERATION_SLOW: f64 = 1.0 + TOTAL_WITHIN;
/// Generation of less CPU than this unloaded, ms, is too short for the thread clock's
/// microseconds to tell a slow second by.
const GENERATION_TELLS_FROM_MS: f64 = 0.1;
/// Recording costs at most this ratio of CPU per answer.
pub const TRACE_COST: f64 = 1.05;
/// At least this share of fork per request's extra CPU is in named phases.
pub const ATTRIBUTED: f64 = 0.8;

/// Every ledger target the run's data covers.
pub(super) fn check(summary: &RunSummary, catalogue: &Catalogue) -> Vec<TargetCheck> {
    let mut out: Vec<TargetCheck> = summary.ledger.iter().map(covered).collect();
    out.extend(summary.ledger.iter().filter_map(|e| total(summary, e)));
    out.extend(summary.trace_cost.iter().filter_map(|cost| {
        let ratio = cost.ratio?;
        let spans_one = cost.interval.is_some_and(|(low, high)| low <= 1.0 && 1.0 <= high);
        let from = match cost.interval {
            Some((low, high)) => format!(
                "median of {} pairs of 1 s windows, 95% interval {low:.2}x to {high:.2}x{}",
                cost.traced_ms.len(),
                if spans_one {
                    ": below what this machine can resolve"
                } else {
                    ""
                }
            ),
            None => format!("median of {} pairs of 1 s windows", cost.traced_ms.len()),
        };
        let limit = Some(Limit::AtMost(TRACE_COST));
        Some(checked(
            TargetId::TraceCost,
            &cost.server,
            ratio,
            Unit::Ratio,
            limit,
            from,
        ))
    }));
    out.extend(attributed(summary, catalogue));
    out
}

fn covered(entry: &LedgerEntry) -> TargetCheck {
    let from = format!(
        "{} requests of the {} window, within 5% or 0.05 ms",
        entry.requests,
        entry.scenario.work.name()
    );
    let limit = Some(Limit::AtLeast(COVERED));
    checked(
        TargetId::LedgerCovered,
        &entry.server,
        entry.covered_share,
        Unit::Share,
        limit,
        from,
    )
}

/// How far the ledger's CPU per request (the process tree's over the traced second) is from
/// the trials' at the same scenario.
fn total(summary: &RunSummary, entry: &LedgerEntry) -> Option<TargetCheck> {
    let ledger = entry.tree_cpu_ms_per_request?;
    let trials = (summary.results.iter())
        .find(|r| r.server == entry.server && r.scenario == entry.scenario)?
        .cpu_ms_per_request?;
    let mut from = format!(
        "{ledger:.2} ms over the traced second against {trials:.2} ms in the trials ({})",
        entry.scenario.work.name()
    );
    // The traced second and the trials compare only on a machine whose speed held between
    // them: when the same load untraced, just before the trace, moved from the trials by more
    // than the target's margin (or, in a run without that second, the CPU speed check moved),
    // the row is reported, not judged.
    let moved = match entry.untraced_cpu_ms_per_request {
        Some(untraced) => {
            let moved = untraced / trials;
            from.push_str(&format!(
                "; the same load untraced, the second before: {untraced:.2} ms"
            ));
            ((moved - 1.0).abs() > TOTAL_WITHIN)
                .then(|| format!("the machine moved: untraced, it took {moved:.2}x the trials' CPU a request"))
        }
        None => {
            let drift = summary.cpu_speed.as_ref().and_then(CpuSpeed::drift);
            drift
                .filter(|d| (d - 1.0).abs() > TOTAL_WITHIN)
                .map(|drift| format!("the CPU speed check took {drift:.2}x as long after the trials as before them"))
        }
    };
    let slow = generation_slowed(entry).and_then(|(ratio, traced, alone)| {
        from.push_str(&format!(
            "; generation {ratio:.2}x its CPU with the server unloaded ({traced:.2} against {alone:.2} ms)"
        ));
        (ratio > GENERATION_SLOW)
            .then(|| format!("this second ran slow: its generation, which the recorder does not enter, took {ratio:.2}x its CPU with the server unloaded"))
    });
    let moved = moved.or(slow);
    if let Some(why) = &moved {
        from.push_str(&format!("; not judged: {why}"));
    }
    let limit = moved.is_none().then_some(Limit::AtMost(TOTAL_WITHIN));
    Some(checked(
        TargetId::LedgerTotal,
        &entry.server,
        (ledger / trials - 1.0).abs(),
        Unit::Share,
        limit,
        from,
    ))
}

/// The generation's CPU per request in the traced second over the same with the server
/// unloaded, with the two: `None` without both or where generation is too short to tell.
fn generation_slowed(entry: &LedgerEntry) -> Option<(f64, f64, f64)> {
    let alone = entry
        .generation_alone_cpu_ms
        .filter(|&ms| ms >= GENERATION_TELLS_FROM_MS)?;
    let traced = entry.phases.get(GENERATION)?.cpu_ms;
    Some((traced / alone, traced, alone))
}

/// For each server that forks per request and each pre-forked pool of processes, at a kind of
/// work both have a ledger of: the share of the difference in their ledgers' CPU per request
/// that named phases hold (every phase but `other` and outside the handler).
fn attributed(summary: &RunSummary, catalogue: &Catalogue) -> Vec<TargetCheck> {
    let processes =
        |pool: bool| (catalogue.iter()).filter(move |s| s.family == Family::Processes && s.pool.is_some() == pool);
    let mut out = Vec::new();
    for forks in processes(false) {
        for pool in processes(true) {
            for entry in summary.ledger.iter().filter(|e| e.server == forks.name) {
                let Some(against) =
                    (summary.ledger.iter()).find(|e| e.server == pool.name && e.scenario == entry.scenario)
                else {
                    continue;
                };
                if let Some(check) = attributed_between(entry, against) {
                    out.push(check);
                }
            }
        }
    }
    out
}

fn attributed_between(forks: &LedgerEntry, pool: &LedgerEntry) -> Option<TargetCheck> {
    let extra = forks.tree_cpu_ms_per_request? - pool.tree_cpu_ms_per_request?;
    if extra <= 0.0 {
        return None;
    }
    let unnamed = ["other", OUTSIDE];
    let named: f64 = (forks.phases.iter())
        .filter(|(name, _)| !unnamed.contains(&name.as_str()))
        .map(|(name, cost)| cost.cpu_ms - pool.phases.get(name).map_or(0.0, |p| p.cpu_ms))
        .sum();
    let from = format!(
        "{named:.2} of the {extra:.2} ms a request the {} server's ledger adds over the {} server's ({})",
        forks.server,
        pool.server,
        forks.scenario.work.name()
    );
    let limit = Some(Limit::AtLeast(ATTRIBUTED));
    Some(checked(
        TargetId::ForkExtraAttributed,
        &forks.server,
        named / extra,
        Unit::Share,
        limit,
        from,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::entry;
    use loadtest_model::trace_cost::TraceCost;

    #[test]
    fn each_ledger_target_is_checked_from_the_run_s_own_figures() {
        let mut summary = crate::testdata::summary();
        let catalogue = Catalogue::lab();
        assert_eq!(check(&summary, &catalogue), Vec::new(), "no ledger, no rows");
        // Every phase 0.1 ms of CPU; fork per request's bands and outside 1 ms more each.
        let mut forks = entry("multiprocessing", 0.5, 0.1);
        forks.phases.get_mut("waiting for bands").unwrap().cpu_ms += 1.0;
        forks.phases.get_mut(OUTSIDE).unwrap().cpu_ms += 1.0;
        let mut pool = entry("prefork", 0.5, 0.1);
        let total = |e: &LedgerEntry| e.phases.values().map(|p| p.cpu_ms).sum::<f64>();
        forks.tree_cpu_ms_per_request = Some(total(&forks));
        pool.tree_cpu_ms_per_request = Some(total(&pool));
        summary.ledger = vec![forks, pool];
        summary.trace_cost = vec![TraceCost::of(
            "prefork",
            summary.ledger[1].scenario,
            vec![1.0; 10],
            vec![1.02, 0.99, 1.0, 1.01, 0.98, 1.03, 1.0, 0.99, 1.02, 1.0],
        )];
        let checks = check(&summary, &catalogue);
        let row = |target: TargetId, server: &str| {
            (checks.iter())
                .find(|c| c.target == target && c.server == server)
                .unwrap_or_else(|| panic!("{target} {server}: {checks:?}"))
        };
        assert_eq!(row(TargetId::LedgerCovered, "prefork").met, Some(true));
        // Half of the 2 ms more is in the bands, a named phase; half outside the handler.
        let attributed = row(TargetId::ForkExtraAttributed, "multiprocessing");
        assert!((attributed.figure - 0.5).abs() < 1e-9, "{attributed:?}");
        assert_eq!(attributed.met, Some(false));
        let cost = row(TargetId::TraceCost, "prefork");
        assert_eq!(cost.met, Some(true));
        assert!(cost.from.contains("below what this machine can resolve"), "{cost:?}");
        // 3.25 ms in the ledger against the fixed run's 7.90 in the trials, on steady CPUs.
        let total = row(TargetId::LedgerTotal, "multiprocessing");
        assert!((total.figure - (1.0 - 3.25 / 7.9)).abs() < 1e-3, "{total:?}");
        assert_eq!(total.met, Some(false));
        // The same, on a machine that ran the reference product 0.8x as long after the trials.
        for cpu in &mut summary.cpu_speed.as_mut().unwrap().checks[1].cpus {
            cpu.median_ms *= 0.8;
        }
        let checks = check(&summary, &catalogue);
        let total = (checks.iter())
            .find(|c| c.target == TargetId::LedgerTotal && c.server == "multiprocessing")
            .unwrap();
        assert_eq!((total.limit, total.met), (None, None), "{total:?}");
        assert!(
            total
                .from
                .contains("not judged: the CPU speed check took 0.80x as long"),
            "{total:?}"
        );
        // The second before the trace, untraced, decides instead of the speed check once the
        // run has it: a machine that held is judged, one that moved is not.
        let judged = |untraced: f64| {
            let mut summary = summary.clone();
            summary.ledger[0].untraced_cpu_ms_per_request = Some(untraced);
            let checks = check(&summary, &catalogue);
            (checks.into_iter())
                .find(|c| c.target == TargetId::LedgerTotal && c.server == "multiprocessing")
                .unwrap()
        };
        let held = judged(7.5);
        assert_eq!(held.met, Some(false), "{held:?}");
        assert!(
            held.from.contains("the same load untraced, the second before: 7.50 ms"),
            "{held:?}"
        );
        let moved = judged(3.3);
        assert_eq!((moved.limit, moved.met), (None, None), "{moved:?}");
        assert!(
            moved
                .from
                .contains("not judged: the machine moved: untraced, it took 0.42x the trials'"),
            "{moved:?}"
        );
    }

    #[test]
    fn a_traced_second_whose_generation_ran_slow_is_not_judged() {
        let mut summary = crate::testdata::summary();
        // The fixed run's trials took 7.90 ms a request, the traced and untraced seconds 7.50.
        let mut ledger = entry("multiprocessing", 0.5, 0.1);
        ledger.tree_cpu_ms_per_request = Some(7.5);
        ledger.untraced_cpu_ms_per_request = Some(7.5);
        ledger.phases.get_mut(GENERATION).unwrap().cpu_ms = 0.5;
        summary.ledger = vec![ledger];
        let judged = |alone: f64| {
            let mut summary = summary.clone();
            summary.ledger[0].generation_alone_cpu_ms = Some(alone);
            let checks = check(&summary, &Catalogue::lab());
            (checks.into_iter())
                .find(|c| c.target == TargetId::LedgerTotal)
                .unwrap()
        };
        let held = judged(0.48);
        assert_eq!(held.met, Some(true), "{held:?}");
        assert!(
            held.from
                .contains("; generation 1.04x its CPU with the server unloaded (0.50 against 0.48 ms)"),
            "{held:?}"
        );
        let slow = judged(0.4);
        assert_eq!((slow.limit, slow.met), (None, None), "{slow:?}");
        assert!(
            slow.from.contains(
                "not judged: this second ran slow: its generation, which the recorder does not enter, took 1.25x"
            ),
            "{slow:?}"
        );
        // Generation of 0.05 ms unloaded is too short to tell by: not quoted, and judged.
        let short = judged(0.05);
        assert_eq!(short.met, Some(true), "{short:?}");
        assert!(!short.from.contains("generation"), "{short:?}");
    }
}
