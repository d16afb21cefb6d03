//! How fast each CPU runs the same one-thread work, checked before and after the trials.
//!
//! A virtual machine's CPU is a share of a host's core: when the host's other hyperthread or
//! another tenant is busy, it runs slower, and that changes within minutes. On this lab's 2-CPU
//! machine the same one-thread product at n=500 took 6.3 to 17.5 ms pinned to one CPU, and 5.7
//! to 11.2 ms on the other, within ten minutes. Work split over both CPUs finishes at the slower one's
//! pace, so a speed-up from 1 worker to 2 can only be as good as the CPUs are even, and two figures
//! measured minutes apart differ by the drift. The check times a fixed product on each CPU in turn
//! (the thread pinned with `sched_setaffinity`), interleaved round by round, and the report warns
//! when the CPUs were uneven or changed speed, so a reader knows what the run's ratios can show.
//!
//! Wall time, not CPU time: a CPU slowed by its host still counts its time as the thread's own.
use serde::{Deserialize, Serialize};

/// The reference work's size: a product that takes a few milliseconds, long enough to time
/// with the clock, short enough that a check costs well under a second.
pub const REFERENCE_N: usize = 300;

/// Slowest over fastest beyond which CPUs (or one CPU's checks) count as running at different
/// speeds: a fifth is more than the margins the lab's ratios are judged by.
pub const UNEVEN: f64 = 1.2;

/// Every check of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuSpeed {
    /// What was timed, for a person.
    pub reference: String,
    pub checks: Vec<SpeedCheck>,
}

/// One check: when it ran, and each CPU's times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedCheck {
    /// `before the trials` or `after the trials`.
    pub when: String,
    pub cpus: Vec<CpuTimes>,
}

/// One CPU's times for the reference work in one check, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    /// The CPU's number, as the kernel counts them.
    pub cpu: usize,
    pub min_ms: f64,
    pub median_ms: f64,
    pub max_ms: f64,
    pub runs: u32,
}

/// What the reference product is called in reports.
pub fn reference() -> String {
    format!("the same one-thread product (matmul, n={REFERENCE_N})")
}

impl CpuSpeed {
    /// A warning when the CPUs ran at different speeds, or a CPU's speed changed between
    /// checks, by more than [`UNEVEN`]; `None` when they were steady.
    pub fn warning(&self) -> Option<String> {
        let spread = self.spread().filter(|&spread| spread > UNEVEN)?;
        let checks: Vec<String> = (self.checks.iter())
            .map(|check| {
                let cpus: Vec<String> = (check.cpus.iter())
                    .map(|t| {
                        format!(
                            "CPU {} {:.1} ms ({:.1} to {:.1})",
                            t.cpu, t.median_ms, t.min_ms, t.max_ms
                        )
                    })
                    .collect();
                format!("{} {}", check.when, cpus.join(", "))
            })
            .collect();
        Some(format!(
            "The CPUs did not run at one steady speed. Median (range) of {} per CPU: {}; the slowest median is \
             {:.2}x the fastest. \
             Work split over several CPUs finishes at the slowest one's pace, and figures measured minutes apart \
             differ by the drift, so speed-ups from more workers and small differences between servers are less \
             certain than their trials' ranges say (a virtual CPU runs slower while its host's other hyperthread \
             or another tenant is busy).",
            reference(),
            checks.join("; "),
            spread
        ))
    }

    /// Whether the CPUs ran at different speeds, or a CPU changed speed, by more than [`UNEVEN`].
    pub fn is_uneven(&self) -> bool {
        self.spread().is_some_and(|spread| spread > UNEVEN)
    }

    /// How long the reference product took in the last check over the first, the CPUs' medians
    /// averaged: 0.8 when the machine ran it 20% faster after the trials than before. `None`
    /// with fewer than two checks.
    pub fn drift(&self) -> Option<f64> {
        let mean = |check: &SpeedCheck| {
            let medians: Vec<f64> = check.cpus.iter().map(|t| t.median_ms).collect();
            (!medians.is_empty()).then(|| medians.iter().sum::<f64>() / medians.len() as f64)
        };
        let [first, .., last] = self.checks.as_slice() else {
            return None;
        };
        Some(mean(last)? / mean(first)?)
    }

    /// The slowest median over the fastest, over every CPU and check; `None` without checks.
    fn spread(&self) -> Option<f64> {
        let medians = || self.checks.iter().flat_map(|c| c.cpus.iter().map(|t| t.median_ms));
        let fastest = medians().reduce(f64::min)?;
        Some(medians().fold(fastest, f64::max) / fastest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(cpu: usize, median_ms: f64) -> CpuTimes {
        CpuTimes {
            cpu,
            min_ms: median_ms * 0.9,
            median_ms,
            max_ms: median_ms * 1.1,
            runs: 12,
        }
    }

    fn speed(checks: &[(&str, &[f64])]) -> CpuSpeed {
        CpuSpeed {
            reference: reference(),
            checks: (checks.iter())
                .map(|(when, medians)| SpeedCheck {
                    when: (*when).into(),
                    cpus: medians.iter().enumerate().map(|(cpu, &m)| times(cpu, m)).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_drift_is_the_last_check_over_the_first() {
        assert_eq!(speed(&[("before", &[2.0, 2.0])]).drift(), None);
        let drift = speed(&[("before", &[2.0, 1.0]), ("after", &[1.2, 1.2])])
            .drift()
            .unwrap();
        assert!((drift - 0.8).abs() < 1e-9, "{drift}");
    }

    #[test]
    fn steady_cpus_give_no_warning() {
        assert_eq!(
            speed(&[("before the trials", &[2.0, 2.2]), ("after the trials", &[2.1, 2.3])]).warning(),
            None
        );
        assert_eq!(speed(&[]).warning(), None);
        let steady = speed(&[("before the trials", &[2.0, 2.2]), ("after the trials", &[2.1, 2.3])]);
        assert!(!steady.is_uneven() && !speed(&[]).is_uneven());
        // 2.5 over 2.0 (1.25x) is over the line; exactly 1.2x, or 2.4 over 2.1 (1.14x), is not.
        assert!(speed(&[("before the trials", &[2.0, 2.5])]).is_uneven());
        assert!(!speed(&[("before the trials", &[2.0, 2.4])]).is_uneven());
        assert!(!speed(&[("before the trials", &[2.1, 2.4])]).is_uneven());
    }

    #[test]
    fn uneven_cpus_are_named_with_their_times() {
        let warning = speed(&[("before the trials", &[2.0, 3.4])]).warning().unwrap();
        assert!(
            warning.contains("before the trials CPU 0 2.0 ms (1.8 to 2.2), CPU 1 3.4 ms (3.1 to 3.7)"),
            "{warning}"
        );
        assert!(warning.contains("1.70x the fastest"), "{warning}");
    }

    #[test]
    fn a_cpu_that_slowed_between_checks_is_a_finding() {
        let warning = speed(&[("before the trials", &[2.0, 2.0]), ("after the trials", &[2.0, 2.6])])
            .warning()
            .unwrap();
        assert!(warning.contains("after the trials CPU 0 2.0 ms"), "{warning}");
        assert!(warning.contains("1.30x"), "{warning}");
    }
}
