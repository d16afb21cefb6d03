//! Adding with scoped threads: each thread owns a disjoint band of output rows.
//!
//! The output is split with `split_at_mut`, so every thread holds the only `&mut` to its band and
//! shared `&` borrows of the inputs: no locks, no copies, no `unsafe`. `std::thread::scope` joins
//! every thread before the borrows end. The calling thread computes the last band itself, so
//! `workers` bands cost `workers - 1` thread starts. For `io`, each band's thread sleeps its
//! share of the wait before adding, so the bands wait at once.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use matrix_service::bands::bands;
use matrix_service::matrix::{BandSum, add_into};
use matrix_service::params::DEFAULT_N;
use matrix_service::{AddEngine, AddError, Addition, BufferPool, HeapWorkspace, Operands, Work};

/// The threads engine. Its matrices live on the heap, in buffers it reuses across requests.
#[derive(Debug, Clone)]
pub struct ScopedThreads {
    buffers: Arc<BufferPool>,
}

impl ScopedThreads {
    /// An engine keeping spare buffers for `active_requests` requests at a time (and, once
    /// idle, the default n's worth of them).
    pub fn new(active_requests: usize) -> Self {
        Self {
            buffers: Arc::new(BufferPool::for_requests(active_requests, DEFAULT_N)),
        }
    }
}

impl AddEngine for ScopedThreads {
    const UNITS: &'static str = "threads";

    type Workspace = HeapWorkspace;

    fn workspace(&self, rows: usize, cols: usize) -> Result<HeapWorkspace, AddError> {
        Ok(HeapWorkspace::new(rows, cols, &self.buffers))
    }

    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        Some(&self.buffers)
    }

    fn workspace_with(
        &self,
        a: Vec<i64>,
        b: Vec<i64>,
        (rows, cols): (usize, usize),
    ) -> Result<HeapWorkspace, AddError> {
        Ok(HeapWorkspace::with_inputs(a, b, rows, cols, &self.buffers))
    }

    fn add(&self, work: &mut HeapWorkspace, workers: usize, task: Work) -> Result<Addition, AddError> {
        let (inputs, sum) = work.split();
        let checksum = add_scoped(inputs, sum, workers, task)?;
        Ok(Addition {
            child_pids: None,
            checksum: Some(checksum),
        })
    }

    fn reclaim_idle(&self, now: Instant) {
        self.buffers.reclaim_idle(now);
    }
}

/// `a + b` into `out` (as long as the inputs) on `workers` scoped threads (fewer if there are
/// fewer rows), each waiting its band's share of `task`'s wait first. Returns the sum's
/// checksum, which the threads compute as they add.
pub fn add_scoped(inputs: Operands<'_>, out: &mut [i64], workers: usize, task: Work) -> Result<i64, AddError> {
    let Operands {
        a: a_all,
        b: b_all,
        cols,
    } = inputs;
    assert_eq!(out.len(), a_all.len(), "the sum has the inputs' shape");

    // Pair each band's inputs with its own slice of the output.
    let mut jobs = Vec::new();
    let mut rest = out;
    for band in bands(inputs.rows(), workers) {
        let (mine, tail) = rest.split_at_mut(band.len() * cols);
        rest = tail;
        let span = band.start * cols..band.end * cols;
        jobs.push((&a_all[span.clone()], &b_all[span], mine));
    }

    let wait = task.band_wait(jobs.len());
    let band = move |a: &[i64], b: &[i64], out: &mut [i64]| {
        wait_for(wait);
        add_into(a, b, out)
    };
    let total = thread::scope(|scope| {
        let last = jobs.pop();
        let mut started = Vec::with_capacity(jobs.len());
        let mut spawn_error = None;
        for (a, b, out) in jobs {
            match thread::Builder::new()
                .name("add-band".into())
                .spawn_scoped(scope, move || band(a, b, out))
            {
                Ok(handle) => started.push(handle),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let here = match last {
            Some((a, b, out)) if spawn_error.is_none() => band(a, b, out),
            _ => BandSum::default(),
        };
        // Join every started thread before deciding, so none outlives this call.
        let joined: Vec<_> = started.into_iter().map(|handle| handle.join()).collect();
        if let Some(e) = spawn_error {
            return Err(AddError::Unavailable(format!("the OS refused a new thread: {e}")));
        }
        let mut total = here;
        for result in joined {
            total = total.and(result.map_err(|_| AddError::WorkerFailed("a band's thread panicked".into()))?);
        }
        Ok(total)
    })?;

    if total.overflowed {
        let overflow = inputs.first_overflow_in(0..a_all.len());
        return Err(AddError::Overflow(
            overflow.expect("a band reported an overflow, so one exists"),
        ));
    }
    Ok(total.checksum)
}

/// Blocks the thread for `wait` (an io band's share), if any.
fn wait_for(wait: Duration) {
    if !wait.is_zero() {
        thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_service::Matrix;
    use matrix_service::matrix::{generate_pair, reference_add};
    use matrix_service::testing::add_matrices;
    use proptest::prelude::*;

    fn scoped(a: &Matrix, b: &Matrix, workers: usize) -> Result<Matrix, AddError> {
        let (sum, checksum) = add_matrices(a, b, |inputs, out| add_scoped(inputs, out, workers, Work::Add))?;
        assert_eq!(
            checksum,
            matrix_service::matrix::checksum(matrix_service::matrix::elements(&sum))
        );
        Ok(sum)
    }

    fn matrix(rows: usize, cols: usize, values: &[i64]) -> Matrix {
        Matrix::from_shape_fn((rows, cols), |(r, c)| values[(r * cols + c) % values.len()])
    }

    proptest! {
        #[test]
        fn equals_the_reference_for_any_shape_and_worker_count(
            rows in 1usize..40,
            cols in 1usize..40,
            workers in 1usize..70,
            values in proptest::collection::vec(-1_000_000i64..1_000_000, 1..64),
        ) {
            let a = matrix(rows, cols, &values);
            let b = matrix(rows, cols, &values.iter().rev().copied().collect::<Vec<_>>());
            prop_assert_eq!(scoped(&a, &b, workers), Ok(reference_add(&a, &b).unwrap()));
        }

        #[test]
        fn overflow_anywhere_is_reported_at_its_first_position(
            rows in 1usize..20, cols in 1usize..20, workers in 1usize..8, at in any::<proptest::sample::Index>(),
        ) {
            let a = Matrix::from_elem((rows, cols), 1);
            let mut b = Matrix::zeros((rows, cols));
            let index = at.index(rows * cols);
            b[[index / cols, index % cols]] = i64::MAX;
            let expected = reference_add(&a, &b).unwrap_err();
            prop_assert_eq!(scoped(&a, &b, workers), Err(AddError::Overflow(expected)));
        }
    }

    #[test]
    fn one_by_one_and_extremes_add_exactly() {
        let a = matrix(1, 1, &[i64::MIN]);
        let b = matrix(1, 1, &[i64::MAX]);
        assert_eq!(scoped(&a, &b, 4).unwrap()[[0, 0]], -1);
    }

    #[test]
    fn n_2000_matches_the_reference_with_every_worker_count() {
        let (a, b) = generate_pair(2000, Some(3));
        let expected = reference_add(&a, &b).unwrap();
        for workers in [1, 3, 4, 64] {
            assert!(scoped(&a, &b, workers).unwrap() == expected, "workers={workers}");
        }
    }
}
