//! The matrices themselves: seeded generation, the addition kernel every strategy shares, the
//! answer's checksum and sample, and deliberately plain reference sums and products for tests.
//!
//! A matrix is an [`ndarray::Array2<i64>`] in standard (row-major, contiguous) layout, so a band
//! of rows is one contiguous slice: threads can own disjoint `&mut` bands and a forked child can
//! stream its band through a pipe as raw bytes.

use rand::{Rng, RngExt, SeedableRng};

use crate::matmul::ProductOverflow;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A dense `i64` matrix in row-major layout.
pub type Matrix = ndarray::Array2<i64>;

/// Generated values lie in `0..VALUE_BOUND`, as in the original lab (`np.random.randint(0, 100)`).
pub const VALUE_BOUND: i64 = 100;

/// How many values of row 0 the answer's `sample` shows.
pub const SAMPLE_LEN: usize = 10;

/// Two `n`x`n` matrices of values in `0..100`, A first, from one generator.
///
/// With a seed the generator is Xoshiro256++ seeded by `seed`, so the same seed gives the same
/// matrices in both servers and on every run; without one it is seeded from the OS.
pub fn generate_pair(n: usize, seed: Option<u64>) -> (Matrix, Matrix) {
    let (mut a, mut b) = (vec![0; n * n], vec![0; n * n]);
    generate_into(seed, &mut a, &mut b);
    let matrix = |values| Matrix::from_shape_vec((n, n), values).expect("n * n elements");
    (matrix(a), matrix(b))
}

/// [`generate_pair`] into storage a server already has (reused buffers, or memory shared with
/// worker processes): every element of `a`, then of `b`, is overwritten.
pub fn generate_into(seed: Option<u64>, a: &mut [i64], b: &mut [i64]) {
    generate_encoded(seed, a, b, Encoding::Integer);
}

/// How generated values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As the integers themselves.
    Integer,
    /// As the bits of the `f64` equal to each: the form the `f64` product kernel reads (see
    /// [`Task::generated`](crate::Task::generated)). Written as the values are drawn, it costs
    /// the generator one conversion an element, where converting afterwards would be a second
    /// pass over both matrices (about 0.7 ms at n=500 here, a tenth of the product on one
    /// thread, and serial: no worker could share it).
    F64Bits,
}

impl Encoding {
    #[inline(always)]
    fn encode(self, value: i64) -> i64 {
        match self {
            Self::Integer => value,
            Self::F64Bits => (value as f64).to_bits() as i64,
        }
    }
}

/// [`generate_into`], storing the values as `encoding` says. The values drawn are the same.
pub fn generate_encoded(seed: Option<u64>, a: &mut [i64], b: &mut [i64], encoding: Encoding) {
    let seed = seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    match encoding {
        // Each encoding gets its own copy of the loop, so the integer one stays as it was.
        Encoding::Integer => {
            fill_below_bound(&mut rng, a, Encoding::Integer);
            fill_below_bound(&mut rng, b, Encoding::Integer);
        }
        Encoding::F64Bits => {
            fill_below_bound(&mut rng, a, Encoding::F64Bits);
            fill_below_bound(&mut rng, b, Encoding::F64Bits);
        }
    }
}

/// Fills `out` with independent values uniform in `0..VALUE_BOUND`, four per 64-bit draw.
///
/// Generation is most of a request's work (two matrices, 500,000 values at n=500), so this is
/// Lemire's "nearly divisionless" method on 16-bit lanes ("Fast Random Integer Generation in an
/// Interval", ACM TOMACS 2019): for a lane `x` uniform in `0..2^16`, `x * 100` splits into a high
/// part uniform in `0..100` except for a bias that rejecting the lanes whose low part is below
/// `2^16 mod 100` (36 of 65536) removes exactly. One `next_u64` yields four values nearly always,
/// against one per draw (and a 128-bit multiply) for `rand`'s `Uniform`.
///
/// All four lanes of a draw are accepted 99.8% of the time, so the loop stores them as one
/// group of four with a single test, and takes the lane-by-lane path only for the rare draw with
/// a rejected lane and for the last few values (criterion `generate/500`: 412 -> 380 µs; no change
/// at n=2000, where writing the memory dominates). Both paths keep the lanes in the same order,
/// so a seed gives the same values.
#[inline(always)]
pub fn fill_below_bound(rng: &mut impl Rng, out: &mut [i64], encoding: Encoding) {
    let mut next = 0;
    while let Some(group) = out.get_mut(next..next + LANES) {
        let draw = lanes(rng.next_u64());
        if draw.iter().all(|&scaled| accepted(scaled)) {
            for (slot, scaled) in group.iter_mut().zip(draw) {
                *slot = encoding.encode(value(scaled));
            }
            next += LANES;
        } else {
            next += store_accepted(draw, &mut group[..], encoding);
        }
    }
    while next < out.len() {
        next += store_accepted(lanes(rng.next_u64()), &mut out[next..], encoding);
    }
}

