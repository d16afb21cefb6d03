//! What a request's workers do, band by band: the kernel each band runs, which elements of A, B
//! and the result a band covers, and how the bands' results become the answer or its error.
//!
//! Every engine (threads, children forked per request, pool workers) splits a request the same
//! way and runs the same [`Kernel`] on each band, so the same seed gives the same checksum for a
//! kind of work in every server.

use std::ops::Range;
use std::time::Duration;

use crate::bands::bands;
use crate::matmul::{ProductOverflow, band_f64, band_i128, f64_is_exact, max_magnitude};
use crate::matrix::{BandSum, Encoding, Overflow, VALUE_BOUND, add_into, checksum, first_overflow};
use crate::shapes::Shapes;
use crate::work::Work;
use crate::work_error::WorkError;

/// What one band computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The band's rows of A plus the same rows of B.
    Sum,
    /// The band's rows of A (each `inner` long) times all of B (`inner` x `cols`). With
    /// `in_f64`, A and B hold `f64` bit patterns ([`Task::prepare`] converted them, knowing the
    /// `f64` kernel exact for them); otherwise `i64`, for the exact `i128` kernel.
    Product { inner: usize, cols: usize, in_f64: bool },
}

impl Kernel {
    /// Whether spans of these lengths make one band: A's, B's and the result's alike for a sum;
    /// for a product, whole rows of A, all of B, and the same rows of the result.
    pub fn fits(self, a_len: usize, b_len: usize, out_len: usize) -> bool {
        match self {
            Self::Sum => a_len == out_len && b_len == out_len,
            Self::Product { inner, cols, .. } => {
                inner > 0
                    && cols > 0
                    && a_len.is_multiple_of(inner)
                    && Some(b_len) == inner.checked_mul(cols)
                    && Some(out_len) == (a_len / inner).checked_mul(cols)
            }
        }
    }

    /// Computes one band into `out`, with the band's share of the checksum. Allocates nothing,
    /// so a forked child may run it.
    ///
    /// # Panics
    /// If the lengths do not [`fit`](Self::fits); a reader of a band from a message checks first.
    pub fn run(self, a: &[i64], b: &[i64], out: &mut [i64]) -> BandSum {
        assert!(
            self.fits(a.len(), b.len(), out.len()),
            "the band's spans fit its kernel"
        );
        let done = |out: &[i64]| BandSum {
            overflowed: false,
            checksum: checksum(out),
        };
        match self {
            Self::Sum => add_into(a, b, out),
            Self::Product {
                inner,
                cols,
                in_f64: true,
            } => {
                // i64 and f64 have one size and alignment, so the cast cannot fail.
                band_f64(bytemuck::cast_slice(a), bytemuck::cast_slice(b), (inner, cols), out);
                done(out)
            }
            Self::Product {
                inner,
                cols,
                in_f64: false,
            } => match band_i128(a, b, (inner, cols), out) {
                Ok(()) => done(out),
                Err(_) => BandSum {
                    overflowed: true,
                    checksum: 0,
                },
            },
        }
    }

    /// The band cut into pieces whose results are at most `most` elements (but at least one
    /// row of a product), in order: for a child that computes into a buffer on its stack.
    /// Each piece is its A, its B and the length of its result.
    pub fn pieces<'a>(self, a: &'a [i64], b: &'a [i64], most: usize) -> Pieces<'a> {
        Pieces {
            kernel: self,
            a,
            b,
            most: most.max(1),
        }
    }
}

/// See [`Kernel::pieces`]. An iterator of its own rather than a chain of adapters, so both
/// kernels share one type and nothing is boxed (a child may not allocate).
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    kernel: Kernel,
    a: &'a [i64],
    b: &'a [i64],
    most: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = (&'a [i64], &'a [i64], usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.a.is_empty() {
            return None;
        }
        match self.kernel {
            Kernel::Sum => {
                let (a, rest_a) = self.a.split_at(self.most.min(self.a.len()));
                let (b, rest_b) = self.b.split_at(a.len().min(self.b.len()));
                (self.a, self.b) = (rest_a, rest_b);
                Some((a, b, a.len()))
            }
            Kernel::Product { inner, cols, .. } => {
                let (inner, cols) = (inner.max(1), cols.max(1));
                let rows = (self.most / cols).max(1);
                let (a, rest) = self.a.split_at(rows.saturating_mul(inner).min(self.a.len()));
                self.a = rest;
                Some((a, self.b, a.len() / inner * cols))
            }
        }
    }
}

