//! Splitting a matrix's rows into bands, one per thread or child process.
//!
//! Bands are balanced (their sizes differ by at most one row) and never empty: asking for more
//! workers than there are rows gives one band per row, because an idle thread or an empty child
//! would only add start-up cost.

use std::ops::Range;

/// The row ranges `rows` is split into for `workers` workers, in order, covering every row once.
///
/// `workers` of 0 is treated as 1, so callers cannot divide by zero by mistake.
pub fn bands(rows: usize, workers: usize) -> impl ExactSizeIterator<Item = Range<usize>> + Clone {
    let count = band_count(rows, workers);
    let base = rows.checked_div(count).unwrap_or(0);
    let extra = rows.checked_rem(count).unwrap_or(0);
    (0..count).map(move |i| {
        // The first `extra` bands take one row more than the rest.
        let start = i * base + i.min(extra);
        let len = base + usize::from(i < extra);
        start..start + len
    })
}

/// How many bands (threads or children) `bands(rows, workers)` yields.
pub fn band_count(rows: usize, workers: usize) -> usize {
    workers.max(1).min(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn four_workers_split_ten_rows_three_three_two_two() {
        let got: Vec<_> = bands(10, 4).collect();
        assert_eq!(got, vec![0..3, 3..6, 6..8, 8..10]);
    }

    #[test]
    fn more_workers_than_rows_gives_one_band_per_row() {
        let got: Vec<_> = bands(3, 64).collect();
        assert_eq!(got, vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn no_rows_gives_no_bands() {
        assert_eq!(bands(0, 4).count(), 0);
        assert_eq!(band_count(0, 4), 0);
    }

    proptest! {
        #[test]
        fn bands_cover_every_row_once_and_are_balanced(rows in 0usize..5000, workers in 0usize..100) {
            let got: Vec<_> = bands(rows, workers).collect();
            prop_assert_eq!(got.len(), band_count(rows, workers));
            let mut next = 0;
            for band in &got {
                prop_assert_eq!(band.start, next);
                prop_assert!(!band.is_empty());
                next = band.end;
            }
            prop_assert_eq!(next, rows);
            if let (Some(min), Some(max)) = (got.iter().map(|b| b.len()).min(), got.iter().map(|b| b.len()).max()) {
                prop_assert!(max - min <= 1);
            }
        }
    }
}
