//! The comparison table printed on the terminal at the end of a run.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use crate::summary::RunSummary;

/// One row per server and scenario: the contracted figures, with the RPS spread.
pub fn comparison_table(summary: &RunSummary) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        "server",
        "work",
        "c",
        "n",
        "workers",
        "req/s (median)",
        "req/s range",
        "p50 ms",
        "p99 ms",
        "p99/p50",
        "CPU ms/req",
        "x work",
        "peak MiB",
        "trials",
        "2xx rate",
    ]);
    for r in &summary.results {
        let range = r
            .rps
            .filter(|s| s.n > 1)
            .map_or_else(|| "-".into(), |s| format!("{:.0} to {:.0}", s.min, s.max));
        table.add_row([
            r.server.clone(),
            r.work.name().to_owned(),
            r.concurrency.to_string(),
            r.n.to_string(),
            r.workers.to_string(),
            number(r.rps_median, 0),
            range,
            number(r.latency_p50_ms, 1),
            number(r.latency_p99_ms, 1),
            number(r.latency_p99_over_p50, 1),
            number(r.cpu_ms_per_request, 2),
            number(r.cpu_vs_work, 1),
            number(r.peak_memory_bytes.map(|b| b as f64 / (1024.0 * 1024.0)), 1),
            if r.trials_invalid > 0 {
                format!("{} (+{} invalid)", r.trials_valid, r.trials_invalid)
            } else {
                r.trials_valid.to_string()
            },
            format!("{:.1}%", r.success_rate * 100.0),
        ]);
    }
    for column in 2..15 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// `value` with `decimals` digits, or `-`.
pub fn number(value: Option<f64>, decimals: usize) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_is_a_row_with_its_figures() {
        let text = comparison_table(&crate::testdata::summary()).to_string();
        assert!(text.contains("threading") && text.contains("multiprocessing"), "{text}");
        assert!(text.contains("800") && text.contains("780 to 820"), "{text}");
        assert!(text.contains("3 (+1 invalid)"), "{text}");
        assert!(text.contains("p99/p50") && text.contains("1.5"), "{text}");
    }
}
