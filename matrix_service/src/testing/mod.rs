//! Test support shared by both servers (feature `testing`).
//!
//! - [`ServerProcess`] starts a real server binary on port 0, reads its `listening on` line, and
//!   looks at its children and file descriptors through `/proc`.
//! - [`check_endpoints`] and [`check_bad_requests`] drive a server's real routes, with its real
//!   engine, through actix's test utilities: one list of cases, run against both engines.
//! - [`client`] and [`get`] talk to a running server over real sockets; [`fuzz_queries`] and
//!   [`fuzz_bodies`] send it hostile input.
//!
//! - [`check_strategy`] runs one set of checks against every parallel strategy: every kind of
//!   work equals a plain reference.
//!
//! One file a concern: `routes` (route checks), `process` (a server process and what `/proc`
//! shows of it), `http_client` (a client, and fuzzing over real sockets), `strategies` (the
//! strategies' checks).

mod http_client;
mod process;
mod routes;
mod strategies;

pub use http_client::*;
pub use process::*;
pub use routes::*;
pub use strategies::*;

use std::time::Duration;

use actix_web::web::Data;

use crate::admission::{Admission, AdmissionLimits};
use crate::endpoint::Endpoint;
use crate::engine::{Engine, WorkError};
use crate::http::{Service, ServiceParts};
use crate::matrix::{Matrix, elements};
use crate::memory_budget::{DEFAULT_MAX_BODY_MEMORY, MemoryBudget};
use crate::params::{DEFAULT_WORKERS, Limits};
use crate::shapes::Shapes;
use crate::task::{Operands, Task};
use crate::upload::BodyRules;
use crate::work::Work;

/// The limits the handler checks run with.
pub const TEST_LIMITS: Limits = Limits {
    max_n: 2000,
    max_workers: 64,
    default_workers: DEFAULT_WORKERS,
};

/// The body limit the handler checks run with, small so the 413 case is cheap.
pub const TEST_MAX_BODY_BYTES: usize = 4096;

/// A service around `engine` on `endpoint` with [`TEST_LIMITS`] and [`TEST_MAX_BODY_BYTES`].
pub fn test_service<E: Engine>(engine: E, endpoint: Endpoint) -> Data<Service<E>> {
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
        tracer: crate::trace::Tracer::new(crate::trace::DEFAULT_MAX_EVENTS),
    };
    Data::new(Service::new(engine, endpoint, parts))
}

/// Runs a parallel strategy on `a` and `b` for `work`, with the inputs prepared as the server
/// prepares them ([`Task::prepare`]), and returns the result as a matrix, with whatever else
/// the strategy returns.
///
/// # Panics
/// If the shapes do not fit `work`.
pub fn compute_matrices<T>(
    a: &Matrix,
    b: &Matrix,
    work: Work,
    strategy: impl FnOnce(Operands<'_>, &mut [i64]) -> Result<T, WorkError>,
) -> Result<(Matrix, T), WorkError> {
    let shapes = Shapes::of(work, a.dim(), b.dim()).expect("shapes that fit the work");
    let (mut a, mut b) = (elements(a).to_vec(), elements(b).to_vec());
    let task = Task::prepare(work, shapes, &mut a, &mut b);
    let mut out = vec![0; shapes.out_len()];
    let extra = strategy(Operands::new(&a, &b, task), &mut out)?;
    Ok((
        Matrix::from_shape_vec(shapes.out, out).expect("the result has the task's shape"),
        extra,
    ))
}
