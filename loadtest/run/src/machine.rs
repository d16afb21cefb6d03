//! What machine and software the numbers come from.

use std::process::Command;

use loadtest_model::summary::Machine;

/// Reads the machine's facts; what cannot be read is left empty or `None`, never an error.
pub fn describe(workspace: Option<&std::path::Path>) -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    Machine {
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_bytes: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024),
        rustc: output("rustc", &["--version"], None),
        git_commit: workspace.and_then(|dir| output("git", &["rev-parse", "--short", "HEAD"], Some(dir))),
        build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
    }
}

/// A command's first line of output, if it ran and succeeded.
fn output(program: &str, args: &[&str], dir: Option<&std::path::Path>) -> Option<String> {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().ok().filter(|o| o.status.success())?;
    String::from_utf8(out.stdout).ok()?.lines().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_is_described() {
        let machine = super::describe(None);
        assert!(
            machine.cpus >= 1 && machine.memory_bytes > 0 && !machine.kernel.is_empty(),
            "{machine:?}"
        );
    }
}
