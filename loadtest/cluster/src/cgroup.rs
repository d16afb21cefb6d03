//! CPU quotas and CPU accounting for the emulated hosts: one cgroup a host, in whichever
//! hierarchy the machine mounts the cpu controller in.
//!
//! On cgroup v2 one directory does both: `cpu.max` holds the quota and `cpu.stat` the usage and
//! throttling. On v1 (this lab's development machine) the quota is `cpu.cfs_quota_us` in the
//! cpu hierarchy, throttling is its `cpu.stat`, and the usage is `cpuacct.usage`, in the same
//! directory when the two controllers are mounted together (`cpu,cpuacct`) or in a group of the
//! same name in the cpuacct hierarchy beside it. A process is put in a group by writing its pid
//! to each directory's `cgroup.procs`; its children are born in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// The scheduler period every quota is a share of: 100 ms, the kernel's default.
const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel takes (1 ms a period).
const MIN_QUOTA_US: u64 = 1_000;
/// A quota read back may differ from the one written by this share (the kernel keeps
/// microseconds; nothing here should round further).
const QUOTA_TOLERANCE: f64 = 0.01;

/// The quota in µs a period for `cpus` CPUs.
fn quota_us(cpus: f64) -> u64 {
    ((cpus * PERIOD_US as f64).round() as u64).max(MIN_QUOTA_US)
}

/// Whether the quota read back from group `name` is the one asked for, to within
/// [`QUOTA_TOLERANCE`]; an error that says both if not.
fn check_applied(name: &str, asked: Option<f64>, applied: Option<f64>) -> anyhow::Result<()> {
    let agree = match (asked, applied) {
        (Some(asked), Some(applied)) => (applied - asked).abs() <= QUOTA_TOLERANCE * asked,
        (None, None) => true,
        _ => false,
    };
    if !agree {
        let say = |cpus: Option<f64>| cpus.map_or_else(|| "no limit".to_owned(), |c| format!("{c} CPU"));
        bail!(
            "the cgroup {name} holds a quota of {} after {} was written: its hosts would not run at the quota the run \
             reports (is another program managing the cgroup?)",
            say(applied),
            say(asked)
        );
    }
    Ok(())
}

/// `cpu.max`'s "QUOTA PERIOD" (QUOTA `max` for no limit).
fn parse_cpu_max(text: &str) -> anyhow::Result<(Option<u64>, u64)> {
    let mut fields = text.split_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        bail!("cpu.max holds two fields, the quota (or max) and the period");
    };
    let quota = match quota {
        "max" => None,
        quota => Some(quota.parse().context("the quota is not a number")?),
    };
    Ok((quota, period.parse().context("the period is not a number")?))
}

const ROOT: &str = "/sys/fs/cgroup";

/// Where the cpu controller lives on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    V1 { cpu: PathBuf, acct: PathBuf },
    V2 { root: PathBuf },
}

impl Hierarchy {
    /// Finds the cpu controller, or says what is missing.
    pub fn detect() -> anyhow::Result<Self> {
        let root = Path::new(ROOT);
        let cpu = root.join("cpu");
        if cpu.join("cpu.cfs_quota_us").exists() {
            let acct = [cpu.clone(), root.join("cpuacct")]
                .into_iter()
                .find(|dir| dir.join("cpuacct.usage").exists())
                .context("the cpu controller is mounted as cgroup v1, but no cpuacct controller is (needed for each host's CPU use)")?;
            return Ok(Self::V1 { cpu, acct });
        }
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu") {
            return Ok(Self::V2 {
                root: root.to_path_buf(),
            });
        }
        bail!(
            "no cgroup cpu controller: neither {ROOT}/cpu/cpu.cfs_quota_us (v1) nor `cpu` in {ROOT}/cgroup.controllers (v2); \
             the hosts' CPU quotas need one (on v2: echo +cpu > {ROOT}/cgroup.subtree_control)"
        )
    }

    /// The directories a group called `name` has (one on v2 or co-mounted v1, two otherwise).
    fn dirs(&self, name: &str) -> Vec<PathBuf> {
        match self {
            Self::V1 { cpu, acct } if cpu == acct => vec![cpu.join(name)],
            Self::V1 { cpu, acct } => vec![cpu.join(name), acct.join(name)],
            Self::V2 { root } => vec![root.join(name)],
        }
    }

    /// The names of every group directly under the hierarchy's roots.
    pub fn group_names(&self) -> Vec<String> {
        let roots = match self {
            Self::V1 { cpu, acct } => vec![cpu.clone(), acct.clone()],
            Self::V2 { root } => vec![root.clone()],
        };
        let mut names: Vec<String> = roots
            .iter()
            .filter_map(|root| std::fs::read_dir(root).ok())
            .flatten()
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn version(&self) -> &'static str {
        match self {
            Self::V1 { .. } => "v1 (cpu.cfs_quota_us, cpuacct.usage)",
            Self::V2 { .. } => "v2 (cpu.max, cpu.stat)",
        }
    }
}

