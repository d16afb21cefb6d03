use serde_json::Value;

use super::*;
use crate::testdata::trace_events::{complete, process_name, thread_name, whole, with_cpu};

/// An event of request 1 on thread `tid` of process 1, with `cpu` if given.
fn event(name: &str, (ts, end): (u64, u64), tid: u64, cpu: Option<u64>) -> Value {
    let event = complete(name, (ts, end - ts), (1, tid), 1);
    match cpu {
        Some(cpu) => with_cpu(event, cpu),
        None => event,
    }
}

/// One request of two bands on scoped threads: the request's thread (7) starts band 0's thread
/// (8), runs band 1 itself, and joins.
fn one_request() -> Trace {
    let lane = 1 << 30;
    let mut events = vec![
        process_name(1, "threading"),
        event("request", (0, 1000), lane, None),
        event("admission", (10, 20), lane, None),
        event("blocking pool", (20, 100), lane, None),
        event("generate", (100, 300), 7, Some(190)),
        event("compute", (300, 800), 7, Some(300)),
        event("thread start", (300, 350), 7, Some(40)),
        event("band", (340, 600), 8, Some(250)),
        event("band", (350, 700), 7, Some(200)),
        event("join", (700, 790), 7, Some(5)),
        event("serialise", (800, 900), 7, Some(95)),
    ];
    for tid in [7, 8, lane] {
        events.push(thread_name(1, tid, "t"));
    }
    Trace::parse(&whole(events, 1000)).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_request_s_phases_tile_its_span_and_its_cpu_goes_where_it_was_spent() {
    let window = WindowCpu {
        cpu_ms: 2.0,
        answers: 2,
        fork_server_cpu_ms: None,
    };
    let entry = ledger_of("threading", ScenarioKey::DEFAULT, &one_request(), Some(window)).unwrap();
    assert_eq!((entry.requests, entry.handler_ms), (1, 1.0));
    let expected = [
        ("admission", 0.010, 0.0),
        ("queueing", 0.080, 0.0),
        ("parse", 0.0, 0.0),
        ("generation", 0.200, 0.190),
        // From the computation's start to the last band's start (band 1, at 350 µs).
        ("hand-off", 0.050, 0.040),
        ("awaiting", 0.0, 0.0),
        ("queued on the loop", 0.0, 0.0),
        // The last band's start to the last end; both bands' CPU.
        ("waiting for bands", 0.350, 0.450),
        ("way back", 0.100, 0.005),
        ("serialise", 0.100, 0.095),
        // From the answer made (serialised, at 900 µs) to the handler's end.
        ("back to the loop", 0.100, 0.0),
        // The span less the named phases; the computation's CPU less its events'.
        ("other", 0.010, 0.055),
        // 1 ms of the tree's CPU per answer, less the 0.835 the phases account for.
        (OUTSIDE, 0.0, 0.165),
    ];
    for (name, wall, cpu) in expected {
        let phase = entry.phases[name];
        assert!(
            close(phase.wall_ms, wall) && close(phase.cpu_ms, cpu),
            "{name}: {phase:?}"
        );
    }
    assert_eq!(entry.phases.len(), expected.len());
    assert_eq!(entry.tree_cpu_ms_per_request, Some(1.0));
    // One thread started (band 0's), no process forked.
    assert_eq!((entry.thread_starts, entry.forks), (1.0, 0.0));
    // 0.01 ms of 1 ms uncovered: within 5%.
    assert_eq!(entry.covered_share, 1.0);
}

#[test]
fn requests_the_window_cut_off_are_left_out_and_an_empty_window_has_no_ledger() {
    let mut trace = one_request();
    trace.events.retain(|e| e.phase != Phase::Request);
    assert_eq!(ledger_of("threading", ScenarioKey::DEFAULT, &trace, None), None);
    let entry = ledger_of("threading", ScenarioKey::DEFAULT, &one_request(), None).unwrap();
    assert!(!entry.phases.contains_key(OUTSIDE), "no window CPU, no outside figure");
    assert_eq!(entry.tree_cpu_ms_per_request, None);
}

#[test]
fn a_child_s_page_faults_are_the_mean_over_every_child_that_counted_them() {
    let entry = ledger_of("threading", ScenarioKey::DEFAULT, &one_request(), None).unwrap();
    assert_eq!(entry.child_minor_faults, None, "threads have no forked children");
    let mut trace = one_request();
    let mut faults = [100, 300].into_iter();
    for band in trace.events.iter_mut().filter(|e| e.phase == Phase::Band) {
        band.minor_faults = faults.next();
    }
    let entry = ledger_of("threading", ScenarioKey::DEFAULT, &trace, None).unwrap();
    assert_eq!(entry.child_minor_faults, Some(200.0));
}

#[test]
fn a_fork_server_s_cpu_is_its_own_phase_and_leaves_the_outside() {
    let window = |fork_server_cpu_ms| WindowCpu {
        cpu_ms: 2.0,
        answers: 2,
        fork_server_cpu_ms,
    };
    let without = ledger_of("threading", ScenarioKey::DEFAULT, &one_request(), Some(window(None))).unwrap();
    let with = ledger_of(
        "threading",
        ScenarioKey::DEFAULT,
        &one_request(),
        Some(window(Some(0.3))),
    )
    .unwrap();
    assert!(!without.phases.contains_key(FORK_SERVER));
    // 0.3 ms of the fork server's CPU over 2 answers, taken from the outside's 0.165.
    assert!(close(with.phases[FORK_SERVER].cpu_ms, 0.15), "{with:?}");
    assert!(close(with.phases[OUTSIDE].cpu_ms, 0.015), "{with:?}");
    assert_eq!(with.tree_cpu_ms_per_request, without.tree_cpu_ms_per_request);
    assert_eq!(all_phases().count(), with.phases.len());
}

/// One request of two io bands as a task on an event loop (thread 7): its computation on its
/// lane, the bands awaiting together, one ready while the loop was busy, then both run in turn.
fn one_task() -> Trace {
    let lane = 1 << 30;
    let mut events = vec![
        process_name(1, "threading"),
        event("request", (0, 1000), lane, None),
        event("admission", (10, 20), lane, None),
        event("generate", (20, 100), 7, Some(80)),
        event("compute", (100, 800), lane, None),
        event("awaiting", (110, 500), lane, None),
        event("queued on the loop", (500, 600), lane, None),
        event("band", (600, 650), 7, Some(50)),
        event("queued on the loop", (650, 700), lane, None),
        event("band", (700, 780), 7, Some(80)),
        event("serialise", (800, 850), 7, Some(50)),
    ];
    for tid in [7, lane] {
        events.push(thread_name(1, tid, "t"));
    }
    Trace::parse(&whole(events, 1000)).unwrap()
}

#[test]
fn a_task_s_awaits_queues_and_runs_on_its_loop_tile_its_computation() {
    let entry = ledger_of("async", ScenarioKey::DEFAULT, &one_task(), None).unwrap();
    let expected = [
        ("admission", 0.010, 0.0),
        ("queueing", 0.0, 0.0),
        ("generation", 0.080, 0.080),
        // From the computation's start to its first band's first instant, the await's.
        ("hand-off", 0.010, 0.0),
        ("awaiting", 0.390, 0.0),
        ("queued on the loop", 0.150, 0.0),
        // The two runs, one after the other on the loop: summed, with their CPU.
        ("waiting for bands", 0.130, 0.130),
        ("way back", 0.020, 0.0),
        ("serialise", 0.050, 0.050),
        ("back to the loop", 0.150, 0.0),
        ("other", 0.010, 0.0),
    ];
    for (name, wall, cpu) in expected {
        let phase = entry.phases[name];
        assert!(
            close(phase.wall_ms, wall) && close(phase.cpu_ms, cpu),
            "{name}: {phase:?}"
        );
    }
    assert_eq!(entry.covered_share, 1.0);
    assert_eq!((entry.thread_starts, entry.forks), (0.0, 0.0));
}
