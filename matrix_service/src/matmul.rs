//! C = A·B for `i64` matrices, exactly: the CPU-bound work (`work=matmul`), one band of rows of
//! C at a time.
//!
//! **The fast path is `f64`, and exact.** Every product of integers and every partial sum is
//! an integer; an `f64` holds every integer of magnitude below 2^53 exactly, and a fused
//! multiply-add of such integers rounds nothing while its result stays below 2^53. A partial
//! sum of C\[i\]\[j\] is at most k · max|a| · max|b| in magnitude, so when that bound is below 2^53
//! ([`f64_is_exact`]), every intermediate value is exact and so is the answer. The seeded
//! matrices (values 0 to 99) qualify at any allowed n: 2000 · 99 · 99 is about 2^24. Otherwise
//! the band falls back to `i128` accumulation with its carries counted ([`band_i128`]), exact
//! for any `i64` inputs and any k, which reports the first element whose sum does not fit an
//! `i64`.
//!
//! **The kernel allocates nothing**, so a forked child may run it: B is packed, KC rows by NR
//! columns at a time, into a 32 KiB buffer on the stack; A is read in place; each block of KC
//! partial sums is added to the `i64` result, exactly (each is below 2^53). The inner loop is
//! a 4 x 16 block of fused multiply-adds, compiled for AVX-512 and AVX2 with FMA and chosen at
//! run time (`multiversion`), with a plain fallback. Measured on this project's machine at
//! n=500, one thread (criterion's medians): 8.4 ms, against 6.5 ms for ndarray's `f64` product
//! (`matrixmultiply`, which allocates its packing buffers, so a forked child may not use it)
//! and 5.7 to 5.8 ms for OpenBLAS through numpy; see `benches/matmul.rs` and
//! docs/results.md#the-matmul-kernel-2026-12-03.

use multiversion::multiversion;

/// Rows of A (and C) per register block.
const MR: usize = 4;
/// Columns of B (and C) per register block: two AVX-512 or four AVX2 registers of `f64`.
const NR: usize = 16;
/// Rows of B packed at a time: KC x NR `f64` is 32 KiB, an L1 cache.
const KC: usize = 256;

/// Magnitudes below this are exact in an `f64`.
const F64_EXACT_BELOW: u128 = 1 << 53;

/// Whether `f64` arithmetic computes A·B exactly when A's entries are at most `max_a` and B's
/// at most `max_b` in magnitude and the inner dimension is `k`: every partial sum is then below
/// 2^53 (see the module docs).
pub fn f64_is_exact(max_a: u64, max_b: u64, k: usize) -> bool {
    u128::from(max_a)
        .saturating_mul(u128::from(max_b))
        .saturating_mul(k as u128)
        < F64_EXACT_BELOW
}

/// The largest magnitude among `values` (0 for none).
pub fn max_magnitude(values: &[i64]) -> u64 {
    values.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0)
}

