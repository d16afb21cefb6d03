//! `loadtest compare BASE NEW [--out DIR] [--fail-on-regression PCT]`: two results folders set
//! side by side ([`loadtest_model::compare`] decides every figure), written as `compare.json`,
//! `compare.md`, `compare.svg` (each ratio with its interval against the noise band) and
//! `compare.html`, and told on the terminal.
//!
//! Exit codes are the command's answer to a script: 0, 3 when `--fail-on-regression` is given
//! and a figure is worse beyond noise by more than it, 2 for input it cannot compare
//! ([`BadInput`]).

mod chart;
mod markdown;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context;

use loadtest_model::compare::{CompareRun, compare};
use loadtest_model::files::{read_json, write_json};
use loadtest_model::summary::RunSummary;

/// Compares two results folders of the main job, figure by figure, with the spread of their
/// trials: NEW over BASE for req/s, p50, p99 and CPU per request, each with its 95% interval,
/// a verdict against the ±5% noise band and a Mann-Whitney p-value; what differs between the
/// two runs first.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The run to compare against: a results folder holding summary.json.
    pub base: PathBuf,
    /// The run compared: a results folder holding summary.json.
    pub new: PathBuf,
    /// Where to write compare.json, compare.md, compare.html and compare.svg [default:
    /// results/compare-TIME/, TIME in UTC].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit with 3 when a figure of NEW is worse than BASE's beyond noise and by more than PCT
    /// percent (fewer req/s, or more time or CPU per request).
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub fail_on_regression: Option<f64>,
}

fn percent(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(pct) if pct.is_finite() && (0.0..=1000.0).contains(&pct) => Ok(pct),
        _ => Err("must be a percentage from 0 to 1000, such as 10 or 2.5".into()),
    }
}

/// Input `compare` cannot work on: the command exits with 2 and this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// What the comparison found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing worse beyond the limit (or no limit given).
    Passed,
    /// `--fail-on-regression` was given and at least one figure is worse beyond it.
    Regressed,
}

/// Runs `loadtest compare`: reads both folders, writes the comparison (into `--out`, else
/// `results/compare-<stamp>/`), prints it.
pub fn run(args: &CompareArgs, stamp: &str) -> anyhow::Result<Outcome> {
    let base = read_run(&args.base, "BASE")?;
    let new = read_run(&args.new, "NEW")?;
    let shown = |dir: &Path| dir.display().to_string();
    let compared = compare(
        (&shown(&args.base), &base),
        (&shown(&args.new), &new),
        args.fail_on_regression,
    )
    .ok_or_else(|| {
        BadInput(format!(
            "{} and {} have nothing in common: no server was measured in the same scenario in both \
             (BASE: {}; NEW: {})",
            args.base.display(),
            args.new.display(),
            measured(&base),
            measured(&new)
        ))
    })?;
    let out = (args.out.clone()).unwrap_or_else(|| PathBuf::from("results").join(format!("compare-{stamp}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let files = write(&compared, &out)?;
    print!("{}", markdown::terminal(&compared));
    println!("Wrote {} in {}/.", files.join(", "), out.display());
    let regressed = compared.comparisons.iter().any(|c| c.regression);
    Ok(if regressed { Outcome::Regressed } else { Outcome::Passed })
}

/// Writes `compare.json`, `compare.svg`, `compare.md` and `compare.html` into `out`; returns
/// their names.
pub fn write(compared: &CompareRun, out: &Path) -> anyhow::Result<Vec<String>> {
    write_json(&out.join("compare.json"), compared)?;
    let svg = chart::draw(compared).context("drawing the chart of the ratios")?;
    std::fs::write(out.join(chart::FILE), svg).with_context(|| format!("writing {}", chart::FILE))?;
    let md = markdown::render(compared);
    std::fs::write(out.join("compare.md"), &md).context("writing compare.md")?;
    let html = crate::html::render(&md, out)?;
    std::fs::write(out.join("compare.html"), html).context("writing compare.html")?;
    Ok(["compare.json", "compare.md", "compare.html", chart::FILE]
        .map(str::to_owned)
        .to_vec())
}

/// A main run's summary from `dir`, or why it cannot be compared.
fn read_run(dir: &Path, which: &str) -> Result<RunSummary, BadInput> {
    if !dir.is_dir() {
        return Err(BadInput(format!("{which} {} is not a folder", dir.display())));
    }
    let path = dir.join("summary.json");
    if !path.is_file() {
        return Err(BadInput(format!(
            "{which} {} holds no summary.json: give a results folder of `loadtest` (results/<time>/)",
            dir.display()
        )));
    }
    let value: serde_json::Value = read_json(&path, "JSON").map_err(|e| BadInput(format!("{which}: {e:#}")))?;
    if value.get("cluster").is_some() {
        return Err(BadInput(format!(
            "{which} {} is a `loadtest cluster` run: compare reads the main job's runs",
            dir.display()
        )));
    }
    read_json(&path, "a main run's summary").map_err(|e| BadInput(format!("{which}: {e:#}")))
}

/// The servers a run measured, for an error message.
fn measured(run: &RunSummary) -> String {
    const SHOWN: usize = 6;
    let pairs: Vec<String> = (run.results.iter())
        .map(|r| format!("{} at {}", r.server, crate::table::scenario_label(r.scenario)))
        .collect();
    match pairs.len() {
        0 => "no results".to_owned(),
        n if n <= SHOWN => pairs.join(", "),
        n => format!("{}, and {} more", pairs[..SHOWN].join(", "), n - SHOWN),
    }
}