/// A request's work as its bands do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub work: Work,
    pub shapes: Shapes,
    pub kernel: Kernel,
}

impl Task {
    /// The task for `work` on inputs `a` and `b` of `shapes`, choosing a product's kernel from
    /// the values: when every partial sum stays below 2^53 (see [`crate::matmul`]), A and B
    /// are rewritten in place as `f64`, once for all the bands, so a band (a forked child too)
    /// runs the fast kernel with no copy of its own. Otherwise they stay `i64` for the exact
    /// `i128` kernel, which also names an element that overflows.
    pub fn prepare(work: Work, shapes: Shapes, a: &mut [i64], b: &mut [i64]) -> Self {
        let kernel = if work.multiplies() {
            let (inner, cols) = shapes.b;
            let in_f64 = f64_is_exact(max_magnitude(a), max_magnitude(b), inner);
            if in_f64 {
                to_f64_in_place(a);
                to_f64_in_place(b);
            }
            Kernel::Product { inner, cols, in_f64 }
        } else {
            Kernel::Sum
        };
        Self { work, shapes, kernel }
    }

    /// The task for `work` on matrices of `shapes` still to be generated: their values lie in
    /// `0..VALUE_BOUND`, so a product's kernel is known without reading them (the `f64` one at
    /// any allowed size), and the generator writes them as that kernel reads them
    /// ([`Task::encoding`]): nothing is left to prepare.
    pub fn generated(work: Work, shapes: Shapes) -> Self {
        let kernel = if work.multiplies() {
            let (inner, cols) = shapes.b;
            let largest = VALUE_BOUND.unsigned_abs() - 1;
            let in_f64 = f64_is_exact(largest, largest, inner);
            Kernel::Product { inner, cols, in_f64 }
        } else {
            Kernel::Sum
        };
        Self { work, shapes, kernel }
    }

    /// How the inputs are stored for this task's kernel: as `f64` bits for the `f64` product.
    pub fn encoding(&self) -> Encoding {
        match self.kernel {
            Kernel::Product { in_f64: true, .. } => Encoding::F64Bits,
            _ => Encoding::Integer,
        }
    }

    /// The bands for `workers` workers, in order (see [`bands`]).
    pub fn bands(&self, workers: usize) -> impl ExactSizeIterator<Item = Band> + Clone + use<> {
        let (shapes, product) = (self.shapes, matches!(self.kernel, Kernel::Product { .. }));
        bands(shapes.out.0, workers).map(move |rows| {
            let (a_cols, cols) = (shapes.a.1, shapes.out.1);
            let a = rows.start * a_cols..rows.end * a_cols;
            Band {
                b: if product { 0..shapes.b_len() } else { a.clone() },
                out: rows.start * cols..rows.end * cols,
                a,
                rows,
            }
        })
    }

    /// How long each of `bands` bands waits first (`io`).
    pub fn band_wait(&self, bands: usize) -> Duration {
        self.work.band_wait(bands)
    }
}

/// Writes every value as the bits of the `f64` that equals it (exact below 2^53).
fn to_f64_in_place(values: &mut [i64]) {
    for value in values {
        *value = (*value as f64).to_bits() as i64;
    }
}

/// One band: its rows of the result, and the element spans of A, B and the result it reads
/// and writes (B's is all of B for a product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub rows: Range<usize>,
    pub a: Range<usize>,
    pub b: Range<usize>,
    pub out: Range<usize>,
}

/// A request's inputs, borrowed for its workers, with the task that says how its bands read
/// them.
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    pub a: &'a [i64],
    pub b: &'a [i64],
    pub task: Task,
}

impl<'a> Operands<'a> {
    /// # Panics
    /// If `a` and `b` are not of the task's shapes.
    pub fn new(a: &'a [i64], b: &'a [i64], task: Task) -> Self {
        let shapes = task.shapes;
        assert_eq!(
            (a.len(), b.len()),
            (shapes.a_len(), shapes.b_len()),
            "the inputs have the task's shapes"
        );
        Self { a, b, task }
    }

