//! Each phase of the ledger set against its floor, measured in the same run: generation against
//! generating the matrices on one thread; the bands' CPU against the kernel on one thread (and,
//! for a sum, its bytes at one core's memory bandwidth); a thread's start against an empty
//! thread's start and join; the fork server's CPU per fork against a fork of a process its size;
//! the way back per forked child against an empty child's exit.

use std::fmt::Write as _;

use loadtest_model::floors::add_bytes;
use loadtest_model::ledger::{FORK_SERVER, LedgerEntry};
use loadtest_model::summary::RunSummary;
use matrix_service::WorkKind;

/// One phase against its floor, both in ms and per the same unit (a request, a thread, a fork).
#[derive(Debug, Clone, PartialEq)]
pub struct AgainstFloor {
    pub server: String,
    pub work: WorkKind,
    /// The ledger's phase.
    pub phase: &'static str,
    /// The phase's figure, as the report names it ("generation, CPU per request").
    pub what: String,
    pub measured_ms: f64,
    pub floor_ms: f64,
    /// What the floor is ("generating both matrices on one thread").
    pub floor_is: String,
}

impl AgainstFloor {
    pub fn ratio(&self) -> f64 {
        self.measured_ms / self.floor_ms
    }
}

/// Every phase of every ledger entry that has a floor in `summary`.
pub fn against_floors(summary: &RunSummary) -> Vec<AgainstFloor> {
    summary
        .ledger
        .iter()
        .flat_map(|entry| of_entry(summary, entry))
        .collect()
}

/// The ledger's phase that holds the bands' CPU.
const BANDS: &str = "waiting for bands";

fn of_entry(summary: &RunSummary, entry: &LedgerEntry) -> Vec<AgainstFloor> {
    let key = entry.scenario;
    let cpu = |phase: &str| entry.phases.get(phase).map(|p| p.cpu_ms);
    let row = |(phase, what): (&'static str, &str), measured: Option<f64>, floor: Option<f64>, floor_is: String| {
        let (measured_ms, floor_ms) = (measured?, floor.filter(|f| *f > 0.0)?);
        Some(AgainstFloor {
            server: entry.server.clone(),
            work: key.work,
            phase,
            what: what.to_owned(),
            measured_ms,
            floor_ms,
            floor_is,
        })
    };
    let work = (summary.work_costs.iter()).find(|c| c.work == key.work && c.n == key.n);
    let kernel = if key.work == WorkKind::Matmul {
        "the product"
    } else {
        "the sum"
    };
    let mut rows = vec![
        row(
            ("generation", "generation, CPU per request"),
            cpu("generation"),
            work.and_then(|w| w.generate_ms),
            format!("generating both {0}x{0} matrices on one thread", key.n),
        ),
        row(
            (BANDS, "the bands, CPU per request (all bands)"),
            cpu(BANDS),
            work.and_then(|w| w.kernel_ms),
            format!("{kernel} on one thread"),
        ),
    ];
    if key.work != WorkKind::Matmul {
        let bytes = add_bytes(key.n);
        rows.push(row(
            (BANDS, "the bands, CPU per request (all bands)"),
            cpu(BANDS),
            (summary.floors.memory_bandwidth_gb_s).map(|gb_s| bytes as f64 / (gb_s * 1e9) * 1000.0),
            format!(
                "its {:.1} MB at one core's memory bandwidth ({:.1} GB/s)",
                bytes as f64 / 1e6,
                summary.floors.memory_bandwidth_gb_s.unwrap_or(0.0)
            ),
        ));
    }
    if entry.thread_starts > 0.0 {
        rows.push(row(
            ("hand-off", "hand-off, the request thread's CPU per thread it starts"),
            cpu("hand-off").map(|ms| ms / entry.thread_starts),
            summary.thread_start_cpu_us.map(|us| us / 1000.0),
            "an empty thread started and joined, both sides".to_owned(),
        ));
    }
    if let Some(fork) = summary.floors.fork_of(&entry.server).filter(|_| entry.forks > 0.0) {
        let size = fork.private_bytes as f64 / f64::from(1 << 20);
        rows.push(row(
            (FORK_SERVER, "the fork server's CPU per fork"),
            cpu(FORK_SERVER).map(|ms| ms / entry.forks),
            Some(fork.fork_cpu_us / 1000.0),
            format!("the parent's side of a fork of a process its fork server's size, {size:.1} MiB private"),
        ));
        rows.push(row(
            ("way back", "way back, CPU per child (pipe, reaping, the child's exit)"),
            cpu("way back").map(|ms| ms / entry.forks),
            Some(fork.exit_cpu_us / 1000.0),
            "an empty child's exit".to_owned(),
        ));
    }
    rows.into_iter().flatten().collect()
}

