//! The threads server's routes with its real engine, through actix's test utilities.

use app_threading::ScopedThreads;
use app_threading::endpoint::SCOPED_THREADS;
use matrix_service::testing::{check_bad_requests, check_endpoints};

#[actix_web::test]
async fn every_endpoint_answers_as_designed() {
    check_endpoints(ScopedThreads::new(4), SCOPED_THREADS).await;
}

#[actix_web::test]
async fn every_kind_of_bad_input_gets_a_json_error_naming_it() {
    check_bad_requests(ScopedThreads::new(4), SCOPED_THREADS).await;
}
