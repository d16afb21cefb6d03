//! The processes server's routes with its real engine, through actix's test utilities.

use std::sync::Arc;
use std::time::Duration;

use app_multiprocessing::endpoint::FORK_PER_REQUEST;
use app_multiprocessing::{ChildFault, ForkPerRequest, SlotPool};
use matrix_service::testing::{check_bad_requests, check_endpoints};

/// The engine as the server builds it, with room for the handler checks' largest request.
fn engine() -> ForkPerRequest {
    ForkPerRequest {
        child_timeout: Duration::from_secs(30),
        fault: ChildFault::None,
        slots: Arc::new(SlotPool::new(4, 3 * 2000 * 2000, 0).expect("shared memory")),
        // This test process has several threads, so no fork server can start in it; the
        // fork server's path runs in the real binary's tests (tests/fork_server.rs and the rest).
        fork_server: None,
    }
}

#[actix_web::test]
async fn every_endpoint_answers_as_designed() {
    check_endpoints(engine(), FORK_PER_REQUEST).await;
}

#[actix_web::test]
async fn every_kind_of_bad_input_gets_a_json_error_naming_it() {
    check_bad_requests(engine(), FORK_PER_REQUEST).await;
}
