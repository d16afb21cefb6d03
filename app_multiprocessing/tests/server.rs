//! The real `app_multiprocessing` binary on a free port: answers, concurrency, faults, overload
//! and shutdown, checked from outside through `/proc` (children, zombies, descriptors).

use std::path::PathBuf;
use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add, sample};
use matrix_service::testing::{
    ServerProcess, check_memory_follows_load, check_one_malloc_heap, client, eventually, get, process_state,
};
use nix::sys::signal::Signal;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_app_multiprocessing");

fn start(args: &[&str]) -> ServerProcess {
    ServerProcess::start(BINARY, args)
}

/// The server's children that compute bands, live or zombie: all but its fork server.
fn band_children(server: &ServerProcess) -> Vec<(i32, char)> {
    let fork_server = find_fork_server(server);
    let children = server.children();
    children
        .into_iter()
        .filter(|(pid, _)| Some(*pid) != fork_server)
        .collect()
}

/// The server's fork server, if it has one: the oldest of its children named `fork-server`.
/// (A child the fork server has just forked bears that name too, for the microseconds before
/// it renames itself `band-child`.)
fn find_fork_server(server: &ServerProcess) -> Option<i32> {
    let name = app_multiprocessing::fork_per_request::fork_server::PROCESS_NAME
        .to_str()
        .expect("ASCII");
    let named =
        |pid: &i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == name);
    let started = |pid: &i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Field 22, start time; the fields after the command name start at field 3.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_name
            .split_whitespace()
            .nth(19)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    server
        .children()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(named)
        .min_by_key(started)
}

/// The server's fork server, which it must have.
fn fork_server_of(server: &ServerProcess) -> i32 {
    find_fork_server(server).unwrap_or_else(|| panic!("no fork server among {:?}", server.children()))
}

/// No band child of the server is left, live or zombie.
fn assert_no_children(server: &ServerProcess) {
    assert!(
        eventually(Duration::from_secs(5), || band_children(server).is_empty()),
        "children left: {:?}",
        band_children(server)
    );
}

/// Serves one request to `url` on a client that is then dropped (closing its connection), and
/// returns the server's settled descriptor count: the baseline a test compares against later.
async fn descriptors_after_one_request(server: &ServerProcess, url: &str) -> usize {
    let warm = client();
    assert_eq!(get(&warm, url).await.status, StatusCode::OK);
    drop(warm);
    server.settled_fd_count()
}

/// The `app_threading` binary built beside this one (`cargo test --workspace` builds both).
fn threading_binary() -> PathBuf {
    let path = PathBuf::from(BINARY).with_file_name("app_threading");
    assert!(
        path.exists(),
        "{} is missing: run the tests for the whole workspace (cargo nextest run --workspace) or build it first \
         (cargo build -p app_threading)",
        path.display()
    );
    path
}

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

/// Pitfall C3 (`docs/multiprocessing.md`): a slow `/multiprocessing` request blocks a blocking-pool thread, never the
/// async worker. With one HTTP worker, `/healthz` on the same worker still answers at once.
#[actix_web::test]
async fn a_slow_request_leaves_the_event_loop_free_for_others() {
    let server = start(&["--http-workers", "1", "--debug-child-fault", "sleep-ms:1500"]);
    let client = client();
    let slow_url = format!("{}/multiprocessing?n=20", server.url());
    let slow = get(&client, &slow_url);
    let probe = async {
        // Wait until the slow request's children exist, so the request is surely in progress.
        while band_children(&server).len() < 4 {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let started = std::time::Instant::now();
            let health = get(&client, &format!("{}/healthz", server.url())).await;
            assert_eq!(health.status, StatusCode::OK);
            slowest = slowest.max(started.elapsed());
        }
        (slowest, band_children(&server).len())
    };
    let (reply, (slowest, children_meanwhile)) = futures_util::future::join(slow, probe).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        children_meanwhile, 4,
        "the probes ran while the slow request's children slept"
    );
    // The children sleep 1.5 s; a blocked event loop would hold a probe that long.
    assert!(
        slowest < Duration::from_millis(300),
        "a /healthz probe took {slowest:?}"
    );
}

