//! How busy the machine was around the trials, and with what: the whole machine's CPU over each
//! trial ([`MachineCpu`], from `/proc/stat`), and the run's fingerprint of it ([`Noise`]): the
//! share of CPU time the hypervisor stole, the share other processes took, and the kernel
//! settings that move a memory-bound figure (transparent huge pages). Two runs whose noise
//! differs are two different machines, whatever their names say.

use serde::{Deserialize, Serialize};

/// Stolen time above this share of the CPUs is warned about: the figures then depend on what
/// other guests of the host were doing.
pub const STEAL_WARNING: f64 = 0.05;

/// The machine's CPU time over one trial, every CPU summed, in seconds (`/proc/stat`'s `cpu`
/// line, read before and after).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineCpu {
    /// Running anything: user, nice, system, irq and softirq (guest time is inside user).
    pub busy_secs: f64,
    /// Stolen: the hypervisor ran another guest while this one had work.
    pub steal_secs: f64,
    /// Idle, I/O wait included.
    pub idle_secs: f64,
}

impl MachineCpu {
    /// Every CPU's time over the window: busy, stolen and idle.
    pub fn total_secs(&self) -> f64 {
        self.busy_secs + self.steal_secs + self.idle_secs
    }
}

/// The run's noise fingerprint, in `summary.json`'s `noise`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Stolen CPU time over all CPU time during the measured trials (0 to 1).
    pub steal_share: Option<f64>,
    /// CPU time taken by processes other than the server measured and oha, over all CPU time
    /// during the measured trials whose server was sampled (0 to 1).
    pub others_share: Option<f64>,
    /// `/sys/kernel/mm/transparent_hugepage/enabled`'s chosen setting (`always`, `madvise`,
    /// `never`), if readable.
    pub transparent_hugepages: Option<String>,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// Measured trials with the machine's reading, the shares' base.
    pub trials: u32,
}

impl Noise {
    /// The warning a reader needs, when the hypervisor stole more than [`STEAL_WARNING`].
    pub fn warning(&self) -> Option<String> {
        let steal = self.steal_share.filter(|&s| s > STEAL_WARNING)?;
        Some(format!(
            "The hypervisor stole {:.1}% of the CPU time during the trials (more than {:.0}%): other guests of \
             this host were busy, and the figures depend on them.",
            steal * 100.0,
            STEAL_WARNING * 100.0
        ))
    }
}

/// The setting `/sys/kernel/mm/transparent_hugepage/enabled` shows chosen (in brackets:
/// `always [madvise] never` is `madvise`).
pub fn chosen_setting(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_huge_page_setting_is_the_bracketed_one() {
        assert_eq!(chosen_setting("always [madvise] never\n").as_deref(), Some("madvise"));
        assert_eq!(chosen_setting("[always] madvise never").as_deref(), Some("always"));
        assert_eq!(chosen_setting("nothing chosen"), None);
    }
}
