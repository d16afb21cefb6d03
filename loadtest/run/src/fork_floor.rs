//! The fork server beside a fork-per-request server: found among the server's children, its
//! CPU read while a window is traced (the ledger's "the fork server" phase), and the fork floor
//! measured beside it: `fork-floor --like PID`, a fresh process grown to the fork server's size
//! that forks empty children (`app_multiprocessing::fork_floor`).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use loadtest_model::floors::ForkFloor;
use procfs::process::Process;

/// The fork server's name in `/proc/PID/comm` (`app_multiprocessing`'s `PROCESS_NAME`).
const FORK_SERVER_COMM: &str = "fork-server";

/// The helper's binary, built beside the servers with `app_multiprocessing`.
const HELPER: &str = "fork-floor";

/// The pid of `server`'s fork server, if it has one.
pub fn fork_server_of(server: i32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{server}/task/{server}/children")).ok()?;
    (children.split_whitespace())
        .filter_map(|pid| pid.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == FORK_SERVER_COMM)
        })
}

/// The CPU the process `pid` has run, ms, from the scheduler's own nanosecond count (the fork
/// server has one thread, so its main thread's count is the process's).
pub fn cpu_ms(pid: i32) -> Option<f64> {
    let stat = Process::new(pid).ok()?.schedstat().ok()?;
    Some(stat.sum_exec_runtime as f64 / 1e6)
}

/// The fork floor beside `server`'s fork server (its process is `server_pid`), with the helper
/// from `bin_dir`; `None` for a server without a fork server.
pub fn measure_beside(bin_dir: &Path, server: &str, server_pid: i32) -> anyhow::Result<Option<ForkFloor>> {
    let Some(fork_server) = fork_server_of(server_pid) else {
        return Ok(None);
    };
    let helper = bin_dir.join(HELPER);
    let output = Command::new(&helper)
        .args(["--like", &fork_server.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", helper.display()))?;
    if !output.status.success() {
        bail!(
            "{} --like {fork_server} failed ({}): {}",
            helper.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut json: serde_json::Value =
        serde_json::from_slice(&output.stdout).with_context(|| format!("reading what {HELPER} printed"))?;
    json["server"] = server.into();
    let floor = serde_json::from_value(json).with_context(|| format!("reading what {HELPER} printed"))?;
    Ok(Some(floor))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use loadtest_model::catalogue::Catalogue;

    use super::*;
    use crate::servers::{build_servers, start_lab_server_with};

    #[test]
    fn the_fork_floor_is_measured_beside_a_real_fork_server_at_its_size() {
        let bin_dir = build_servers(&["app_multiprocessing"], &|_| {}).unwrap();
        let logs = tempfile::tempdir().unwrap();
        let catalogue = Catalogue::lab();
        let server = catalogue.get("multiprocessing").unwrap();
        let launched = start_lab_server_with(server, &bin_dir, &logs.path().join("log"), &[], &[]).unwrap();
        let fork_server = fork_server_of(launched.pid()).expect("the fork server is the server's child");
        assert!(cpu_ms(fork_server).is_some_and(|ms| ms >= 0.0));
        let floor = measure_beside(&bin_dir, "multiprocessing", launched.pid())
            .unwrap()
            .unwrap();
        let size = std::fs::read_to_string(format!("/proc/{fork_server}/status")).unwrap();
        launched.stop(Duration::from_secs(5)).unwrap();
        assert_eq!(floor.server, "multiprocessing");
        assert!(
            size.contains(&format!("RssAnon:\t{:>8} kB", floor.private_bytes / 1024)),
            "{floor:?}\n{size}"
        );
        assert!(
            floor.forks >= 1 && floor.fork_us > 0.0 && floor.cycle_us >= floor.fork_us,
            "{floor:?}"
        );
        // This process has no fork server: no floor, and nothing run.
        assert_eq!(
            measure_beside(&bin_dir, "threading", std::process::id() as i32).unwrap(),
            None
        );
    }
}
