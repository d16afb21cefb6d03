//! The pitfalls of forking a threaded server (IDs in `docs/multiprocessing.md`), against the
//! real binary: a free event loop (C3), hang-ups (A5), stdout (C6), EPIPE (A9), EINTR (A8),
//! lingering siblings (A7), and a fork the OS refuses (C5).

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add};
use matrix_service::testing::{ServerProcess, client, eventually, get};
use serde_json::json;

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
