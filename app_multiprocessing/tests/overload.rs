//! More than the server may take at once: a request past `--queue-timeout` gets 503 with
//! `Retry-After`, a flood of wide requests keeps the children within `--max-children` (by the
//! server's own count), and hostile input gets no 5xx but 503.

mod common;
use common::*;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use matrix_service::testing::{client, get, get_text};

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
async fn a_thousand_hostile_queries_and_bodies_get_no_5xx_but_503_and_the_server_stays_healthy() {
    let server = start(&[]);
    matrix_service::testing::fuzz_queries(server.url(), "/multiprocessing", 1000).await;
    matrix_service::testing::fuzz_bodies(server.url(), "/multiprocessing", 1000).await;
    assert_no_children(&server);
}

#[actix_web::test]
async fn a_flood_of_wide_requests_keeps_children_bounded_and_answers_200_or_503() {
    // 128 children, two 64-band requests' worth: half of what the 4 requests admitted at once
    // would fork without the bound. Each child lives 50 ms, so requests overlap.
    let server = start(&[
        "--debug-child-fault",
        "sleep-ms:50",
        "--queue-timeout",
        "1",
        "--max-children",
        "128",
        "--max-active-requests",
        "4",
    ]);
    let client = client();
    let url = format!("{}/multiprocessing?n=64&workers=64", server.url());
    let replies = join_all((0..500).map(|_| get(&client, &url))).await;
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
    // The server's own count of children alive at once, taken at every fork: a sample from
    // outside could only miss a peak.
    let metrics = get_text(&client, &format!("{}/metrics", server.url())).await;
    let metric = |name: &str| -> u64 {
        (metrics.lines())
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
    };
    let peak = metric("lab_children_alive_peak");
    // A request forks its 64 children before it reaps one; no more than 128 are ever alive.
    assert!(
        (64..=128).contains(&peak),
        "{peak} children at once; --max-children is 128"
    );
    // Every request served forked its 64 children, and a refused one forked none.
    let served = replies.len() - refused;
    assert!(served > 0, "{refused} of {} refused", replies.len());
    assert_eq!(
        metric("lab_children_forked_total"),
        64 * served as u64,
        "{served} served"
    );
    assert_no_children(&server);
    let health = get(&client, &format!("{}/healthz", server.url())).await;
    assert_eq!(health.status, StatusCode::OK);
}
