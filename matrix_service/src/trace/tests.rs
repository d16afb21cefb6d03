use serde_json::{Value, json};

use super::*;

fn json_of(trace: ChromeTrace) -> Value {
    serde_json::to_value(trace).expect("a trace serializes")
}

fn complete(trace: &Value) -> Vec<&Value> {
    let events = trace["traceEvents"].as_array().expect("a list of events");
    events.iter().filter(|e| e["ph"] == "X").collect()
}

#[test]
fn nothing_is_recorded_when_no_trace_runs() {
    let tracer = Tracer::new(10);
    let id = tracer.begin();
    assert_eq!(id, None);
    let trace = tracer.request(id);
    assert!(!trace.is_on() && trace.now().is_none() && trace.start().is_none());
    trace.record(Mark::until_now(Phase::Band, now_us()), Place::Here);
    tracer.end(id);
    tracer.start().unwrap();
    let trace = json_of(tracer.finish("test", 10));
    assert_eq!(
        trace["traceEvents"].as_array().unwrap().len(),
        1,
        "only the process's name: {trace}"
    );
}

#[test]
fn a_second_trace_waits_for_the_first_and_the_buffer_keeps_its_bound() {
    let tracer = Tracer::new(3);
    tracer.start().unwrap();
    assert_eq!(tracer.start(), Err(TraceBusy));
    for _ in 0..5 {
        let id = tracer.begin();
        tracer.end(id);
    }
    let trace = json_of(tracer.finish("test", 10));
    let spans = complete(&trace);
    assert_eq!(spans.len(), 3, "{trace}");
    assert_eq!(trace["otherData"]["dropped"], 2);
    assert_eq!(trace["otherData"]["max_events"], 3);
    assert_eq!(trace["otherData"]["requests"], 3);
    for (i, span) in spans.iter().enumerate() {
        assert_eq!(span["args"]["request"], i as u64 + 1);
        assert_eq!(
            (span["name"].as_str(), span["cat"].as_str()),
            (Some("request"), Some("http"))
        );
        // One request at a time: each takes lane 0 and gives it back.
        assert_eq!(span["tid"], LANE_TID_BASE);
    }
    // Finished: a new trace may start, empty.
    tracer.start().unwrap();
    let again = json_of(tracer.finish("test", 10));
    assert_eq!(
        (
            again["traceEvents"].as_array().unwrap().len(),
            &again["otherData"]["dropped"]
        ),
        (1, &json!(0))
    );
}

#[test]
fn requests_at_once_take_lanes_of_their_own_and_events_go_where_they_happened() {
    let tracer = Tracer::new(100);
    tracer.start().unwrap();
    let (first, second) = (tracer.begin(), tracer.begin());
    let trace = tracer.request(second);
    let since = trace.now();
    trace.on_lane(Phase::Admission, since);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("worker".into())
            .spawn_scoped(scope, move || {
                let started = trace.start();
                trace.band_here(1, started);
            })
            .unwrap();
    });
    let child = Mark::new(Phase::Fork, 5, 9).band(0);
    trace.record(
        child,
        Place::Process {
            pid: 4_000_000,
            name: "band-child",
        },
    );
    tracer.end(second);
    let third = tracer.begin();
    tracer.end(third);
    tracer.end(first);
    let json = json_of(tracer.finish("threading", 50));

    let spans = complete(&json);
    let of = |name: &str| spans.iter().filter(|e| e["name"] == name).copied().collect::<Vec<_>>();
    let requests = of("request");
    let lanes: Vec<(u64, u64)> = requests
        .iter()
        .map(|e| (e["args"]["request"].as_u64().unwrap(), e["tid"].as_u64().unwrap()))
        .collect();
    let base = u64::from(LANE_TID_BASE);
    // The second ends first; the third takes its lane while the first still holds lane 0.
    assert_eq!(lanes, [(2, base + 1), (3, base + 1), (1, base)]);
    assert_eq!(of("admission")[0]["tid"], base + 1);
    assert_eq!(of("admission")[0]["cat"], "wait");
    let band = of("band")[0];
    assert_eq!(
        (band["args"]["band"].as_u64(), band["cat"].as_str()),
        (Some(1), Some("band"))
    );
    assert!(band["args"]["cpu_us"].is_u64(), "{band}");
    let fork = of("fork")[0];
    assert_eq!(
        (fork["pid"].as_u64(), fork["tid"].as_u64()),
        (Some(4_000_000), Some(4_000_000))
    );
    assert_eq!((fork["ts"].as_u64(), fork["dur"].as_u64()), (Some(5), Some(4)));

    let names: Vec<(String, String)> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["args"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("process_name", "threading"),
        ("process_name", "band-child"),
        ("thread_name", "band-child"),
        ("thread_name", "worker"),
        ("thread_name", "requests, lane 0"),
        ("thread_name", "requests, lane 1"),
    ] {
        assert!(
            names.iter().any(|(a, b)| (a.as_str(), b.as_str()) == expected),
            "{expected:?} in {names:?}"
        );
    }
}

#[test]
fn a_request_from_an_earlier_trace_does_not_give_back_a_lane_of_the_next() {
    let tracer = Tracer::new(100);
    tracer.start().unwrap();
    let old = tracer.begin();
    json_of(tracer.finish("test", 10));
    tracer.start().unwrap();
    let holder = tracer.begin();
    tracer.end(old); // lane 0 of the first trace: not the holder's to lose
    let newcomer = tracer.begin();
    tracer.end(newcomer);
    tracer.end(holder);
    let json = json_of(tracer.finish("test", 10));
    let lanes: Vec<u64> = complete(&json).iter().map(|e| e["tid"].as_u64().unwrap()).collect();
    let base = u64::from(LANE_TID_BASE);
    assert_eq!(lanes, [base + 1, base], "the newcomer took lane 1: {json}");
}
