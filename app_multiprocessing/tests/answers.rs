//! The real `app_multiprocessing` binary (forking per request) on a free port: its answers,
//! alone and under 400 concurrent requests, checked from outside through `/proc` (children,
//! zombies, descriptors, memory).

mod common;
use common::*;

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use matrix_service::matrix::{checksum, elements, generate_pair, reference_add};
use matrix_service::testing::{
    check_memory_follows_load, check_one_malloc_heap, client, eventually, get, process_state,
};

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
