//! Threads started per request, as the original lab did (`--strategy scoped`, the default):
//! each thread owns a disjoint band of output rows.
//!
//! The output is split with `split_at_mut`, so every thread holds the only `&mut` to its band and
//! shared `&` borrows of the inputs: no locks, no copies, no `unsafe`. `std::thread::scope` joins
//! every thread before the borrows end. The calling thread computes the last band itself, so
//! `workers` bands cost `workers - 1` thread starts. For `io`, each band's thread sleeps its
//! share of the wait before adding, so the bands wait at once.

use std::thread;

use matrix_service::matrix::BandSum;
use matrix_service::{AddError, Operands, Work};

use crate::band_jobs::{band_jobs, checked};

/// `task` on `inputs` into `out` (as long as the inputs) on `workers` scoped threads (fewer if
/// there are fewer rows), each waiting its band's share of an `io` wait first. Returns the sum's
/// checksum, which the threads compute as they add.
pub fn add_scoped(inputs: Operands<'_>, out: &mut [i64], workers: usize, task: Work) -> Result<i64, AddError> {
    let mut jobs = band_jobs(inputs, out, workers, task);
    let total = thread::scope(|scope| {
        let last = jobs.pop();
        let mut started = Vec::with_capacity(jobs.len());
        let mut spawn_error = None;
        for job in jobs {
            match thread::Builder::new()
                .name("add-band".into())
                .spawn_scoped(scope, move || job.run())
            {
                Ok(handle) => started.push(handle),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let here = match last {
            Some(job) if spawn_error.is_none() => job.run(),
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
    checked(total, inputs)
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
