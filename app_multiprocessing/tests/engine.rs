//! The fork-per-request engine, called directly: correct results for every kind of work and any
//! shape, and every way a child can fail ends in a clear error with every child reaped.
//!
//! Tests that count this process's children hold `SERIAL`, so under `cargo test` (tests as
//! threads of one process) one test's children never show up in another's count.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use app_multiprocessing::{ChildFault, SlotPool, compute_forked};
use matrix_service::matrix::{elements, generate_pair, reference_add, reference_product};
use matrix_service::testing::{check_strategy, children_of, compute_matrices, process_state};
use matrix_service::trace::Trace;
use matrix_service::{Matrix, Shapes, Task, Work, WorkError, Workspace};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// The kinds of work every fault is tried with: a child fails the same way whatever it computes.
const WORKS: [Work; 3] = [Work::Add, Work::Matmul, Work::Io { wait_ms: 20 }];

fn my_children() -> Vec<(i32, char)> {
    children_of(std::process::id() as i32)
}

fn forked(
    (a, b, work): (&Matrix, &Matrix, Work),
    workers: usize,
    timeout: Duration,
    fault: ChildFault,
) -> Result<(Matrix, Vec<i32>), WorkError> {
    compute_matrices(a, b, work, |inputs, out| {
        compute_forked(inputs, (out, workers), (timeout, fault), None, Trace::OFF)
    })
}

fn add(a: &Matrix, b: &Matrix, workers: usize) -> Result<Matrix, WorkError> {
    forked((a, b, Work::Add), workers, TIMEOUT, ChildFault::None).map(|(sum, _)| sum)
}

#[test]
fn every_kind_of_work_equals_the_reference() {
    let _serial = serial();
    check_strategy(24, |inputs, out, workers| {
        let done = compute_forked(inputs, (out, workers), (TIMEOUT, ChildFault::None), None, Trace::OFF).map(|_| None);
        assert!(my_children().is_empty(), "every child is reaped");
        done
    });
}

#[test]
fn a_product_at_n_300_matches_the_reference_on_any_worker_count() {
    let _serial = serial();
    let (a, b) = generate_pair(300, Some(4));
    let expected = reference_product(&a, &b).unwrap();
    for workers in [1, 2, 7, 64] {
        let (got, pids) = forked((&a, &b, Work::Matmul), workers, TIMEOUT, ChildFault::None).unwrap();
        assert!(got == expected, "workers={workers}");
        assert_eq!(pids.len(), workers);
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
        let (_, pids) = forked((&a, &b, Work::Add), workers, TIMEOUT, ChildFault::None).unwrap();
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

/// How `fault` fails a request of each kind of [`WORKS`], every child reaped after each.
fn failures(fault: ChildFault, timeout: Duration) -> Vec<WorkError> {
    let _serial = serial();
    let (a, b) = generate_pair(64, Some(2));
    (WORKS.iter())
        .map(|&work| {
            let err = forked((&a, &b, work), 4, timeout, fault).expect_err("the fault must fail the request");
            assert!(
                my_children().is_empty(),
                "{fault:?} {work:?} left children: {:?}",
                my_children()
            );
            err
        })
        .collect()
}

/// The message of the worker failure `fault` causes, checked to be the same for every kind of
/// work but for the children's pids.
fn failure_message(fault: ChildFault) -> String {
    let messages: Vec<String> = (failures(fault, TIMEOUT).into_iter())
        .map(|err| match err {
            WorkError::WorkerFailed(message) => message,
            other => panic!("{fault:?}: expected a worker failure, got {other:?}"),
        })
        .collect();
    let without_digits = |m: &String| m.replace(|c: char| c.is_ascii_digit(), "");
    assert!(
        messages
            .iter()
            .all(|m| without_digits(m) == without_digits(&messages[0])),
        "{messages:?}"
    );
    messages[0].clone()
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
    for err in failures(ChildFault::Hang, Duration::from_millis(300)) {
        assert_eq!(err, WorkError::TimedOut(Duration::from_millis(300)));
    }
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
    for (n, work) in [
        (1000, Work::Add),
        (100, Work::Matmul),
        (1000, Work::Add),
        (10, Work::Add),
        (300, Work::Matmul),
        (1, Work::Add),
    ] {
        let (a, b) = generate_pair(n, Some(n as u64));
        let shapes = Shapes::square(work, n);
        let mut slot = slots.workspace(shapes).unwrap();
        let (a_in, b_in) = slot.inputs_mut();
        a_in.copy_from_slice(elements(&a));
        b_in.copy_from_slice(elements(&b));
        let task = Task::prepare(work, shapes, a_in, b_in);
        let (a_in, b_in, out) = slot.split();
        compute_forked(
            matrix_service::Operands::new(a_in, b_in, task),
            (out, 4),
            (TIMEOUT, ChildFault::None),
            None,
            Trace::OFF,
        )
        .unwrap_or_else(|e| panic!("n={n}: {e}"));
        let expected = if work.multiplies() {
            reference_product(&a, &b).unwrap()
        } else {
            reference_add(&a, &b).unwrap()
        };
        assert!(slot.result() == elements(&expected), "n={n} {work:?}");
    }
    assert!(my_children().is_empty());
}
