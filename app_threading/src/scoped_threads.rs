//! Threads started per request, as the original lab did (`--strategy scoped`, the default):
//! each thread owns a disjoint band of output rows.
//!
//! The output is split with `split_at_mut`, so every thread holds the only `&mut` to its band and
//! shared `&` borrows of the inputs: no locks, no copies, no `unsafe`. `std::thread::scope` joins
//! every thread before the borrows end. The calling thread computes the last band itself, so
//! `workers` bands cost `workers - 1` thread starts. For `io`, each band's thread sleeps its
//! share of the wait before adding, so the bands wait at once.

use std::sync::LazyLock;
use std::thread;

use matrix_service::trace::{Mark, Phase, Place, Trace};
use matrix_service::{Operands, WorkError};
use prometheus_client::metrics::counter::Counter;

use crate::band_jobs::{band_jobs, finish};

/// Threads started for bands since the process began (`lab_threads_started_total` on
/// `/metrics`).
pub static THREADS_STARTED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The task of `inputs` into `out` (the result's length) on `workers` scoped threads (fewer if
/// there are fewer rows), each waiting its band's share of an `io` wait first. Returns the
/// result's checksum, which the threads compute as they go.
///
/// Traced, the calling thread records each band's thread start and, after its own band, the
/// join; each band's thread records its run.
pub fn compute_scoped(
    inputs: Operands<'_>,
    out: &mut [i64],
    workers: usize,
    trace: Trace<'_>,
) -> Result<i64, WorkError> {
    let mut jobs = band_jobs(inputs, out, workers);
    let results = thread::scope(|scope| {
        let last = jobs.pop();
        let mut started = Vec::with_capacity(jobs.len());
        let mut spawn_error = None;
        for job in jobs {
            let (band, starting) = (job.index(), trace.start());
            let spawned = thread::Builder::new()
                .name("band".into())
                .spawn_scoped(scope, move || job.run(trace));
            if let Some(since) = starting {
                trace.record(Mark::since(Phase::ThreadStart, since).band(band), Place::Here);
            }
            match spawned {
                Ok(handle) => {
                    THREADS_STARTED.inc();
                    started.push(handle);
                }
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let here = last.filter(|_| spawn_error.is_none()).map(|job| job.run(trace));
        // Join every started thread before deciding, so none outlives this call.
        let joining = trace.start();
        let joined: Vec<_> = started.into_iter().map(|handle| handle.join()).collect();
        trace.here(Phase::Join, joining);
        if let Some(e) = spawn_error {
            return Err(WorkError::Unavailable(format!("the OS refused a new thread: {e}")));
        }
        let mut results = Vec::with_capacity(joined.len() + 1);
        for result in joined {
            results.push(result.map_err(|_| WorkError::WorkerFailed("a band's thread panicked".into()))?);
        }
        results.extend(here);
        Ok(results)
    })?;
    finish(inputs, &results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_service::Work;
    use matrix_service::matrix::{generate_pair, reference_add, reference_product};
    use matrix_service::testing::{check_strategy, run_strategy};

    fn scoped(inputs: Operands<'_>, out: &mut [i64], workers: usize) -> Result<Option<i64>, WorkError> {
        compute_scoped(inputs, out, workers, Trace::OFF).map(Some)
    }

    #[test]
    fn every_kind_of_work_equals_the_reference() {
        check_strategy(64, scoped);
    }

    #[test]
    fn n_2000_matches_the_reference_with_every_worker_count() {
        let (a, b) = generate_pair(2000, Some(3));
        let expected = reference_add(&a, &b).unwrap();
        for workers in [1, 3, 4, 64] {
            assert!(
                run_strategy(&scoped, &a, &b, Work::Add, workers).unwrap() == expected,
                "workers={workers}"
            );
        }
    }

    #[test]
    fn a_product_at_n_300_matches_the_reference_on_any_worker_count() {
        let (a, b) = generate_pair(300, Some(4));
        let expected = reference_product(&a, &b).unwrap();
        for workers in [1, 2, 7, 64] {
            assert!(
                run_strategy(&scoped, &a, &b, Work::Matmul, workers).unwrap() == expected,
                "workers={workers}"
            );
        }
    }
}
