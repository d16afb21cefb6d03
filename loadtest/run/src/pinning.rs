//! Pinning the servers and oha to sets of CPUs (`--server-cpus`, `--client-cpus`), for
//! machines with CPUs to spare: on two CPUs the servers and the client must share, and the
//! default pins nothing. A pinned process is started through `taskset --cpu-list LIST` (util-linux),
//! which sets its CPU affinity and then becomes it, so the process the harness samples and times
//! is the server or oha itself, every thread and child it makes inherits the set, and the
//! command line recorded in `summary.json` shows the pinning as it was run.

use std::ffi::OsStr;
use std::fmt;
use std::process::Command;

use anyhow::bail;
use nix::sched::sched_getaffinity;
use nix::unistd::Pid;

/// The highest CPU number a list may name: far beyond any machine the lab runs on, low enough
/// that a typo cannot ask for millions.
const MAX_CPU: usize = 4095;

/// A set of CPUs, as `taskset --cpu-list` and the kernel's `cpuset` files write it (`0-1,3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList {
    cpus: Vec<usize>,
}

impl CpuList {
    /// Parses `0`, `0-1`, `0,2-3`; every CPU named once, at most [`MAX_CPU` (4095).
    pub fn parse(raw: &str) -> Result<CpuList, String> {
        let wrong = || format!("{raw:?} must be CPU numbers and ranges separated by commas, such as 0, 2-3 or 0,2-3");
        let mut cpus = Vec::new();
        for part in raw.split(',') {
            let (first, last) = match part.trim().split_once('-') {
                Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
                None => (part.trim().parse::<usize>(), part.trim().parse::<usize>()),
            };
            let (Ok(first), Ok(last)) = (first, last) else {
                return Err(wrong());
            };
            if first > last {
                return Err(format!(
                    "{raw:?}: the range {first}-{last} runs backwards; write {last}-{first}"
                ));
            }
            if last > MAX_CPU {
                return Err(format!("{raw:?}: CPU {last} is beyond {MAX_CPU}"));
            }
            cpus.extend(first..=last);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(CpuList { cpus })
    }

    /// Fails, naming them, if any of the CPUs is not one this process may run on.
    pub fn check_allowed(&self, flag: &str) -> anyhow::Result<()> {
        let allowed = sched_getaffinity(Pid::from_raw(0))?;
        let usable: Vec<usize> = (0..=MAX_CPU)
            .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
            .collect();
        let missing: Vec<String> = (self.cpus.iter())
            .filter(|cpu| !usable.contains(cpu))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            bail!(
                "{flag} {self}: this machine has no CPU {} the harness may use; it may use {}",
                missing.join(", "),
                CpuList { cpus: usable }
            );
        }
        Ok(())
    }

    /// The command a process is started through to run on these CPUs.
    pub fn launcher(&self) -> Vec<String> {
        vec!["taskset".into(), "--cpu-list".into(), self.to_string()]
    }
}

impl fmt::Display for CpuList {
    /// Runs of consecutive CPUs as ranges: `0-2,5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &cpu in &self.cpus {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == cpu => *last = cpu,
                _ => runs.push((cpu, cpu)),
            }
        }
        let text: Vec<String> = (runs.into_iter())
            .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        f.write_str(&text.join(","))
    }
}

/// The launcher for `list`, or none.
pub fn launcher(list: Option<&CpuList>) -> Vec<String> {
    list.map(CpuList::launcher).unwrap_or_default()
}

/// A command that runs `program` through `launcher` (which then becomes it), or `program`
/// itself when the launcher is empty; its arguments follow.
pub fn command(launcher: &[String], program: impl AsRef<OsStr>) -> Command {
    match launcher.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges_are_read_and_written_back_in_short() {
        let list = CpuList::parse("3, 0-1,1").unwrap();
        assert_eq!(list.cpus, [0, 1, 3]);
        assert_eq!(list.to_string(), "0-1,3");
        assert_eq!(CpuList::parse("2").unwrap().launcher(), ["taskset", "--cpu-list", "2"]);
        assert_eq!(launcher(None), Vec::<String>::new());
    }

    #[test]
    fn a_wrong_list_says_what_is_allowed() {
        assert!(CpuList::parse("a").unwrap_err().contains("such as 0, 2-3 or 0,2-3"));
        assert!(CpuList::parse("").unwrap_err().contains("such as"));
        assert!(CpuList::parse("3-1").unwrap_err().contains("runs backwards; write 1-3"));
        assert!(CpuList::parse("5000").unwrap_err().contains("beyond 4095"));
        let error = CpuList::parse("4095")
            .unwrap()
            .check_allowed("--server-cpus")
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--server-cpus 4095: this machine has no CPU 4095 the harness may use; it may use 0"),
            "{error}"
        );
        CpuList::parse("0").unwrap().check_allowed("--client-cpus").unwrap();
    }

    #[test]
    fn a_process_started_through_the_launcher_runs_on_its_cpus_alone() {
        let pinned = launcher(Some(&CpuList::parse("0").unwrap()));
        let out = command(&pinned, "grep")
            .args(["Cpus_allowed_list", "/proc/self/status"])
            .output()
            .expect("taskset runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).split_whitespace().last(),
            Some("0")
        );
    }
}