/// A host's CPU group.
#[derive(Debug)]
pub struct CpuGroup {
    hierarchy: Hierarchy,
    name: String,
}

/// How often the group was held back by its quota, from `cpu.stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Throttling {
    /// Scheduler periods in which the group ran.
    pub periods: u64,
    /// Of those, the periods in which it used up its quota and had to wait.
    pub throttled: u64,
}

impl CpuGroup {
    /// Creates the group `name` (removing none that exists: an existing one is an error).
    pub fn create(hierarchy: &Hierarchy, name: &str) -> anyhow::Result<Self> {
        if let Hierarchy::V2 { root } = hierarchy {
            // Children get the cpu controller only if their parent hands it down.
            let control = root.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&control).unwrap_or_default();
            if !enabled.split_whitespace().any(|c| c == "cpu") {
                std::fs::write(&control, "+cpu").with_context(|| format!("enabling cpu in {}", control.display()))?;
            }
        }
        let group = Self {
            hierarchy: hierarchy.clone(),
            name: name.to_owned(),
        };
        for dir in hierarchy.dirs(name) {
            std::fs::create_dir(&dir).with_context(|| format!("creating the cgroup {}", dir.display()))?;
        }
        Ok(group)
    }

    /// The group `name` as a earlier run left it, to remove.
    pub fn existing(hierarchy: &Hierarchy, name: &str) -> Self {
        Self {
            hierarchy: hierarchy.clone(),
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Limits the group to `cpus` CPUs (0.25 is a quarter of one), or lifts the limit, and
    /// reads the quota back: the CPUs the kernel holds (`None`: no limit). A quota read back
    /// other than the one written (beyond 1%) is an error.
    pub fn set_quota(&self, cpus: Option<f64>) -> anyhow::Result<Option<f64>> {
        self.write_quota(cpus)?;
        let applied = self.quota()?;
        let asked = cpus.map(|cpus| quota_us(cpus) as f64 / PERIOD_US as f64);
        check_applied(&self.name, asked, applied)?;
        Ok(applied)
    }

    /// The group's quota as the kernel holds it, in CPUs; `None` for no limit.
    pub fn quota(&self) -> anyhow::Result<Option<f64>> {
        let (quota, period) = match &self.hierarchy {
            Hierarchy::V1 { cpu, .. } => {
                let dir = cpu.join(&self.name);
                let quota: i64 = read_number(&dir.join("cpu.cfs_quota_us"))?;
                let period: u64 = read_number(&dir.join("cpu.cfs_period_us"))?;
                ((quota >= 0).then_some(quota as u64), period)
            }
            Hierarchy::V2 { root } => {
                let file = root.join(&self.name).join("cpu.max");
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                parse_cpu_max(&text).with_context(|| format!("reading {}: {text:?}", file.display()))?
            }
        };
        Ok(quota.map(|q| q as f64 / period.max(1) as f64))
    }

    fn write_quota(&self, cpus: Option<f64>) -> anyhow::Result<()> {
        let quota = cpus.map(quota_us);
        let (file, text) = match (&self.hierarchy, quota) {
            (Hierarchy::V1 { cpu, .. }, Some(quota)) => {
                (cpu.join(&self.name).join("cpu.cfs_quota_us"), quota.to_string())
            }
            (Hierarchy::V1 { cpu, .. }, None) => (cpu.join(&self.name).join("cpu.cfs_quota_us"), "-1".to_owned()),
            (Hierarchy::V2 { root }, Some(quota)) => {
                (root.join(&self.name).join("cpu.max"), format!("{quota} {PERIOD_US}"))
            }
            (Hierarchy::V2 { root }, None) => (root.join(&self.name).join("cpu.max"), format!("max {PERIOD_US}")),
        };
        if let Hierarchy::V1 { cpu, .. } = &self.hierarchy {
            let period = cpu.join(&self.name).join("cpu.cfs_period_us");
            std::fs::write(&period, PERIOD_US.to_string()).with_context(|| format!("writing {}", period.display()))?;
        }
        std::fs::write(&file, &text).with_context(|| format!("writing {text} to {}", file.display()))
    }

    /// The `cgroup.procs` files a process writes its pid to, to join the group.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.hierarchy
            .dirs(&self.name)
            .into_iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// The processes in the group now.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .procs_files()
            .iter()
            .filter_map(|file| std::fs::read_to_string(file).ok())
            .flat_map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<i32>>())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The CPU time the group's processes have used since it was made.
    pub fn usage(&self) -> anyhow::Result<Duration> {
        match &self.hierarchy {
            Hierarchy::V1 { acct, .. } => {
                let file = acct.join(&self.name).join("cpuacct.usage");
                let ns: u64 = read_number(&file)?;
                Ok(Duration::from_nanos(ns))
            }
            Hierarchy::V2 { root } => {
                let usec = stat_field(&root.join(&self.name).join("cpu.stat"), "usage_usec")?;
                Ok(Duration::from_micros(usec))
            }
        }
    }

    /// The group's throttling counts since it was made.
    pub fn throttling(&self) -> anyhow::Result<Throttling> {
        let stat = match &self.hierarchy {
            Hierarchy::V1 { cpu, .. } => cpu.join(&self.name).join("cpu.stat"),
            Hierarchy::V2 { root } => root.join(&self.name).join("cpu.stat"),
        };
        Ok(Throttling {
            periods: stat_field(&stat, "nr_periods")?,
            throttled: stat_field(&stat, "nr_throttled")?,
        })
    }

    /// Removes the group's directories; they must hold no process. Missing ones are fine.
    pub fn remove(&self) -> anyhow::Result<()> {
        for dir in self.hierarchy.dirs(&self.name) {
            match std::fs::remove_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing the cgroup {}", dir.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn read_number<T>(file: &Path) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("{} holds {text:?}, not a number", file.display()))
}

/// The value of `key` in a `cpu.stat` file (`key value` lines).
fn stat_field(file: &Path, key: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse_stat_field(&text, key).with_context(|| format!("{} has no number for {key}", file.display()))
}

fn parse_stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stat_fields_are_read_by_name() {
        let v1 = "nr_periods 33\nnr_throttled 30\nthrottled_time 2179964542\n";
        assert_eq!(parse_stat_field(v1, "nr_periods"), Some(33));
        assert_eq!(parse_stat_field(v1, "nr_throttled"), Some(30));
        let v2 = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 5\nnr_throttled 1\nthrottled_usec 9\n";
        assert_eq!(parse_stat_field(v2, "usage_usec"), Some(1234));
        assert_eq!(parse_stat_field(v2, "throttled"), None);
    }

    #[test]
    fn a_quota_is_read_back_and_must_be_the_one_written() {
        let dir = tempfile::tempdir().unwrap();
        for hierarchy in [
            Hierarchy::V1 {
                cpu: dir.path().join("cpu"),
                acct: dir.path().join("cpu"),
            },
            Hierarchy::V2 {
                root: dir.path().join("v2"),
            },
        ] {
            // A folder of plain files stands in for the cgroup: it holds what was written.
            std::fs::create_dir_all(hierarchy.dirs("h1")[0].clone()).unwrap();
            let group = CpuGroup::existing(&hierarchy, "h1");
            assert_eq!(group.set_quota(Some(0.25)).unwrap(), Some(0.25));
            assert_eq!(group.set_quota(Some(0.025)).unwrap(), Some(0.025));
            assert_eq!(group.set_quota(None).unwrap(), None);
        }
        assert!(check_applied("h1", Some(0.25), Some(0.2524)).is_ok());
        let err = check_applied("h1", Some(0.25), Some(0.5)).unwrap_err().to_string();
        assert!(
            err.contains("the cgroup h1 holds a quota of 0.5 CPU after 0.25 CPU was written"),
            "{err}"
        );
        let err = check_applied("h1", Some(0.25), None).unwrap_err().to_string();
        assert!(err.contains("holds a quota of no limit after 0.25 CPU"), "{err}");
        assert_eq!(parse_cpu_max("max 100000\n").unwrap(), (None, 100_000));
        assert_eq!(parse_cpu_max("25000 100000").unwrap(), (Some(25_000), 100_000));
        assert!(parse_cpu_max("25000").is_err());
    }

    #[test]
    fn v1_groups_have_a_directory_in_each_hierarchy_unless_mounted_together() {
        let apart = Hierarchy::V1 {
            cpu: "/c/cpu".into(),
            acct: "/c/cpuacct".into(),
        };
        assert_eq!(
            apart.dirs("g"),
            [PathBuf::from("/c/cpu/g"), PathBuf::from("/c/cpuacct/g")]
        );
        let together = Hierarchy::V1 {
            cpu: "/c/cpu,cpuacct".into(),
            acct: "/c/cpu,cpuacct".into(),
        };
        assert_eq!(together.dirs("g"), [PathBuf::from("/c/cpu,cpuacct/g")]);
        assert_eq!(Hierarchy::V2 { root: "/c".into() }.dirs("g"), [PathBuf::from("/c/g")]);
    }
}
