//! Threads started once (`--strategy pool`): a request's bands become jobs on a rayon pool of
//! `--pool-threads` threads, so a request starts no thread. A pool thread that waits (`io`)
//! is blocked, and the pool's jobs queue behind it: with P threads and waits of W ms a band, at
//! most P x 1000 / W bands a second get through, the effect of gunicorn's `gthread` workers;
//! `--pool-threads` is its knob.

use std::panic::AssertUnwindSafe;

use matrix_service::matrix::BandSum;
use matrix_service::{AddError, Operands, Work};
use rayon::prelude::*;

use crate::band_jobs::{band_jobs, checked};

/// `task` on `inputs` into `out` (as long as the inputs) as one job per band of `workers` on
/// `pool`. The calling thread only waits. Returns the sum's checksum.
pub fn add_pooled(
    pool: &rayon::ThreadPool,
    inputs: Operands<'_>,
    out: &mut [i64],
    workers: usize,
    task: Work,
) -> Result<i64, AddError> {
    let jobs = band_jobs(inputs, out, workers, task);
    // One job a band, whatever rayon's splitting heuristics would do: a band is the unit of
    // work the lab measures.
    let run = AssertUnwindSafe(|| {
        pool.install(|| {
            jobs.into_par_iter()
                .with_max_len(1)
                .map(|job| job.run())
                .reduce(BandSum::default, BandSum::and)
        })
    });
    // A panicking job is the request's failure, not the server's.
    let total = std::panic::catch_unwind(run).map_err(|_| AddError::WorkerFailed("a band's job panicked".into()))?;
    checked(total, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_service::Matrix;
    use matrix_service::matrix::{checksum, elements, generate_pair, reference_add};
    use matrix_service::testing::add_matrices;
    use proptest::prelude::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    fn pooled(pool: &rayon::ThreadPool, a: &Matrix, b: &Matrix, workers: usize) -> Result<Matrix, AddError> {
        let (sum, total) = add_matrices(a, b, |inputs, out| add_pooled(pool, inputs, out, workers, Work::Add))?;
        assert_eq!(total, checksum(elements(&sum)));
        Ok(sum)
    }

    proptest! {
        #[test]
        fn equals_the_reference_for_any_shape_worker_and_thread_count(
            rows in 1usize..40,
            cols in 1usize..40,
            workers in 1usize..70,
            threads in 1usize..5,
            values in proptest::collection::vec(-1_000_000i64..1_000_000, 1..64),
        ) {
            let a = Matrix::from_shape_fn((rows, cols), |(r, c)| values[(r * cols + c) % values.len()]);
            let b = a.mapv(|v| -3 * v + 7);
            prop_assert_eq!(pooled(&pool(threads), &a, &b, workers), Ok(reference_add(&a, &b).unwrap()));
        }
    }

    #[test]
    fn overflow_is_reported_at_its_first_position() {
        let a = Matrix::from_elem((5, 3), 1);
        let mut b = Matrix::zeros((5, 3));
        b[[3, 1]] = i64::MAX;
        let expected = reference_add(&a, &b).unwrap_err();
        assert_eq!(pooled(&pool(2), &a, &b, 4), Err(AddError::Overflow(expected)));
    }

    #[test]
    fn n_2000_matches_the_reference_with_more_bands_than_threads() {
        let (a, b) = generate_pair(2000, Some(3));
        let expected = reference_add(&a, &b).unwrap();
        for workers in [1, 4, 64] {
            assert!(
                pooled(&pool(2), &a, &b, workers).unwrap() == expected,
                "workers={workers}"
            );
        }
    }

    #[test]
    fn io_bands_queue_behind_a_pool_s_blocked_threads() {
        // 4 bands of 50 ms each on 2 threads: two rounds of waits, so at least 100 ms; on 4
        // threads, one round.
        let (a, b) = generate_pair(8, Some(1));
        let io = Work::Io { wait_ms: 200 };
        let timed = |threads| {
            let started = std::time::Instant::now();
            add_matrices(&a, &b, |inputs, out| add_pooled(&pool(threads), inputs, out, 4, io)).unwrap();
            started.elapsed()
        };
        assert!(timed(2) >= std::time::Duration::from_millis(100));
        let (sum, _) = add_matrices(&a, &b, |inputs, out| add_pooled(&pool(4), inputs, out, 4, io)).unwrap();
        assert_eq!(sum, reference_add(&a, &b).unwrap());
    }
}
