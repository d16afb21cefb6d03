//! The processes server's routes with its real engine, through actix's test utilities.

use std::time::Duration;

use app_multiprocessing::{ChildFault, ForkPerRequest};
use matrix_service::testing::{check_bad_requests, check_endpoints};

const ENGINE: ForkPerRequest = ForkPerRequest {
    child_timeout: Duration::from_secs(30),
    fault: ChildFault::None,
};

#[actix_web::test]
async fn every_endpoint_answers_as_designed() {
    check_endpoints(ENGINE).await;
}

#[actix_web::test]
async fn every_kind_of_bad_input_gets_a_json_error_naming_it() {
    check_bad_requests(ENGINE).await;
}
