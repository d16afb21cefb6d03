//! One set of checks for every parallel strategy (scoped threads, the thread pool, children
//! forked per request, the pre-forked pool): each kind of work equals a plain reference for
//! any shape and worker count, and an overflow is named at its first element.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::engine::WorkError;
use crate::matmul::ProductOverflow;
use crate::matrix::{Matrix, checksum, elements, reference_add, reference_product};
use crate::task::Operands;
use crate::testing::compute_matrices;
use crate::work::Work;

/// A strategy under test: the task of the operands into the output with `workers` workers,
/// returning the checksum if it computes one.
pub trait Strategy: Fn(Operands<'_>, &mut [i64], usize) -> Result<Option<i64>, WorkError> {}
impl<F: Fn(Operands<'_>, &mut [i64], usize) -> Result<Option<i64>, WorkError>> Strategy for F {}

/// `work` on `a` and `b` by `strategy`: the result, its checksum checked if given.
pub fn run_strategy(
    strategy: &impl Strategy,
    a: &Matrix,
    b: &Matrix,
    work: Work,
    workers: usize,
) -> Result<Matrix, WorkError> {
    let (result, sum) = compute_matrices(a, b, work, |inputs, out| strategy(inputs, out, workers))?;
    if let Some(sum) = sum {
        assert_eq!(
            sum,
            checksum(elements(&result)),
            "the strategy's checksum is its result's"
        );
    }
    Ok(result)
}

/// The reference for `work`.
fn reference(a: &Matrix, b: &Matrix, work: Work) -> Result<Matrix, WorkError> {
    if work.multiplies() {
        reference_product(a, b).map_err(WorkError::ProductOverflow)
    } else {
        reference_add(a, b).map_err(WorkError::Overflow)
    }
}

fn matrix(rows: usize, cols: usize, values: &[i64]) -> Matrix {
    Matrix::from_shape_fn((rows, cols), |(r, c)| values[(r * cols + c) % values.len()])
}

/// Runs every check on `strategy`, `cases` random cases each (a few dozen for strategies that
/// fork, more for threads).
pub fn check_strategy(cases: u32, strategy: impl Strategy) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let same = |a: &Matrix, b: &Matrix, work: Work, workers: usize| -> Result<(), TestCaseError> {
        let got = run_strategy(&strategy, a, b, work, workers);
        prop_assert_eq!(
            got,
            reference(a, b, work),
            "{:?} {:?} . {:?} workers={}",
            work,
            a.dim(),
            b.dim(),
            workers
        );
        Ok(())
    };

    // Sums (add, io with no wait) of any shape, workers above rows included.
    let sums = (
        1usize..40,
        1usize..40,
        1usize..70,
        proptest::collection::vec(-1_000_000i64..1_000_000, 1..64),
    );
    runner
        .run(&(sums, any::<bool>()), |((rows, cols, workers, values), io)| {
            let a = matrix(rows, cols, &values);
            let b = matrix(rows, cols, &values.iter().rev().copied().collect::<Vec<_>>());
            same(&a, &b, if io { Work::Io { wait_ms: 0 } } else { Work::Add }, workers)
        })
        .unwrap();

    // Products of any shapes, small values (the f64 kernel) and values near the i64 limits
    // (the exact kernel, or an overflow named at its first element).
    let shapes = (1usize..24, 1usize..40, 1usize..24, 1usize..40);
    let values = prop_oneof![
        proptest::collection::vec(-1_000i64..1_000, 1..64),
        proptest::collection::vec(any::<i64>(), 1..8),
        proptest::collection::vec(-(1i64 << 31)..(1 << 31), 1..16),
    ];
    runner
        .run(&(shapes, values), |((rows, inner, cols, workers), values)| {
            let a = matrix(rows, inner, &values);
            let b = matrix(inner, cols, &values.iter().rev().copied().collect::<Vec<_>>());
            same(&a, &b, Work::Matmul, workers)
        })
        .unwrap();

    // A sum's overflow anywhere.
    let at = (1usize..20, 1usize..20, 1usize..8, any::<proptest::sample::Index>());
    runner
        .run(&at, |(rows, cols, workers, at)| {
            let a = Matrix::from_elem((rows, cols), -1);
            let mut b = Matrix::zeros((rows, cols));
            let index = at.index(rows * cols);
            b[[index / cols, index % cols]] = i64::MIN;
            same(&a, &b, Work::Add, workers)
        })
        .unwrap();

    // Edges: 1x1 at the limits, a column times a row and a row times a column, more workers
    // than rows.
    let one = |v: i64| Matrix::from_elem((1, 1), v);
    assert_eq!(
        run_strategy(&strategy, &one(i64::MIN), &one(i64::MAX), Work::Add, 4).unwrap(),
        one(-1)
    );
    assert_eq!(
        run_strategy(&strategy, &one(i64::MIN), &one(1), Work::Matmul, 4).unwrap(),
        one(i64::MIN)
    );
    assert_eq!(
        run_strategy(&strategy, &one(i64::MIN), &one(-1), Work::Matmul, 1),
        Err(WorkError::ProductOverflow(ProductOverflow { row: 0, col: 0 }))
    );
    let column = Matrix::from_shape_fn((300, 1), |(r, _)| r as i64 - 150);
    let row = Matrix::from_shape_fn((1, 300), |(_, c)| 3 * c as i64);
    for (a, b) in [(&column, &row), (&row, &column)] {
        assert_eq!(
            run_strategy(&strategy, a, b, Work::Matmul, 64),
            reference(a, b, Work::Matmul)
        );
    }
}