/// Values per 64-bit draw.
const LANES: usize = 4;
const LANE_BITS: u32 = 16;
const BOUND: u32 = VALUE_BOUND as u32;
/// Lanes whose low part falls below this would make some values more likely than others.
const REJECT_BELOW: u32 = (1 << LANE_BITS) % BOUND;

/// The four 16-bit lanes of `word`, each times [`VALUE_BOUND`]: the value is the high part.
fn lanes(word: u64) -> [u32; LANES] {
    std::array::from_fn(|lane| u32::from((word >> (lane as u32 * LANE_BITS)) as u16) * BOUND)
}

fn accepted(scaled: u32) -> bool {
    scaled & ((1 << LANE_BITS) - 1) >= REJECT_BELOW
}

fn value(scaled: u32) -> i64 {
    i64::from(scaled >> LANE_BITS)
}

/// Stores the accepted lanes of one draw at the start of `out`, in order, as far as it has room;
/// returns how many it stored.
fn store_accepted(draw: [u32; LANES], out: &mut [i64], encoding: Encoding) -> usize {
    let mut slots = out.iter_mut();
    let mut stored = 0;
    for scaled in draw.into_iter().filter(|&scaled| accepted(scaled)) {
        let Some(slot) = slots.next() else { break };
        *slot = encoding.encode(value(scaled));
        stored += 1;
    }
    stored
}

/// The elements of `m` in row-major order.
///
/// # Panics
/// If `m` is not in standard layout; every matrix this crate builds is.
pub fn elements(m: &Matrix) -> &[i64] {
    m.as_slice().expect("matrices are built in standard (row-major) layout")
}

/// What adding a band found: whether any sum overflowed `i64` (the stored value then wraps), and
/// the band's share of the answer's checksum (the wrapping sum of its results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandSum {
    pub overflowed: bool,
    pub checksum: i64,
}

impl BandSum {
    /// Both bands together.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self {
            overflowed: self.overflowed | other.overflowed,
            checksum: self.checksum.wrapping_add(other.checksum),
        }
    }
}

/// Writes `a[i] + b[i]` into `out[i]` for every `i`, and sums the results on the way.
///
/// This is the one addition kernel: threads run it on their band, forked children on
/// stack-sized chunks, pool workers on their band of shared memory. Summing here, while each
/// result is still in a register, spares the answer's checksum a second pass over the whole sum
/// (measured at a tenth of the threads server's CPU). It never allocates and never panics (the
/// slices are zipped, not indexed; extra elements of a longer slice are ignored), so it is safe
/// to call in a forked child.
#[inline]
pub fn add_into(a: &[i64], b: &[i64], out: &mut [i64]) -> BandSum {
    let mut overflowed = false;
    let mut checksum = 0i64;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let (sum, over) = x.overflowing_add(*y);
        *o = sum;
        overflowed |= over;
        checksum = checksum.wrapping_add(sum);
    }
    BandSum { overflowed, checksum }
}

/// The index of the first `i` where `a[i] + b[i]` overflows `i64`, if any.
///
/// Used only on the error path, to say which element was at fault.
pub fn first_overflow(a: &[i64], b: &[i64]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x.checked_add(*y).is_none())
}

/// The sum of every element, wrapping on `i64` overflow, so it is defined for any result.
pub fn checksum(values: &[i64]) -> i64 {
    values.iter().fold(0i64, |acc, x| acc.wrapping_add(*x))
}

/// The first [`SAMPLE_LEN`] values of row 0 of a row-major matrix `cols` wide (fewer if it is
/// narrower or empty).
pub fn sample(values: &[i64], cols: usize) -> Vec<i64> {
    values.iter().take(cols.min(SAMPLE_LEN)).copied().collect()
}

/// Where an addition overflowed `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub row: usize,
    pub col: usize,
    pub a: i64,
    pub b: i64,
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a[{r}][{c}] + b[{r}][{c}] = {} + {} overflows a 64-bit integer; every sum must lie in {}..={}",
            self.a,
            self.b,
            i64::MIN,
            i64::MAX,
            r = self.row,
            c = self.col,
        )
    }
}

