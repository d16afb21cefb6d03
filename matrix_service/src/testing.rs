//! Test support shared by both servers (feature `testing`).
//!
//! - [`ServerProcess`] starts a real server binary on port 0, reads its `listening on` line, and
//!   looks at its children and file descriptors through `/proc`.
//! - [`check_endpoints`] and [`check_bad_requests`] drive a server's real routes, with its real
//!   engine, through actix's test utilities: one list of cases, run against both engines.
//! - [`client`] and [`get`] talk to a running server over real sockets.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use nix::sys::signal::Signal;
use procfs::process::{MMPermissions, MMapPath, Process};
use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Value, json};

use crate::admission::{Admission, AdmissionLimits};
use crate::buffers::BufferPool;
use crate::engine::{AddEngine, AddError};
use crate::http::{Service, routes};
use crate::launch::LaunchedServer;
use crate::matrix::{Matrix, Operands, elements};
use crate::memory_budget::{DEFAULT_MAX_BODY_MEMORY, MemoryBudget};
use crate::params::Limits;
use crate::upload::BodyRules;

/// The limits the handler checks run with.
pub const TEST_LIMITS: Limits = Limits {
    max_n: 2000,
    max_workers: 64,
    default_workers: 4,
};

/// The body limit the handler checks run with, small so the 413 case is cheap.
pub const TEST_MAX_BODY_BYTES: usize = 4096;

/// A service around `engine` with [`TEST_LIMITS`] and [`TEST_MAX_BODY_BYTES`].
pub fn test_service<E: AddEngine>(engine: E) -> Data<Service<E>> {
    let limits = AdmissionLimits {
        active_requests: 4,
        live_workers: 256,
        live_workers_flag: "--max-live",
        queue_timeout: Duration::from_secs(10),
    };
    let admission = Admission::new(limits, E::UNITS);
    let buffers = BufferPool::for_requests(4, 500);
    let rules = BodyRules {
        max_bytes: TEST_MAX_BODY_BYTES,
        timeout: Duration::from_secs(30),
        queue_timeout: limits.queue_timeout,
    };
    let budget = MemoryBudget::new(DEFAULT_MAX_BODY_MEMORY, TEST_LIMITS.max_n);
    Data::new(Service::new(engine, TEST_LIMITS, admission, budget, buffers, rules))
}

