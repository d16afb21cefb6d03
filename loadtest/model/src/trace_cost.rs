//! What recording a trace costs a server (`summary.json`'s `trace_cost`, `--trace-cost`): its
//! CPU per answer over windows traced and not, one after the other, under the same load.

use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioKey;
use crate::stats::{NOISE_BAND, median_interval};

/// One server's traced and untraced windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceCost {
    pub server: String,
    /// The load the windows ran under.
    #[serde(flatten)]
    pub scenario: ScenarioKey,
    /// CPU per answer, ms, in each untraced window and each traced one, in the order they ran
    /// (each untraced window just before its traced one).
    pub untraced_ms: Vec<f64>,
    pub traced_ms: Vec<f64>,
    /// The median over the pairs of traced over untraced, with its 95% bootstrap interval:
    /// pairs next to each other in time, so the machine's drift over the windows cancels.
    pub ratio: Option<f64>,
    pub interval: Option<(f64, f64)>,
}

impl TraceCost {
    /// The windows of `server` under `scenario`, with their ratio.
    pub fn of(server: &str, scenario: ScenarioKey, untraced_ms: Vec<f64>, traced_ms: Vec<f64>) -> Self {
        let ratios: Vec<f64> = (untraced_ms.iter().zip(&traced_ms))
            .filter(|(untraced, _)| **untraced > 0.0)
            .map(|(untraced, traced)| traced / untraced)
            .collect();
        let found = median_interval(&ratios);
        Self {
            server: server.to_owned(),
            scenario,
            ratio: found.map(|(median, _)| median),
            interval: found.map(|(_, interval)| interval),
            untraced_ms,
            traced_ms,
        }
    }

    /// What the windows say, in a sentence.
    pub fn sentence(&self) -> String {
        let pairs = self.traced_ms.len().min(self.untraced_ms.len());
        let (Some(ratio), Some((low, high))) = (self.ratio, self.interval) else {
            return format!("{}: too few windows to compare ({pairs} pairs).", self.server);
        };
        let said = if low <= 1.0 && 1.0 <= high {
            "below what this machine can resolve".to_owned()
        } else if high < 1.0 {
            "lower with a trace running, which recording cannot cause: the machine's noise".to_owned()
        } else if ratio <= 1.0 + NOISE_BAND {
            format!("a cost within the ±{:.0}% noise band", NOISE_BAND * 100.0)
        } else {
            format!("a cost of {:.0}%", (ratio - 1.0) * 100.0)
        };
        format!(
            "{}: CPU per answer with a trace running over without, the median of {pairs} pairs of 1 s windows, \
             {ratio:.2}x (95% interval {low:.2} to {high:.2}): {said}.",
            self.server
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_that_spans_one_is_below_what_the_machine_can_resolve() {
        let untraced = vec![1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00, 1.01, 0.99];
        let same = TraceCost::of("threading", ScenarioKey::DEFAULT, untraced.clone(), untraced.clone());
        assert!(same.sentence().contains("1.00x"), "{}", same.sentence());
        assert!(
            same.sentence().ends_with("below what this machine can resolve."),
            "{}",
            same.sentence()
        );
        let dearer: Vec<f64> = untraced.iter().map(|v| v * 1.2).collect();
        let cost = TraceCost::of("threading", ScenarioKey::DEFAULT, untraced.clone(), dearer);
        assert!(cost.sentence().ends_with("a cost of 20%."), "{}", cost.sentence());
        assert!(cost.sentence().contains("median of 10 pairs"), "{}", cost.sentence());
        // Drift that both windows of a pair share cancels.
        let drifting: Vec<f64> = (0..10).map(|i| 1.0 + 0.2 * f64::from(i)).collect();
        let traced: Vec<f64> = drifting.iter().map(|v| v * 1.02).collect();
        let paired = TraceCost::of("threading", ScenarioKey::DEFAULT, drifting, traced);
        assert!(
            paired.sentence().contains("1.02x (95% interval 1.02 to 1.02)"),
            "{}",
            paired.sentence()
        );
        assert!(
            paired.sentence().ends_with("a cost within the ±5% noise band."),
            "{}",
            paired.sentence()
        );
        let one = TraceCost::of("threading", ScenarioKey::DEFAULT, vec![1.0], vec![1.1]);
        assert!(
            one.sentence().contains("too few windows to compare (1 pairs)"),
            "{}",
            one.sentence()
        );
    }
}