/// `a + b` the plain way, element by element with `checked_add`: the oracle the parallel
/// strategies are tested against. Shapes must match.
pub fn reference_add(a: &Matrix, b: &Matrix) -> Result<Matrix, Overflow> {
    assert_eq!(a.dim(), b.dim(), "reference_add needs matrices of one shape");
    let mut out = Matrix::zeros(a.dim());
    for ((row, col), value) in out.indexed_iter_mut() {
        let (x, y) = (a[[row, col]], b[[row, col]]);
        *value = x.checked_add(y).ok_or(Overflow { row, col, a: x, b: y })?;
    }
    Ok(out)
}

/// `a · b` the plain way, each element summed exactly ([`exact_dot`]): the oracle the
/// product kernels are tested against. `a`'s columns must be `b`'s rows.
pub fn reference_product(a: &Matrix, b: &Matrix) -> Result<Matrix, ProductOverflow> {
    assert_eq!(
        a.ncols(),
        b.nrows(),
        "reference_product needs a's columns to be b's rows"
    );
    let mut out = Matrix::zeros((a.nrows(), b.ncols()));
    for ((row, col), value) in out.indexed_iter_mut() {
        *value =
            exact_dot(a.row(row).iter().copied(), b.column(col).iter().copied()).ok_or(ProductOverflow { row, col })?;
    }
    Ok(out)
}

