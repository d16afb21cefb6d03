//! What `loadtest cluster` prints at the end, within the terminal's 100 columns: per server and
//! host count the throughput, latency and efficiency; per fault what it cost. Every column
//! (each host's CPU, throttling and requests; retries and redispatches) is in report.md.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use crate::table::{TERMINAL_COLUMNS, number};
use loadtest_model::cluster::summary::ClusterSummary;

/// The scaling table, and the fault table if faults ran.
pub fn tables(cluster: &ClusterSummary) -> String {
    let mut scaling = table(&[
        "server",
        "hosts",
        "req/s",
        "p50 ms",
        "p99 ms",
        "efficiency",
        "CPU ms/answer",
    ]);
    for e in &cluster.scaling {
        scaling.add_row([
            e.server.clone(),
            e.hosts.to_string(),
            format!("{:.0}", e.rps_median),
            number(e.latency_p50_ms, 1),
            number(e.latency_p99_ms, 1),
            number(e.efficiency.map(|v| v * 100.0), 0) + if e.efficiency.is_some() { "%" } else { "" },
            number(e.host_cpu_ms_per_request, 2),
        ]);
    }
    right_align(&mut scaling, 1..7);
    let mut out = scaling.to_string();
    if !cluster.faults.is_empty() {
        let mut faults = table(&[
            "server",
            "fault",
            "retries",
            "requests",
            "lost",
            "down s",
            "kept",
            "recovered s",
        ]);
        for e in &cluster.faults {
            faults.add_row([
                e.server.clone(),
                super::report::trial_kind(e),
                (if e.retries { "on" } else { "off" }).to_owned(),
                e.requests.to_string(),
                e.lost.to_string(),
                number(e.detect_s, 1),
                super::faults::kept(e).map_or_else(|| "-".into(), |k| format!("{:.0}%", k * 100.0)),
                number(e.recover_s, 1),
            ]);
        }
        right_align(&mut faults, 3..8);
        out.push('\n');
        out.push_str(&faults.to_string());
    }
    out
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TERMINAL_COLUMNS)
        .set_header(header.to_vec());
    table
}

fn right_align(table: &mut Table, columns: std::ops::Range<usize>) {
    for column in columns {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_fit_the_terminal() {
        let text = tables(&crate::cluster::conclusions::tests::summary());
        assert!(text.contains("efficiency") && text.contains("recovered s"), "{text}");
        assert!(text.contains("threading") && text.contains("crash"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= usize::from(TERMINAL_COLUMNS), "{line}");
        }
    }
}
