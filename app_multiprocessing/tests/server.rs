//! The real `app_multiprocessing` binary on a free port: answers, concurrency, faults, overload
//! and shutdown, checked from outside through `/proc` (children, zombies, descriptors).

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add, sample};
use matrix_service::testing::{
    ServerProcess, check_memory_follows_load, check_one_malloc_heap, client, eventually, get, process_state,
};
use nix::sys::signal::Signal;
use serde_json::json;

#[actix_web::test]
async fn the_same_seed_gives_the_same_answer_in_both_servers() {
    let processes = start(&[]);
    let threads = ServerProcess::start(threading_binary(), &[]);
    let client = client();
    let (a, b) = generate_pair(300, Some(77));
    let expected = reference_add(&a, &b).unwrap();
    for workers in [1, 4, 7] {
        let by_processes = get(
            &client,
            &format!("{}/multiprocessing?n=300&workers={workers}&seed=77", processes.url()),
        )
        .await;
        let by_threads = get(
            &client,
            &format!("{}/threading?n=300&workers={workers}&seed=77", threads.url()),
        )
        .await;
        assert_eq!(
            (by_processes.status, by_threads.status),
            (StatusCode::OK, StatusCode::OK)
        );
        for answer in [&by_processes.json, &by_threads.json] {
            assert_eq!(
                answer["checksum"].as_i64(),
                Some(checksum(elements(&expected))),
                "{answer}"
            );
            assert_eq!(
                answer["sample"],
                json!(sample(elements(&expected), expected.ncols())),
                "{answer}"
            );
        }
        assert_eq!(by_processes.json["method"], "Multiprocessing");
        assert_eq!(by_threads.json["method"], "Multithreading");
    }
}