/// The sum of `x * y` over the pairs, or `None` if it does not fit an `i64`, computed so that
/// nothing can overflow on the way: each product's high 64 bits (signed) and low 64 bits are
/// summed apart (fewer than 2^62 terms fit either sum).
pub fn exact_dot(xs: impl IntoIterator<Item = i64>, ys: impl IntoIterator<Item = i64>) -> Option<i64> {
    let (mut high, mut low) = (0i128, 0u128);
    for (x, y) in xs.into_iter().zip(ys) {
        let product = i128::from(x) * i128::from(y);
        high += product >> 64;
        low += u128::from(product as u64);
    }
    let high = high + (low >> 64) as i128;
    let low = low as u64;
    match high {
        0 if low < 1 << 63 => Some(low as i64),
        -1 if low >= 1 << 63 => Some(low as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn same_seed_gives_same_matrices_and_values_stay_in_range() {
        let (a1, b1) = generate_pair(50, Some(7));
        let (a2, b2) = generate_pair(50, Some(7));
        assert_eq!(a1, a2);
        assert_eq!(b1, b2);
        assert_ne!(a1, b1, "A and B come from one stream, so they differ");
        assert!(a1.iter().chain(b1.iter()).all(|v| (0..VALUE_BOUND).contains(v)));
        assert!(a1.iter().any(|v| *v == 0) && a1.iter().any(|v| *v == VALUE_BOUND - 1));
    }

    #[test]
    fn the_f64_encoding_stores_the_same_values_as_f64_bits() {
        let (a, b) = generate_pair(40, Some(9));
        let (mut af, mut bf) = (vec![0; 1600], vec![0; 1600]);
        generate_encoded(Some(9), &mut af, &mut bf, Encoding::F64Bits);
        let decoded = |bits: &[i64]| {
            bits.iter()
                .map(|&v| f64::from_bits(v as u64) as i64)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (decoded(&af), decoded(&bf)),
            (elements(&a).to_vec(), elements(&b).to_vec())
        );
        assert_ne!(af, elements(&a), "stored as bits, not as the integers");
    }

    #[test]
    fn generated_values_are_uniform_over_0_to_99() {
        // 1,000,000 values in 100 buckets: each count is binomial with mean 10,000 and standard
        // deviation 99.5; with a fixed seed, every bucket within 5 standard deviations, and a
        // chi-square statistic (99 degrees of freedom) far below its 0.1% critical value (148.2).
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
        let mut values = vec![0i64; 1_000_000];
        fill_below_bound(&mut rng, &mut values, Encoding::Integer);
        let mut counts = [0u32; 100];
        for v in &values {
            counts[usize::try_from(*v).expect("no negative values")] += 1;
        }
        let expected = 10_000.0;
        for (value, count) in counts.iter().enumerate() {
            assert!(
                (f64::from(*count) - expected).abs() < 5.0 * 99.5,
                "value {value} drawn {count} times"
            );
        }
        let chi_square: f64 = counts
            .iter()
            .map(|c| (f64::from(*c) - expected).powi(2) / expected)
            .sum();
        assert!(chi_square < 148.2, "chi-square {chi_square}");
    }

    #[test]
    fn fill_writes_every_element_of_any_length() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for len in [0, 1, 3, 4, 5, 1001] {
            let mut values = vec![-1i64; len];
            fill_below_bound(&mut rng, &mut values, Encoding::Integer);
            assert!(values.iter().all(|v| (0..VALUE_BOUND).contains(v)), "len {len}");
        }
    }

    #[test]
    fn grouped_stores_give_the_lane_by_lane_sequence() {
        // The plain loop the fast path must agree with: every accepted lane, in order.
        fn lane_by_lane(rng: &mut impl Rng, out: &mut [i64]) {
            let mut next = 0;
            while next < out.len() {
                let word = rng.next_u64();
                for lane in 0..4 {
                    let scaled = u32::from((word >> (lane * 16)) as u16) * 100;
                    if scaled & 0xffff >= 36 && next < out.len() {
                        out[next] = i64::from(scaled >> 16);
                        next += 1;
                    }
                }
            }
        }
        // 200,003 values see about 110 rejected lanes, and the length is not a multiple of 4.
        for len in [0, 1, 2, 3, 4, 7, 200_003] {
            let (mut fast, mut plain) = (vec![-1; len], vec![-1; len]);
            fill_below_bound(&mut Xoshiro256PlusPlus::seed_from_u64(5), &mut fast, Encoding::Integer);
            lane_by_lane(&mut Xoshiro256PlusPlus::seed_from_u64(5), &mut plain);
            assert!(fast == plain, "len {len}");
        }
    }

    #[test]
    fn reused_buffers_give_the_same_matrices_as_fresh_ones() {
        let (a, b) = generate_pair(30, Some(9));
        let (mut a2, mut b2) = (vec![-1; 900], vec![7; 900]);
        generate_into(Some(9), &mut a2, &mut b2);
        assert_eq!((elements(&a), elements(&b)), (&a2[..], &b2[..]));
    }

    #[test]
    fn seed_42_still_gives_the_documented_checksum() {
        // README's example answer; a change here changes every seeded answer users may have kept.
        let (a, b) = generate_pair(500, Some(42));
        assert_eq!(checksum(elements(&reference_add(&a, &b).unwrap())), 24_756_887);
    }

    #[test]
    fn different_seeds_give_different_matrices() {
        assert_ne!(generate_pair(20, Some(1)).0, generate_pair(20, Some(2)).0);
    }

    #[test]
    fn unseeded_generation_differs_between_calls() {
        assert_ne!(generate_pair(20, None).0, generate_pair(20, None).0);
    }

    #[test]
    fn add_into_reports_overflow_and_wraps() {
        let mut out = [0; 3];
        let band = add_into(&[1, 2, 3], &[10, 20, 30], &mut out);
        assert_eq!(
            band,
            BandSum {
                overflowed: false,
                checksum: 66
            }
        );
        assert_eq!(out, [11, 22, 33]);
        let band = add_into(&[1, i64::MAX, 3], &[1, 1, 1], &mut out);
        assert!(band.overflowed);
        assert_eq!(out, [2, i64::MIN, 4]);
        assert_eq!(band.checksum, checksum(&out));
        assert!(add_into(&[i64::MIN], &[-1], &mut out[..1]).overflowed);
        let halves = add_into(&[1, 2], &[3, 4], &mut out[..2]).and(add_into(&[i64::MAX], &[0], &mut out[2..]));
        assert_eq!(
            halves,
            BandSum {
                overflowed: false,
                checksum: 10i64.wrapping_add(i64::MAX)
            }
        );
    }

    #[test]
    fn first_overflow_finds_the_earliest_bad_index() {
        assert_eq!(first_overflow(&[0, i64::MAX, i64::MIN], &[0, 1, -1]), Some(1));
        assert_eq!(first_overflow(&[i64::MAX, i64::MIN], &[0, 0]), None);
    }

    #[test]
    fn checksum_and_sample_of_a_known_matrix() {
        let m = [1, 2, 3, 4, 5, 6];
        assert_eq!(checksum(&m), 21);
        assert_eq!(sample(&m, 3), vec![1, 2, 3]);
        let wide = Matrix::from_shape_fn((2, 12), |(r, c)| (r * 100 + c) as i64);
        assert_eq!(sample(elements(&wide), 12), (0..10).collect::<Vec<i64>>());
        assert_eq!(sample(&[], 0), Vec::<i64>::new());
        assert_eq!(checksum(&[i64::MAX, 1]), i64::MIN, "checksum wraps");
    }

    #[test]
    fn reference_add_adds_and_names_the_overflowing_element() {
        assert_eq!(
            reference_add(&array![[1, 2], [3, 4]], &array![[10, 20], [30, 40]]),
            Ok(array![[11, 22], [33, 44]])
        );
        let err = reference_add(&array![[0, 0], [0, i64::MAX]], &array![[0, 0], [0, 1]]).unwrap_err();
        assert_eq!(
            err,
            Overflow {
                row: 1,
                col: 1,
                a: i64::MAX,
                b: 1
            }
        );
        assert!(err.to_string().contains("a[1][1] + b[1][1]"), "{err}");
    }
}
