//! A measured run keeps one traced window per lab server and kind of work, after its trials:
//! `trace_<server>_<work>.json` (gzipped over 2 MB), listed in `summary.json`'s `traces` and
//! the report, each a trace every request of which reads back whole, with its timeline and its
//! ledger (the fork server's CPU its own phase); the floors measured beside them; and, with
//! `--trace-cost`, what recording cost each server. Needs oha, as
//! `quick_run.rs` does; `.ci/run` runs it with `--run-ignored`.

use std::io::Read;
use std::process::Command;

use loadtest_model::ledger::{FORK_SERVER, all_phases};
use loadtest_model::summary::RunSummary;
use loadtest_model::trace::Trace;
use matrix_service::trace::Phase;

#[test]
#[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
fn a_measured_run_keeps_a_trace_per_lab_server_and_kind_of_work() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--servers",
            "threading,multiprocessing,prefork,async",
            "--work",
            "add,io",
            "--trials",
            "1",
        ])
        .args(["--warmup", "0", "--duration", "1", "--trace-cost", "--out"])
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed: {}\n{stderr}", output.status);

    let summary: RunSummary = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let kept: Vec<(String, &str)> = (summary.traces.iter())
        .map(|w| (w.server.clone(), w.work.map_or("", |work| work.name())))
        .collect();
    let expected: Vec<(String, &str)> = [
        ("threading", "add"),
        ("threading", "io"),
        ("multiprocessing", "add"),
        ("multiprocessing", "io"),
        ("prefork", "add"),
        ("prefork", "io"),
        ("async", "add"),
        ("async", "io"),
    ]
    .map(|(server, work)| (server.to_owned(), work))
    .to_vec();
    assert_eq!(kept, expected);
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("## Traces"), "{report}");
    for window in &summary.traces {
        let file = window.file.as_deref().unwrap_or_else(|| panic!("no file: {window:?}"));
        let work = window.work.expect("a kind of work").name();
        let stem = format!("trace_{}_{work}.json", window.server);
        assert!(file == stem || file == format!("{stem}.gz"), "{file}");
        assert!(report.contains(file), "the report lists {file}");
        let trace = Trace::parse(&serde_json::from_str(&read(&out.path().join(file))).unwrap()).unwrap();
        assert_eq!(trace.problems(), Vec::<String>::new(), "{file}");
        assert_eq!(trace.window_ms, 1000, "{file}");
        assert_eq!(trace.whole_requests().len() as u64, window.requests, "{file}");
        assert_eq!(trace.events.len() as u64, window.events, "{file}");
        // The default scenario: 4 workers, so 4 bands a request whose life the window holds.
        for (request, events) in trace.by_request() {
            if trace.whole_requests().contains(&request) {
                let bands = events.iter().filter(|e| e.phase == Phase::Band).count();
                assert_eq!(bands, 4, "{file}: request {request}");
            }
        }
        if work == "add" {
            assert!(window.requests > 10, "a second of add under load: {window:?}");
        }
        // Its timeline, drawn and listed.
        let timeline = window
            .timeline
            .as_deref()
            .unwrap_or_else(|| panic!("no timeline: {window:?}"));
        assert_eq!(timeline, format!("timeline_{}_{work}.svg", window.server));
        let svg = std::fs::read_to_string(out.path().join(timeline)).unwrap();
        assert!(svg.contains("50 ms of the traced window"), "{timeline}");
        // Its ledger: every critical-path phase, and the server's CPU outside the handler.
        let ledger = (summary.ledger.iter())
            .find(|e| e.server == window.server && e.scenario.work.name() == work)
            .unwrap_or_else(|| panic!("no ledger for {file}"));
        assert!(ledger.requests > 0 && ledger.requests <= window.requests, "{ledger:?}");
        let forks = window.server == "multiprocessing";
        for phase in all_phases() {
            let expected = phase != FORK_SERVER || forks;
            assert_eq!(ledger.phases.contains_key(phase), expected, "{phase} in {ledger:?}");
        }
        assert!(ledger.tree_cpu_ms_per_request.is_some_and(|ms| ms > 0.0), "{ledger:?}");
        assert!(
            ledger.untraced_cpu_ms_per_request.is_some_and(|ms| ms > 0.0),
            "{ledger:?}"
        );
        // The generation unloaded, before the load: the same kind of figure as the window's.
        let alone = ledger
            .generation_alone_cpu_ms
            .expect("the generation measured unloaded");
        let loaded = ledger.phases["generation"].cpu_ms;
        assert!(
            alone > 0.0 && alone < 20.0 * loaded.max(0.001),
            "{alone} against {loaded}"
        );
        // A task's io requests spend their wait awaiting timers; nobody else ever awaits.
        let awaited = ledger.phases["awaiting"].wall_ms;
        assert_eq!(awaited > 0.0, window.server == "async" && work == "io", "{ledger:?}");
    }
    assert!(out.path().join("phases.svg").exists(), "the phases chart");
    // --trace-cost: 10 pairs of windows for each server, and a sentence on each in the report.
    let weighed: Vec<&str> = summary.trace_cost.iter().map(|c| c.server.as_str()).collect();
    assert_eq!(weighed, ["threading", "multiprocessing", "prefork", "async"]);
    // The floors: one core's bandwidth, and a fork beside the one fork server, at its size.
    assert!(
        summary.floors.memory_bandwidth_gb_s.is_some_and(|gb_s| gb_s > 0.5),
        "{:?}",
        summary.floors
    );
    let forks: Vec<&str> = summary.floors.forks.iter().map(|f| f.server.as_str()).collect();
    assert_eq!(forks, ["multiprocessing"]);
    let fork = &summary.floors.forks[0];
    assert!(
        fork.private_bytes > 0 && fork.fork_us > 0.0 && fork.exit_cpu_us > 0.0,
        "{fork:?}"
    );
    assert!(report.contains("## Against the floors"), "{report}");
    for cost in &summary.trace_cost {
        assert_eq!((cost.untraced_ms.len(), cost.traced_ms.len()), (10, 10), "{cost:?}");
        assert!(
            cost.untraced_ms.iter().chain(&cost.traced_ms).all(|ms| *ms > 0.0),
            "{cost:?}"
        );
        let (low, high) = cost.interval.expect("an interval from 10 pairs");
        assert!(low <= cost.ratio.unwrap() && cost.ratio.unwrap() <= high, "{cost:?}");
        assert!(report.contains(&cost.sentence()), "{}", cost.sentence());
    }
    assert!(report.contains("## Where the time goes"), "{report}");
}

/// A trace file's text, gunzipped if it is `.gz`.
fn read(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}
