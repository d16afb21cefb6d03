//! SVG charts drawn from a saved [`RunSummary`], never from live measurements, so a run's
//! charts can always be redrawn from its `summary.json` (hyperfine's plotting scripts likewise
//! read its JSON export).
//!
//! Each chart kind has one function that picks its figures out of the summary (`*_chart`,
//! pure, returning `None` when there is nothing to draw) and two renderers that draw them:
//! `draw_bars` for per-server bars with min-max whiskers and one dot per trial, and
//! `draw_lines` for sweeps. Every chart puts the same colour on the same server (a lab server's
//! is the catalogue's; another server takes one no lab server of the run has) and carries its legend in a panel to the right of the plot, so the legend
//! never covers data.
//!
//! The SVG backend needs no fonts at build time: text is written as `<text>` elements and laid
//! out by whatever renders the file. plotters only estimates text widths, so labels are kept
//! short and given room.
//!
//! This module holds the entry point and what both halves share (sizes, the palette, the
//! server order, numbers in short form); `data` picks the figures and `draw` draws them.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use plotters::prelude::*;

use loadtest_model::catalogue::Catalogue;
use loadtest_model::summary::{RunSummary, ScenarioKey};
use matrix_service::WorkKind;

use data::{BarChart, LineChart, SweepFigure, cpu_chart, latency_chart, memory_chart, sweep_chart, throughput_chart};
pub(crate) use draw::Slots;
use draw::{draw_bars, draw_lines};

mod data;
mod draw;
mod phases;
#[cfg(test)]
pub(crate) mod tests;

/// Size of every chart, in pixels.
pub(crate) const SIZE: (u32, u32) = (960, 500);
/// Height of the title band above the plot.
const TITLE_HEIGHT: u32 = 64;
/// Width of the legend panel right of the plot.
const LEGEND_WIDTH: u32 = 190;
/// Longest line of a server's name in the legend; longer names break after a hyphen.
const LEGEND_NAME_CHARS: usize = 18;
/// Roughly what one character of an axis label takes, in pixels, and the plot's width, to cut
/// category labels short before they run into each other.
const LABEL_CHAR_PX: u32 = 7;
const PLOT_WIDTH_PX: u32 = SIZE.0 - LEGEND_WIDTH - 110;
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
pub(crate) const FAINT: RGBColor = RGBColor(110, 110, 110);
pub(crate) const FONT: &str = "sans-serif";
const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Writes every chart that `summary` has data for into `dir`; returns the files written (file
/// names only, relative to dir).
///
/// A chart with no data is skipped (no file, no error), and a server whose figure is missing is
/// left out of that chart. `dir` is created if needed.
pub fn write_charts(summary: &RunSummary, catalogue: &Catalogue, dir: &Path) -> Result<Vec<String>> {
    let servers = Servers::of(summary, catalogue);
    let mut charts = vec![
        (
            "throughput.svg".to_owned(),
            throughput_chart(summary, &servers).map(Chart::Bars),
        ),
        (
            "latency.svg".into(),
            latency_chart(summary, &servers, data::fixed_key(summary)).map(Chart::Bars),
        ),
        (
            "cpu_per_request.svg".into(),
            cpu_chart(summary, &servers).map(Chart::Bars),
        ),
        ("memory.svg".into(), memory_chart(summary, &servers).map(Chart::Bars)),
    ];
    // After a closed loop, the open loop at its rate (`--rate-fraction`).
    let fixed = data::fixed_key(summary);
    let open = (summary.results.iter()).map(|r| r.scenario).find(|key| {
        key.offered_rps.is_some()
            && fixed.offered_rps.is_none()
            && ScenarioKey {
                offered_rps: None,
                ..*key
            } == fixed
    });
    if let Some(open) = open {
        // Beside the closed loop's latency chart.
        charts.insert(
            2,
            (
                "latency_open.svg".into(),
                latency_chart(summary, &servers, open).map(Chart::Bars),
            ),
        );
    }
    if summary.design.works.len() > 1 || summary.design.work != WorkKind::Add {
        // Several kinds of work: one pair of sweep charts per kind.
        for &work in &summary.design.works {
            for (figure, name) in [(SweepFigure::Rps, "rps"), (SweepFigure::P50, "latency_p50")] {
                let chart = sweep_chart(summary, &servers, (figure, Some(work))).map(Chart::Lines);
                charts.push((format!("sweep_{}_{name}.svg", work.name()), chart));
            }
        }
    } else {
        for (figure, file) in [
            (SweepFigure::Rps, "sweep_rps.svg"),
            (SweepFigure::P99, "sweep_latency_p99.svg"),
        ] {
            charts.push((
                file.into(),
                sweep_chart(summary, &servers, (figure, None)).map(Chart::Lines),
            ));
        }
    }
    let mut written = Vec::new();
    let order: Vec<&str> = servers.iter().map(|(_, name)| name).collect();
    if let Some(svg) = phases::phases_svg(summary, &order).context("drawing chart phases.svg")? {
        fs::create_dir_all(dir).with_context(|| format!("creating chart directory {}", dir.display()))?;
        fs::write(dir.join("phases.svg"), svg).context("writing chart phases.svg")?;
        written.push("phases.svg".to_owned());
    }
    for (file, chart) in charts {
        let Some(chart) = chart else { continue };
        let svg = chart
            .render(&servers)
            .with_context(|| format!("drawing chart {file}"))?;
        fs::create_dir_all(dir).with_context(|| format!("creating chart directory {}", dir.display()))?;
        let path = dir.join(&file);
        fs::write(&path, svg).with_context(|| format!("writing chart {}", path.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// The servers in `summary.servers` order (then any only named in results), each with its
/// colour.
struct Servers(Vec<(String, RGBColor)>);

impl Servers {
    fn of(summary: &RunSummary, catalogue: &Catalogue) -> Self {
        let mut names: Vec<&str> = summary.server_names();
        for result in &summary.results {
            if !names.contains(&result.server.as_str()) {
                names.push(&result.server);
            }
        }
        let colours = catalogue.colours(&names);
        Self(
            (names.iter().zip(colours))
                .map(|(name, colour)| ((*name).to_owned(), rgb(colour)))
                .collect(),
        )
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.0.iter().map(|(name, _)| name.as_str()).enumerate()
    }

    fn name(&self, index: usize) -> &str {
        self.0.get(index).map_or("?", |(name, _)| name.as_str())
    }

    fn colour(&self, index: usize) -> RGBColor {
        self.0.get(index).map_or(INK, |(_, colour)| *colour)
    }
}

/// Up to three significant digits, without trailing zeros.
pub(crate) fn short_number(v: f64) -> String {
    let magnitude = v.abs();
    let decimals = if magnitude >= 100.0 || magnitude == 0.0 {
        0
    } else if magnitude >= 10.0 {
        1
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A catalogue colour as plotters draws it.
pub(crate) fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// One chart's figures, ready to draw.
enum Chart {
    Bars(BarChart),
    Lines(LineChart),
}

impl Chart {
    fn render(&self, servers: &Servers) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            match self {
                Self::Bars(chart) => draw_bars(&root, chart, servers)?,
                Self::Lines(chart) => draw_lines(&root, chart, servers)?,
            }
            root.present()?;
        }
        Ok(svg)
    }
}
