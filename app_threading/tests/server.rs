//! The real `app_threading` binary on a free port: answers, oversized bodies over a raw socket,
//! and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::testing::{ServerProcess, check_memory_follows_load, check_one_malloc_heap, client, get};

const BINARY: &str = env!("CARGO_BIN_EXE_app_threading");

/// Sends `head` then `body` over a fresh connection and returns everything the server sends
/// back before closing.
fn raw_exchange(url: &str, head: &str, body: &[u8]) -> String {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(body)
        .expect("the server reads the whole body, even one it refuses");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the answer arrives, not a connection reset");
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn answers_get_and_serves_the_page_on_a_free_port() {
    let server = ServerProcess::start(BINARY, &["--workers", "3"]);
    assert!(server.url().starts_with("http://127.0.0.1:"), "{}", server.url());
    let reply = get(&client(), &format!("{}/threading?n=50&seed=1", server.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        (reply.json["method"].as_str(), reply.json["workers"].as_u64()),
        (Some("Multithreading"), Some(3))
    );
    assert!(reply.json.get("child_pids").is_none());

    let mut page = client().get(format!("{}/", server.url())).send().await.unwrap();
    let html = String::from_utf8(page.body().await.unwrap().to_vec()).unwrap();
    assert!(html.contains("<button") && html.contains("/threading"), "{html}");
    // The curl example is a full address curl can take: the one this page was fetched from.
    let example = format!("curl -s {}/threading -H", server.url());
    assert!(html.contains(&example), "{example} not in {html}");
}

#[actix_web::test]
async fn an_oversized_body_is_answered_413_and_the_client_really_receives_it() {
    let server = ServerProcess::start(BINARY, &["--max-body-bytes", "1000"]);
    let body = vec![b' '; 4 << 20];

    let head = format!(
        "POST /threading HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(server.url(), &head, &body);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("larger than the limit of 1000 bytes (--max-body-bytes)"),
        "{answer}"
    );

    // Without a declared length the limit is found while reading; same answer.
    let head = "POST /threading HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = raw_exchange(server.url(), head, &chunked);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let reply = get(&client(), &format!("{}/healthz", server.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_body_at_the_limit_is_accepted() {
    let server = ServerProcess::start(BINARY, &["--max-body-bytes", "1000"]);
    let json = br#"{"a": [[1, 2]], "b": [[3, 4]]}"#;
    let mut body = json.to_vec();
    body.resize(1000, b' ');
    let head = format!(
        "POST /threading HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(server.url(), &head, &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""result":[[4,6]]"#), "{answer}");
}

#[test]
fn sigterm_stops_the_server_with_exit_code_0() {
    let server = ServerProcess::start(BINARY, &[]);
    let status = server.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn a_log_written_to_a_file_has_no_colour_codes() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = std::process::Command::new(BINARY);
    command
        .args(["--port", "0"])
        .env("RUST_LOG", "info")
        .stderr(log.reopen().unwrap());
    let server = ServerProcess::launch(command);
    let answer = raw_exchange(
        server.url(),
        "GET /healthz HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(server.terminate(Duration::from_secs(10)).success());
    let written = std::fs::read_to_string(log.path()).unwrap();
    assert!(written.contains("GET /healthz"), "the access line is logged: {written}");
    assert!(!written.contains('\u{1b}'), "no escape codes: {written:?}");
}

#[test]
fn impossible_flags_are_refused_before_starting() {
    let output = std::process::Command::new(BINARY)
        .args(["--workers", "9", "--max-workers", "8"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--workers 9 is above --max-workers 8"), "{stderr}");
}

#[actix_web::test]
async fn a_thousand_hostile_queries_and_bodies_get_no_5xx_but_503_and_the_server_stays_healthy() {
    let server = ServerProcess::start(BINARY, &[]);
    matrix_service::testing::fuzz_queries(server.url(), "/threading", 1000).await;
    matrix_service::testing::fuzz_bodies(server.url(), "/threading", 1000).await;
}

#[actix_web::test]
async fn large_requests_keep_their_buffers_while_they_come_and_give_them_back_when_idle() {
    let server = ServerProcess::start(BINARY, &[]);
    check_memory_follows_load(&server, "/threading").await;
}

#[actix_web::test]
async fn concurrent_requests_share_one_malloc_heap() {
    let server = ServerProcess::start(BINARY, &[]);
    check_one_malloc_heap(&server, "/threading").await;
}

#[actix_web::test]
async fn a_task_past_the_waiting_bound_is_answered_503_and_the_loop_keeps_serving() {
    // One waiting task at most: the second io request waits its queue timeout and is turned
    // away, while a computing request still gets through.
    let server = ServerProcess::start(
        BINARY,
        &[
            "--strategy",
            "async",
            "--max-waiting-requests",
            "1",
            "--queue-timeout",
            "0.3",
        ],
    );
    let client = client();
    let url = |query: &str| format!("{}/threading?n=20&{query}", server.url());
    let (waiting, turned_away) =
        futures_util::future::join(get(&client, &url("work=io&wait_ms=2000&workers=1")), async {
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            let mut answer = client.get(url("work=io&wait_ms=10")).send().await.unwrap();
            let retry = answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = String::from_utf8(answer.body().await.unwrap().to_vec()).unwrap();
            let computed = get(&client, &url("seed=3")).await;
            (answer.status(), retry, body, computed)
        })
        .await;
    let (status, retry, body, computed) = turned_away;
    assert_eq!(
        (status, retry.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("1")),
        "{body}"
    );
    assert!(
        body.contains("at most 1 requests wait at once (--max-waiting-requests)"),
        "{body}"
    );
    assert_eq!(
        (computed.status, computed.json["method"].as_str()),
        (StatusCode::OK, Some("Async"))
    );
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.json);
}

#[test]
fn the_event_loop_s_bounds_are_a_task_s_and_help_says_so() {
    let help = std::process::Command::new(BINARY).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("16384 with --strategy async"), "{help}");
    assert!(help.contains("4096 for") && help.contains("--strategy async"), "{help}");
}
