//! `--strategy prefork`, the real binary on a free port: the pool's workers, its shared memory,
//! and its supervision (a worker killed, hung, crashing at start or breaking the protocol;
//! saturation; shutdown), checked from outside through `/proc`. The cases are the pool's
//! pitfalls B1 to B15 in `docs/multiprocessing.md`.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use app_multiprocessing::{Pool, PoolConfig};
use futures_util::future::{join, join_all};
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add, sample};
use matrix_service::testing::{
    ServerProcess, check_memory_follows_load, check_one_malloc_heap, client, eventually, get, process_state,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_app_multiprocessing");

fn start_pool(workers: usize, args: &[&str]) -> ServerProcess {
    let workers = workers.to_string();
    let mut all = vec!["--strategy", "prefork", "--pool-workers", &workers];
    all.extend_from_slice(args);
    ServerProcess::start(BINARY, &all)
}

/// The server's live (not zombie) children: its pool workers.
fn workers(server: &ServerProcess) -> Vec<i32> {
    let mut pids: Vec<i32> = server
        .children()
        .into_iter()
        .filter(|(_, state)| *state != 'Z')
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}

fn zombies(server: &ServerProcess) -> Vec<i32> {
    server
        .children()
        .into_iter()
        .filter(|(_, state)| *state == 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

/// Waits until the pool has `count` live workers and no zombie; returns their pids.
fn pool_of(server: &ServerProcess, count: usize) -> Vec<i32> {
    let settled = eventually(Duration::from_secs(10), || {
        workers(server).len() == count && zombies(server).is_empty()
    });
    assert!(settled, "workers {:?}, zombies {:?}", workers(server), zombies(server));
    workers(server)
}

fn error_of(json: &Value) -> &str {
    json["error"].as_str().unwrap_or_default()
}

/// The seeded answer a request must give, computed here the plain way.
fn expected_answer(n: usize, seed: u64) -> (i64, Vec<i64>) {
    let (a, b) = generate_pair(n, Some(seed));
    let sum = reference_add(&a, &b).unwrap();
    (checksum(elements(&sum)), sample(elements(&sum), n))
}

// B1
#[test]
fn the_pool_refuses_to_start_in_a_threaded_process() {
    // The test harness runs tests on threads, so this process has several.
    let error = Pool::start(PoolConfig {
        workers: 1,
        slots: 1,
        slot_elements: 3,
        resident_elements: 3,
        resident_slots: 1,
        fault: Default::default(),
    })
    .err()
    .expect("forking a threaded process must be refused");
    assert!(error.to_string().contains("before any thread"), "{error}");
}

// B2, B3, B4
#[actix_web::test]
async fn workers_hold_only_their_pipes_and_the_shared_memory_and_answer_correctly() {
    let server = start_pool(3, &[]);
    let pids = pool_of(&server, 3);
    for pid in &pids {
        let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let target = std::fs::read_link(entry.path()).unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    target.display().to_string(),
                )
            })
            .collect();
        fds.sort();
        let names: Vec<&str> = fds.iter().map(|(fd, _)| fd.as_str()).collect();
        assert_eq!(names, ["0", "1", "2", "3"], "worker {pid}: {fds:?}");
        assert!(
            fds[0].1.starts_with("pipe:") && fds[1].1.starts_with("pipe:"),
            "{fds:?}"
        );
        assert!(fds[3].1.contains("memfd:matrix-lab-pool"), "{fds:?}");
    }

    // Different sizes back to back reuse the slots: a stale row would change a checksum. The
    // sums are computed by the workers in shared memory: a private mapping would read zeros.
    let client = client();
    for (n, seed, workers_per_request) in [(500, 42, 4), (37, 1, 3), (300, 2, 7), (1, 3, 4), (500, 4, 1)] {
        let url = format!(
            "{}/multiprocessing?n={n}&workers={workers_per_request}&seed={seed}",
            server.url()
        );
        let reply = get(&client, &url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        let (sum, first_row) = expected_answer(n, seed);
        assert_eq!(reply.json["checksum"].as_i64(), Some(sum), "n={n}");
        assert_eq!(reply.json["sample"], json!(first_row), "n={n}");
        let bands = workers_per_request.min(n);
        let used: Vec<i32> = serde_json::from_value(reply.json["child_pids"].clone()).unwrap();
        assert_eq!(used.len(), bands, "{}", reply.json);
        assert!(used.iter().all(|pid| pids.contains(pid)), "{used:?} not in {pids:?}");
    }
    assert_eq!(workers(&server), pids, "no worker was replaced");
}

#[actix_web::test]
async fn posted_matrices_and_overflow_are_answered_like_the_other_servers() {
    let server = start_pool(2, &[]);
    let client = client();
    let url = format!("{}/multiprocessing", server.url());
    let mut response = client
        .post(&url)
        .send_json(&json!({"a": [[1, 2], [3, 4]], "b": [[5, 6], [7, 8]], "workers": 2}))
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["result"], json!([[6, 8], [10, 12]]), "{answer}");

    let mut response = client
        .post(&url)
        .send_json(&json!({"a": [[0, 1], [i64::MAX, 0]], "b": [[0, 0], [1, 0]], "workers": 2}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert!(error_of(&answer).contains("a[1][0] + b[1][0]"), "{answer}");
}

// B5
#[actix_web::test]
async fn more_requests_than_workers_queue_and_all_succeed() {
    let server = start_pool(2, &[]);
    let client = client();
    let (sum, _) = expected_answer(200, 9);
    let url = format!("{}/multiprocessing?n=200&workers=4&seed=9", server.url());
    let replies = join_all((0..40).map(|_| get(&client, &url))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        assert_eq!(reply.json["checksum"].as_i64(), Some(sum));
    }
    pool_of(&server, 2);
}

#[actix_web::test]
async fn past_the_queue_timeout_a_saturated_pool_answers_503_with_retry_after() {
    let server = start_pool(
        1,
        &[
            "--max-active-requests",
            "1",
            "--queue-timeout",
            "0.3",
            "--debug-child-fault",
            "sleep-ms:1500",
        ],
    );
    let client = client();
    let url = format!("{}/multiprocessing?n=10&workers=1", server.url());
    let (slow, refused) = join(get(&client, &url), async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        get(&client, &url).await
    })
    .await;
    assert_eq!(slow.status, StatusCode::OK, "{}", slow.json);
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.json);
    assert!(refused.headers.contains_key("retry-after"));
}