/// The report's "Against the floors" section; empty without a row.
pub fn section(summary: &RunSummary) -> String {
    let rows = against_floors(summary);
    let mut md = String::new();
    if rows.is_empty() {
        return md;
    }
    md.push_str("## Against the floors\n\n");
    md.push_str(
        "Each phase of the ledger (Where the time goes) beside the least it could cost on this machine, \
         measured in the same run by the harness: the work on one thread, one core's memory bandwidth, an \
         empty thread's start, a fork of a process the size of the fork server. A ratio near 1 leaves \
         nothing to win in that phase; a high one is what the model adds.\n\n",
    );
    md.push_str("| server | work | phase | measured, ms | floor, ms | ratio | the floor |\n");
    md.push_str("|---|---|---|---:|---:|---:|---|\n");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.3} | {:.3} | {:.1}x | {} |",
            r.server,
            r.work.name(),
            r.what,
            r.measured_ms,
            r.floor_ms,
            r.ratio(),
            r.floor_is
        );
    }
    md.push('\n');
    for line in child_faults(summary) {
        let _ = writeln!(md, "{line}\n");
    }
    md
}

/// What the forked children's page faults were against an empty child's, for each server whose
/// ledger counted them.
fn child_faults(summary: &RunSummary) -> Vec<String> {
    (summary.ledger.iter())
        .filter_map(|entry| {
            let faults = entry.child_minor_faults?;
            let empty = (summary.floors.fork_of(&entry.server))
                .and_then(|f| f.exit_minor_faults)
                .map_or_else(String::new, |empty| {
                    format!(" against {empty:.0} for an empty child of a process its fork server's size")
                });
            Some(format!(
                "Each forked child of the {} server ({}) took {faults:.0} minor page faults, as `wait4` counted \
                 them{empty}.",
                entry.server,
                entry.scenario.work.name()
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::entry;
    use loadtest_model::floors::{Floors, ForkFloor};
    use loadtest_model::ledger::PhaseCost;

    #[test]
    fn each_phase_with_a_floor_is_set_against_it_per_its_own_unit() {
        let mut summary = crate::testdata::summary();
        assert_eq!(section(&summary), "", "no ledger, no section");
        let mut threads = entry("threading", 0.5, 0.1);
        threads.thread_starts = 3.0;
        let mut forks = entry("multiprocessing", 0.5, 0.2);
        forks.forks = 4.0;
        forks.child_minor_faults = Some(1480.4);
        let cpu_only = |cpu_ms| PhaseCost {
            wall_ms: 0.0,
            cpu_ms,
            wall_median_ms: 0.0,
        };
        forks.phases.insert(FORK_SERVER.to_owned(), cpu_only(0.8));
        summary.ledger = vec![threads, forks];
        summary.floors = Floors {
            memory_bandwidth_gb_s: Some(12.0),
            forks: vec![ForkFloor {
                server: "multiprocessing".into(),
                private_bytes: 3 << 20,
                shared_bytes: 0,
                forks: 200,
                fork_us: 110.0,
                fork_cpu_us: 100.0,
                cycle_us: 300.0,
                exit_cpu_us: 40.0,
                exit_minor_faults: Some(31.0),
            }],
        };
        let rows = against_floors(&summary);
        let find = |server: &str, what: &str, floor_is: &str| {
            (rows.iter())
                .find(|r| r.server == server && r.what.starts_with(what) && r.floor_is.starts_with(floor_is))
                .unwrap_or_else(|| panic!("{server} {what}: {rows:?}"))
        };
        // The fixed run's work: 0.95 ms to generate, 0.3 for the sum; 6 MB at 12 GB/s is 0.5 ms.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(find("threading", "generation", "generating").ratio(), 0.1 / 0.95));
        assert!(close(find("threading", "the bands", "the sum").floor_ms, 0.3));
        assert!(close(find("threading", "the bands", "its 6.0 MB").floor_ms, 0.5));
        // 0.1 ms of hand-off over 3 threads, against 26 µs for a start and join.
        let start = find("threading", "hand-off", "an empty thread");
        assert!(
            close(start.measured_ms, 0.1 / 3.0) && close(start.floor_ms, 0.026),
            "{start:?}"
        );
        // 0.8 ms of the fork server's CPU over 4 forks: 0.2 ms a fork, twice the floor.
        assert!(close(
            find("multiprocessing", "the fork server", "the parent").ratio(),
            2.0
        ));
        assert!(close(find("multiprocessing", "way back", "an empty").floor_ms, 0.04));
        // Threads have no fork floor; a fork server's server no thread-start row.
        assert!(!rows.iter().any(|r| r.server == "threading" && r.what.contains("fork")));
        assert!(
            !rows
                .iter()
                .any(|r| r.server == "multiprocessing" && r.what.contains("thread"))
        );
        let md = section(&summary);
        assert!(md.starts_with("## Against the floors"), "{md}");
        assert_eq!(md.matches("\n| threading |").count(), 4, "{md}");
        assert!(
            md.contains(
                "Each forked child of the multiprocessing server (add) took 1480 minor page faults, as `wait4` \
                 counted them against 31 for an empty child of a process its fork server's size."
            ),
            "{md}"
        );
    }
}
