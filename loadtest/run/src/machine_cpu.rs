//! The whole machine's CPU time, from `/proc/stat`'s first line (every CPU summed, in clock
//! ticks; `proc_stat(5)`): read before and after a trial, the difference says how much of the
//! machine was busy, stolen or idle while it ran ([`MachineCpu`]), which the server's and oha's
//! own CPU are then set against. And the noise fingerprint's kernel facts, read once.

use procfs::{CurrentSI, KernelStats};

use loadtest_model::cpu_split::noise;
use loadtest_model::noise::{MachineCpu, Noise, chosen_setting};

/// One reading of `/proc/stat`'s `cpu` line, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuClock {
    busy: u64,
    steal: u64,
    idle: u64,
}

impl CpuClock {
    /// Reads it now; `None` where `/proc/stat` cannot be read (the trial then has no reading).
    pub fn now() -> Option<CpuClock> {
        let total = KernelStats::current().ok()?.total;
        Some(CpuClock {
            // Guest time is already inside user and nice: not added again.
            busy: total.user + total.nice + total.system + total.irq.unwrap_or(0) + total.softirq.unwrap_or(0),
            steal: total.steal.unwrap_or(0),
            idle: total.idle + total.iowait.unwrap_or(0),
        })
    }

    /// The machine's CPU from `self` to `later`, in seconds.
    pub fn until(self, later: CpuClock) -> MachineCpu {
        let ticks = procfs::ticks_per_second().max(1) as f64;
        let secs = |from: u64, to: u64| to.saturating_sub(from) as f64 / ticks;
        MachineCpu {
            busy_secs: secs(self.busy, later.busy),
            steal_secs: secs(self.steal, later.steal),
            idle_secs: secs(self.idle, later.idle),
        }
    }
}

/// The fingerprint before any trial: the kernel and the huge-page setting, no shares yet (each
/// recomputation of the run's results fills them from its trials).
pub fn noise_at_start(kernel: &str) -> Noise {
    let huge_pages = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok();
    noise(&[], huge_pages.as_deref().and_then(chosen_setting), kernel.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_second_shows_in_the_machine_s_reading() {
        let before = CpuClock::now().expect("/proc/stat is readable");
        let start = std::time::Instant::now();
        // Keep one CPU busy for 300 ms.
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let window = before.until(CpuClock::now().unwrap());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = start.elapsed().as_secs_f64();
        assert!(window.busy_secs >= 0.2, "at least this loop's CPU: {window:?}");
        // Every CPU's time, at 100 ticks a second: within a tick or two per CPU of the wall time.
        assert!(
            (window.total_secs() - wall * cpus).abs() <= 0.03 * cpus + 0.05,
            "{window:?} over {wall} s"
        );
    }

    #[test]
    fn the_fingerprint_begins_with_the_kernel_and_no_shares() {
        let noise = noise_at_start("6.18.44");
        assert_eq!(
            (noise.kernel.as_str(), noise.steal_share, noise.trials),
            ("6.18.44", None, 0)
        );
    }
}