/// Returns once `pid` is in nanosleep(2) (`/proc/PID/syscall` names the call a process is
/// blocked in): a pool worker idles in read(2) on its job pipe and sleeps only inside a job
/// whose debug fault is `sleep-ms`. Panics after a minute: the job never started.
async fn until_sleeping(pid: i32) {
    let sleeping = || {
        let call = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let number: Option<i64> = call.split_whitespace().next().and_then(|n| n.parse().ok());
        number.is_some_and(|n| n == libc::SYS_nanosleep || n == libc::SYS_clock_nanosleep)
    };
    let started = Instant::now();
    while !sleeping() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker {pid} never started its job"
        );
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

// B6
#[actix_web::test]
async fn a_worker_killed_mid_job_fails_that_request_and_is_replaced_and_reaped() {
    let server = start_pool(1, &["--debug-child-fault", "sleep-ms:1500"]);
    let client = client();
    // Whatever the job computes: a sum, a product, or a sum after a wait.
    for work in ["add", "matmul", "io&wait_ms=200"] {
        let [victim] = pool_of(&server, 1)[..] else {
            unreachable!()
        };
        let url = format!("{}/multiprocessing?n=20&workers=1&work={work}", server.url());
        let (reply, ()) = join(get(&client, &url), async {
            // Killed once it is inside the job (its debug fault's sleep), not after a guess.
            until_sleeping(victim).await;
            kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
        })
        .await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{work}: {}",
            reply.json
        );
        assert!(
            error_of(&reply.json).contains(&format!("pool worker {victim} was killed by SIGKILL")),
            "{work}: {}",
            reply.json
        );
        let replacement = pool_of(&server, 1);
        assert_ne!(replacement, [victim]);
        assert_eq!(process_state(victim), None, "the killed worker is reaped");
        let next = get(&client, &url).await;
        assert_eq!(next.status, StatusCode::OK, "{work}: {}", next.json);
        assert_eq!(next.json["child_pids"], json!(replacement));
    }
}

