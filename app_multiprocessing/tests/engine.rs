//! The fork-per-request engine, called directly: correct sums for any shape, and every way a
//! child can fail ends in a clear error with every child reaped.
//!
//! Tests that count this process's children hold `SERIAL`, so under `cargo test` (tests as
//! threads of one process) one test's children never show up in another's count.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use app_multiprocessing::{ChildFault, SlotPool, add_forked};
use matrix_service::Workspace;
use matrix_service::matrix::{elements, generate_pair, reference_add};
use matrix_service::testing::{add_matrices, children_of, process_state};
use matrix_service::{AddError, Matrix, Work};
use proptest::prelude::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn my_children() -> Vec<(i32, char)> {
    children_of(std::process::id() as i32)
}

fn forked(
    a: &Matrix,
    b: &Matrix,
    workers: usize,
    timeout: Duration,
    fault: ChildFault,
) -> Result<(Matrix, Vec<i32>), AddError> {
    add_matrices(a, b, |inputs, out| {
        add_forked(inputs, out, (workers, Work::Add), timeout, fault, None)
    })
}

fn add(a: &Matrix, b: &Matrix, workers: usize) -> Result<Matrix, AddError> {
    forked(a, b, workers, TIMEOUT, ChildFault::None).map(|(sum, _)| sum)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn equals_the_reference_for_any_shape_and_worker_count(
        rows in 1usize..40,
        cols in 1usize..40,
        workers in 1usize..70,
        seed in any::<u64>(),
        negative in any::<bool>(),
    ) {
        let _serial = serial();
        let (mut a, b) = generate_pair(rows.max(cols), Some(seed));
        if negative {
            a.mapv_inplace(|v| -v * 1_000_000_007);
        }
        let (a, b) = (a.slice(ndarray::s![..rows, ..cols]).to_owned(), b.slice(ndarray::s![..rows, ..cols]).to_owned());
        prop_assert_eq!(add(&a, &b, workers), Ok(reference_add(&a, &b).unwrap()));
        prop_assert!(my_children().is_empty());
    }

    #[test]
    fn overflow_anywhere_is_reported_at_its_first_position(
        rows in 1usize..20, cols in 1usize..20, workers in 1usize..8, at in any::<proptest::sample::Index>(),
    ) {
        let _serial = serial();
        let a = Matrix::from_elem((rows, cols), -1);
        let mut b = Matrix::zeros((rows, cols));
        let index = at.index(rows * cols);
        b[[index / cols, index % cols]] = i64::MIN;
        let expected = reference_add(&a, &b).unwrap_err();
        prop_assert_eq!(add(&a, &b, workers), Err(AddError::Overflow(expected)));
        prop_assert!(my_children().is_empty());
    }
}

#[test]
fn one_by_one_and_extremes_add_exactly() {
    let _serial = serial();
    let (a, b) = (Matrix::from_elem((1, 1), i64::MIN), Matrix::from_elem((1, 1), i64::MAX));
    assert_eq!(add(&a, &b, 4).unwrap()[[0, 0]], -1);
}

#[test]
fn n_2000_matches_the_reference_even_through_one_32_mb_pipe() {
    let _serial = serial();
    let (a, b) = generate_pair(2000, Some(11));
    let expected = reference_add(&a, &b).unwrap();
    for workers in [1, 3, 4, 64] {
        assert!(add(&a, &b, workers).unwrap() == expected, "workers={workers}");
    }
    assert!(my_children().is_empty());
}

#[test]
fn child_pids_are_distinct_one_per_band_and_already_reaped() {
    let _serial = serial();
    let (a, b) = generate_pair(10, Some(1));
    for (workers, bands) in [(4, 4), (64, 10), (1, 1)] {
        let (_, pids) = forked(&a, &b, workers, TIMEOUT, ChildFault::None).unwrap();
        let mut distinct = pids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!((pids.len(), distinct.len()), (bands, bands), "{pids:?}");
        assert!(
            pids.iter()
                .all(|&pid| pid != std::process::id() as i32 && process_state(pid).is_none()),
            "{pids:?}"
        );
    }
}

fn failure(fault: ChildFault, timeout: Duration) -> AddError {
    let _serial = serial();
    let (a, b) = generate_pair(64, Some(2));
    let err = forked(&a, &b, 4, timeout, fault).expect_err("the fault must fail the addition");
    assert!(my_children().is_empty(), "{fault:?} left children: {:?}", my_children());
    err
}

fn failure_message(fault: ChildFault) -> String {
    match failure(fault, TIMEOUT) {
        AddError::WorkerFailed(message) => message,
        other => panic!("{fault:?}: expected a worker failure, got {other:?}"),
    }
}

#[test]
fn a_child_that_exits_early_is_a_failure_naming_its_exit_code() {
    let message = failure_message(ChildFault::Exit(7));
    assert!(
        message.contains("sent 0 of its") && message.contains("exited with code 7"),
        "{message}"
    );
}

#[test]
fn a_child_that_writes_half_its_band_is_a_failure() {
    let message = failure_message(ChildFault::HalfWrite);
    assert!(message.contains("then its pipe closed"), "{message}");
}

#[test]
fn a_child_that_writes_too_much_is_a_failure() {
    let message = failure_message(ChildFault::ExtraByte);
    assert!(message.contains("sent more than the"), "{message}");
}

#[test]
fn a_child_that_aborts_is_a_failure_naming_the_signal() {
    let message = failure_message(ChildFault::Abort);
    assert!(message.contains("killed by SIGABRT"), "{message}");
}

#[test]
fn a_child_that_panics_exits_through_the_unwind_guard() {
    let message = failure_message(ChildFault::Panic);
    assert!(message.contains("it panicked"), "{message}");
}

#[test]
fn a_hung_child_is_killed_at_the_deadline() {
    let started = Instant::now();
    let err = failure(ChildFault::Hang, Duration::from_millis(300));
    assert_eq!(err, AddError::TimedOut(Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn concurrent_requests_from_many_threads_all_add_correctly() {
    let _serial = serial();
    let (a, b) = generate_pair(120, Some(9));
    let expected = reference_add(&a, &b).unwrap();
    std::thread::scope(|scope| {
        for workers in 1..=8 {
            let (a, b, expected) = (&a, &b, &expected);
            scope.spawn(move || {
                for _ in 0..10 {
                    assert!(add(a, b, workers).unwrap() == *expected);
                }
            });
        }
    });
    assert!(my_children().is_empty());
}

#[test]
fn requests_of_any_size_in_turn_in_one_shared_slot_add_correctly() {
    // Slots are reused at every size: a small request's inputs may sit where a large request's
    // sum was, and its children must still see them whole.
    let _serial = serial();
    let slots = Arc::new(SlotPool::new(1, 3 * 1000 * 1000, 0).unwrap());
    for n in [1000, 100, 1000, 10, 700, 1] {
        let (a, b) = generate_pair(n, Some(n as u64));
        let mut work = slots.workspace(n, n).unwrap();
        let (a_in, b_in) = work.inputs_mut();
        a_in.copy_from_slice(elements(&a));
        b_in.copy_from_slice(elements(&b));
        let (inputs, out) = work.split();
        add_forked(inputs, out, (4, Work::Add), TIMEOUT, ChildFault::None, None)
            .unwrap_or_else(|e| panic!("n={n}: {e}"));
        assert!(work.sum() == elements(&reference_add(&a, &b).unwrap()), "n={n}");
    }
    assert!(my_children().is_empty());
}
