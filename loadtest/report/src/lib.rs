//! Reporting: what a run says, drawn from its model alone (`loadtest_model`).
//!
//! A main run's `report.md` ([`markdown`]), `report.html` ([`html`], the same report with its
//! charts inside), the SVG charts ([`charts`]), `results.csv` ([`csv_export`]) and the terminal
//! tables ([`table`]); the conclusions ([`conclusions`]) and the lab's targets ([`targets`])
//! computed from its figures ([`analyse`]). A cluster run's ([`cluster`]) and an uploads run's
//! ([`uploads`]) reports beside them. [`redraw`](mod@redraw) draws any results folder again from the JSON it
//! holds; [`compare`](mod@compare) sets two runs side by side. Every report of a run comes from the one summary, so they cannot disagree; nothing
//! here measures.

pub mod charts;
pub mod claims;
pub mod cluster;
pub mod compare;
pub mod conclusions;
pub mod csv_export;
pub mod floors;
pub mod html;
pub mod ledger;
pub mod markdown;
pub mod redraw;
pub mod table;
pub mod targets;
pub mod timeline;
pub mod uploads;

#[cfg(test)]
mod testdata;

use std::path::Path;

use anyhow::Context;

use loadtest_model::aggregate;
use loadtest_model::catalogue::Catalogue;
use loadtest_model::summary::RunSummary;

pub use redraw::{ReportArgs, redraw};

/// Draws everything the figures say from `summary`'s trials: its results and comparisons, then
/// its warnings (`run_warnings`, what the run itself saw, first), conclusions and targets.
pub fn analyse(summary: &mut RunSummary, run_warnings: &[String], catalogue: &Catalogue) {
    aggregate::recompute(summary);
    summary.warnings = run_warnings.to_vec();
    summary.warnings.extend(conclusions::warnings(summary));
    summary.verdict = conclusions::verdict(summary);
    summary.conclusions = conclusions::conclusions(summary, catalogue);
    summary.targets = targets::check(summary, catalogue);
    summary.claims = claims::claims(summary);
}

/// Writes `results.csv`, the charts, `report.md` and `report.html` of a main run into `dir`;
/// returns the files written. `summary.json` is the run's to write, not the report's.
pub fn write_reports(summary: &RunSummary, catalogue: &Catalogue, dir: &Path) -> anyhow::Result<Vec<String>> {
    let summary = &with_verdict(summary, catalogue);
    let mut files = Vec::new();
    write(dir, "results.csv", csv_export::results_csv(summary)?.as_bytes())?;
    files.push("results.csv".to_owned());
    let charts = charts::write_charts(summary, catalogue, dir).context("drawing the charts")?;
    files.extend(charts.iter().cloned());
    let markdown = markdown::render(summary, &charts);
    write(dir, "report.md", markdown.as_bytes())?;
    files.push("report.md".to_owned());
    write(dir, "report.html", html::render(&markdown, dir)?.as_bytes())?;
    files.push("report.html".to_owned());
    Ok(files)
}

/// `summary` as this version reports it: a run from before the verdict was kept apart (its first
/// conclusion was its verdict, and its conclusions repeated the comparisons table pair by pair)
/// gets its verdict and conclusions drawn again from its figures.
fn with_verdict(summary: &RunSummary, catalogue: &Catalogue) -> RunSummary {
    let mut summary = summary.clone();
    if summary.verdict.is_empty() {
        summary.verdict = conclusions::verdict(&summary);
        summary.conclusions = conclusions::conclusions(&summary, catalogue);
    }
    summary
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}
