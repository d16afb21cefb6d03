//! Children that go wrong (crash, abort, write too little or too much, panic, hang, are killed
//! or stopped mid-request): the request gets its error, every child is reaped, and the server
//! keeps serving.

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::testing::{client, get};
use nix::sys::signal::Signal;
use serde_json::json;

/// Starts a server whose children all act out `fault`, makes one request, and checks the
/// status, the message, that every child was reaped, and that the server still serves.
async fn fault_answer(fault: &str, extra: &[&str], status: StatusCode, message: &str) {
    let mut args = vec!["--debug-child-fault", fault];
    args.extend_from_slice(extra);
    let server = start(&args);
    let client = client();
    let reply = get(&client, &format!("{}/multiprocessing?n=50", server.url())).await;
    assert_eq!(reply.status, status, "{fault}: {}", reply.json);
    assert_eq!(reply.json["status"], "error");
    let error = reply.json["error"].as_str().unwrap();
    assert!(error.contains(message), "{fault}: {error:?} should contain {message:?}");
    assert_no_children(&server);
    let health = get(&client, &format!("{}/healthz", server.url())).await;
    assert_eq!((health.status, health.json), (StatusCode::OK, json!({"status": "ok"})));
}

#[actix_web::test]
async fn a_crashing_child_gets_500_and_the_server_keeps_serving() {
    fault_answer("exit:9", &[], StatusCode::INTERNAL_SERVER_ERROR, "exited with code 9").await;
    fault_answer("abort", &[], StatusCode::INTERNAL_SERVER_ERROR, "killed by SIGABRT").await;
    fault_answer(
        "half-write",
        &[],
        StatusCode::INTERNAL_SERVER_ERROR,
        "then its pipe closed",
    )
    .await;
    fault_answer("extra-byte", &[], StatusCode::INTERNAL_SERVER_ERROR, "sent more than").await;
}

#[actix_web::test]
async fn a_panicking_child_exits_and_never_answers_the_client_itself() {
    // If the child unwound into the copied runtime it could write a second response, or reset
    // the connection; the client would then not get exactly this one JSON error.
    fault_answer("panic", &[], StatusCode::INTERNAL_SERVER_ERROR, "it panicked").await;
}

#[actix_web::test]
async fn a_hung_child_is_killed_at_the_child_timeout_and_answered_504() {
    fault_answer(
        "hang",
        &["--child-timeout", "0.5"],
        StatusCode::GATEWAY_TIMEOUT,
        "did not finish within 500ms",
    )
    .await;
}

/// Makes one slow request (every child sleeps `sleep` before its band), and `signal`s one of its
/// children while it sleeps; returns the answer. Every child must be reaped afterwards.
async fn signal_a_child_mid_request(
    (signal, work): (Signal, &str),
    sleep: &str,
    extra: &[&str],
) -> matrix_service::testing::Reply {
    let mut args = vec!["--debug-child-fault", sleep];
    args.extend_from_slice(extra);
    let server = start(&args);
    let client = client();
    let url = format!("{}/multiprocessing?n=40&workers=2&work={work}", server.url());
    let (reply, ()) = futures_util::future::join(get(&client, &url), async {
        let forked = async {
            loop {
                // A band child by its name: right after start-up the fork server may not have
                // named itself yet, and must not be taken for one.
                if let Some(&pid) = named_band_children(&server).first() {
                    return pid;
                }
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let pid = forked.await;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    })
    .await;
    assert_no_children(&server);
    let next = get(&client, &format!("{}/multiprocessing?n=4", server.url())).await;
    assert_eq!(next.status, StatusCode::OK, "the server keeps serving: {}", next.json);
    reply
}

#[actix_web::test]
async fn a_child_killed_mid_request_gets_that_request_a_500() {
    // Whatever the child computes: a sum, a product, or a sum after a wait.
    for work in ["add", "matmul", "io&wait_ms=200"] {
        let reply = signal_a_child_mid_request((Signal::SIGKILL, work), "sleep-ms:1500", &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{work}: {}",
            reply.json
        );
        let error = reply.json["error"].as_str().unwrap_or_default();
        assert!(error.contains("killed by SIGKILL"), "{work}: {error}");
    }
}

#[actix_web::test]
async fn a_stopped_child_is_killed_at_the_child_timeout_and_the_request_answered() {
    let started = std::time::Instant::now();
    // Unstopped, the children finish in 0.4 s, well within the 1.5 s timeout.
    for work in ["add", "matmul"] {
        let reply =
            signal_a_child_mid_request((Signal::SIGSTOP, work), "sleep-ms:400", &["--child-timeout", "1.5"]).await;
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{work}: {}", reply.json);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
