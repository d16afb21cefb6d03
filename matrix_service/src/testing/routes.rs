//! A server's real routes and engine, driven through actix's test utilities.

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use serde_json::{Value, json};

use super::{TEST_MAX_BODY_BYTES, test_service};
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::http::{Service, routes};
use crate::matrix::elements;

/// Sends `request` through the real routes; returns the status, headers and body.
async fn call<E: Engine>(service: &Data<Service<E>>, request: TestRequest) -> (StatusCode, HeaderMap, Vec<u8>) {
    let app = test::init_service(App::new().configure(routes(service.clone()))).await;
    let response = test::call_service(&app, request.to_request()).await;
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, test::read_body(response).await.to_vec())
}

/// Sends `request`, checks it is answered 200, and returns the answer's JSON.
async fn answer_of<E: Engine>(service: &Data<Service<E>>, request: TestRequest) -> Value {
    let (status, _, body) = call(service, request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    json_of(&body)
}

pub(super) fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Checks every endpoint's good answers: the index page, `/healthz`, a seeded `GET` (its keys and
/// values), a `POST` with a known sum, and the same for `io` and `matmul`.
pub async fn check_endpoints<E: Engine>(engine: E, endpoint: Endpoint) {
    let service = test_service(engine, endpoint);
    let path = endpoint.path();

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
        page.contains(endpoint.title) && page.contains(&format!("fetch(\"{path}?\"")),
        "the page calls {path}"
    );

    let (status, _, body) = call(&service, TestRequest::get().uri("/healthz")).await;
    assert_eq!((status, json_of(&body)), (StatusCode::OK, json!({"status": "ok"})));

    let answer = answer_of(
        &service,
        TestRequest::get().uri(&format!("{path}?n=30&workers=3&seed=5")),
    )
    .await;
    let (a, b) = crate::matrix::generate_pair(30, Some(5));
    let expected = crate::matrix::reference_add(&a, &b).unwrap();
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["method"], endpoint.method);
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

    let answer = answer_of(&service, TestRequest::get().uri(&path)).await;
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
    let answer = answer_of(&service, TestRequest::post().uri(&path).set_json(body)).await;
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
    assert_eq!((&answer["work"], answer.get("wait_ms")), (&json!("add"), None));

    // io: the same sum, after the bands' waits; the answer says which work and how long.
    let io_query = format!("{path}?n=30&workers=3&seed=5&work=io&wait_ms=30");
    let io = answer_of(&service, TestRequest::get().uri(&io_query)).await;
    assert_eq!((&io["work"], &io["wait_ms"]), (&json!("io"), &json!(30)));
    assert_eq!(
        io["checksum"].as_i64(),
        Some(crate::matrix::checksum(elements(&expected)))
    );
    assert!(
        io["execution_time_sec"].as_f64().is_some_and(|t| t >= 0.010),
        "each of 3 bands waits 10 ms: {io}"
    );
    let body = json!({"a": [[1, 2]], "b": [[3, 4]], "work": "io", "wait_ms": 0});
    let io = answer_of(&service, TestRequest::post().uri(&path).set_json(body)).await;
    assert_eq!(
        (&io["result"], &io["work"], &io["wait_ms"]),
        (&json!([[4, 6]]), &json!("io"), &json!(0))
    );

    // matmul: the seed's product, and a posted 2x3 . 3x1 (the result has a's rows, b's columns).
    let product = answer_of(
        &service,
        TestRequest::get().uri(&format!("{path}?n=30&workers=3&seed=5&work=matmul")),
    )
    .await;
    let expected = crate::matrix::reference_product(&a, &b).unwrap();
    assert_eq!(
        (&product["work"], product["checksum"].as_i64(), product.get("wait_ms")),
        (
            &json!("matmul"),
            Some(crate::matrix::checksum(elements(&expected))),
            None
        )
    );
    assert_eq!(product["sample"], json!(crate::matrix::sample(elements(&expected), 30)));
    let body = json!({"a": [[1, 2, 3], [-4, 5, i64::MAX]], "b": [[1], [0], [1]], "work": "matmul", "workers": 8});
    let product = answer_of(&service, TestRequest::post().uri(&path).set_json(body)).await;
    assert_eq!(
        (&product["result"], product["rows"].as_u64(), product["cols"].as_u64()),
        (&json!([[4], [i64::MAX - 4]]), Some(2), Some(1))
    );
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
        bad(get("x=1"), "allowed: n, workers, seed, work, wait_ms"),
        bad(get("work="), r#"work must be one of add, matmul, io; got """#),
        bad(get("work=sleep"), r#"work must be one of add, matmul, io; got "sleep""#),
        bad(
            get("work=io&wait_ms=10001"),
            "wait_ms must be a whole number from 0 to 10000",
        ),
        bad(get("work=add&wait_ms=-5"), "(negative)"),
        bad(get("work=io&work=add"), "given 2 times"),
        bad(
            post(r#"{"a": [[1]], "b": [[1]], "work": "mul"}"#),
            r#"work must be one of add, matmul, io; got "mul""#,
        ),
        bad(
            post(r#"{"a": [[1]], "b": [[1]], "work": 3}"#),
            "work as a string, one of add, matmul, io",
        ),
        bad(
            post(r#"{"a": [[1]], "b": [[1]], "wait_ms": 20000}"#),
            "wait_ms must be a whole number from 0 to 10000",
        ),
        bad(
            post(r#"{"a": [[1]], "b": [[1]], "size": 3}"#),
            "allowed: a, b, workers, work, wait_ms",
        ),
        bad(get("n=1&n=2"), "given 2 times"),
        bad(
            post(r#"{"a": [[1, 2], [3]], "b": [[1, 2], [3, 4]]}"#),
            "a[1] has 1 values but a[0] has 2",
        ),
        bad(
            post(r#"{"a": [[1, 2]], "b": [[1, 2], [3, 4]]}"#),
            "a is 1x2 but b is 2x2; work=add needs two matrices of the same shape",
        ),
        bad(
            post(r#"{"a": [[1, 2]], "b": [[1, 2]], "work": "matmul"}"#),
            "work=matmul needs b to have as many rows as a has columns (2)",
        ),
        bad(
            post(r#"{"a": [[1, 1], [4611686018427387904, 4611686018427387904]], "b": [[1], [1]], "work": "matmul"}"#),
            "c[1][0], the sum of a[1][p] * b[p][0] over p, overflows a 64-bit integer",
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
pub async fn check_bad_requests<E: Engine>(engine: E, endpoint: Endpoint) {
    let service = test_service(engine, endpoint);
    for case in bad_requests(&endpoint.path()) {
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
    let (status, _, _) = call(&service, TestRequest::get().uri(&format!("{}?n=3", endpoint.path()))).await;
    assert_eq!(status, StatusCode::OK, "still serving after the bad requests");
}
