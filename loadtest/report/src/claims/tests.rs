use loadtest_model::claims::ClaimVerdict;
use loadtest_model::python::WorkerProbe;
use matrix_service::WorkKind;

use super::*;
use crate::testdata::with_trials;

fn probe(server: &str, implementation: &str, one: f64, two: f64) -> WorkerProbe {
    // Ten answers each, a little spread around the given times.
    let around = |ms: f64| (0..10).map(|i| ms * (0.98 + 0.004 * f64::from(i))).collect();
    WorkerProbe {
        server: server.into(),
        work: WorkKind::Matmul,
        n: 64,
        implementation: implementation.into(),
        one_worker_ms: around(one),
        two_workers_ms: around(two),
    }
}

/// The Python lab's apps at the default scenario (py-processes a third of py-threads' req/s,
/// the handout's processes app a fifth of its threads app's), Rust's two per-request servers,
/// and the one-request probes: numpy's product sped up by Python's threads, the pure-Python
/// one not; processes speeding up both.
fn python_run() -> RunSummary {
    let mut run = with_trials(&[
        ("threading", &[800.0, 820.0, 780.0]),
        ("multiprocessing", &[200.0, 210.0, 190.0]),
        ("py-threads", &[300.0, 310.0, 290.0]),
        ("py-processes", &[100.0, 104.0, 98.0]),
        ("python-threads", &[150.0, 160.0, 155.0]),
        ("python-processes-fixed", &[30.0, 31.0, 29.0]),
    ]);
    run.worker_probes = vec![
        probe("threading", "rust", 10.0, 5.2),
        probe("py-threads", "numpy", 10.0, 6.0),
        probe("py-threads", "python", 40.0, 41.0),
        probe("py-processes", "numpy", 10.0, 6.5),
        probe("py-processes", "python", 40.0, 22.0),
    ];
    run
}

fn verdict_of<'a>(claims: &'a [Claim], starts: &str) -> &'a Claim {
    (claims.iter())
        .find(|c| c.claim.starts_with(starts))
        .unwrap_or_else(|| panic!("no claim {starts:?} in {claims:#?}"))
}

#[test]
fn each_claim_is_decided_by_the_run_s_own_figures() {
    let claims = claims(&python_run());
    let numpy = verdict_of(&claims, "Python threads do not speed up CPU-bound work (numpy");
    assert_eq!(numpy.verdict, ClaimVerdict::Refuted, "{numpy:?}");
    assert!(numpy.figure.is_some_and(|f| (f - 10.0 / 6.0).abs() < 0.05), "{numpy:?}");
    assert!(
        numpy
            .from
            .contains("py-threads, one request at a time, matmul n=64 (numpy)"),
        "{numpy:?}"
    );
    let loops = verdict_of(&claims, "Python threads do not speed up CPU-bound work (a pure-Python");
    assert_eq!(loops.verdict, ClaimVerdict::Supported, "{loops:?}");
    let processes = verdict_of(&claims, "Python processes speed up CPU-bound work (a pure-Python");
    assert_eq!(processes.verdict, ClaimVerdict::Supported, "{processes:?}");
    assert_eq!(
        verdict_of(&claims, "Rust threads have no GIL").verdict,
        ClaimVerdict::Supported
    );
    // The handout's claim, on the lab's API in Python and on its own apps: refuted twice.
    let api = verdict_of(
        &claims,
        "Multiprocessing gives better performance for the addition (the lab's API",
    );
    assert_eq!(api.verdict, ClaimVerdict::Refuted, "{api:?}");
    assert!(api.figure.is_some_and(|f| (f - 100.0 / 300.0).abs() < 1e-9), "{api:?}");
    assert!(
        api.from
            .starts_with("req/s of py-processes over py-threads at c=20 n=500 w=4: 0.33x, 95% interval"),
        "{api:?}"
    );
    assert!(
        api.source.contains("“multiprocessing gives better performance"),
        "{api:?}"
    );
    let own = verdict_of(
        &claims,
        "Multiprocessing gives better performance for the addition (the handout",
    );
    assert_eq!(own.verdict, ClaimVerdict::Refuted, "{own:?}");
    // Memory: the fixture's processes server peaks at 60 MiB against 40 for threads.
    let memory = verdict_of(&claims, "Processes cost more memory (Rust");
    assert_eq!(memory.verdict, ClaimVerdict::Supported, "{memory:?}");
    // CPU per request is 1600 / req/s in the fixture: 4x for fork per request.
    let cpu = verdict_of(&claims, "Processes cost more to start and to talk to (Rust");
    assert!(cpu.figure.is_some_and(|f| (f - 4.0).abs() < 1e-9), "{cpu:?}");
}

#[test]
fn what_the_run_did_not_gather_is_not_measured_and_says_what_is_missing() {
    let claims = claims(&python_run());
    let waits = verdict_of(&claims, "An event loop serves many waits best (Python");
    assert_eq!(
        (waits.verdict, waits.figure),
        (ClaimVerdict::NotMeasured, None),
        "{waits:?}"
    );
    assert!(
        waits
            .from
            .contains("not in this run: py-async and py-threads at many waits"),
        "{waits:?}"
    );
    let io = verdict_of(&claims, "Threads suit IO-bound work (Python");
    assert!(
        io.from.contains("not in this run: py-threads at io with 4 workers"),
        "{io:?}"
    );
    // A run without the Python lab has no claims at all.
    assert!(super::claims(&with_trials(&[("threading", &[800.0, 820.0])])).is_empty());
}

#[test]
fn the_section_counts_the_verdicts_and_lists_the_probes() {
    let mut run = python_run();
    run.claims = claims(&run);
    let md = section(&run);
    assert!(md.starts_with("## The seeds' claims, measured\n"), "{md}");
    let supported = run
        .claims
        .iter()
        .filter(|c| c.verdict == ClaimVerdict::Supported)
        .count();
    assert!(md.contains(&format!(". {supported} supported, ")), "{md}");
    assert!(md.contains("| **refuted** |"), "{md}");
    assert!(
        md.contains("- py-processes, one request at a time, matmul n=64 (python): 1 worker"),
        "{md}"
    );
}
