//! The threads server's routes with its real engines, every strategy, through actix's test
//! utilities.

use app_threading::endpoint::{EVENT_LOOP, SCOPED_THREADS, THREAD_POOL};
use app_threading::{EventLoop, Threads};
use matrix_service::testing::{check_bad_requests, check_endpoints};

#[actix_web::test]
async fn every_endpoint_answers_as_designed() {
    check_endpoints(Threads::scoped(4), SCOPED_THREADS).await;
    check_endpoints(Threads::pool(2, 4).unwrap(), THREAD_POOL).await;
    check_endpoints(EventLoop::new(4), EVENT_LOOP).await;
}

#[actix_web::test]
async fn every_kind_of_bad_input_gets_a_json_error_naming_it() {
    check_bad_requests(Threads::scoped(4), SCOPED_THREADS).await;
    check_bad_requests(Threads::pool(2, 4).unwrap(), THREAD_POOL).await;
    check_bad_requests(EventLoop::new(4), EVENT_LOOP).await;
}