/// Pitfall A5 (`docs/multiprocessing.md`): a client that hangs up mid-request leaves no child, zombie or descriptor
/// behind; the request's blocking thread still drains and reaps its children.
#[actix_web::test]
async fn a_client_that_hangs_up_mid_request_leaves_nothing_behind() {
    let server = start(&["--debug-child-fault", "sleep-ms:800"]);
    let url = format!("{}/multiprocessing?n=100", server.url());
    let baseline = descriptors_after_one_request(&server, &url).await;

    let impatient = awc::Client::builder().timeout(Duration::from_millis(200)).finish();
    let attempts = join_all((0..5).map(|_| impatient.get(&url).send())).await;
    for attempt in &attempts {
        assert!(
            matches!(attempt, Err(awc::error::SendRequestError::Timeout)),
            "the client should give up before the answer: {attempt:?}"
        );
    }
    let running = band_children(&server).len();
    assert!(
        running >= 4,
        "the abandoned requests' children were still running: {running}"
    );
    drop(attempts);
    drop(impatient);

    assert_no_children(&server);
    assert!(
        eventually(Duration::from_secs(10), || server.fd_count() == baseline),
        "descriptors: {} now, {baseline} before",
        server.fd_count()
    );
    let reply = get(&client(), &format!("{url}&workers=2")).await;
    assert_eq!(reply.status, StatusCode::OK, "still serving: {}", reply.json);
}

