//! The seeds' claims, each decided by a run's data: `summary.json`'s `claims`.
//!
//! The lab's seed documents make a few claims about threads and processes in Python (threads
//! suit waiting; the GIL keeps threads from computing side by side, so processes suit
//! computing; processes cost more). A claim here quotes its seed briefly, names the figure that
//! decides it and where that came from, and gets a verdict by the harness's rule: a ratio whose
//! 95% bootstrap interval lies beyond the ±5% noise band on the claim's side supports it, on the
//! other side refutes it, and one that reaches into the band is within noise.

use serde::{Deserialize, Serialize};

use crate::stats::{NOISE_BAND, Ratio};

/// What the run's data say of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimVerdict {
    #[serde(rename = "supported")]
    Supported,
    #[serde(rename = "refuted")]
    Refuted,
    #[serde(rename = "within noise")]
    WithinNoise,
    /// The run did not measure what decides it (its servers or scenarios were not in it).
    #[serde(rename = "not measured")]
    NotMeasured,
}

impl std::fmt::Display for ClaimVerdict {
    /// As `summary.json` writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Supported => "supported",
            Self::Refuted => "refuted",
            Self::WithinNoise => "within noise",
            Self::NotMeasured => "not measured",
        })
    }
}

/// Which way a ratio must lie for its claim to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Above 1, beyond the noise band.
    Above,
    /// Not above 1 beyond the noise band: the claim is that nothing is gained.
    NotAbove,
    /// Below 1, beyond the noise band.
    Below,
}

impl Expect {
    /// The verdict on `ratio`, the harness's rule for any two figures: its 95% interval wholly
    /// beyond the ±5% noise band on the claim's side supports it, wholly beyond it on the other
    /// side refutes it, and an interval that reaches into the band is within noise (a difference
    /// inside the band gets no verdict either way). A claim that nothing is gained holds when
    /// the interval stays below 1 + band, and is refuted when it lies wholly above it.
    pub fn judge(self, ratio: &Ratio) -> ClaimVerdict {
        let (low, high) = (ratio.ci_low, ratio.ci_high);
        let above = low > 1.0 + NOISE_BAND;
        let below = high < 1.0 - NOISE_BAND;
        match self {
            Self::Above | Self::NotAbove if above => match self {
                Self::Above => ClaimVerdict::Supported,
                _ => ClaimVerdict::Refuted,
            },
            Self::Above | Self::Below if below => match self {
                Self::Below => ClaimVerdict::Supported,
                _ => ClaimVerdict::Refuted,
            },
            Self::Below if above => ClaimVerdict::Refuted,
            Self::NotAbove if high <= 1.0 + NOISE_BAND => ClaimVerdict::Supported,
            _ => ClaimVerdict::WithinNoise,
        }
    }
}

/// One claim and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The claim, as the lab tests it ("Python threads do not speed up CPU-bound work").
    pub claim: String,
    /// The seed's words, quoted briefly, and which seed.
    pub source: String,
    pub verdict: ClaimVerdict,
    /// The ratio that decides it; `None` when not measured.
    pub figure: Option<f64>,
    /// What the figure is, with its interval and the data it came from, or what was missing.
    pub from: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(ci_low: f64, ci_high: f64) -> Ratio {
        Ratio {
            value: (ci_low + ci_high) / 2.0,
            ci_low,
            ci_high,
            sigma: None,
            n_a: 10,
            n_b: 10,
        }
    }

    #[test]
    fn an_interval_beyond_the_band_decides_and_one_in_it_does_not() {
        use ClaimVerdict::*;
        let cases = [
            (Expect::Above, ratio(1.3, 1.8), Supported),
            (Expect::Above, ratio(0.5, 0.9), Refuted),
            (Expect::Above, ratio(1.0, 1.2), WithinNoise),
            // Wholly inside the band: no verdict either way.
            (Expect::Above, ratio(1.02, 1.049), WithinNoise),
            (Expect::Above, ratio(0.96, 1.0), WithinNoise),
            (Expect::Below, ratio(0.5, 0.8), Supported),
            (Expect::Below, ratio(1.1, 1.3), Refuted),
            (Expect::Below, ratio(0.8, 1.0), WithinNoise),
            (Expect::Below, ratio(0.97, 1.02), WithinNoise),
            (Expect::NotAbove, ratio(0.9, 1.04), Supported),
            (Expect::NotAbove, ratio(1.2, 1.9), Refuted),
            (Expect::NotAbove, ratio(1.0, 1.3), WithinNoise),
        ];
        for (expect, ratio, verdict) in cases {
            assert_eq!(expect.judge(&ratio), verdict, "{expect:?} {ratio:?}");
        }
    }
}
