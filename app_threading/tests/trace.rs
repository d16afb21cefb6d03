//! `GET /debug/trace?ms=N` on the real server: the window's limits (400), one trace at a time
//! (409), and a bounded buffer whose overflow is counted, with the first request's events kept
//! in order, as Chrome trace events.

use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::testing::{ServerProcess, client, get};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_app_threading");

#[actix_web::test]
async fn a_window_outside_10_to_5000_ms_is_a_400_that_says_the_range() {
    let server = ServerProcess::start(BINARY, &[]);
    let client = client();
    for query in ["", "?ms=9", "?ms=5001", "?ms=abc", "?ms=-5", "?ms=1.5"] {
        let reply = get(&client, &format!("{}/debug/trace{query}", server.url())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}: {}", reply.json);
        let error = reply.json["error"].as_str().unwrap_or_default();
        assert!(error.contains("from 10 to 5000"), "{query}: {error}");
    }
    let routes = get(&client, &format!("{}/nowhere", server.url())).await;
    assert!(
        routes.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("GET /debug/trace?ms=N"),
        "the 404 lists it: {}",
        routes.json
    );
}

#[actix_web::test]
async fn one_trace_at_a_time_and_past_its_bound_events_are_counted_not_kept() {
    let server = ServerProcess::start(BINARY, &["--trace-max-events", "3"]);
    let client = client();
    let base = server.url().to_owned();
    let trace_url = format!("{base}/debug/trace?ms=1500");
    let trace = get(&client, &trace_url);
    let load = async {
        // Requests for longer than the window, so it sees many; a second trace asked for in the
        // middle of it finds it running.
        let mut answered = 0;
        let mut second = None;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(2500) {
            let reply = get(&client, &format!("{base}/threading?n=10&workers=2")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
            answered += 1;
            if second.is_none() && started.elapsed() > Duration::from_millis(700) {
                second = Some(get(&client, &format!("{base}/debug/trace?ms=10")).await);
            }
        }
        (answered, second.expect("asked for during the window"))
    };
    let (trace, (answered, second)) = futures_util::future::join(trace, load).await;
    assert_eq!(trace.status, StatusCode::OK, "{}", trace.json);
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.json);
    assert!(
        second.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already running"),
        "{}",
        second.json
    );

    let json = &trace.json;
    let events = json["traceEvents"].as_array().expect("traceEvents is a list");
    let spans: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(spans.len(), 3, "the bound: {json}");
    // Requests come one at a time, so the three kept are the first traced request's first
    // three events; every later event, ten or so a request, is counted instead.
    let names: Vec<&str> = spans.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["admission", "blocking pool", "generate"], "{json}");
    assert!(
        spans
            .iter()
            .all(|e| e["args"]["request"] == spans[0]["args"]["request"]),
        "{json}"
    );
    let dropped = json["otherData"]["dropped"].as_u64().unwrap();
    assert!(dropped > answered / 2, "{dropped} dropped of {answered} answered");
    assert_eq!(json["otherData"]["max_events"], 3);
    assert_eq!(json["otherData"]["window_ms"], 1500);
    let pid = u64::from(server.pid().unsigned_abs());
    for span in &spans {
        assert_eq!(
            span["cat"].as_str(),
            Some(if span["name"] == "generate" { "work" } else { "wait" })
        );
        assert_eq!(span["pid"].as_u64(), Some(pid), "{span}");
        assert!(
            span["ts"].as_u64().is_some_and(|ts| ts > 0) && span["dur"].as_u64().is_some(),
            "{span}"
        );
        assert!(span["args"]["request"].as_u64().is_some_and(|id| id > 0), "{span}");
        let tid = &span["tid"];
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "M" && e["name"] == "thread_name" && &e["tid"] == tid),
            "its thread is named: {json}"
        );
    }
    assert!(
        (events.iter()).any(|e| e["name"] == "process_name" && e["args"]["name"] == "threading"),
        "{json}"
    );

    // Once answered, a trace may run again, empty and from a clean count.
    let again = get(&client, &format!("{base}/debug/trace?ms=10")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["otherData"]["dropped"], 0);
}