/// Pitfall C6 (`docs/multiprocessing.md`): text the server has buffered for stdout but not yet flushed is printed once,
/// by the server as it exits. A child that ended through `exit` rather than `_exit` (or unwound
/// out of its band) would flush its inherited copy of the buffer and print it again.
#[actix_web::test]
async fn children_never_flush_the_servers_buffered_stdout() {
    const MARK: &str = "<unflushed by the server>";
    for fault in ["none", "panic", "exit:3"] {
        let server = start(&["--debug-unflushed-stdout", MARK, "--debug-child-fault", fault]);
        let client = client();
        for workers in [1, 4] {
            let url = format!("{}/multiprocessing?n=30&workers={workers}", server.url());
            let reply = get(&client, &url).await;
            let expected = if fault == "none" {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            assert_eq!(reply.status, expected, "{fault}: {}", reply.json);
        }
        assert_no_children(&server);
        let (status, lines) = server.terminate_with_stdout(Duration::from_secs(10));
        assert!(status.success(), "{fault}: {status}");
        let printed = lines.join("\n");
        assert_eq!(
            printed.matches(MARK).count(),
            1,
            "with fault {fault}, children were forked while the mark sat in the buffer; stdout: {printed:?}"
        );
    }
}

/// Pitfall A9 (`docs/multiprocessing.md`): when the parent stops reading, a child's write fails with EPIPE (SIGPIPE is
/// ignored), the child exits saying so instead of hanging, and the server lives on. The band is
/// 2 MB, more than any pipe holds, so the child cannot finish writing before the hang-up.
#[actix_web::test]
async fn a_child_whose_parent_stops_reading_exits_on_epipe_and_the_server_lives() {
    let server = start(&["--debug-child-fault", "parent-hangs-up"]);
    let client = client();
    let started = std::time::Instant::now();
    let reply = get(&client, &format!("{}/multiprocessing?n=500&workers=1", server.url())).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.json);
    let error = reply.json["error"].as_str().unwrap_or_default();
    assert!(error.contains("it could not write to its pipe"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the child did not hang on its pipe"
    );
    assert_no_children(&server);
    let health = get(&client, &format!("{}/healthz", server.url())).await;
    assert_eq!(health.status, StatusCode::OK, "the server did not die of SIGPIPE");
}

/// Pitfall A8 (`docs/multiprocessing.md`): every thread of the server is interrupted by a signal every 200 µs, its
/// handler installed without SA_RESTART, so blocking calls in flight fail with EINTR: the poll
/// on the children's pipes, the reads, waitpid, the pool supervisor's poll, the runtime's own
/// waits. Under both strategies every request still gets its right answer, and nothing is left.
/// One-row-band requests (workers=1, 2 MB through one pipe) keep the parent polling and reading
/// for a long time, so many of the interruptions land there.
#[actix_web::test]
async fn a_signal_storm_fails_no_request() {
    const REQUESTS: u64 = 48;
    let expected: Vec<i64> = (0..REQUESTS)
        .map(|seed| {
            let (a, b) = generate_pair(500, Some(seed));
            checksum(elements(&reference_add(&a, &b).unwrap()))
        })
        .collect();
    // The fork strategy ends with no child; the pool keeps its two workers, none a zombie.
    for (strategy, fork_from, children_after) in [
        ("fork", "fork-server", 0),
        ("fork", "server", 0),
        ("prefork", "fork-server", 2),
    ] {
        let server = start(&[
            "--strategy",
            strategy,
            "--fork-from",
            fork_from,
            "--pool-workers",
            "2",
            "--debug-signal-storm",
            "200",
            "--queue-timeout",
            "120",
        ]);
        let client = client();
        let baseline = descriptors_after_one_request(&server, &format!("{}/multiprocessing?n=20", server.url())).await;
        let replies = join_all((0..REQUESTS).map(|seed| {
            let workers = [1, 2, 4, 7][seed as usize % 4];
            let url = format!("{}/multiprocessing?n=500&workers={workers}&seed={seed}", server.url());
            let client = &client;
            async move { (seed, get(client, &url).await) }
        }))
        .await;
        for (seed, reply) in &replies {
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{strategy} ({fork_from}), seed {seed}: {}",
                reply.json
            );
            assert_eq!(
                reply.json["checksum"].as_i64(),
                Some(expected[*seed as usize]),
                "{strategy} ({fork_from}), seed {seed}"
            );
        }
        assert!(
            eventually(Duration::from_secs(5), || {
                let children = band_children(&server);
                children.len() == children_after && children.iter().all(|&(_, state)| state != 'Z')
            }),
            "{strategy} ({fork_from}): children left: {:?}",
            band_children(&server)
        );
        drop(client);
        assert!(
            eventually(Duration::from_secs(10), || server.fd_count() == baseline),
            "{strategy} ({fork_from}): descriptors: {} now, {baseline} before",
            server.fd_count()
        );
        let (status, lines) = server.terminate_with_stdout(Duration::from_secs(30));
        assert!(status.success(), "{strategy}: {status}");
        let handled = lines
            .iter()
            .find_map(|line| line.strip_prefix("signal storm: "))
            .and_then(|report| report.split(", ").nth(1)?.strip_suffix(" handled")?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{strategy}: no storm report in stdout: {lines:?}"));
        assert!(
            handled >= 1000,
            "{strategy}: only {handled} signals reached the server's threads"
        );
    }
}

/// Pitfall A7 (`docs/multiprocessing.md`): one request's child lingers 2 s after its band; requests running around it
/// are not held up. A child forked for one request must not keep another request's pipe open
/// (the fork lock and each child's close_range see to it), or that request would wait for its
/// EOF until the lingering child exits. The other requests run from before the lingering one
/// starts until after it ends, so its child is forked among theirs.
#[actix_web::test]
async fn a_lingering_child_does_not_hold_up_other_requests() {
    const MARKER: i64 = 4242; // generated values are below 100, so only the POST below has it
    for fork_from in ["fork-server", "server"] {
        let server = start(&[
            "--fork-from",
            fork_from,
            "--debug-child-fault",
            &format!("linger-if:{MARKER}:2000"),
        ]);
        let client = client();
        let url = format!("{}/multiprocessing", server.url());
        let lingering = async {
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            let started = std::time::Instant::now();
            let mut response = client
                .post(&url)
                .send_json(&json!({"a": [[MARKER]], "b": [[1]], "workers": 1}))
                .await
                .unwrap();
            let answer: serde_json::Value = response.json().await.unwrap();
            (answer, started.elapsed())
        };
        let others = join_all((0..4).map(|_| async {
            let until = std::time::Instant::now() + Duration::from_millis(2600);
            let (mut slowest, mut count) = (Duration::ZERO, 0);
            while std::time::Instant::now() < until {
                let started = std::time::Instant::now();
                let reply = get(&client, &format!("{url}?n=50&workers=8")).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
                slowest = slowest.max(started.elapsed());
                count += 1;
            }
            (slowest, count)
        }));
        let ((answer, lingered), others) = futures_util::future::join(lingering, others).await;
        assert_eq!(answer["result"], json!([[MARKER + 1]]), "{answer}");
        assert!(
            lingered >= Duration::from_secs(2),
            "the marked child lingered: {lingered:?}"
        );
        let slowest = others.iter().map(|o| o.0).max().unwrap_or_default();
        let count: usize = others.iter().map(|o| o.1).sum();
        assert!(
            count >= 20,
            "{fork_from}: only {count} requests ran around the lingering one"
        );
        assert!(
            slowest < Duration::from_secs(1),
            "{fork_from}: {count} requests around the 2 s linger; the slowest took {slowest:?}"
        );
        assert_no_children(&server);
    }
}

/// The fork server (the default `--fork-from`): one thread, holding only stdio and its
/// socket. The children it forks for a request are the server's own (their parent is the
/// server, their name `band-child`) and none is its own; the answer is the one the server
/// gives forking children itself.
#[actix_web::test]
async fn the_fork_server_forks_the_servers_own_children_and_holds_nothing_else() {
    let server = start(&["--debug-child-fault", "sleep-ms:600"]);
    let fork_server = fork_server_of(&server);
    let tasks = std::fs::read_dir(format!("/proc/{fork_server}/task")).unwrap().count();
    assert_eq!(tasks, 1, "the fork server's threads");
    // (number, target), in descriptor order: /proc lists them in no promised order.
    let mut descriptors: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{fork_server}/fd"))
        .unwrap()
        .filter_map(|fd| {
            let fd = fd.ok()?;
            let number = fd.file_name().to_str()?.parse().ok()?;
            Some((
                number,
                std::fs::read_link(fd.path()).ok()?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    descriptors.sort();
    let numbers: Vec<u32> = descriptors.iter().map(|(number, _)| *number).collect();
    assert_eq!(numbers.len(), 4, "stdio and the socket: {descriptors:?}");
    assert_eq!(numbers[..3], [0, 1, 2], "stdio: {descriptors:?}");
    assert!(descriptors[3].1.starts_with("socket:"), "{descriptors:?}");

    let client = client();
    let url = format!("{}/multiprocessing?n=100&seed=5", server.url());
    let (reply, during) = futures_util::future::join(get(&client, &url), async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        band_children(&server)
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let mut pids: Vec<i32> = during.iter().map(|(pid, _)| *pid).collect();
    pids.sort_unstable();
    let mut answered: Vec<i32> = serde_json::from_value(reply.json["child_pids"].clone()).unwrap();
    answered.sort_unstable();
    assert_eq!(pids, answered, "the server's children while it ran are the answer's");
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent: Option<i32> = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        // The child may already be reaped; if not, its parent is the server.
        if let Some(parent) = parent {
            assert_eq!(parent, server.pid(), "child {pid}'s parent");
        }
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{fork_server}/task/{fork_server}/children")).unwrap_or_default(),
        "",
        "the fork server's own children"
    );
    assert_no_children(&server);

    let direct = start(&["--fork-from", "server"]);
    assert!(direct.children().is_empty(), "no fork server: {:?}", direct.children());
    let same = get(&client, &format!("{}/multiprocessing?n=100&seed=5", direct.url())).await;
    assert_eq!(same.json["checksum"], reply.json["checksum"]);
    assert_eq!(same.json["sample"], reply.json["sample"]);
}

/// A request's bands go to the fork server in messages of at most 64 (the descriptors passed
/// with one message are limited): 100 bands take two messages, and the answer is still right.
#[actix_web::test]
async fn more_bands_than_one_fork_server_message_holds_are_forked_in_several() {
    let server = start(&["--max-workers", "100"]);
    let (a, b) = generate_pair(200, Some(9));
    let expected = checksum(elements(&reference_add(&a, &b).unwrap()));
    let url = format!("{}/multiprocessing?n=200&workers=100&seed=9", server.url());
    let reply = get(&client(), &url).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["checksum"].as_i64(), Some(expected));
    assert_eq!(reply.json["child_pids"].as_array().map(Vec::len), Some(100));
    assert_no_children(&server);
}

/// A fork server that dies (here SIGKILL) is reaped, and the server forks the children itself
/// from then on: every request still gets its right answer, and nothing is left behind.
#[actix_web::test]
async fn a_dead_fork_server_is_reaped_and_the_server_forks_children_itself() {
    let server = start(&[]);
    let fork_server = fork_server_of(&server);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(fork_server), Signal::SIGKILL).unwrap();
    assert!(eventually(Duration::from_secs(5), || process_state(fork_server) == Some('Z')));
    let client = client();
    for seed in 0..4u64 {
        let (a, b) = generate_pair(60, Some(seed));
        let expected = checksum(elements(&reference_add(&a, &b).unwrap()));
        let url = format!("{}/multiprocessing?n=60&workers=3&seed={seed}", server.url());
        let reply = get(&client, &url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        assert_eq!(reply.json["checksum"].as_i64(), Some(expected), "seed {seed}");
    }
    assert!(
        eventually(Duration::from_secs(5), || server.children().is_empty()),
        "left: {:?}",
        server.children()
    );
}

/// Pitfall C5 (`docs/multiprocessing.md`): when the OS refuses a fork (EAGAIN: here the process limit of the user the
/// server runs as), the request gets 503 and the children already forked for it are killed and
/// reaped, with no descriptor left open; once there is room again the server serves again.
///
/// Root is exempt from RLIMIT_NPROC, so the server runs as `nobody` under `prlimit --nproc`,
/// and the test fills `nobody`'s quota with sleeping processes of its own, up to two short.
#[actix_web::test]
#[ignore = "needs root (runs the server and its quota's fillers as nobody); CI runs it"]
async fn a_fork_the_os_refuses_gets_503_and_leaves_nothing_behind() {
    use std::os::unix::process::CommandExt;
    const NOBODY: u32 = 65534;
    const LIMIT: usize = 64;
    let reachable = copy_reachable_by_anyone(BINARY);
    let mut command = std::process::Command::new("prlimit");
    command
        .arg(format!("--nproc={LIMIT}:{LIMIT}"))
        .arg("--")
        .arg(reachable.path().join("app_multiprocessing"))
        .args(["--port", "0", "--http-workers", "1"])
        .current_dir(reachable.path())
        .env("RUST_LOG", "warn")
        .uid(NOBODY)
        .gid(NOBODY);
    let server = ServerProcess::launch(command);
    let client = client();
    let url = format!("{}/multiprocessing?n=40&workers=8", server.url());
    // Also warms up, so the blocking thread the next request runs on already exists.
    let baseline = descriptors_after_one_request(&server, &url).await;

    let room = LIMIT
        .checked_sub(tasks_of_user(NOBODY) + 2)
        .expect("nobody runs few tasks");
    let fillers = Fillers(
        (0..room)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("60")
                    .uid(NOBODY)
                    .gid(NOBODY)
                    .spawn()
                    .expect("sleep starts as nobody")
            })
            .collect(),
    );
    assert!(eventually(Duration::from_secs(5), || tasks_of_user(NOBODY) == LIMIT - 2));
    let reply = get(&client, &url).await;
    drop(fillers);
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.json);
    let error = reply.json["error"].as_str().unwrap_or_default();
    assert!(error.contains("the OS refused a child process"), "{error}");
    assert_no_children(&server);
    drop(client); // closes its connection, which the baseline does not count
    assert!(
        eventually(Duration::from_secs(5), || server.fd_count() == baseline),
        "descriptors: {} now, {baseline} before",
        server.fd_count()
    );
    let reply = get(&self::client(), &url).await;
    assert_eq!(reply.status, StatusCode::OK, "serving again: {}", reply.json);
    assert_no_children(&server);
}

/// A copy of `binary` in a new directory under the system's temporary directory that any user
/// may enter, so `nobody` can run it wherever the checkout is (a clone in a private directory,
/// such as one `mktemp -d` made, is out of its reach). Removed when dropped.
fn copy_reachable_by_anyone(binary: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("matrix-lab-c5-")
        .tempdir()
        .expect("a directory in the system's temporary directory");
    let copy = dir.path().join("app_multiprocessing");
    std::fs::copy(binary, &copy).expect("the server binary copies");
    for (path, mode) in [(dir.path(), 0o755), (copy.as_path(), 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod 755");
    }
    dir
}

/// Processes this test started, killed and reaped when dropped, even if an assertion fails.
struct Fillers(Vec<std::process::Child>);

impl Drop for Fillers {
    fn drop(&mut self) {
        for filler in &mut self.0 {
            let _ = filler.kill();
            let _ = filler.wait();
        }
    }
}

/// Threads and processes that `uid` runs now: what RLIMIT_NPROC counts.
fn tasks_of_user(uid: u32) -> usize {
    let owner = |path: std::path::PathBuf| {
        std::fs::read_to_string(path.join("status")).ok().and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next()?.parse::<u32>().ok())
        })
    };
    let processes = std::fs::read_dir("/proc").expect("/proc is mounted");
    processes
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|entry| std::fs::read_dir(entry.path().join("task")).ok())
        .flat_map(|tasks| tasks.filter_map(Result::ok).map(|task| task.path()))
        .filter(|task| owner(task.clone()) == Some(uid))
        .count()
}