// B7
#[actix_web::test]
async fn a_hung_worker_is_killed_at_the_deadline_answered_504_and_replaced() {
    let server = start_pool(2, &["--child-timeout", "1", "--debug-child-fault", "hang"]);
    for work in ["add", "matmul", "io&wait_ms=200"] {
        let before = pool_of(&server, 2);
        let started = Instant::now();
        let url = format!("{}/multiprocessing?n=20&workers=1&work={work}", server.url());
        let reply = get(&client(), &url).await;
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{work}: {}", reply.json);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{work} took {:?}",
            started.elapsed()
        );
        let after = pool_of(&server, 2);
        let replaced: Vec<&i32> = before.iter().filter(|pid| !after.contains(pid)).collect();
        assert_eq!(
            replaced.len(),
            1,
            "{work}: exactly the hung worker is replaced: {before:?} -> {after:?}"
        );
        assert_eq!(process_state(*replaced[0]), None, "and reaped");
    }
}

// B8
#[actix_web::test]
async fn an_answer_for_a_job_the_worker_does_not_hold_is_ignored() {
    let server = start_pool(2, &["--debug-child-fault", "stale-done"]);
    let (sum, _) = expected_answer(100, 5);
    let reply = get(&client(), &format!("{}/multiprocessing?n=100&seed=5", server.url())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["checksum"].as_i64(), Some(sum));
}

#[actix_web::test]
async fn broken_replies_fail_the_request_or_retire_the_worker_never_the_server() {
    for (fault, status) in [
        ("half-write", StatusCode::INTERNAL_SERVER_ERROR),
        ("exit:3", StatusCode::INTERNAL_SERVER_ERROR),
        ("panic", StatusCode::INTERNAL_SERVER_ERROR),
        ("abort", StatusCode::INTERNAL_SERVER_ERROR),
        // The answer itself is whole, so the request succeeds; the extra byte then gets the
        // worker killed and replaced.
        ("extra-byte", StatusCode::OK),
    ] {
        let server = start_pool(1, &["--debug-child-fault", fault]);
        let [first] = pool_of(&server, 1)[..] else {
            unreachable!()
        };
        let reply = get(&client(), &format!("{}/multiprocessing?n=30&workers=1", server.url())).await;
        assert_eq!(reply.status, status, "{fault}: {}", reply.json);
        let replaced = eventually(Duration::from_secs(10), || {
            let now = workers(&server);
            now.len() == 1 && now[0] != first && zombies(&server).is_empty()
        });
        assert!(replaced, "{fault}: workers {:?}", workers(&server));
        let health = get(&client(), &format!("{}/healthz", server.url())).await;
        assert_eq!(health.status, StatusCode::OK, "{fault}");
    }
}

