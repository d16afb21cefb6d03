//! Talking to a running server over real sockets, hostile input included.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;

use super::routes::json_of;

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
    let response = client.get(url).send().await;
    reply_of(response, "GET", url).await
}

/// `GET url`'s body as text, for what is not JSON (`/metrics`); panics unless it is a 200.
pub async fn get_text(client: &awc::Client, url: &str) -> String {
    let mut response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    let body = response
        .body()
        .limit(16 << 20)
        .await
        .unwrap_or_else(|e| panic!("GET {url}'s body: {e}"));
    String::from_utf8(body.to_vec()).unwrap_or_else(|e| panic!("GET {url}: not UTF-8: {e}"))
}

/// `POST url` with `body` as JSON, expecting a JSON answer.
pub async fn post_json(client: &awc::Client, url: &str, body: &Value) -> Reply {
    let response = client.post(url).send_json(body).await;
    reply_of(response, "POST", url).await
}

async fn reply_of<S>(
    response: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    method: &str,
    url: &str,
) -> Reply
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let body = response
        .body()
        .limit(256 << 20)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
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
