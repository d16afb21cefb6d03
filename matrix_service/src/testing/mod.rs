//! Test support shared by both servers (feature `testing`).
//!
//! - [`ServerProcess`] starts a real server binary on port 0, reads its `listening on` line, and
//!   looks at its children and file descriptors through `/proc`.
//! - [`check_endpoints`] and [`check_bad_requests`] drive a server's real routes, with its real
//!   engine, through actix's test utilities: one list of cases, run against both engines.
//! - [`client`] and [`get`] talk to a running server over real sockets; [`fuzz_queries`] and
//!   [`fuzz_bodies`] send it hostile input.
//!
//! One file a concern: `routes` (route checks), `process` (a server process and what `/proc`
//! shows of it), `http_client` (a client, and fuzzing over real sockets).

mod http_client;
mod process;
mod routes;

pub use http_client::*;
pub use process::*;
pub use routes::*;

use std::time::Duration;

use actix_web::web::Data;

use crate::admission::{Admission, AdmissionLimits};
use crate::endpoint::Endpoint;
use crate::engine::{AddEngine, AddError};
use crate::http::{Service, ServiceParts};
use crate::matrix::{Matrix, Operands};
use crate::memory_budget::{DEFAULT_MAX_BODY_MEMORY, MemoryBudget};
use crate::params::{DEFAULT_WORKERS, Limits};
use crate::upload::BodyRules;

/// The limits the handler checks run with.
pub const TEST_LIMITS: Limits = Limits {
    max_n: 2000,
    max_workers: 64,
    default_workers: DEFAULT_WORKERS,
};

/// The body limit the handler checks run with, small so the 413 case is cheap.
pub const TEST_MAX_BODY_BYTES: usize = 4096;

/// A service around `engine` on `endpoint` with [`TEST_LIMITS`] and [`TEST_MAX_BODY_BYTES`].
pub fn test_service<E: AddEngine>(engine: E, endpoint: Endpoint) -> Data<Service<E>> {
    let limits = AdmissionLimits {
        active_requests: 4,
        waiting_requests: 16,
        live_workers: 256,
        live_workers_flag: "--max-live",
        queue_timeout: Duration::from_secs(10),
    };
    let parts = ServiceParts {
        limits: TEST_LIMITS,
        admission: Admission::new(limits, E::UNITS),
        budget: MemoryBudget::new(DEFAULT_MAX_BODY_MEMORY, TEST_LIMITS.max_n),
        body_rules: BodyRules {
            max_bytes: TEST_MAX_BODY_BYTES,
            timeout: Duration::from_secs(30),
            queue_timeout: limits.queue_timeout,
        },
    };
    Data::new(Service::new(engine, endpoint, parts))
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