/// Runs an addition kernel on `a` and `b` (same shape) and returns the sum as a matrix, with
/// whatever else the kernel returns.
pub fn add_matrices<T>(
    a: &Matrix,
    b: &Matrix,
    kernel: impl FnOnce(Operands<'_>, &mut [i64]) -> Result<T, AddError>,
) -> Result<(Matrix, T), AddError> {
    let mut sum = vec![0; a.len()];
    let extra = kernel(Operands::of(a, b), &mut sum)?;
    Ok((
        Matrix::from_shape_vec(a.dim(), sum).expect("the sum has the inputs' shape"),
        extra,
    ))
}

/// Sends `request` through the real routes; returns the status, headers and body.
async fn call<E: AddEngine>(service: &Data<Service<E>>, request: TestRequest) -> (StatusCode, HeaderMap, Vec<u8>) {
    let app = test::init_service(App::new().configure(routes(service.clone()))).await;
    let response = test::call_service(&app, request.to_request()).await;
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, test::read_body(response).await.to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Checks every endpoint's good answers: the index page, `/healthz`, a seeded `GET` (its keys and
/// values), and a `POST` with a known sum.
pub async fn check_endpoints<E: AddEngine>(engine: E) {
    let service = test_service(engine);
    let path = Service::<E>::path();

    let (status, headers, body) = call(&service, TestRequest::get().uri("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains(E::TITLE) && page.contains(&format!("fetch(\"{path}?\"")),
        "the page calls {path}"
    );

    let (status, _, body) = call(&service, TestRequest::get().uri("/healthz")).await;
    assert_eq!((status, json_of(&body)), (StatusCode::OK, json!({"status": "ok"})));

    let (status, _, body) = call(
        &service,
        TestRequest::get().uri(&format!("{path}?n=30&workers=3&seed=5")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer = json_of(&body);
    let (a, b) = crate::matrix::generate_pair(30, Some(5));
    let expected = crate::matrix::reference_add(&a, &b).unwrap();
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["method"], E::METHOD);
    assert_eq!(
        (
            answer["n"].as_u64(),
            answer["workers"].as_u64(),
            answer["seed"].as_u64()
        ),
        (Some(30), Some(3), Some(5))
    );
    assert_eq!(
        answer["checksum"].as_i64(),
        Some(crate::matrix::checksum(elements(&expected)))
    );
    assert_eq!(
        answer["sample"],
        json!(crate::matrix::sample(elements(&expected), expected.ncols()))
    );
    for key in ["execution_time_sec", "generation_time_sec", "total_time_sec"] {
        assert!(answer[key].as_f64().is_some_and(|t| t >= 0.0), "{key}: {answer}");
    }
    assert!(answer["total_time_sec"].as_f64() >= answer["execution_time_sec"].as_f64());

    let (status, _, body) = call(&service, TestRequest::get().uri(&path)).await;
    let answer = json_of(&body);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            answer["n"].as_u64(),
            answer["workers"].as_u64(),
            answer["seed"].is_null()
        ),
        (Some(500), Some(4), true)
    );
    assert_eq!(answer["sample"].as_array().map(Vec::len), Some(10));

    let body = json!({"a": [[1, 2, 3], [4, 5, 6]], "b": [[10, 20, 30], [40, 50, i64::MAX - 6]], "workers": 2});
    let (status, _, body) = call(&service, TestRequest::post().uri(&path).set_json(body)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer = json_of(&body);
    assert_eq!(answer["result"], json!([[11, 22, 33], [44, 55, i64::MAX]]));
    assert_eq!(
        (
            answer["rows"].as_u64(),
            answer["cols"].as_u64(),
            answer["workers"].as_u64()
        ),
        (Some(2), Some(3), Some(2))
    );
    assert_eq!(answer["checksum"].as_i64(), Some(165i64.wrapping_add(i64::MAX)));
    assert!(answer.get("n").is_none() && answer["seed"].is_null());
}

/// One bad request and what its answer must say.
struct BadRequest {
    request: TestRequest,
    status: StatusCode,
    message: &'static str,
}

fn bad_requests(path: &str) -> Vec<BadRequest> {
    let get = |query: &str| TestRequest::get().uri(&format!("{path}?{query}"));
    let post = |body: &str| {
        TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    let bad = |request, message| BadRequest {
        request,
        status: StatusCode::BAD_REQUEST,
        message,
    };
    vec![
        bad(
            get("n=abc"),
            r#"n must be a whole number from 1 to 2000; got "abc" (not a number)"#,
        ),
        bad(get("n=0"), "(zero)"),
        bad(get("n=-3"), "(negative)"),
        bad(get("n=2001"), "(too large)"),
        bad(get("n=2.5"), "(fractional)"),
        bad(get("workers=0"), "workers must be a whole number from 1 to 64"),
        bad(get("workers=65"), "(too large)"),
        bad(get("workers=1.5"), "(fractional)"),
        bad(get("workers=-1"), "(negative)"),
        bad(
            get("seed=-1"),
            "seed must be a whole number from 0 to 18446744073709551615",
        ),
        bad(get("seed=1e3"), "write it without a decimal point"),
        bad(get("x=1"), "unknown query parameter"),
        bad(get("n=1&n=2"), "given 2 times"),
        bad(
            post(r#"{"a": [[1, 2], [3]], "b": [[1, 2], [3, 4]]}"#),
            "a[1] has 1 values but a[0] has 2",
        ),
        bad(
            post(r#"{"a": [[1, 2]], "b": [[1, 2], [3, 4]]}"#),
            "a is 1x2 but b is 2x2",
        ),
        bad(post(r#"{"a": [], "b": []}"#), "a is empty"),
        bad(
            post(r#"{"a": [[1, 2.5]], "b": [[1, 2]]}"#),
            "a[0][1] is 2.5, not an integer",
        ),
        bad(post(r#"{"a": [[1]], "b": [["x"]]}"#), "b[0][0] is the string"),
        bad(
            post(r#"{"a": [[9223372036854775807, 0]], "b": [[1, 0]]}"#),
            "a[0][0] + b[0][0] = 9223372036854775807 + 1 overflows",
        ),
        bad(
            post(r#"{"a": [[0, -9223372036854775808]], "b": [[0, -1]]}"#),
            "a[0][1] + b[0][1]",
        ),
        bad(
            post(r#"{"a": [[1]], "b": [[1]], "workers": 0}"#),
            "workers must be a whole number from 1 to 64",
        ),
        bad(post(r#"{"a": [[1]]"#), "EOF while parsing"),
        bad(post("not json"), "expected ident"),
        bad(
            TestRequest::post().uri(&format!("{path}?workers=2")).set_payload("{}"),
            "takes its parameters in the JSON body",
        ),
        BadRequest {
            request: post(&format!(
                r#"{{"a": [[{}]], "b": [[1]]}}"#,
                "1,".repeat(TEST_MAX_BODY_BYTES)
            )),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "larger than the limit of 4096 bytes (--max-body-bytes)",
        },
        BadRequest {
            request: TestRequest::delete().uri(path),
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "DELETE is not allowed",
        },
        BadRequest {
            request: TestRequest::get().uri("/nothing"),
            status: StatusCode::NOT_FOUND,
            message: "no route for GET /nothing",
        },
    ]
}

/// Checks that every kind of bad input gets its status and a JSON error naming what was wrong,
/// and that the service still answers afterwards.
pub async fn check_bad_requests<E: AddEngine>(engine: E) {
    let service = test_service(engine);
    for case in bad_requests(&Service::<E>::path()) {
        let (status, _, body) = call(&service, case.request).await;
        let answer = json_of(&body);
        assert_eq!(status, case.status, "{answer}");
        assert_eq!(answer["status"], "error", "{answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.message),
            "{message:?} should contain {:?}",
            case.message
        );
    }
    let (status, _, _) = call(
        &service,
        TestRequest::get().uri(&format!("{}?n=3", Service::<E>::path())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "still serving after the bad requests");
}

/// A server binary running on a free port, stopped when dropped if still running.
pub struct ServerProcess {
    server: LaunchedServer,
}

impl ServerProcess {
    /// Starts `binary --port 0 ARGS` (logging warnings only) and waits for its `listening on` line.
    pub fn start(binary: impl AsRef<Path>, args: &[&str]) -> Self {
        let mut command = Command::new(binary.as_ref());
        command.args(["--port", "0"]).args(args).env("RUST_LOG", "warn");
        Self::launch(command)
    }

    /// Runs `command` as it is (a wrapper that ends by executing a server, say) and waits for
    /// the server's `listening on` line.
    pub fn launch(command: Command) -> Self {
        let server = LaunchedServer::start(command, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
        Self { server }
    }

    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn pid(&self) -> i32 {
        self.server.pid()
    }

    /// The server's child processes now, with their state letter from `/proc/PID/stat`
    /// (`Z` for a zombie).
    pub fn children(&self) -> Vec<(i32, char)> {
        children_of(self.pid())
    }

    /// How many file descriptors the server has open now.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// The descriptor count once it has stopped changing (the same over 200 ms), for a baseline:
    /// actix starts its workers, each with its own epoll and eventfd, just after printing the
    /// `listening on` line.
    pub fn settled_fd_count(&self) -> usize {
        let mut last = self.fd_count();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.fd_count();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// The server's resident memory now (`VmRSS`: its heap, and shared memory it has touched).
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        kib.expect("the server is alive and /proc shows its VmRSS") * 1024
    }

    /// How many malloc heaps of glibc's own (arenas beyond the main one) the server has mapped
    /// now. Each is one anonymous mapping of 64 MiB (`HEAP_MAX_SIZE` on 64-bit) at a 64 MiB
    /// boundary, readable and writable at its start and reserved (`---p`) beyond.
    pub fn extra_malloc_arenas(&self) -> usize {
        const HEAP_BYTES: u64 = 64 << 20;
        let maps = Process::new(self.pid())
            .and_then(|process| process.maps())
            .expect("the server is alive and /proc shows its mappings");
        let maps: Vec<_> = maps
            .into_iter()
            .filter(|map| map.pathname == MMapPath::Anonymous)
            .collect();
        maps.iter()
            .enumerate()
            .filter(|(_, map)| map.address.0 % HEAP_BYTES == 0 && map.perms.contains(MMPermissions::WRITE))
            .filter(|&(first, map)| {
                // The reserved rest follows at once: the mapping and its tail make 64 MiB.
                let mut end = map.address.1;
                for next in &maps[first + 1..] {
                    if next.address.0 != end || next.perms.contains(MMPermissions::READ) {
                        break;
                    }
                    end = next.address.1;
                }
                end - map.address.0 == HEAP_BYTES
            })
            .count()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        self.server
            .signal(signal)
            .expect("the server is our child and still exists");
    }

    /// Sends SIGTERM and waits up to `timeout` for the server to exit by itself.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        self.stop_within(timeout)
    }

    /// [`terminate`](Self::terminate), then waits (within the same `timeout`) for the server's
    /// stdout to close, and returns every line it printed as well.
    pub fn terminate_with_stdout(mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = self.stop_within(timeout);
        loop {
            let (lines, closed) = self.server.stdout();
            if closed {
                return (status, lines);
            }
            assert!(
                Instant::now() < deadline,
                "the server exited, but a process it started still holds its stdout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop_within(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.server.exit_status() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Checks the allocator policy ([`crate::memory::set_allocator_policy`]) in a running server:
/// 64 concurrent requests run on many threads (HTTP workers, blocking threads, adding threads),
/// and all of them allocate from glibc's one main heap, with no arena of their own (by default
/// glibc would give them up to 8 per core, each one more lock page for every fork to
/// copy-on-write).
pub async fn check_one_malloc_heap(server: &ServerProcess, path: &str) {
    let client = client();
    let url = format!("{}{path}?n=200", server.url());
    let replies = futures_util::future::join_all((0..64).map(|_| get(&client, &url))).await;
    assert!(replies.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(server.extra_malloc_arenas(), 0, "malloc heaps besides the main one");
}

/// Checks that a server's matrix memory follows its load: several rounds of concurrent requests
/// at n=1500 (54 MB of matrices each) keep it resident between requests, and a second or two
/// of quiet gives it back, down to what the default n needs.
pub async fn check_memory_follows_load(server: &ServerProcess, path: &str) {
    const N: usize = 1500;
    const ONE_REQUEST: u64 = 3 * (N * N) as u64 * 8;
    const AT_REST_AT_MOST: u64 = 64 << 20;
    let client = client();
    let url = format!("{}{path}?n={N}", server.url());
    let before = server.resident_bytes();
    for _ in 0..3 {
        let replies = futures_util::future::join_all((0..4).map(|_| get(&client, &url))).await;
        for reply in replies {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        }
    }
    let busy = server.resident_bytes();
    assert!(
        busy >= before + ONE_REQUEST,
        "right after the requests the server should still hold their matrices: {before} -> {busy} bytes"
    );
    let rested = eventually(Duration::from_secs(10), || server.resident_bytes() <= AT_REST_AT_MOST);
    assert!(
        rested,
        "idle, the server should give the matrices back: {busy} -> {} bytes, not at most {AT_REST_AT_MOST}",
        server.resident_bytes()
    );
    let reply = get(&client, &url).await;
    assert_eq!(reply.status, StatusCode::OK, "serving again after giving memory back");
}

/// The children of `pid` (from every thread's `/proc/PID/task/TID/children`) and their states.
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children: Vec<(i32, char)> = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .map(|child| (child, process_state(child).unwrap_or('?')))
        .collect();
    children.sort_unstable();
    children.dedup();
    children
}

/// The state letter of `pid` (`R`, `S`, `Z`, ...), or `None` if it no longer exists.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns the last result.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client for tests: no connection limit, generous timeout.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(120))
        .finish()
}

/// A server's answer, as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

/// `GET url`, expecting a JSON body (as every endpoint but `/` answers).
pub async fn get(client: &awc::Client, url: &str) -> Reply {
    let mut response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response
        .body()
        .limit(256 << 20)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        json: json_of(&body),
    }
}

/// Sends `count` hostile query strings (random keys and values, repeated parameters, huge and
/// negative numbers, floats, bad percent-encodings, encoded NUL and control bytes) to
/// `GET {base}{path}` over real sockets, in a fixed pseudo-random sequence. Every one must get a
/// JSON answer (never a dropped connection: [`get`] panics on one) with status 200, 400 or 503,
/// and the server must still be healthy afterwards.
pub async fn fuzz_queries(base: &str, path: &str, count: usize) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
    let keys = ["n", "workers", "seed", "N", "", "x", "n\0", "workers[]", "seed ", "ñ"];
    let client = client();
    let mut seen = Vec::new();
    for _ in 0..count {
        let pairs = rng.random_range(0..5);
        let mut query = String::new();
        for i in 0..pairs {
            let key = keys[rng.random_range(0..keys.len())];
            let value = match rng.random_range(0..10) {
                0 => rng.random_range(0..300u32).to_string(),
                1 => rng.next_u64().to_string(),
                2 => format!("-{}", rng.random_range(0..10u32)),
                3 => "9".repeat(rng.random_range(19..60)),
                4 => format!("{}", rng.random::<f64>() * 1e6),
                5 => "1e3".to_owned(),
                6 => "0x10".to_owned(),
                7 => String::new(),
                _ => (0..rng.random_range(1..12))
                    .map(|_| char::from(rng.random_range(0..128u8)))
                    .collect(),
            };
            if i > 0 {
                query.push('&');
            }
            // Encoded, so the URL is valid and the hostile bytes reach the server's parser.
            query.extend(form_urlencoded::byte_serialize(key.as_bytes()));
            if rng.random_bool(0.9) {
                query.push('=');
                query.extend(form_urlencoded::byte_serialize(value.as_bytes()));
            }
            if rng.random_bool(0.05) {
                query.push_str("&%zz=%"); // invalid percent-encoding
            }
        }
        let reply = get(&client, &format!("{base}{path}?{query}")).await;
        assert!(
            [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::SERVICE_UNAVAILABLE].contains(&reply.status),
            "?{query} -> {} {}",
            reply.status,
            reply.json
        );
        if reply.status != StatusCode::OK {
            assert_eq!(reply.json["status"], "error", "?{query} -> {}", reply.json);
        }
        seen.push(reply.status);
    }
    assert_mixed(&seen);
    let health = get(&client, &format!("{base}/healthz")).await;
    assert_eq!(health.status, StatusCode::OK);
}

/// A fuzz run must have reached both sides of the parser: some inputs accepted, some refused.
fn assert_mixed(statuses: &[StatusCode]) {
    for wanted in [StatusCode::OK, StatusCode::BAD_REQUEST] {
        assert!(
            statuses.contains(&wanted),
            "no {wanted} among the fuzzed requests' answers"
        );
    }
}

/// Sends `count` hostile `POST` bodies to `{base}{path}`: random bytes, deep nesting, floats,
/// huge exponents and integers, wrong types, ragged and mismatched matrices, and some valid
/// ones, in a fixed pseudo-random sequence. Every one must get a JSON answer (never a dropped
/// connection) with status 200, 400, 413 or 503, and the server must stay healthy.
pub async fn fuzz_bodies(base: &str, path: &str, count: usize) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2027);
    let leaves = [
        "1",
        "-7",
        "0",
        "99",
        "1.5",
        "1e400",
        "-0",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e18",
        "null",
        "true",
        "\"3\"",
        "[]",
        "{}",
    ];
    let client = client();
    let url = format!("{base}{path}");
    let mut seen = Vec::new();
    for _ in 0..count {
        let leaf = |rng: &mut Xoshiro256PlusPlus| leaves[rng.random_range(0..leaves.len())].to_owned();
        let matrix = |rng: &mut Xoshiro256PlusPlus, rows: usize, cols: usize| {
            let rows: Vec<String> = (0..rows)
                .map(|_| {
                    let cols = if rng.random_bool(0.1) { cols + 1 } else { cols };
                    let values: Vec<String> = (0..cols)
                        .map(|_| {
                            if rng.random_bool(0.8) {
                                rng.random_range(-100..100i64).to_string()
                            } else {
                                leaf(rng)
                            }
                        })
                        .collect();
                    format!("[{}]", values.join(","))
                })
                .collect();
            format!("[{}]", rows.join(","))
        };
        let body: Vec<u8> = match rng.random_range(0..6) {
            0 => (0..rng.random_range(0..300)).map(|_| rng.random::<u8>()).collect(),
            1 => {
                let depth = rng.random_range(1..100_000);
                format!("{{\"a\":{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
            }
            2 => format!("{{\"a\":{},\"b\":{}}}", leaf(&mut rng), leaf(&mut rng)).into_bytes(),
            _ => {
                let (rows, cols) = (rng.random_range(1..6), rng.random_range(1..6));
                let b_rows = if rng.random_bool(0.1) { rows + 1 } else { rows };
                let workers = if rng.random_bool(0.3) {
                    format!(",\"workers\":{}", leaf(&mut rng))
                } else {
                    String::new()
                };
                let extra = if rng.random_bool(0.1) { ",\"c\":1" } else { "" };
                format!(
                    "{{\"a\":{},\"b\":{}{workers}{extra}}}",
                    matrix(&mut rng, rows, cols),
                    matrix(&mut rng, b_rows, cols)
                )
                .into_bytes()
            }
        };
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let mut response = client
            .post(&url)
            .insert_header(("content-type", "application/json"))
            .send_body(body)
            .await
            .unwrap_or_else(|e| panic!("POST {shown}: {e}"));
        let status = response.status();
        let answer: Value = response
            .json()
            .limit(64 << 20)
            .await
            .unwrap_or_else(|e| panic!("POST {shown}: {status}, not JSON: {e}"));
        assert!(
            [
                StatusCode::OK,
                StatusCode::BAD_REQUEST,
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&status),
            "POST {shown} -> {status} {answer}"
        );
        seen.push(status);
    }
    assert_mixed(&seen);
    let health = get(&client, &format!("{base}/healthz")).await;
    assert_eq!(health.status, StatusCode::OK);
}