#[actix_web::test]
async fn child_pids_are_distinct_and_gone_once_the_answer_arrives() {
    let server = start(&[]);
    let reply = get(&client(), &format!("{}/multiprocessing?workers=4", server.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let pids: Vec<i32> = serde_json::from_value(reply.json["child_pids"].clone()).unwrap();
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{pids:?}");
    assert!(
        pids.iter().all(|&pid| process_state(pid).is_none()),
        "some child still exists: {pids:?}"
    );
    assert!(band_children(&server).is_empty());
}

#[actix_web::test]
async fn a_2000_row_band_passes_through_one_pipe_without_deadlock() {
    let server = start(&[]);
    let reply = get(
        &client(),
        &format!("{}/multiprocessing?n=2000&workers=1&seed=5", server.url()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let (a, b) = generate_pair(2000, Some(5));
    assert_eq!(
        reply.json["checksum"].as_i64(),
        Some(checksum(elements(&reference_add(&a, &b).unwrap())))
    );
    assert_eq!(reply.json["child_pids"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn four_hundred_concurrent_requests_succeed_and_leave_no_child_zombie_or_descriptor() {
    // The point is correctness under concurrency, not speed: a generous queue timeout keeps a
    // slow debug build on a busy CI machine from turning the last requests away with 503.
    let server = start(&["--queue-timeout", "120"]);
    let url = format!("{}/multiprocessing", server.url());
    let baseline = descriptors_after_one_request(&server, &url).await;
    let client = client();
    let replies = join_all((0..400).map(|_| get(&client, &url))).await;
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| (r.status, &r.json))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 400 failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let mut pids: Vec<i64> = replies
        .iter()
        .flat_map(|r| r.json["child_pids"].as_array().unwrap().clone())
        .filter_map(|p| p.as_i64())
        .collect();
    assert_eq!(pids.len(), 1600, "4 children per request");
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() > 400,
        "pids are reused only after their child is reaped, yet {} distinct",
        pids.len()
    );

    assert_no_children(&server);
    drop(client);
    assert!(
        eventually(Duration::from_secs(10), || server.fd_count() == baseline),
        "descriptors: {} now, {baseline} before",
        server.fd_count()
    );
    assert_eq!(
        get(&self::client(), &format!("{}/healthz", server.url())).await.status,
        StatusCode::OK
    );
}

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

#[actix_web::test]
async fn past_the_queue_timeout_a_request_gets_503_with_retry_after() {
    let server = start(&[
        "--debug-child-fault",
        "sleep-ms:1500",
        "--max-children",
        "64",
        "--queue-timeout",
        "0.3",
    ]);
    let client = client();
    let url = format!("{}/multiprocessing?n=64&workers=64", server.url());
    let replies = join_all([get(&client, &url), get(&client, &url)]).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 503], "{replies:?}");
    let busy = replies
        .iter()
        .find(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .unwrap();
    assert_eq!(busy.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert!(
        busy.json["error"]
            .as_str()
            .unwrap()
            .contains("using at most 64 child processes (--max-children)")
    );
    assert_no_children(&server);
}

#[actix_web::test]
async fn sigterm_lets_an_in_flight_request_finish_and_leaves_no_child() {
    let server = start(&["--debug-child-fault", "sleep-ms:1000"]);
    let fork_server = fork_server_of(&server);
    let client = client();
    let url = format!("{}/multiprocessing?n=100", server.url());
    let request = get(&client, &url);
    let stop = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let children = band_children(&server);
        assert_eq!(children.len(), 4, "the request's children are running: {children:?}");
        server.signal(nix::sys::signal::Signal::SIGTERM);
        children
    };
    let (reply, children) = futures_util::future::join(request, stop).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    for (pid, _) in children {
        assert!(process_state(pid).is_none(), "child {pid} outlived the server");
    }
    assert!(
        process_state(fork_server).is_none(),
        "the fork server outlived the server"
    );
}

/// A server killed outright still takes its fork server with it: the kernel closes the
/// server's end of the socket, so the fork server reads EOF and exits (its parent-death
/// signal is the backstop should it ever be busy elsewhere).
#[test]
fn the_fork_server_dies_with_a_killed_server() {
    let server = start(&[]);
    let fork_server = fork_server_of(&server);
    server.signal(Signal::SIGKILL);
    assert!(
        eventually(Duration::from_secs(3), || matches!(
            process_state(fork_server),
            None | Some('Z')
        )),
        "the fork server outlived its server: {:?}",
        process_state(fork_server)
    );
}

/// Makes one slow request (every child sleeps `sleep` before its band), and `signal`s one of its
/// children while it sleeps; returns the answer. Every child must be reaped afterwards.
async fn signal_a_child_mid_request(signal: Signal, sleep: &str, extra: &[&str]) -> matrix_service::testing::Reply {
    let mut args = vec!["--debug-child-fault", sleep];
    args.extend_from_slice(extra);
    let server = start(&args);
    let client = client();
    let url = format!("{}/multiprocessing?n=40&workers=2", server.url());
    let (reply, ()) = futures_util::future::join(get(&client, &url), async {
        let forked = async {
            loop {
                if let Some((pid, _)) = band_children(&server).first() {
                    return *pid;
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
    let reply = signal_a_child_mid_request(Signal::SIGKILL, "sleep-ms:1500", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.json);
    let error = reply.json["error"].as_str().unwrap_or_default();
    assert!(error.contains("killed by SIGKILL"), "{error}");
}

#[actix_web::test]
async fn a_stopped_child_is_killed_at_the_child_timeout_and_the_request_answered() {
    let started = std::time::Instant::now();
    // Unstopped, the children finish in 0.4 s, well within the 1.5 s timeout.
    let reply = signal_a_child_mid_request(Signal::SIGSTOP, "sleep-ms:400", &["--child-timeout", "1.5"]).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.json);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn a_thousand_hostile_queries_and_bodies_get_no_5xx_but_503_and_the_server_stays_healthy() {
    let server = start(&[]);
    matrix_service::testing::fuzz_queries(server.url(), "/multiprocessing", 1000).await;
    matrix_service::testing::fuzz_bodies(server.url(), "/multiprocessing", 1000).await;
    assert_no_children(&server);
}

#[actix_web::test]
async fn a_flood_of_wide_requests_keeps_children_bounded_and_answers_200_or_503() {
    let server = start(&["--queue-timeout", "1"]);
    let pid = server.pid();
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(matrix_service::testing::children_of(pid).len());
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let client = client();
    let url = format!("{}/multiprocessing?n=64&workers=64", server.url());
    let replies = join_all((0..500).map(|_| get(&client, &url))).await;
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    let mut refused = 0;
    for reply in &replies {
        match reply.status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(reply.headers.contains_key("retry-after"), "{}", reply.json);
                refused += 1;
            }
            other => panic!("{other}: {}", reply.json),
        }
    }
    assert!(peak <= 256, "{peak} children at once, above --max-children");
    assert!(refused < replies.len(), "some requests were served");
    assert_no_children(&server);
    let health = get(&client, &format!("{}/healthz", server.url())).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[actix_web::test]
async fn large_requests_keep_their_shared_memory_while_they_come_and_give_it_back_when_idle() {
    let server = start(&[]);
    check_memory_follows_load(&server, "/multiprocessing").await;
    assert_no_children(&server);
}

#[actix_web::test]
async fn concurrent_requests_share_one_malloc_heap() {
    let server = start(&[]);
    check_one_malloc_heap(&server, "/multiprocessing").await;
}