/// `out` (r x c) = `a` (r x k, the band's rows) · `b` (k x c), in `f64`: exact only when
/// [`f64_is_exact`] says so. `a` and `b` are the inputs converted to `f64`, row-major.
///
/// # Panics
/// If the lengths do not match the shapes.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn band_f64(a: &[f64], b: &[f64], (k, c): (usize, usize), out: &mut [i64]) {
    assert!(k > 0 && a.len().is_multiple_of(k), "a has k columns");
    let r = a.len() / k;
    assert_eq!((b.len(), out.len()), (k * c, r * c), "b is k x c and out r x c");
    out.fill(0);
    let mut packed = [0f64; KC * NR];
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for j0 in (0..c).step_by(NR) {
            let nr = NR.min(c - j0);
            // B's block, row by row, zero-padded to NR columns.
            for p in 0..kc {
                let from = &b[(p0 + p) * c + j0..][..nr];
                let to = &mut packed[p * NR..][..NR];
                to[..nr].copy_from_slice(from);
                to[nr..].fill(0.0);
            }
            let mut i0 = 0;
            while i0 + MR <= r {
                let mut acc = [[0f64; NR]; MR];
                let rows: [&[f64]; MR] = std::array::from_fn(|x| &a[(i0 + x) * k + p0..][..kc]);
                for p in 0..kc {
                    let bp: &[f64; NR] = packed[p * NR..][..NR].try_into().expect("NR wide");
                    for x in 0..MR {
                        let av = rows[x][p];
                        for y in 0..NR {
                            acc[x][y] = av.mul_add(bp[y], acc[x][y]);
                        }
                    }
                }
                for (x, sums) in acc.iter().enumerate() {
                    add_block(&mut out[(i0 + x) * c + j0..][..nr], sums);
                }
                i0 += MR;
            }
            for i in i0..r {
                let mut acc = [0f64; NR];
                let row = &a[i * k + p0..][..kc];
                for (p, &av) in row.iter().enumerate() {
                    let bp: &[f64; NR] = packed[p * NR..][..NR].try_into().expect("NR wide");
                    for y in 0..NR {
                        acc[y] = av.mul_add(bp[y], acc[y]);
                    }
                }
                add_block(&mut out[i * c + j0..][..nr], &acc);
            }
        }
    }
}

/// Adds a block's exact partial sums (integers below 2^53) to the result.
fn add_block(out: &mut [i64], sums: &[f64; NR]) {
    for (o, s) in out.iter_mut().zip(sums) {
        *o += *s as i64;
    }
}

/// An element of C whose sum does not fit an `i64`: its row (within the band) and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductOverflow {
    pub row: usize,
    pub col: usize,
}

impl std::fmt::Display for ProductOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "c[{r}][{c}], the sum of a[{r}][p] * b[p][{c}] over p, overflows a 64-bit integer; \
             every element of the product must lie in {}..={}",
            i64::MIN,
            i64::MAX,
            r = self.row,
            c = self.col,
        )
    }
}

