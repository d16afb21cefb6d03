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

use crate::catalogue::Catalogue;
use crate::summary::RunSummary;

/// Writes `summary.json`, `results.csv`, the charts, `report.md` and `report.html` into `dir`; returns the
/// files written.
pub fn write_all(summary: &RunSummary, catalogue: &Catalogue, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let json = serde_json::to_vec_pretty(summary).context("serializing the summary")?;
    write(dir, "summary.json", &json)?;
    files.push("summary.json".to_owned());
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

/// Draws a results folder's reports again from its `summary.json`: report.md, report.html,
/// results.csv and the charts, as this version of the harness writes them (a main-job folder;
/// a cluster run's is redrawn by `loadtest cluster`'s own report).
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The results folder (it holds summary.json).
    pub dir: std::path::PathBuf,
}

/// `loadtest report DIR`; `catalogue` gives the lab servers' colours.
pub fn redraw(args: &ReportArgs, catalogue: &Catalogue) -> anyhow::Result<()> {
    let path = args.dir.join("summary.json");
    let json = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: RunSummary = serde_json::from_slice(&json)
        .with_context(|| format!("{} is not a main-job summary this harness can read", path.display()))?;
    let files = write_all(&summary, catalogue, &args.dir)?;
    println!("Wrote {} in {}/.", files.join(", "), args.dir.display());
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_redrawn_from_its_summary_alone() {
        let dir = tempfile::tempdir().unwrap();
        let summary = crate::testdata::with_open_loop();
        write_all(&summary, &Catalogue::lab(), dir.path()).unwrap();
        for file in ["report.md", "report.html", "results.csv", "latency_open.svg"] {
            std::fs::remove_file(dir.path().join(file)).unwrap();
        }
        redraw(
            &ReportArgs {
                dir: dir.path().to_path_buf(),
            },
            &Catalogue::lab(),
        )
        .unwrap();
        for file in ["report.md", "report.html", "results.csv", "latency_open.svg"] {
            assert!(dir.path().join(file).exists(), "{file}");
        }
        let back: RunSummary =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
        // (Floats read back from JSON may differ in their last bit: compare what they say.)
        assert_eq!(
            (back.results.len(), &back.conclusions),
            (summary.results.len(), &summary.conclusions)
        );

        let empty = tempfile::tempdir().unwrap();
        let error = redraw(
            &ReportArgs {
                dir: empty.path().to_path_buf(),
            },
            &Catalogue::lab(),
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("summary.json"), "{error:#}");
    }
}