    /// A band's A and B.
    pub fn of(&self, band: &Band) -> (&'a [i64], &'a [i64]) {
        (&self.a[band.a.clone()], &self.b[band.b.clone()])
    }

    /// The answer's checksum from every band's result in order, or the error of the first band
    /// that overflowed.
    pub fn finish(&self, results: impl IntoIterator<Item = (Range<usize>, BandSum)>) -> Result<i64, WorkError> {
        let mut total = 0i64;
        for (rows, result) in results {
            if result.overflowed {
                return Err(self.overflow_in(rows));
            }
            total = total.wrapping_add(result.checksum);
        }
        Ok(total)
    }

    /// The first element, in row-major order, of the band of `rows` whose result does not fit
    /// an `i64`, once a worker has said the band overflowed. The error path only: a product's
    /// band is computed again here, exactly.
    pub fn overflow_in(&self, rows: Range<usize>) -> WorkError {
        let found = match self.task.kernel {
            Kernel::Sum => {
                let cols = self.task.shapes.out.1;
                let span = rows.start * cols..rows.end * cols;
                first_overflow(&self.a[span.clone()], &self.b[span.clone()]).map(|at| {
                    let index = span.start + at;
                    WorkError::Overflow(Overflow {
                        row: index / cols,
                        col: index % cols,
                        a: self.a[index],
                        b: self.b[index],
                    })
                })
            }
            Kernel::Product { inner, cols, in_f64 } => {
                let mut out = vec![0; rows.len() * cols];
                let a = &self.a[rows.start * inner..rows.end * inner];
                (!in_f64)
                    .then(|| band_i128(a, self.b, (inner, cols), &mut out).err())
                    .flatten()
                    .map(|at| {
                        WorkError::ProductOverflow(ProductOverflow {
                            row: rows.start + at.row,
                            col: at.col,
                        })
                    })
            }
        };
        found.unwrap_or_else(|| {
            WorkError::WorkerFailed(format!(
                "a worker said rows {rows:?} overflowed, but they do not: its memory is corrupt"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product_task(a: &mut [i64], b: &mut [i64], (r, k, c): (usize, usize, usize)) -> Task {
        Task::prepare(Work::Matmul, Shapes::product(r, k, c), a, b)
    }

    #[test]
    fn a_product_s_band_reads_its_rows_of_a_and_all_of_b() {
        let (mut a, mut b) = (vec![1; 6 * 4], vec![1; 4 * 3]);
        let task = product_task(&mut a, &mut b, (6, 4, 3));
        let bands: Vec<Band> = task.bands(4).collect();
        assert_eq!(bands.len(), 4);
        assert_eq!(
            bands[1],
            Band {
                rows: 2..4,
                a: 8..16,
                b: 0..12,
                out: 6..12
            }
        );
        let sum = Task::prepare(Work::Add, Shapes::sum(6, 4), &mut [0; 24], &mut [0; 24]);
        let band = sum.bands(3).nth(2).unwrap();
        assert_eq!((band.a.clone(), band.b.clone(), band.out), (16..24, 16..24, 16..24));
    }

    #[test]
    fn generated_matrices_are_multiplied_as_prepared_ones_are() {
        use crate::matrix::{generate_encoded, generate_into};
        for (work, n) in [(Work::Matmul, 2000), (Work::Matmul, 37), (Work::Add, 30)] {
            let shapes = Shapes::square(work, n);
            let (mut a, mut b) = (vec![0; shapes.a_len()], vec![0; shapes.b_len()]);
            generate_into(Some(5), &mut a, &mut b);
            let prepared = Task::prepare(work, shapes, &mut a, &mut b);
            let generated = Task::generated(work, shapes);
            assert_eq!(generated, prepared, "{work:?} at n={n}");
            let (mut ag, mut bg) = (vec![0; shapes.a_len()], vec![0; shapes.b_len()]);
            generate_encoded(Some(5), &mut ag, &mut bg, generated.encoding());
            assert!(ag == a && bg == b, "{work:?} at n={n}: stored as prepare() leaves them");
        }
    }

    #[test]
    fn small_values_take_the_f64_kernel_and_large_ones_the_exact_one() {
        // (a, b, whether the f64 kernel is exact for them, the 1x1 result)
        let cases = [
            ([2, -3], [5, 7], true, -11),
            ([i64::MAX, 1], [1, -1], false, i64::MAX - 1),
        ];
        for (a, b, in_f64, want) in cases {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            let task = product_task(&mut a, &mut b, (1, 2, 1));
            assert_eq!(
                task.kernel,
                Kernel::Product {
                    inner: 2,
                    cols: 1,
                    in_f64
                }
            );
            if in_f64 {
                assert_eq!(f64::from_bits(a[1] as u64), -3.0, "converted in place");
            }
            let mut out = [0];
            let done = task.kernel.run(&a, &b, &mut out);
            assert_eq!((out, done.checksum, done.overflowed), ([want], want, false));
        }
    }

    #[test]
    fn an_overflowing_product_names_its_first_element() {
        // C[1][0] = 2 * 2^62 = 2^63 is the first element past i64::MAX.
        let big = 1i64 << 62;
        let (mut a, mut b) = (vec![1, 0, 0, 2, 0, 0], vec![0, 0, 1, big, 0, 2]);
        let task = product_task(&mut a, &mut b, (3, 2, 3));
        let operands = Operands::new(&a, &b, task);
        let results = task.bands(3).map(|band| {
            let (a, b) = operands.of(&band);
            let mut out = vec![0; band.out.len()];
            (band.rows.clone(), task.kernel.run(a, b, &mut out))
        });
        let err = operands.finish(results.collect::<Vec<_>>()).unwrap_err();
        assert_eq!(err, WorkError::ProductOverflow(ProductOverflow { row: 1, col: 0 }));
        assert!(
            err.to_string().starts_with("c[1][0], the sum of a[1][p] * b[p][0]"),
            "{err}"
        );
    }

    #[test]
    fn a_sum_s_overflow_names_the_element_and_both_values() {
        let (a, b) = ([0, 0, 0, i64::MAX, 5, 5], [0, 0, 0, 1, 0, 0]);
        let task = Task::prepare(Work::Add, Shapes::sum(3, 2), &mut a.clone(), &mut b.clone());
        let err = Operands::new(&a, &b, task).overflow_in(1..3);
        assert!(err.to_string().contains("a[1][1] + b[1][1]"), "{err}");
        let err = Operands::new(&a, &b, task).overflow_in(2..3);
        assert!(matches!(err, WorkError::WorkerFailed(_)), "no overflow there: {err}");
    }

    #[test]
    fn pieces_cover_the_band_in_order_within_the_bound() {
        let a: Vec<i64> = (0..10).collect();
        let pieces: Vec<_> = Kernel::Sum
            .pieces(&a, &a, 4)
            .map(|(a, _, len)| (a.to_vec(), len))
            .collect();
        assert_eq!(pieces, [(vec![0, 1, 2, 3], 4), (vec![4, 5, 6, 7], 4), (vec![8, 9], 2)]);
        // 5 rows of A (2 wide) against B of 2 x 3: two rows a piece for at most 7 results.
        let product = Kernel::Product {
            inner: 2,
            cols: 3,
            in_f64: false,
        };
        let lens: Vec<_> = product
            .pieces(&a, &[0; 6], 7)
            .map(|(a, b, len)| (a.len(), b.len(), len))
            .collect();
        assert_eq!(lens, [(4, 6, 6), (4, 6, 6), (2, 6, 3)]);
        // A row wider than the bound is still one piece.
        assert_eq!(product.pieces(&a, &[0; 6], 1).count(), 5);
    }

    #[test]
    fn only_spans_of_one_band_fit() {
        let product = Kernel::Product {
            inner: 2,
            cols: 3,
            in_f64: true,
        };
        assert!(product.fits(4, 6, 6) && !product.fits(5, 6, 6) && !product.fits(4, 6, 9));
        assert!(Kernel::Sum.fits(3, 3, 3) && !Kernel::Sum.fits(3, 2, 3));
        assert!(
            !Kernel::Product {
                inner: 0,
                cols: 3,
                in_f64: true
            }
            .fits(0, 0, 0)
        );
    }
}
