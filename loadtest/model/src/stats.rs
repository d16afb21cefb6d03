//! Statistics across trials, after hyperfine and criterion.rs:
//! - [`Stats`]: median, mean, sample standard deviation (only with two or more values), min, max.
//! - [`outliers`]: the modified Z-score of Iglewicz and Hoaglin, `0.6745 (x - median) / MAD`,
//!   flagged above [`OUTLIER_Z`]. Outliers are reported, never dropped; when the MAD is zero
//!   nothing is flagged (no spread to measure against).
//! - [`ratio_of_medians`]: A's median over B's, with a 95% percentile-bootstrap interval (a fixed
//!   seed, so a report is reproducible from its data) and hyperfine's propagated uncertainty
//!   `r * sqrt((sa/ma)^2 + (sb/mb)^2)` on the means.
//! - [`Verdict`]: a difference counts only when the whole interval lies outside a ±[`NOISE_BAND`]
//!   band around 1; on a shared 2-core machine smaller differences are not trustworthy.
//!
//! Pure functions; printing lives in the report modules.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Modified Z-score above which a trial is flagged (Iglewicz and Hoaglin's recommendation).
pub const OUTLIER_Z: f64 = 3.5;

/// Relative difference below which two servers are "within noise".
pub const NOISE_BAND: f64 = 0.05;

/// Bootstrap resamples for a ratio's interval.
const BOOTSTRAP_RESAMPLES: usize = 4000;

/// The spread of one figure across trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: u32,
    pub median: f64,
    pub mean: f64,
    /// Sample standard deviation; `None` for a single value.
    pub stddev: Option<f64>,
    pub min: f64,
    pub max: f64,
}

/// The statistics of `values`, or `None` if there are none. Non-finite values are ignored.
pub fn stats(values: &[f64]) -> Option<Stats> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let stddev = (n > 1).then(|| (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(Stats {
        n: n as u32,
        median: median_of_sorted(&sorted),
        mean,
        stddev,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

/// The median of `values` (non-finite values ignored).
pub fn median(values: &[f64]) -> Option<f64> {
    stats(values).map(|s| s.median)
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Which of `values` are outliers by modified Z-score (same order as `values`).
pub fn outliers(values: &[f64]) -> Vec<bool> {
    let Some(center) = median(values) else {
        return vec![false; values.len()];
    };
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    let mad = median(&deviations).unwrap_or(0.0);
    if mad == 0.0 {
        return vec![false; values.len()];
    }
    values
        .iter()
        .map(|v| (0.6745 * (v - center) / mad).abs() > OUTLIER_Z)
        .collect()
}

/// A ratio of two servers' figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Median of A over median of B.
    pub value: f64,
    /// The 95% bootstrap interval of `value` (equal to it with one trial each).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Propagated uncertainty of the ratio of means, when both sides have two or more trials.
    pub sigma: Option<f64>,
    /// Trials on each side.
    pub n_a: u32,
    pub n_b: u32,
}

impl Ratio {
    /// B over A: the same comparison read the other way round, so that a sentence can always put
    /// the larger side first. The interval's ends swap; the propagated uncertainty of `1/r` is
    /// `sigma / r²` (to first order, as hyperfine propagates it).
    pub fn inverse(self) -> Ratio {
        Ratio {
            value: 1.0 / self.value,
            ci_low: 1.0 / self.ci_high,
            ci_high: 1.0 / self.ci_low,
            sigma: self.sigma.map(|s| s / (self.value * self.value)),
            n_a: self.n_b,
            n_b: self.n_a,
        }
    }
}

/// A's median over B's with its uncertainty, or `None` if either side is empty or B's median
/// is not positive.
pub fn ratio_of_medians(a: &[f64], b: &[f64]) -> Option<Ratio> {
    let (sa, sb) = (stats(a)?, stats(b)?);
    if sb.median <= 0.0 || sb.mean <= 0.0 {
        return None;
    }
    let value = sa.median / sb.median;
    let sigma = match (sa.stddev, sb.stddev) {
        (Some(da), Some(db)) if sa.mean != 0.0 => {
            let r = sa.mean / sb.mean;
            Some(r.abs() * ((da / sa.mean).powi(2) + (db / sb.mean).powi(2)).sqrt())
        }
        _ => None,
    };
    let (ci_low, ci_high) = bootstrap_interval(a, b).unwrap_or((value, value));
    Some(Ratio {
        value,
        ci_low,
        ci_high,
        sigma,
        n_a: sa.n,
        n_b: sb.n,
    })
}

/// The 2.5th and 97.5th percentiles of the ratio of medians over resamples of both sides.
fn bootstrap_interval(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let a: Vec<f64> = a.iter().copied().filter(|v| v.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|v| v.is_finite()).collect();
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed);
    let ratios: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let (ma, mb) = (resampled_median(&a, &mut rng), resampled_median(&b, &mut rng));
            (mb > 0.0).then(|| ma / mb)
        })
        .collect();
    percentiles_95(ratios)
}

/// The median of `values` with the 2.5th and 97.5th percentiles of the medians of resamples
/// of them (seeded, so a run's figures redraw the same), or `None` for fewer than 2 values.
pub fn median_interval(values: &[f64]) -> Option<(f64, (f64, f64))> {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.len() < 2 {
        return None;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed);
    let medians: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| resampled_median(&values, &mut rng))
        .collect();
    Some((median(&values)?, percentiles_95(medians)?))
}

