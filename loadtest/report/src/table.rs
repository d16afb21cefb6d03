//! The comparison table printed on the terminal at the end of a run.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table};

use loadtest_model::summary::{RunSummary, ScenarioKey};
use matrix_service::WorkKind;

/// The width the terminal output keeps to.
pub const TERMINAL_COLUMNS: u16 = 100;

/// One row per server and scenario: the figures a reader compares first (CPU ms per request,
/// peak MiB of PSS), within [`TERMINAL_COLUMNS`]; the rest (tail ratio, work multiple, 2xx
/// rate, trials) are in report.md. The scenario column names only what differs between rows,
/// and is left out when nothing does (the conclusions name the scenario).
pub fn comparison_table(summary: &RunSummary) -> Table {
    let keys: Vec<ScenarioKey> = summary.results.iter().map(|r| r.scenario).collect();
    let varies = Varies::among(&keys);
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TERMINAL_COLUMNS);
    let mut header = vec!["server"];
    if varies.any() {
        header.push("scenario");
    }
    header.extend(["req/s", "range", "p50 ms", "p99 ms", "CPU ms", "MiB"]);
    table.set_header(header);
    for (r, key) in summary.results.iter().zip(&keys) {
        let range = r
            .rps
            .filter(|s| s.n > 1)
            .map_or_else(|| "-".into(), |s| format!("{:.0}-{:.0}", s.min, s.max));
        let mut row = vec![r.server.clone()];
        if varies.any() {
            row.push(varies.label(*key));
        }
        row.extend([
            number(r.rps_median, 0),
            range,
            number(r.latency_p50_ms, 1),
            number(r.latency_p99_ms, 1),
            number(r.cpu_ms_per_request, 2),
            number(r.peak_memory_bytes.map(|b| b as f64 / (1024.0 * 1024.0)), 1),
        ]);
        table.add_row(row);
    }
    let first_figure = if varies.any() { 2 } else { 1 };
    for column in first_figure..first_figure + 6 {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
            // Figures stay whole; only the scenario column wraps when space runs out.
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(column) = table.column_mut(0) {
        column.set_constraint(ColumnConstraint::ContentWidth);
    }
    table
}

/// Which parts of the scenarios differ between a table's rows.
struct Varies {
    work: bool,
    concurrency: bool,
    n: bool,
    workers: bool,
    rate: bool,
}

impl Varies {
    fn among(keys: &[ScenarioKey]) -> Self {
        let differs = |part: fn(&ScenarioKey) -> (u32, u32)| keys.windows(2).any(|w| part(&w[0]) != part(&w[1]));
        Self {
            work: differs(|k| (k.work as u32, k.wait_ms.unwrap_or(0))),
            concurrency: differs(|k| (k.concurrency, 0)),
            n: differs(|k| (k.n, 0)),
            workers: differs(|k| (k.workers, 0)),
            rate: differs(|k| (k.offered_rps.unwrap_or(0), 0)),
        }
    }

    fn any(&self) -> bool {
        self.work || self.concurrency || self.n || self.workers || self.rate
    }

