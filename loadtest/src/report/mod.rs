//! Writing a run's results: `summary.json` (every figure), `results.csv` (its results, one row
//! each), the SVG charts, `report.md`, and `report.html` (the same report with its charts inside).
//! Every report is drawn from the one [`RunSummary`], so they cannot disagree.

pub mod charts;
pub mod csv_export;
pub mod html;
pub mod markdown;
pub mod table;

use std::path::Path;

use anyhow::Context;

use crate::summary::RunSummary;

/// Writes `summary.json`, `results.csv`, the charts, `report.md` and `report.html` into `dir`; returns the
/// files written.
pub fn write_all(summary: &RunSummary, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let json = serde_json::to_vec_pretty(summary).context("serializing the summary")?;
    write(dir, "summary.json", &json)?;
    files.push("summary.json".to_owned());
    write(dir, "results.csv", csv_export::results_csv(summary)?.as_bytes())?;
    files.push("results.csv".to_owned());
    let charts = charts::write_charts(summary, dir).context("drawing the charts")?;
    files.extend(charts.iter().cloned());
    let markdown = markdown::render(summary, &charts);
    write(dir, "report.md", markdown.as_bytes())?;
    files.push("report.md".to_owned());
    write(dir, "report.html", html::render(&markdown, dir)?.as_bytes())?;
    files.push("report.html".to_owned());
    Ok(files)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}