// B9
#[actix_web::test]
async fn workers_that_crash_at_start_stop_being_replaced_and_requests_get_503() {
    let server = start_pool(2, &["--debug-child-fault", "crash-at-start"]);
    let url = format!("{}/multiprocessing?n=10", server.url());
    let client = client();
    let down = {
        let started = Instant::now();
        loop {
            let reply = get(&client, &url).await;
            if reply.status == StatusCode::SERVICE_UNAVAILABLE || started.elapsed() > Duration::from_secs(10) {
                break reply;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{}", down.json);
    assert!(error_of(&down.json).contains("worker pool is down"), "{}", down.json);
    assert!(down.headers.contains_key("retry-after"));
    // No respawn loop: nothing is being started any more.
    pool_of(&server, 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(server.children().is_empty(), "{:?}", server.children());
    assert_eq!(
        get(&client, &format!("{}/healthz", server.url())).await.status,
        StatusCode::OK
    );
}

/// The supervisor itself failing (its `poll` erroring, which the hidden fault forces) takes the
/// pool down at once: the request in flight fails fast instead of waiting out its deadline,
/// later requests get 503 saying why, every worker is reaped, and the server still answers.
#[actix_web::test]
async fn a_supervisor_that_cannot_poll_fails_requests_fast_and_leaves_no_worker() {
    let server = start_pool(
        1,
        &["--debug-child-fault", "supervisor-poll-fails", "--child-timeout", "20"],
    );
    pool_of(&server, 1);
    let client = client();
    // Four bands for one worker: the supervisor fails once the first answer has been read
    // and the second band handed out, with two more still queued.
    let url = format!("{}/multiprocessing?n=200&workers=4", server.url());
    let started = Instant::now();
    let failed = get(&client, &url).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the request waited {:?} for a pool that was gone",
        started.elapsed()
    );
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", failed.json);
    assert!(
        error_of(&failed.json).contains("was stopped while adding a band"),
        "{}",
        failed.json
    );

    let later = get(&client, &url).await;
    assert_eq!(later.status, StatusCode::SERVICE_UNAVAILABLE, "{}", later.json);
    assert!(
        error_of(&later.json).contains("supervisor could not poll"),
        "{}",
        later.json
    );
    assert!(later.headers.contains_key("retry-after"));
    pool_of(&server, 0);
    assert!(server.children().is_empty(), "{:?}", server.children());
    assert_eq!(
        get(&client, &format!("{}/healthz", server.url())).await.status,
        StatusCode::OK
    );
}

// B10
#[test]
fn workers_die_with_a_killed_server() {
    let server = start_pool(3, &[]);
    let pids = pool_of(&server, 3);
    server.signal(Signal::SIGKILL);
    let gone = eventually(Duration::from_secs(3), || {
        pids.iter().all(|pid| matches!(process_state(*pid), None | Some('Z')))
    });
    assert!(
        gone,
        "orphaned workers: {:?}",
        pids.iter().map(|p| (p, process_state(*p))).collect::<Vec<_>>()
    );
}

// B11, B12
#[actix_web::test]
async fn sigterm_and_sigint_let_in_flight_jobs_finish_then_every_worker_exits() {
    let server = start_pool(2, &["--debug-child-fault", "sleep-ms:800"]);
    let pids = pool_of(&server, 2);
    let client = client();
    let url = format!("{}/multiprocessing?n=50&workers=2&seed=8", server.url());
    let (reply, ()) = join(get(&client, &url), async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        // What Ctrl-C does to the whole process group, then a stop request to the server.
        for pid in &pids {
            kill(Pid::from_raw(*pid), Signal::SIGINT).unwrap();
        }
        server.signal(Signal::SIGTERM);
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["checksum"].as_i64(), Some(expected_answer(50, 8).0));
    let status = server.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(pids.iter().all(|pid| process_state(*pid).is_none()), "workers left");
}

// B15
#[actix_web::test]
async fn workers_killed_under_load_are_replaced_and_the_rest_of_the_load_succeeds() {
    let server = start_pool(2, &[]);
    let client = client();
    let url = format!("{}/multiprocessing?n=200&workers=2", server.url());
    let mut failed = 0;
    for round in 0..6 {
        let load = join_all((0..20).map(|_| get(&client, &url)));
        let killing = async {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            if round % 2 == 0
                && let Some(pid) = workers(&server).first()
            {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        };
        let (replies, ()) = join(load, killing).await;
        for reply in replies {
            match reply.status {
                StatusCode::OK => {}
                StatusCode::INTERNAL_SERVER_ERROR => {
                    assert!(error_of(&reply.json).contains("pool worker"), "{}", reply.json);
                    failed += 1;
                }
                other => panic!("{other}: {}", reply.json),
            }
        }
    }
    // Each kill fails at most the one band its worker held.
    assert!(failed <= 3, "{failed} requests failed");
    pool_of(&server, 2);
    let last = get(&client, &url).await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.json);
}

#[actix_web::test]
async fn a_thousand_hostile_queries_and_bodies_leave_the_pool_whole() {
    let server = start_pool(2, &[]);
    let before = pool_of(&server, 2);
    matrix_service::testing::fuzz_queries(server.url(), "/multiprocessing", 1000).await;
    matrix_service::testing::fuzz_bodies(server.url(), "/multiprocessing", 1000).await;
    assert_eq!(pool_of(&server, 2), before, "no worker died or was replaced");
}

#[actix_web::test]
async fn a_pool_keeps_large_requests_memory_while_they_come_and_gives_it_back_when_idle() {
    let server = start_pool(2, &[]);
    let pool = pool_of(&server, 2);
    check_memory_follows_load(&server, "/multiprocessing").await;
    assert_eq!(workers(&server), pool, "the same workers served every request");
}

/// The supervisor thread starts before the HTTP server does; it too allocates from the one
/// main heap.
#[actix_web::test]
async fn concurrent_requests_share_one_malloc_heap() {
    let server = start_pool(2, &[]);
    check_one_malloc_heap(&server, "/multiprocessing").await;
}
