//! Who took the machine's CPU time during the trials, from what each trial read: the server's
//! process tree, oha, everyone else, and the hypervisor. Each result's [`cpu_shares`] (which the
//! bottleneck rule reads) and the run's [`noise`] fingerprint are drawn from it.

use crate::bottleneck::CpuShares;
use crate::noise::Noise;
use crate::summary::{Phase, TrialRecord};

impl TrialRecord {
    /// CPU seconds the machine spent on neither the server's process tree nor oha during the
    /// trial (never below 0: the three are read by different clocks a few ms apart); `None`
    /// without the machine's reading or the server's.
    pub fn others_cpu_secs(&self) -> Option<f64> {
        let machine = self.machine_cpu?;
        let ours = self.server_cpu_secs? + self.oha_cpu_secs.unwrap_or(0.0);
        Some((machine.busy_secs - ours).max(0.0))
    }

    /// oha's CPU per 2xx answer, in ms.
    pub fn client_cpu_ms_per_request(&self) -> Option<f64> {
        let cpu = self.oha_cpu_secs?;
        (self.responses_2xx > 0).then(|| cpu * 1000.0 / self.responses_2xx as f64)
    }
}

/// The shares over `trials` (those with the machine's, the server's and oha's readings), each
/// part summed over them and set against all their CPU time; `None` when none has them.
pub fn cpu_shares<'a>(trials: impl IntoIterator<Item = &'a TrialRecord>) -> Option<CpuShares> {
    let mut sums = [0.0; 5];
    for t in trials {
        let (Some(machine), Some(server), Some(client), Some(others)) =
            (t.machine_cpu, t.server_cpu_secs, t.oha_cpu_secs, t.others_cpu_secs())
        else {
            continue;
        };
        for (sum, part) in sums
            .iter_mut()
            .zip([server, client, others, machine.steal_secs, machine.total_secs()])
        {
            *sum += part;
        }
    }
    let all = sums[4];
    (all > 0.0).then(|| CpuShares {
        server: sums[0] / all,
        client: sums[1] / all,
        others: sums[2] / all,
        steal: sums[3] / all,
    })
}

/// The fingerprint of the measured trials among `trials`, with the kernel facts read when the
/// run began.
pub fn noise(trials: &[TrialRecord], transparent_hugepages: Option<String>, kernel: String) -> Noise {
    let read: Vec<&TrialRecord> = (trials.iter())
        .filter(|t| t.phase == Phase::Measured && t.machine_cpu.is_some())
        .collect();
    let share = |part: &dyn Fn(&TrialRecord) -> Option<f64>| {
        let (mut taken, mut all) = (0.0, 0.0);
        for t in &read {
            if let (Some(value), Some(machine)) = (part(t), t.machine_cpu) {
                taken += value;
                all += machine.total_secs();
            }
        }
        (all > 0.0).then(|| taken / all)
    };
    Noise {
        steal_share: share(&|t| t.machine_cpu.map(|m| m.steal_secs)),
        others_share: share(&|t| t.others_cpu_secs()),
        transparent_hugepages,
        kernel,
        trials: read.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::MachineCpu;
    use crate::testdata::{KEY, trial};

    fn read(server_cpu: f64, oha_cpu: f64, busy: f64, steal: f64, idle: f64) -> TrialRecord {
        let mut t = trial("threading", KEY, Phase::Measured, 1, 800.0, true);
        (t.server_cpu_secs, t.oha_cpu_secs) = (Some(server_cpu), Some(oha_cpu));
        t.machine_cpu = Some(MachineCpu {
            busy_secs: busy,
            steal_secs: steal,
            idle_secs: idle,
        });
        t
    }

    #[test]
    fn the_noise_shares_are_of_all_cpu_time_over_the_measured_trials() {
        // 10 s of CPU time each: the server took 6 and oha 2 of 9 busy, so others 1.
        let mut warmup = read(1.0, 1.0, 9.0, 9.0, 0.0);
        warmup.phase = Phase::Warmup;
        let trials = [read(6.0, 2.0, 9.0, 0.5, 0.5), read(6.0, 2.0, 8.5, 0.0, 1.5), warmup];
        let found = noise(&trials, Some("madvise".into()), "6.18".into());
        assert_eq!(found.trials, 2, "the warm-up is not counted");
        assert!((found.steal_share.unwrap() - 0.5 / 20.0).abs() < 1e-12);
        assert!((found.others_share.unwrap() - 1.5 / 20.0).abs() < 1e-12);
        assert_eq!(found.warning(), None, "2.5% stolen");
        let stolen = noise(&[read(6.0, 2.0, 8.0, 1.0, 1.0)], None, "6.18".into());
        assert!(
            stolen
                .warning()
                .unwrap()
                .starts_with("The hypervisor stole 10.0% of the CPU time")
        );
    }

    #[test]
    fn a_result_s_shares_sum_its_trials() {
        let shares = cpu_shares(&[read(6.0, 2.0, 9.0, 0.5, 0.5), read(4.0, 2.0, 7.0, 0.0, 3.0)]).unwrap();
        assert!((shares.server - 0.5).abs() < 1e-12 && (shares.client - 0.2).abs() < 1e-12);
        assert!((shares.others - 0.1).abs() < 1e-12 && (shares.steal - 0.025).abs() < 1e-12);
        assert!((shares.taken() - 0.825).abs() < 1e-12);
    }

    #[test]
    fn others_never_go_below_nothing_and_a_run_from_before_has_no_shares() {
        assert_eq!(read(6.0, 3.0, 8.9, 0.0, 1.1).others_cpu_secs(), Some(0.0));
        let before = trial("threading", KEY, Phase::Measured, 1, 800.0, true);
        let found = noise(std::slice::from_ref(&before), None, "6.18".into());
        assert_eq!((found.steal_share, found.others_share, found.trials), (None, None, 0));
        assert_eq!(cpu_shares([&before]), None);
        assert_eq!(before.client_cpu_ms_per_request(), Some(0.5), "0.5 s over 1000 answers");
    }
}