fn resampled_median(side: &[f64], rng: &mut Xoshiro256PlusPlus) -> f64 {
    let mut drawn: Vec<f64> = (0..side.len()).map(|_| side[rng.random_range(0..side.len())]).collect();
    drawn.sort_by(f64::total_cmp);
    median_of_sorted(&drawn)
}

fn percentiles_95(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

/// What a ratio says about A against B. In `summary.json` (a comparison's verdict on req/s):
/// `faster`, `slower`, `within noise`, `one trial: no verdict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// A's figure is higher, beyond noise.
    #[serde(rename = "faster")]
    Higher,
    /// A's figure is lower, beyond noise.
    #[serde(rename = "slower")]
    Lower,
    /// The interval reaches into the noise band.
    #[serde(rename = "within noise")]
    WithinNoise,
    /// One side has a single trial: no interval, so no verdict.
    #[serde(rename = "one trial: no verdict")]
    TooFewTrials,
}

impl std::fmt::Display for Verdict {
    /// As `summary.json` writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Higher => "faster",
            Self::Lower => "slower",
            Self::WithinNoise => "within noise",
            Self::TooFewTrials => "one trial: no verdict",
        })
    }
}

impl Verdict {
    pub fn of(ratio: &Ratio) -> Self {
        if ratio.n_a < 2 || ratio.n_b < 2 {
            Self::TooFewTrials
        } else if ratio.ci_low > 1.0 + NOISE_BAND {
            Self::Higher
        } else if ratio.ci_high < 1.0 - NOISE_BAND {
            Self::Lower
        } else {
            Self::WithinNoise
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
    fn stats_of_a_known_sample() {
        let s = stats(&[4.0, 1.0, 3.0, 2.0, f64::NAN]).unwrap();
        assert_eq!((s.n, s.min, s.max), (4, 1.0, 4.0));
        assert!(close(s.median, 2.5) && close(s.mean, 2.5));
        assert!(close(s.stddev.unwrap(), (5.0f64 / 3.0).sqrt()));
        let one = stats(&[7.0]).unwrap();
        assert_eq!((one.median, one.stddev), (7.0, None));
        assert_eq!(stats(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn a_far_trial_is_flagged_and_a_tight_sample_is_not() {
        assert_eq!(
            outliers(&[100.0, 101.0, 99.0, 100.5, 60.0]),
            vec![false, false, false, false, true]
        );
        assert_eq!(outliers(&[100.0, 101.0, 99.0, 100.5, 98.0]), vec![false; 5]);
        assert_eq!(outliers(&[5.0, 5.0, 5.0, 9.0]), vec![false; 4], "MAD = 0 flags nothing");
    }

    #[test]
    fn ratio_of_medians_with_an_interval_that_contains_it() {
        let a = [200.0, 210.0, 190.0, 205.0, 195.0];
        let b = [100.0, 104.0, 96.0, 101.0, 99.0];
        let r = ratio_of_medians(&a, &b).unwrap();
        assert!(close(r.value, 2.0));
        assert!(
            r.ci_low <= r.value && r.value <= r.ci_high && r.ci_low > 1.8 && r.ci_high < 2.2,
            "{r:?}"
        );
        assert!(r.sigma.unwrap() > 0.0);
        assert_eq!(Verdict::of(&r), Verdict::Higher);
        assert_eq!(
            ratio_of_medians(&a, &b),
            Some(r),
            "the bootstrap is seeded: same data, same interval"
        );
    }

    #[test]
    fn one_trial_each_gives_a_point_ratio_without_spread() {
        let r = ratio_of_medians(&[150.0], &[100.0]).unwrap();
        assert_eq!((r.value, r.ci_low, r.ci_high, r.sigma), (1.5, 1.5, 1.5, None));
    }

    #[test]
    fn overlapping_samples_are_within_noise() {
        let r = ratio_of_medians(&[100.0, 120.0, 90.0], &[105.0, 95.0, 110.0]).unwrap();
        assert_eq!(Verdict::of(&r), Verdict::WithinNoise);
        let lower = ratio_of_medians(&[50.0, 51.0, 49.0], &[100.0, 101.0, 99.0]).unwrap();
        assert_eq!(Verdict::of(&lower), Verdict::Lower);
    }

    #[test]
    fn the_inverse_is_b_over_a_with_the_interval_turned_round() {
        let a = [200.0, 210.0, 190.0, 205.0, 195.0];
        let b = [100.0, 104.0, 96.0, 101.0, 99.0, 100.0];
        let (ab, ba) = (ratio_of_medians(&a, &b).unwrap(), ratio_of_medians(&b, &a).unwrap());
        let inverse = ab.inverse();
        assert!(close(inverse.value, ba.value) && close(inverse.value, 0.5));
        assert!(close(inverse.ci_low, 1.0 / ab.ci_high) && close(inverse.ci_high, 1.0 / ab.ci_low));
        assert!(inverse.ci_low <= inverse.value && inverse.value <= inverse.ci_high);
        assert_eq!((inverse.n_a, inverse.n_b), (6, 5));
        assert_eq!(Verdict::of(&inverse), Verdict::Lower);
    }

    #[test]
    fn no_ratio_against_nothing() {
        assert_eq!(ratio_of_medians(&[1.0], &[]), None);
        assert_eq!(ratio_of_medians(&[1.0], &[0.0]), None);
    }
}
