//! The report's "Where the time goes" section: for each kind of work the run traced, a table
//! of the ledger's phases (rows) by server (columns), each cell the phase's mean wall time and
//! CPU per request.

use std::fmt::Write as _;

use loadtest_model::ledger::{CPU_ONLY, LedgerEntry, all_phases};
use loadtest_model::summary::RunSummary;

use crate::charts::short_number;

/// The section's markdown; empty when the run has no ledger.
pub fn section(summary: &RunSummary) -> String {
    let mut md = String::new();
    if summary.ledger.is_empty() {
        return md;
    }
    md.push_str("## Where the time goes\n\n");
    md.push_str(
        "Read from the traced windows (see Traces): each request whose whole life a window holds, cut into \
         phases that follow one another from its arrival at the handler to its answer; means per request, wall \
         time / CPU, in ms. The bands' CPU is every band's, summed. Outside the handler is the server's process \
         tree's CPU over the window per answer, less what the phases account for. Covered: the requests whose \
         named phases cover their handler's span to within 5% or 0.05 ms.\n\n",
    );
    let mut works: Vec<_> = summary.ledger.iter().map(|e| e.scenario.work).collect();
    works.dedup();
    for work in works {
        let entries: Vec<&LedgerEntry> = (summary.ledger.iter()).filter(|e| e.scenario.work == work).collect();
        table(&mut md, summary, (work.name(), &entries));
    }
    md
}

/// What a row shows of one entry.
type Cell<'a> = dyn Fn(&LedgerEntry) -> String + 'a;

fn table(md: &mut String, summary: &RunSummary, (work, entries): (&str, &[&LedgerEntry])) {
    let _ = write!(md, "| {work}: ms, wall / CPU |");
    for entry in entries {
        let _ = write!(md, " {} |", entry.server);
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(entries.len()));
    md.push('\n');
    for name in all_phases() {
        let present = entries
            .iter()
            .any(|e| e.phases.get(name).is_some_and(|p| p.wall_ms != 0.0 || p.cpu_ms != 0.0));
        if !present {
            continue;
        }
        let _ = write!(md, "| {name} |");
        for entry in entries {
            let cell = entry.phases.get(name).map_or_else(String::new, |p| {
                if CPU_ONLY.contains(&name) {
                    format!("CPU {}", short_number(p.cpu_ms))
                } else {
                    format!("{} / {}", short_number(p.wall_ms), short_number(p.cpu_ms))
                }
            });
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    let trials = |e: &LedgerEntry| {
        (summary.results.iter())
            .find(|r| r.server == e.server && r.scenario == e.scenario)
            .and_then(|r| r.cpu_ms_per_request)
    };
    let against_trials = |e: &LedgerEntry| match (e.tree_cpu_ms_per_request, trials(e)) {
        (Some(ledger), Some(trials)) if trials > 0.0 => {
            format!("{} ({:.2}x)", short_number(trials), ledger / trials)
        }
        _ => String::new(),
    };
    let rows: [(&str, &Cell<'_>); 6] = [
        ("handler span (median)", &|e| {
            format!("{} ({})", short_number(e.handler_ms), short_number(e.handler_median_ms))
        }),
        ("server's CPU per answer", &|e| {
            e.tree_cpu_ms_per_request.map_or_else(String::new, short_number)
        }),
        ("the same load untraced, the second before", &|e| {
            e.untraced_cpu_ms_per_request.map_or_else(String::new, short_number)
        }),
        ("the trials' CPU per request (ledger over it)", &against_trials),
        ("requests", &|e| e.requests.to_string()),
        ("covered", &|e| format!("{:.0}%", e.covered_share * 100.0)),
    ];
    for (label, cell) in rows {
        // A run from before the untraced second has no such row.
        if entries.iter().all(|e| cell(e).is_empty()) {
            continue;
        }
        let _ = write!(md, "| {label} |");
        for entry in entries {
            let _ = write!(md, " {} |", cell(entry));
        }
        md.push('\n');
    }
    md.push('\n');
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use loadtest_model::ledger::{OUTSIDE, PHASES, PhaseCost};
    use loadtest_model::summary::ScenarioKey;

    use super::*;

    /// The phases only a task on an event loop spends time in.
    pub(crate) const TASKS_ALONE: [&str; 2] = ["awaiting", "queued on the loop"];

    /// A ledger of `server` at add whose every phase took `wall` ms and `cpu` ms, but a task's
    /// own two (awaiting, queued on the loop), which took nothing.
    pub(crate) fn entry(server: &str, wall: f64, cpu: f64) -> LedgerEntry {
        let cost = |wall_ms, cpu_ms| PhaseCost {
            wall_ms,
            cpu_ms,
            wall_median_ms: wall_ms,
        };
        let mut phases: BTreeMap<String, PhaseCost> = PHASES
            .iter()
            .map(|name| match TASKS_ALONE.contains(name) {
                true => ((*name).to_owned(), cost(0.0, 0.0)),
                false => ((*name).to_owned(), cost(wall, cpu)),
            })
            .collect();
        phases.insert(OUTSIDE.to_owned(), cost(0.0, 0.25));
        LedgerEntry {
            server: server.to_owned(),
            scenario: ScenarioKey::DEFAULT,
            requests: 321,
            handler_ms: 10.0 * wall,
            handler_median_ms: 9.0 * wall,
            phases,
            covered_share: 0.97,
            tree_cpu_ms_per_request: Some(9.0 * cpu + 0.25),
            untraced_cpu_ms_per_request: None,
            generation_alone_cpu_ms: None,
            thread_starts: 0.0,
            forks: 0.0,
            child_minor_faults: None,
        }
    }

    #[test]
    fn each_phase_is_a_row_and_each_server_a_column() {
        let mut summary = crate::testdata::summary();
        assert_eq!(section(&summary), "", "no ledger, no section");
        summary.ledger = vec![entry("threading", 0.5, 0.25), entry("prefork", 1.5, 0.75)];
        let md = section(&summary);
        assert!(md.starts_with("## Where the time goes"), "{md}");
        assert!(md.contains("| add: ms, wall / CPU | threading | prefork |"), "{md}");
        for name in PHASES {
            // A phase no server spent anything in is no row.
            let row = format!("| {name} | 0.5 / 0.25 | 1.5 / 0.75 |");
            assert_eq!(md.contains(&row), !TASKS_ALONE.contains(&name), "{name}: {md}");
            assert_eq!(md.contains(&format!("| {name} |")), md.contains(&row), "{name}: {md}");
        }
        assert!(md.contains("| outside the handler | CPU 0.25 | CPU 0.25 |"), "{md}");
        assert!(md.contains("| handler span (median) | 5 (4.5) | 15 (13.5) |"), "{md}");
        assert!(md.contains("| server's CPU per answer | 2.5 | 7 |"), "{md}");
        assert!(
            md.contains("| requests | 321 | 321 |") && md.contains("| covered | 97% | 97% |"),
            "{md}"
        );
    }
}
