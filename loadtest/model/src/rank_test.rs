//! The Mann-Whitney U test of two samples, two-sided: how often trials drawn from one spread
//! would split as unevenly as these did. It asks only about order, so one wild trial cannot
//! swing it as it swings a mean; the bootstrap interval ([`crate::stats`]) says by how much.
//!
//! With few trials the test is exact: every way of splitting the pooled values into two groups
//! of these sizes is counted (ties keep their shared mid-rank, so they are handled as they fall).
//! That also bounds it from below: with 3 trials a side there are 20 splits, and the two most
//! uneven give p = 2/20 = 0.1, whatever the figures ([`p_value_floor`]). With more splits than
//! 200,000 (`EXACT_SPLITS`), the normal approximation with the tie correction and a continuity
//! correction is used.

use statrs::distribution::{ContinuousCDF, Normal};

/// The most splits counted one by one: 5 trials a side are 252, 10 a side 184,756.
const EXACT_SPLITS: f64 = 200_000.0;

/// The two-sided p-value of the Mann-Whitney U test of `a` against `b`, or `None` when either
/// side has no finite value.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let a: Vec<f64> = a.iter().copied().filter(|v| v.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|v| v.is_finite()).collect();
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
    let ranks = mid_ranks(&pooled);
    let (n1, n2) = (a.len(), b.len());
    let centre = (n1 * n2) as f64 / 2.0;
    let u_of = |rank_sum: f64| rank_sum - (n1 * (n1 + 1)) as f64 / 2.0;
    let observed = (u_of(ranks[..n1].iter().sum()) - centre).abs();
    if splits(n1, n2) <= EXACT_SPLITS {
        let (mut as_far, mut all) = (0u64, 0u64);
        for_each_split(pooled.len(), n1, &mut |chosen| {
            all += 1;
            let u = u_of(chosen.iter().map(|&i| ranks[i]).sum());
            // A split as uneven as the one observed, up to the rounding of a sum of halves.
            if (u - centre).abs() >= observed - 1e-9 {
                as_far += 1;
            }
        });
        return Some(as_far as f64 / all as f64);
    }
    let n = pooled.len() as f64;
    let ties: f64 = tie_sizes(&pooled).map(|t| t * t * t - t).sum();
    let variance = (n1 * n2) as f64 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return Some(1.0);
    }
    let z = ((observed - 0.5).max(0.0)) / variance.sqrt();
    let normal = Normal::standard();
    Some((2.0 * normal.sf(z)).min(1.0))
}

/// The smallest two-sided p-value the exact test can give with `n1` and `n2` trials: the two
/// most uneven splits of all there are (0.1 with 3 a side, 0.0079 with 5 a side).
pub fn p_value_floor(n1: u32, n2: u32) -> f64 {
    (2.0 / splits(n1 as usize, n2 as usize)).min(1.0)
}

/// How many ways `n1 + n2` values split into groups of `n1` and `n2`.
fn splits(n1: usize, n2: usize) -> f64 {
    let (n, k) = ((n1 + n2) as f64, n1.min(n2));
    (0..k).fold(1.0, |ways, i| ways * (n - i as f64) / (i as f64 + 1.0))
}

/// The rank of each value among them all, 1-based; tied values share the mean of their ranks.
fn mid_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let shared = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = shared;
        }
        start = end;
    }
    ranks
}

/// The sizes of the groups of equal values (1 for a value tied with none).
fn tie_sizes(values: &[f64]) -> impl Iterator<Item = f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .chunk_by(|x, y| x == y)
        .map(|group| group.len() as f64)
        .collect::<Vec<_>>()
        .into_iter()
}

/// Calls `visit` with every choice of `k` of the indices `0..n`, in lexicographic order.
fn for_each_split(n: usize, k: usize, visit: &mut dyn FnMut(&[usize])) {
    let mut chosen: Vec<usize> = (0..k).collect();
    loop {
        visit(&chosen);
        // The rightmost index that can still move right, moved, and those after it packed behind.
        let Some(i) = (0..k).rev().find(|&i| chosen[i] < n - k + i) else {
            return;
        };
        chosen[i] += 1;
        for j in i + 1..k {
            chosen[j] = chosen[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn three_trials_a_side_cannot_go_below_a_tenth() {
        let p = mann_whitney_p(&[10.0, 11.0, 12.0], &[20.0, 21.0, 22.0]).unwrap();
        assert!(close(p, 0.1), "{p}");
        assert!(close(p_value_floor(3, 3), 0.1));
        assert!(close(p_value_floor(5, 5), 2.0 / 252.0));
    }

    #[test]
    fn five_a_side_fully_apart_is_the_floor_and_interleaved_is_one() {
        let low = [1.0, 2.0, 3.0, 4.0, 5.0];
        let high = [6.0, 7.0, 8.0, 9.0, 10.0];
        assert!(close(mann_whitney_p(&low, &high).unwrap(), 2.0 / 252.0));
        assert!(close(mann_whitney_p(&high, &low).unwrap(), 2.0 / 252.0), "two-sided");
        let p = mann_whitney_p(&[1.0, 4.0, 5.0, 8.0, 9.0], &[2.0, 3.0, 6.0, 7.0, 10.0]).unwrap();
        assert!(
            close(p, 1.0),
            "U = 12 against a centre of 12.5: as even as a split can be: {p}"
        );
    }

    #[test]
    fn one_value_across_sits_at_the_third_most_uneven_split() {
        // U = 1 of 9: the splits with U = 0, 1, 8 or 9 are as uneven, 1 + 1 + 1 + 1 of 20.
        let p = mann_whitney_p(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]).unwrap();
        assert!(close(p, 4.0 / 20.0), "{p}");
    }

    #[test]
    fn ties_share_their_rank_and_equal_samples_are_not_different() {
        assert_eq!(mid_ranks(&[5.0, 1.0, 5.0, 3.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert!(close(mann_whitney_p(&[2.0, 2.0, 2.0], &[2.0, 2.0, 2.0]).unwrap(), 1.0));
    }

    #[test]
    fn many_trials_use_the_normal_approximation_close_to_the_exact_count() {
        // 11 a side is 705,432 splits: approximated. Fully apart, |z| is large.
        let a: Vec<f64> = (0..11).map(f64::from).collect();
        let b: Vec<f64> = (20..31).map(f64::from).collect();
        let p = mann_whitney_p(&a, &b).unwrap();
        assert!(p > 0.0 && p < 1e-3, "{p}");
        // Interleaved evenly: no evidence either way.
        let odd: Vec<f64> = (0..22).filter(|i| i % 2 == 1).map(f64::from).collect();
        let even: Vec<f64> = (0..22).filter(|i| i % 2 == 0).map(f64::from).collect();
        assert!(mann_whitney_p(&odd, &even).unwrap() > 0.7);
    }

    #[test]
    fn nothing_to_test_against_nothing() {
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
        assert_eq!(mann_whitney_p(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn every_split_is_visited_once() {
        let mut seen = Vec::new();
        for_each_split(4, 2, &mut |c| seen.push(c.to_vec()));
        assert_eq!(
            seen,
            vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]
        );
    }
}
