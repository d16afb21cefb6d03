//! The seeds' claims of the committed `--lab --python` run, against its own data: every claim
//! decided (none `not measured`), the report's code drawing the same claims again from the
//! trials and probes, and the figures computed here by hand, each a median over a median.

use std::path::Path;

use loadtest_model::claims::ClaimVerdict;
use loadtest_model::stats::median;
use loadtest_model::summary::{Phase, RunSummary, ScenarioKey};
use matrix_service::WorkKind;

fn committed() -> RunSummary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs/2026-12-07-lab-python/summary.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The median of `get` over `server`'s valid measured trials at `scenario`, by hand.
fn trials_median(
    run: &RunSummary,
    server: &str,
    scenario: ScenarioKey,
    get: fn(&loadtest_model::summary::TrialRecord) -> Option<f64>,
) -> f64 {
    let values: Vec<f64> = (run.trials.iter())
        .filter(|t| t.server == server && t.scenario == scenario && t.phase == Phase::Measured && t.valid)
        .filter_map(get)
        .collect();
    median(&values).unwrap_or_else(|| panic!("no trials of {server} at {scenario:?}"))
}

fn figure(run: &RunSummary, claim: &str) -> f64 {
    let found = (run.claims.iter()).find(|c| c.claim.starts_with(claim));
    found
        .and_then(|c| c.figure)
        .unwrap_or_else(|| panic!("no figure for {claim:?}"))
}

#[test]
fn the_committed_run_decides_every_claim_from_its_own_data() {
    let run = committed();
    assert_eq!(run.claims.len(), 17);
    let undecided: Vec<&str> = (run.claims.iter())
        .filter(|c| c.verdict == ClaimVerdict::NotMeasured)
        .map(|c| c.claim.as_str())
        .collect();
    assert!(undecided.is_empty(), "not measured: {undecided:?}");
    // Drawn again from the data: the same claims, verdicts and sentences, and the same figures
    // to the last digits JSON keeps.
    let again = loadtest_report::claims::claims(&run);
    assert_eq!(again.len(), run.claims.len());
    for (drawn, kept) in again.iter().zip(&run.claims) {
        assert_eq!(
            (&drawn.claim, &drawn.source, drawn.verdict, &drawn.from),
            (&kept.claim, &kept.source, kept.verdict, &kept.from)
        );
        let close = match (drawn.figure, kept.figure) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        assert!(close, "{drawn:?} against {kept:?}");
    }

    let add = ScenarioKey::DEFAULT;
    let rps = |t: &loadtest_model::summary::TrialRecord| t.rps_2xx;
    let by_hand = trials_median(&run, "py-processes", add, rps) / trials_median(&run, "py-threads", add, rps);
    let stored = figure(
        &run,
        "Multiprocessing gives better performance for the addition (the lab's API",
    );
    assert!((stored - by_hand).abs() < 1e-9, "{stored} against {by_hand}");

    let memory = |t: &loadtest_model::summary::TrialRecord| t.peak_memory_bytes.map(|b| b as f64);
    let by_hand = trials_median(&run, "multiprocessing", add, memory) / trials_median(&run, "threading", add, memory);
    let stored = figure(&run, "Processes cost more memory (Rust");
    assert!((stored - by_hand).abs() < 1e-9, "{stored} against {by_hand}");

    for (claim, server, implementation) in [
        (
            "Python threads do not speed up CPU-bound work (a pure-Python",
            "py-threads",
            "python",
        ),
        (
            "Python processes speed up CPU-bound work (numpy",
            "py-processes",
            "numpy",
        ),
    ] {
        let probe = (run.worker_probes.iter())
            .find(|p| p.server == server && p.implementation == implementation && p.work == WorkKind::Matmul)
            .unwrap();
        let by_hand = median(&probe.one_worker_ms).unwrap() / median(&probe.two_workers_ms).unwrap();
        let stored = figure(&run, claim);
        assert!((stored - by_hand).abs() < 1e-9, "{claim}: {stored} against {by_hand}");
    }
}