/// `out` (r x c) = `a` (r x k) · `b` (k x c) with `i128` sums, exact for any `i64` inputs: each
/// product fits an `i128` (below 2^126 in magnitude), and a sum that wraps past the `i128`
/// range is counted, so it is known not to fit an `i64`. Stops at the first element, in
/// row-major order, whose sum does not fit an `i64`. Slower than [`band_f64`]; for the inputs
/// it cannot take. Allocates nothing.
pub fn band_i128(a: &[i64], b: &[i64], (k, c): (usize, usize), out: &mut [i64]) -> Result<(), ProductOverflow> {
    assert!(k > 0 && a.len().is_multiple_of(k), "a has k columns");
    let r = a.len() / k;
    assert_eq!((b.len(), out.len()), (k * c, r * c), "b is k x c and out r x c");
    for i in 0..r {
        let row = &a[i * k..][..k];
        for j in 0..c {
            // The true sum is `sum + carries * 2^128`: exact whatever the inputs.
            let (mut sum, mut carries) = (0i128, 0i64);
            for (p, &av) in row.iter().enumerate() {
                let term = i128::from(av) * i128::from(b[p * c + j]);
                let (next, wrapped) = sum.overflowing_add(term);
                if wrapped {
                    carries += if term > 0 { 1 } else { -1 };
                }
                sum = next;
            }
            // With a carry left, the true sum is at least 2^127 in magnitude.
            out[i * c + j] = i64::try_from(sum)
                .ok()
                .filter(|_| carries == 0)
                .ok_or(ProductOverflow { row: i, col: j })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::exact_dot;
    use proptest::prelude::*;

    /// The plain definition, or `None` where an element does not fit an `i64`.
    fn reference(a: &[i64], b: &[i64], k: usize, c: usize) -> Vec<Option<i64>> {
        let r = a.len() / k;
        (0..r * c)
            .map(|e| {
                let (i, j) = (e / c, e % c);
                exact_dot(a[i * k..][..k].iter().copied(), (0..k).map(|p| b[p * c + j]))
            })
            .collect()
    }

    fn fast(a: &[i64], b: &[i64], k: usize, c: usize) -> Vec<i64> {
        let to_f64 = |m: &[i64]| m.iter().map(|&v| v as f64).collect::<Vec<_>>();
        let mut out = vec![0; a.len() / k * c];
        band_f64(&to_f64(a), &to_f64(b), (k, c), &mut out);
        out
    }

    fn shape_and_values(max: i64) -> impl Strategy<Value = (usize, usize, usize, Vec<i64>, Vec<i64>)> {
        (1usize..40, 1usize..300, 1usize..40).prop_flat_map(move |(r, k, c)| {
            (
                Just(r),
                Just(k),
                Just(c),
                proptest::collection::vec(-max..=max, r * k),
                proptest::collection::vec(-max..=max, k * c),
            )
        })
    }

    proptest! {
        #[test]
        fn the_f64_kernel_is_exact_within_its_bound((r, k, c, a, b) in shape_and_values(1 << 20)) {
            prop_assert!(f64_is_exact(max_magnitude(&a), max_magnitude(&b), k), "the strategy stays in bounds");
            let want: Vec<i64> = reference(&a, &b, k, c).into_iter().map(Option::unwrap).collect();
            prop_assert_eq!(fast(&a, &b, k, c), want, "{}x{} . {}x{}", r, k, k, c);
        }

        #[test]
        fn the_i128_kernel_is_exact_or_names_the_first_overflow((_r, k, c, a, b) in shape_and_values(i64::MAX)) {
            let want = reference(&a, &b, k, c);
            let mut out = vec![0; want.len()];
            match band_i128(&a, &b, (k, c), &mut out) {
                Ok(()) => prop_assert_eq!(out.iter().map(|&v| Some(v)).collect::<Vec<_>>(), want),
                Err(ProductOverflow { row, col }) => {
                    let first = want.iter().position(Option::is_none).expect("some element overflows");
                    prop_assert_eq!((row, col), (first / c, first % c));
                    prop_assert!(want[..first].iter().zip(&out).all(|(w, o)| *w == Some(*o)));
                }
            }
        }
    }

    #[test]
    fn the_exactness_bound_is_2_to_the_53() {
        assert!(f64_is_exact(99, 99, 2000));
        assert!(f64_is_exact(1 << 26, 1 << 26, 1) && !f64_is_exact(1 << 26, 1 << 27, 1));
        assert!(!f64_is_exact(u64::MAX, u64::MAX, 2000), "saturates rather than wraps");
        assert_eq!(max_magnitude(&[3, -7, i64::MIN]), 1 << 63);
    }

    #[test]
    fn sums_that_leave_the_i128_range_and_come_back_are_exact() {
        // (2^63-1)^2 twice, then minus it twice: the running sum passes 2^127 and returns to 0.
        let a = [i64::MAX, i64::MAX, i64::MAX, i64::MAX];
        let b = [i64::MAX, i64::MAX, -i64::MAX, -i64::MAX];
        let mut out = [1];
        assert_eq!(band_i128(&a, &b, (4, 1), &mut out), Ok(()));
        assert_eq!(out, [0]);
        let mut out = [0];
        assert_eq!(
            band_i128(&a[..2], &b[..2], (2, 1), &mut out),
            Err(ProductOverflow { row: 0, col: 0 })
        );
    }

    #[test]
    fn the_seed_s_matrices_at_n_500_match_the_definition() {
        let (a, b) = crate::matrix::generate_pair(500, Some(9));
        let (a, b) = (crate::matrix::elements(&a), crate::matrix::elements(&b));
        assert!(f64_is_exact(max_magnitude(a), max_magnitude(b), 500));
        let got = fast(a, b, 500, 500);
        for e in (0..500 * 500).step_by(997) {
            let (i, j) = (e / 500, e % 500);
            let want: i64 = (0..500).map(|p| a[i * 500 + p] * b[p * 500 + j]).sum();
            assert_eq!(got[e], want, "C[{i}][{j}]");
        }
    }
}