    /// `matmul w=8`, `closed`, `open 428/s`: the parts that differ.
    fn label(&self, key: ScenarioKey) -> String {
        let mut parts = Vec::new();
        if self.work {
            parts.push(match key.wait_ms {
                Some(wait) if key.work.waits() => format!("{} {wait}ms", key.work.name()),
                _ => key.work.name().to_owned(),
            });
        }
        if self.concurrency {
            parts.push(format!("c={}", key.concurrency));
        }
        if self.n {
            parts.push(format!("n={}", key.n));
        }
        if self.workers {
            parts.push(format!("w={}", key.workers));
        }
        if self.rate {
            parts.push(
                key.offered_rps
                    .map_or_else(|| "closed".to_owned(), |rate| format!("open {rate}/s")),
            );
        }
        parts.join(" ")
    }
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

/// The run's targets for the terminal, one line per target: "tail ...: threading 1.37x (met),
/// prefork 1.33x (met); at most 3.00x."
pub fn target_lines(summary: &RunSummary) -> Vec<String> {
    let mut lines = Vec::new();
    for group in summary.targets.chunk_by(|a, b| a.target == b.target) {
        let servers: Vec<String> = (group.iter())
            .map(|t| format!("{} {} ({})", t.server, t.figure_text(), t.verdict()))
            .collect();
        let limit = (group.iter())
            .find(|t| t.limit.is_some())
            .map_or_else(String::new, |t| format!("; {}", t.limit_text()));
        lines.push(format!("{}: {}{limit}.", group[0].target, servers.join(", ")));
    }
    lines
}

/// `c=20 n=500 w=4`, with the work when it is not the original lab's `add`, and the rate of
/// What the terminal shows at a run's end: the comparison table, the verdict, the targets, the
/// conclusions and the warnings, then `wrote` (the files written), wrapped to the terminal's
/// width.
pub fn terminal(summary: &RunSummary, wrote: &str) -> String {
    let mut out = format!("{}\n\nVerdict:\n", comparison_table(summary));
    out.push_str(&textwrap::fill(&summary.verdict.join(" "), terminal_options()));
    out.push('\n');
    let bullets = |out: &mut String, lines: &[String]| {
        for line in lines {
            out.push_str(&terminal_bullet(line));
            out.push('\n');
        }
    };
    if !summary.targets.is_empty() {
        out.push_str("\nTargets:\n");
        bullets(&mut out, &target_lines(summary));
    }
    if !summary.conclusions.is_empty() {
        out.push_str("\nConclusions:\n");
        bullets(&mut out, &summary.conclusions);
    }
    out.push_str("\nWarnings:\n");
    bullets(&mut out, &summary.warnings);
    out.push('\n');
    out.push_str(&textwrap::fill(wrote, terminal_options()));
    out
}

/// A scenario in a few words: its kind of work, connections, n and workers, and the rate of
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
    fn the_terminal_shows_the_table_then_the_verdict_and_keeps_to_its_columns() {
        let summary = crate::testdata::three_servers();
        let text = terminal(&summary, "Wrote summary.json in results/.");
        let at = |part: &str| text.find(part).unwrap_or_else(|| panic!("{part} missing:\n{text}"));
        assert!(at("Verdict:\nFastest: threading.") < at("Conclusions:"), "{text}");
        assert!(at("Conclusions:") < at("Warnings:") && at("Warnings:") < at("Wrote summary.json"));
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= usize::from(TERMINAL_COLUMNS), "{widest} columns:\n{text}");
    }

    #[test]
    fn each_target_is_one_line_naming_every_server_checked() {
        let summary: RunSummary =
            serde_json::from_str(include_str!("../../../docs/runs/2026-12-06-lab-targets/summary.json")).unwrap();
        let lines = target_lines(&summary);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(
            lines[1],
            "matmul n=500, one request alone: time with 2 workers over 1: threading 0.58x (met), thread-pool \
             0.53x (met), prefork 0.54x (met); at most 0.60x."
        );
        assert!(
            lines[2].contains("multiprocessing 51% (reported), prefork 97% (met); at least 80%."),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn every_result_is_a_row_with_its_figures() {
        let text = comparison_table(&crate::testdata::summary()).to_string();
        assert!(text.contains("threading") && text.contains("multiprocessing"), "{text}");
        assert!(text.contains("800") && text.contains("780-820"), "{text}");
        assert!(!text.contains("scenario"), "one scenario: no column for it: {text}");
        for line in text.lines() {
            assert!(line.chars().count() <= usize::from(TERMINAL_COLUMNS), "{line}");
        }
    }

    #[test]
    fn the_scenario_column_names_what_differs() {
        let text = comparison_table(&crate::testdata::with_open_loop()).to_string();
        assert!(
            text.contains("scenario") && text.contains("closed") && text.contains("open 300/s"),
            "{text}"
        );
        assert!(!text.contains("n=500"), "{text}");
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
