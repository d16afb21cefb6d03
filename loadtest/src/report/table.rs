//! The comparison table printed on the terminal at the end of a run.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table};

use crate::summary::{RunSummary, ScenarioKey};
use crate::workload::WorkKind;

/// The width the terminal output keeps to.
pub const TERMINAL_COLUMNS: u16 = 100;

/// One row per server and scenario: the figures a reader compares first (CPU ms per request,
/// peak MiB of PSS), within [`TERMINAL_COLUMNS`]; the rest (tail ratio, work multiple, 2xx
/// rate) are in report.md.
pub fn comparison_table(summary: &RunSummary) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TERMINAL_COLUMNS);
    table.set_header([
        "server", "scenario", "req/s", "range", "p50 ms", "p99 ms", "CPU ms", "MiB", "trials",
    ]);
    for r in &summary.results {
        let range = r
            .rps
            .filter(|s| s.n > 1)
            .map_or_else(|| "-".into(), |s| format!("{:.0}-{:.0}", s.min, s.max));
        table.add_row([
            r.server.clone(),
            scenario_label(crate::aggregate::key(r)),
            number(r.rps_median, 0),
            range,
            number(r.latency_p50_ms, 1),
            number(r.latency_p99_ms, 1),
            number(r.cpu_ms_per_request, 2),
            number(r.peak_memory_bytes.map(|b| b as f64 / (1024.0 * 1024.0)), 1),
            if r.trials_invalid > 0 {
                format!("{} (+{} invalid)", r.trials_valid, r.trials_invalid)
            } else {
                r.trials_valid.to_string()
            },
        ]);
    }
    for column in 2..9 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Names and figures stay whole; the scenario and trials columns wrap when space runs out.
    for column in [0, 2, 3, 4, 5, 6, 7] {
        if let Some(column) = table.column_mut(column) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table
}

/// Wrapping to [`TERMINAL_COLUMNS`], never inside a word: server names such as
/// python-processes-fixed stay whole.
pub fn terminal_options() -> textwrap::Options<'static> {
    textwrap::Options::new(usize::from(TERMINAL_COLUMNS)).word_splitter(textwrap::WordSplitter::NoHyphenation)
}

/// `line` as a bullet wrapped to [`TERMINAL_COLUMNS`], its continuation lines indented.
pub fn terminal_bullet(line: &str) -> String {
    textwrap::fill(line, terminal_options().initial_indent("- ").subsequent_indent("  "))
}

/// `c=20 n=500 w=4`, with the work when it is not the original lab's `add`, and the rate of
/// an open loop.
pub fn scenario_label(key: ScenarioKey) -> String {
    let work = match key.work {
        WorkKind::Add => String::new(),
        WorkKind::Io => format!("io (wait {} ms) ", key.wait_ms.unwrap_or(0)),
        other => format!("{} ", other.name()),
    };
    let open = key
        .offered_rps
        .map_or_else(String::new, |rate| format!(" open {rate}/s"));
    format!("{work}c={} n={} w={}{open}", key.concurrency, key.n, key.workers)
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
        assert!(text.contains("800") && text.contains("780-820"), "{text}");
        assert!(text.contains("3 (+1") && text.contains("invalid)"), "{text}");
        assert!(text.contains("c=20 n=500 w=4"), "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= usize::from(TERMINAL_COLUMNS), "{line}");
        }
    }

    #[test]
    fn conclusions_wrap_to_the_terminal() {
        let long = "word python-processes-fixed ".repeat(30);
        let wrapped = terminal_bullet(long.trim());
        assert!(wrapped.starts_with("- word"), "{wrapped}");
        assert!(wrapped.lines().count() >= 3, "{wrapped}");
        for line in wrapped.lines().skip(1) {
            assert!(
                line.starts_with("  word") || line.starts_with("  python-processes-fixed"),
                "{line}"
            );
        }
        assert_eq!(wrapped.matches("python-processes-fixed").count(), 30, "{wrapped}");
        assert!(wrapped.lines().all(|l| l.chars().count() <= 100), "{wrapped}");
    }
}
