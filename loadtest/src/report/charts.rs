//! SVG charts drawn from a saved [`RunSummary`], never from live measurements, so a run's
//! charts can always be redrawn from its `summary.json` (hyperfine's plotting scripts likewise
//! read its JSON export).
//!
//! Each chart kind has one function that picks its figures out of the summary (`*_chart`,
//! pure, returning `None` when there is nothing to draw) and two renderers that draw them:
//! `draw_bars` for per-server bars with min-max whiskers and one dot per trial, and
//! `draw_lines` for sweeps. Every chart puts the same colour on the same server (its place in
//! `summary.servers`) and carries its legend in a panel to the right of the plot, so the legend
//! never covers data.
//!
//! The SVG backend needs no fonts at build time: text is written as `<text>` elements and laid
//! out by whatever renders the file. plotters only estimates text widths, so labels are kept
//! short and given room.

use std::fs;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::stats::{self, Stats};
use crate::summary::{RunSummary, ScenarioKey, ScenarioResult, TrialRecord};

/// Size of every chart, in pixels.
const SIZE: (u32, u32) = (800, 480);
/// Height of the title band above the plot.
const TITLE_HEIGHT: u32 = 64;
/// Width of the legend panel right of the plot.
const LEGEND_WIDTH: u32 = 190;
/// Longest server name shown in the legend before it is cut short.
const LEGEND_NAME_CHARS: usize = 18;
/// Roughly what one character of an axis label takes, in pixels, and the plot's width, to cut
/// category labels short before they run into each other.
const LABEL_CHAR_PX: u32 = 8;
const PLOT_WIDTH_PX: u32 = SIZE.0 - LEGEND_WIDTH - 110;
/// Okabe and Ito's colour-blind-safe palette; servers past the eighth reuse it.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];
const INK: RGBColor = RGBColor(40, 40, 40);
const FAINT: RGBColor = RGBColor(110, 110, 110);
const FONT: &str = "sans-serif";
const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Writes every chart that `summary` has data for into `dir`; returns the files written (file
/// names only, relative to dir).
///
/// A chart with no data is skipped (no file, no error), and a server whose figure is missing is
/// left out of that chart. `dir` is created if needed.
pub fn write_charts(summary: &RunSummary, dir: &Path) -> Result<Vec<String>> {
    let servers = Servers::of(summary);
    let charts = [
        ("throughput.svg", throughput_chart(summary, &servers).map(Chart::Bars)),
        ("latency.svg", latency_chart(summary, &servers).map(Chart::Bars)),
        ("cpu_per_request.svg", cpu_chart(summary, &servers).map(Chart::Bars)),
        ("memory.svg", memory_chart(summary, &servers).map(Chart::Bars)),
        (
            "sweep_rps.svg",
            sweep_chart(summary, &servers, SweepFigure::Rps).map(Chart::Lines),
        ),
        (
            "sweep_latency_p99.svg",
            sweep_chart(summary, &servers, SweepFigure::P99).map(Chart::Lines),
        ),
    ];
    let mut written = Vec::new();
    for (file, chart) in charts {
        let Some(chart) = chart else { continue };
        let svg = chart
            .render(&servers)
            .with_context(|| format!("drawing chart {file}"))?;
        fs::create_dir_all(dir).with_context(|| format!("creating chart directory {}", dir.display()))?;
        let path = dir.join(file);
        fs::write(&path, svg).with_context(|| format!("writing chart {}", path.display()))?;
        written.push(file.to_owned());
    }
    Ok(written)
}

/// The servers in `summary.servers` order (then any only named in results); the index is the
/// colour.
struct Servers(Vec<String>);

impl Servers {
    fn of(summary: &RunSummary) -> Self {
        let mut names: Vec<String> = summary.servers.iter().map(|s| s.name.clone()).collect();
        for result in &summary.results {
            if !names.contains(&result.server) {
                names.push(result.server.clone());
            }
        }
        Self(names)
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.0.iter().map(String::as_str).enumerate()
    }

    fn name(&self, index: usize) -> &str {
        self.0.get(index).map_or("?", String::as_str)
    }
}

fn colour(server: usize) -> RGBColor {
    PALETTE[server % PALETTE.len()]
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

/// Titles shared by both kinds of chart.
struct Labels {
    title: String,
    /// The load and parameters the figures come from.
    subtitle: String,
    x_desc: String,
    y_desc: String,
}

/// Bars grouped along x (one group per server, or per percentile with a bar per server).
struct BarChart {
    labels: Labels,
    /// What a bar's height is, for the legend.
    bar_means: &'static str,
    groups: Vec<BarGroup>,
}

struct BarGroup {
    label: String,
    bars: Vec<Bar>,
}

struct Bar {
    server: usize,
    value: f64,
    /// Min and max across trials, drawn only when they differ.
    whisker: Option<(f64, f64)>,
    /// Each trial's own figure.
    dots: Vec<f64>,
}

/// One line per server over the swept values (drawn evenly spaced, labelled with the real values).
struct LineChart {
    labels: Labels,
    x_values: Vec<u32>,
    lines: Vec<Line>,
}

struct Line {
    server: usize,
    /// In ascending x.
    points: Vec<Point>,
}

struct Point {
    /// Index into `x_values`.
    x: usize,
    value: f64,
    whisker: Option<(f64, f64)>,
}

impl Point {
    fn top(&self) -> f64 {
        self.whisker.map_or(self.value, |(_, hi)| hi.max(self.value))
    }
}

// ---------------------------------------------------------------------------------------------
// Picking the figures
// ---------------------------------------------------------------------------------------------

/// The scenario that is not swept: the design's own concurrency, n and workers.
fn fixed_key(summary: &RunSummary) -> ScenarioKey {
    let d = &summary.design;
    ScenarioKey {
        concurrency: d.concurrency,
        n: d.n,
        workers: d.workers,
    }
}

fn key_of(result: &ScenarioResult) -> ScenarioKey {
    ScenarioKey {
        concurrency: result.concurrency,
        n: result.n,
        workers: result.workers,
    }
}

fn result_for<'a>(summary: &'a RunSummary, server: &str, key: ScenarioKey) -> Option<&'a ScenarioResult> {
    summary.results.iter().find(|r| r.server == server && key_of(r) == key)
}

/// `figure` of every valid measured trial of `server` in scenario `key`.
fn trial_values(
    summary: &RunSummary,
    server: &str,
    key: ScenarioKey,
    figure: impl Fn(&TrialRecord) -> Option<f64>,
) -> Vec<f64> {
    summary
        .trials
        .iter()
        .filter(|t| t.server == server && t.scenario == key && t.phase == "measured" && t.valid)
        .filter_map(figure)
        .filter(|v| v.is_finite())
        .collect()
}

/// Min and max, only when there is a spread to show.
fn spread(stats: Option<Stats>) -> Option<(f64, f64)> {
    stats.filter(|s| s.n > 1 && s.max > s.min).map(|s| (s.min, s.max))
}

/// The load and parameters the figures come from, leaving out the swept one.
fn subtitle(summary: &RunSummary, swept: Option<&str>) -> String {
    let d = &summary.design;
    let mut command = format!("oha {}", d.load);
    if swept != Some("concurrency") {
        command.push_str(&format!(" -c {}", d.concurrency));
    }
    let mut parts = vec![command];
    if swept != Some("n") {
        parts.push(format!("n={}", d.n));
    }
    if swept != Some("workers") {
        parts.push(format!("workers={}", d.workers));
    }
    if let Some(name) = swept {
        parts.push(format!("{name} swept"));
    }
    let plural = if d.measured_trials == 1 { "" } else { "s" };
    parts.push(format!("{} measured trial{plural} each", d.measured_trials));
    parts.join(" · ")
}

/// One bar per server for the fixed scenario: `value` of its result, whisker from `spread_of`,
/// and a dot per trial from `trial_figure`.
fn per_server_groups(
    summary: &RunSummary,
    servers: &Servers,
    value: impl Fn(&ScenarioResult) -> Option<f64>,
    spread_of: impl Fn(&ScenarioResult) -> Option<Stats>,
    trial_figure: impl Fn(&TrialRecord) -> Option<f64>,
) -> Vec<BarGroup> {
    let key = fixed_key(summary);
    servers
        .iter()
        .filter_map(|(server, name)| {
            let result = result_for(summary, name, key)?;
            let bar = Bar {
                server,
                value: value(result).filter(|v| v.is_finite())?,
                whisker: spread(spread_of(result)),
                dots: trial_values(summary, name, key, &trial_figure),
            };
            Some(BarGroup {
                label: name.to_owned(),
                bars: vec![bar],
            })
        })
        .collect()
}

fn bar_chart(labels: Labels, bar_means: &'static str, groups: Vec<BarGroup>) -> Option<BarChart> {
    let groups: Vec<BarGroup> = groups.into_iter().filter(|g| !g.bars.is_empty()).collect();
    (!groups.is_empty()).then_some(BarChart {
        labels,
        bar_means,
        groups,
    })
}

/// RPS per server, median of trials, whisker min-max, a dot per trial.
fn throughput_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    let groups = per_server_groups(
        summary,
        servers,
        |r| r.rps_median.or(r.rps.map(|s| s.median)),
        |r| r.rps,
        |t| t.rps_2xx,
    );
    let labels = Labels {
        title: "Throughput (2xx responses per second)".into(),
        subtitle: subtitle(summary, None),
        x_desc: "server".into(),
        y_desc: "requests per second".into(),
    };
    bar_chart(labels, "bar: median of trials", groups)
}

/// p50, p90 and p99 per server: medians of the trials' percentiles, whisker min-max.
fn latency_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    type Pick = fn(&TrialRecord) -> Option<f64>;
    let percentiles: [(&str, Pick); 3] = [
        ("p50", |t| t.latency_p50_ms),
        ("p90", |t| t.latency_p90_ms),
        ("p99", |t| t.latency_p99_ms),
    ];
    let key = fixed_key(summary);
    let groups = percentiles
        .iter()
        .map(|(label, pick)| BarGroup {
            label: (*label).to_owned(),
            bars: servers
                .iter()
                .filter_map(|(server, name)| {
                    let dots = trial_values(summary, name, key, pick);
                    let stats = stats::stats(&dots)?;
                    Some(Bar {
                        server,
                        value: stats.median,
                        whisker: spread(Some(stats)),
                        dots,
                    })
                })
                .collect(),
        })
        .collect();
    let labels = Labels {
        title: "Latency percentiles (ms, 2xx responses)".into(),
        subtitle: subtitle(summary, None),
        x_desc: "percentile".into(),
        y_desc: "latency (ms)".into(),
    };
    bar_chart(labels, "bar: median of trials", groups)
}

/// Server CPU time (user + system, whole process tree) per 2xx answer.
fn cpu_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    let groups = per_server_groups(
        summary,
        servers,
        |r| r.cpu_ms_per_request.or(r.cpu_per_request.map(|s| s.median)),
        |r| r.cpu_per_request,
        |t| t.cpu_ms_per_request,
    );
    let labels = Labels {
        title: "Server CPU time per request (ms)".into(),
        subtitle: subtitle(summary, None),
        x_desc: "server".into(),
        y_desc: "CPU ms per request (user + system)".into(),
    };
    bar_chart(labels, "bar: median of trials", groups)
}

/// Peak PSS of the process tree during the trials, and PSS after the last one, in MiB.
fn memory_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    let key = fixed_key(summary);
    let mib = |bytes: Option<u64>| bytes.map(|b| b as f64 / BYTES_PER_MIB);
    let group =
        |label: &str, of_result: fn(&ScenarioResult) -> Option<u64>, of_trial: fn(&TrialRecord) -> Option<u64>| {
            let bars = servers
                .iter()
                .filter_map(|(server, name)| {
                    let value = mib(of_result(result_for(summary, name, key)?))?;
                    let dots = trial_values(summary, name, key, |t| mib(of_trial(t)));
                    Some(Bar {
                        server,
                        value,
                        whisker: None,
                        dots,
                    })
                })
                .collect();
            BarGroup {
                label: label.to_owned(),
                bars,
            }
        };
    let groups = vec![
        group(
            "peak (highest of trials)",
            |r| r.peak_memory_bytes,
            |t| t.peak_memory_bytes,
        ),
        group(
            "after the last trial",
            |r| r.memory_after_bytes,
            |t| t.memory_after_bytes,
        ),
    ];
    let labels = Labels {
        title: "Server memory: PSS of the process tree (MiB)".into(),
        subtitle: subtitle(summary, None),
        x_desc: String::new(),
        y_desc: "PSS (MiB)".into(),
    };
    bar_chart(labels, "bar: PSS", groups)
}

/// What a sweep chart plots.
#[derive(Clone, Copy)]
enum SweepFigure {
    Rps,
    P99,
}

impl SweepFigure {
    fn of(self, result: &ScenarioResult) -> (Option<f64>, Option<Stats>) {
        match self {
            Self::Rps => (result.rps_median.or(result.rps.map(|s| s.median)), result.rps),
            Self::P99 => (
                result.latency_p99_ms.or(result.latency_p99.map(|s| s.median)),
                result.latency_p99,
            ),
        }
    }
}

/// The swept parameter's value in `result`, if `result` belongs to the sweep (its other two
/// parameters are the design's).
fn swept_value(summary: &RunSummary, axis: &str, result: &ScenarioResult) -> Option<u32> {
    let fixed = fixed_key(summary);
    let key = key_of(result);
    match axis {
        "concurrency" => (key.n == fixed.n && key.workers == fixed.workers).then_some(key.concurrency),
        "workers" => (key.n == fixed.n && key.concurrency == fixed.concurrency).then_some(key.workers),
        "n" => (key.concurrency == fixed.concurrency && key.workers == fixed.workers).then_some(key.n),
        _ => None,
    }
}

fn sweep_chart(summary: &RunSummary, servers: &Servers, figure: SweepFigure) -> Option<LineChart> {
    let axis = summary.design.sweep.as_deref()?;
    let mut x_values: Vec<u32> = summary
        .results
        .iter()
        .filter_map(|r| swept_value(summary, axis, r))
        .collect();
    x_values.sort_unstable();
    x_values.dedup();
    let lines: Vec<Line> = servers
        .iter()
        .map(|(server, name)| {
            let mut points: Vec<Point> = summary
                .results
                .iter()
                .filter(|r| r.server == name)
                .filter_map(|r| {
                    let x = x_values.binary_search(&swept_value(summary, axis, r)?).ok()?;
                    let (value, stats) = figure.of(r);
                    Some(Point {
                        x,
                        value: value.filter(|v| v.is_finite())?,
                        whisker: spread(stats),
                    })
                })
                .collect();
            points.sort_by_key(|p| p.x);
            Line { server, points }
        })
        .filter(|line| !line.points.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let axis_desc = match axis {
        "concurrency" => "concurrent connections (oha -c)",
        "workers" => "workers per request",
        _ => "matrix side n",
    };
    let (title, y_desc) = match figure {
        SweepFigure::Rps => (
            format!("Throughput by {axis} (2xx responses per second)"),
            "requests per second",
        ),
        SweepFigure::P99 => (format!("p99 latency by {axis} (ms)"), "p99 latency (ms)"),
    };
    let labels = Labels {
        title,
        subtitle: subtitle(summary, Some(axis)),
        x_desc: axis_desc.into(),
        y_desc: y_desc.into(),
    };
    Some(LineChart {
        labels,
        x_values,
        lines,
    })
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Slots, RangedCoordf64>>;

/// An x axis of `count` evenly spaced categories at 0, 1, 2, ..., each half a unit wide on either
/// side; its ticks sit at the categories only.
struct Slots {
    count: usize,
}

impl Ranged for Slots {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (from, to): (i32, i32)) -> i32 {
        let share = (value + 0.5) / self.count.max(1) as f64;
        from + (share * f64::from(to - from)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.count).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.count as f64 - 0.5
    }
}

/// A legend line: a server's swatch, or a note on what a mark means.
enum LegendItem<'a> {
    Server(usize, &'a str),
    Note(Mark, &'a str),
}

#[derive(Clone, Copy)]
enum Mark {
    Bar,
    Point,
    Whisker,
    Dot,
}

fn text_style(size: f64, colour: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&colour)
}

/// Clears the canvas, draws the title band and the legend panel, and returns the plot's area.
fn frame<'a>(root: &Area<'a>, labels: &Labels, legend: &[LegendItem]) -> Result<Area<'a>> {
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(TITLE_HEIGHT);
    let centre = (SIZE.0 / 2) as i32;
    let middle = Pos::new(HPos::Center, VPos::Top);
    top.draw(&Text::new(
        labels.title.as_str(),
        (centre, 12),
        text_style(24.0, INK).pos(middle),
    ))?;
    top.draw(&Text::new(
        labels.subtitle.as_str(),
        (centre, 40),
        text_style(16.0, FAINT).pos(middle),
    ))?;
    let (plot, panel) = rest.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    draw_legend(&panel, legend)?;
    Ok(plot)
}

fn draw_legend(panel: &Area, items: &[LegendItem]) -> Result<()> {
    let mut y = 24;
    for item in items {
        let (label, style) = match item {
            LegendItem::Server(server, name) => {
                let c = colour(*server);
                panel.draw(&Rectangle::new([(8, y - 7), (24, y + 7)], c.filled()))?;
                (shorten(name, LEGEND_NAME_CHARS), text_style(17.0, INK))
            }
            LegendItem::Note(mark, text) => {
                draw_mark(panel, *mark, (16, y))?;
                ((*text).to_owned(), text_style(15.0, FAINT))
            }
        };
        let left = Pos::new(HPos::Left, VPos::Center);
        panel.draw(&Text::new(label, (32, y), style.pos(left)))?;
        y += if matches!(item, LegendItem::Server(..)) { 26 } else { 22 };
    }
    Ok(())
}

/// A small sample of `mark`, centred at `at`, in grey.
fn draw_mark(panel: &Area, mark: Mark, (x, y): (i32, i32)) -> Result<()> {
    let line = FAINT.stroke_width(2);
    match mark {
        Mark::Bar => panel.draw(&Rectangle::new(
            [(x - 7, y - 7), (x + 7, y + 7)],
            FAINT.mix(0.35).filled(),
        ))?,
        Mark::Point => panel.draw(&Circle::new((x, y), 4, FAINT.filled()))?,
        Mark::Dot => panel.draw(&Circle::new((x, y), 3, dot_style()))?,
        Mark::Whisker => {
            panel.draw(&PathElement::new(vec![(x, y - 8), (x, y + 8)], line))?;
            panel.draw(&PathElement::new(vec![(x - 4, y - 8), (x + 4, y - 8)], line))?;
            panel.draw(&PathElement::new(vec![(x - 4, y + 8), (x + 4, y + 8)], line))?;
        }
    }
    Ok(())
}

fn dot_style() -> ShapeStyle {
    INK.mix(0.8).filled()
}

fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_owned()
    } else {
        let kept: String = name.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// The servers a chart shows, in order, as legend items.
fn server_items<'a>(servers: &'a Servers, used: impl Iterator<Item = usize>) -> Vec<LegendItem<'a>> {
    let mut used: Vec<usize> = used.collect();
    used.sort_unstable();
    used.dedup();
    used.into_iter()
        .map(|s| LegendItem::Server(s, servers.name(s)))
        .collect()
}

/// Axes over `x_labels.len()` evenly spaced categories and `0..y_max`.
fn plot_area<'a, 'b>(area: &'a Area<'b>, labels: &Labels, x_labels: &[String], y_max: f64) -> Result<Plot<'a, 'b>> {
    let count = x_labels.len();
    let fits = (PLOT_WIDTH_PX / LABEL_CHAR_PX) as usize / count.max(1);
    let x_labels: Vec<String> = x_labels.iter().map(|label| shorten(label, fits.max(4))).collect();
    let mut plot = ChartBuilder::on(area)
        .margin_top(8)
        .margin_left(12)
        .margin_right(16)
        .x_label_area_size(if labels.x_desc.is_empty() { 34 } else { 56 })
        .y_label_area_size(78)
        .build_cartesian_2d(Slots { count }, 0.0..y_max)?;
    let x_label = |x: &f64| {
        let i = x.round();
        if i < 0.0 {
            String::new()
        } else {
            x_labels.get(i as usize).cloned().unwrap_or_default()
        }
    };
    plot.configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .y_labels(8)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y: &f64| short_number(*y))
        .x_desc(labels.x_desc.as_str())
        .y_desc(labels.y_desc.as_str())
        .label_style(text_style(16.0, INK))
        .axis_desc_style(text_style(17.0, INK))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(FAINT)
        .draw()?;
    Ok(plot)
}

/// The top of the y axis: room above the highest mark for its value label.
fn y_top(highest: f64) -> f64 {
    if highest.is_finite() && highest > 0.0 {
        highest * 1.15
    } else {
        1.0
    }
}

/// Up to three significant digits, without trailing zeros.
fn short_number(v: f64) -> String {
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

/// A vertical min-max whisker with caps `cap` wide (in x units).
fn draw_whisker(plot: &mut Plot, x: f64, cap: f64, (lo, hi): (f64, f64), colour: RGBColor) -> Result<()> {
    let style = colour.stroke_width(2);
    let segments = [
        [(x, lo), (x, hi)],
        [(x - cap, lo), (x + cap, lo)],
        [(x - cap, hi), (x + cap, hi)],
    ];
    plot.draw_series(segments.into_iter().map(|s| PathElement::new(s.to_vec(), style)))?;
    Ok(())
}

fn draw_bars(root: &Area, chart: &BarChart, servers: &Servers) -> Result<()> {
    let all_bars = || chart.groups.iter().flat_map(|g| &g.bars);
    let mut legend = server_items(servers, all_bars().map(|b| b.server));
    legend.push(LegendItem::Note(Mark::Bar, chart.bar_means));
    if all_bars().any(|b| b.whisker.is_some()) {
        legend.push(LegendItem::Note(Mark::Whisker, "whisker: min to max"));
    }
    if all_bars().any(|b| !b.dots.is_empty()) {
        legend.push(LegendItem::Note(Mark::Dot, "dot: one trial"));
    }
    let area = frame(root, &chart.labels, &legend)?;
    let highest = all_bars().map(bar_top).fold(0.0, f64::max);
    let x_labels: Vec<String> = chart.groups.iter().map(|g| g.label.clone()).collect();
    let mut plot = plot_area(&area, &chart.labels, &x_labels, y_top(highest))?;
    for (g, group) in chart.groups.iter().enumerate() {
        let slot = 0.7 / group.bars.len() as f64;
        // Past three bars a group is too narrow for a value above each bar; the axis still reads.
        let labelled = group.bars.len() <= 3;
        for (i, bar) in group.bars.iter().enumerate() {
            let centre = g as f64 - 0.35 + slot * (i as f64 + 0.5);
            draw_bar(&mut plot, bar, centre, slot.min(0.4) * 0.85, labelled)?;
        }
    }
    Ok(())
}

/// The highest mark of a bar: its value, whisker or a dot.
fn bar_top(bar: &Bar) -> f64 {
    let whisker = bar.whisker.map_or(bar.value, |(_, hi)| hi);
    bar.dots.iter().copied().fold(bar.value.max(whisker), f64::max)
}

/// One bar `width` wide centred at `x`, its whisker, its trials' dots and (if `labelled`) its value.
fn draw_bar(plot: &mut Plot, bar: &Bar, x: f64, width: f64, labelled: bool) -> Result<()> {
    let c = colour(bar.server);
    let half = width / 2.0;
    plot.draw_series([Rectangle::new(
        [(x - half, 0.0), (x + half, bar.value)],
        c.mix(0.75).filled(),
    )])?;
    plot.draw_series([Rectangle::new(
        [(x - half, 0.0), (x + half, bar.value)],
        c.stroke_width(1),
    )])?;
    if let Some(range) = bar.whisker {
        draw_whisker(plot, x, width * 0.2, range, INK)?;
    }
    // Spread the dots across the bar so equal trials stay visible side by side.
    let count = bar.dots.len();
    let dots = bar.dots.iter().enumerate().map(|(i, &v)| {
        let offset = if count > 1 {
            (i as f64 / (count - 1) as f64 - 0.5) * half
        } else {
            0.0
        };
        Circle::new((x + offset, v), 3, dot_style())
    });
    plot.draw_series(dots)?;
    if !labelled {
        return Ok(());
    }
    let label = Text::new(
        short_number(bar.value),
        (0, -6),
        text_style(15.0, INK).pos(Pos::new(HPos::Center, VPos::Bottom)),
    );
    plot.draw_series([EmptyElement::at((x, bar_top(bar))) + label])?;
    Ok(())
}

fn draw_lines(root: &Area, chart: &LineChart, servers: &Servers) -> Result<()> {
    let mut legend = server_items(servers, chart.lines.iter().map(|l| l.server));
    legend.push(LegendItem::Note(Mark::Point, "point: median of trials"));
    if chart.lines.iter().flat_map(|l| &l.points).any(|p| p.whisker.is_some()) {
        legend.push(LegendItem::Note(Mark::Whisker, "whisker: min to max"));
    }
    let area = frame(root, &chart.labels, &legend)?;
    let highest = chart
        .lines
        .iter()
        .flat_map(|l| &l.points)
        .map(Point::top)
        .fold(0.0, f64::max);
    let x_labels: Vec<String> = chart.x_values.iter().map(u32::to_string).collect();
    let mut plot = plot_area(&area, &chart.labels, &x_labels, y_top(highest))?;
    let count = chart.lines.len();
    for (i, line) in chart.lines.iter().enumerate() {
        // Nudge each server sideways a little so whiskers at the same x do not hide each other.
        let dodge = (i as f64 - (count - 1) as f64 / 2.0) * 0.06;
        draw_line(&mut plot, line, dodge)?;
    }
    Ok(())
}

fn draw_line(plot: &mut Plot, line: &Line, dodge: f64) -> Result<()> {
    let c = colour(line.server);
    let xy: Vec<(f64, f64)> = line.points.iter().map(|p| (p.x as f64 + dodge, p.value)).collect();
    plot.draw_series(LineSeries::new(xy.iter().copied(), c.stroke_width(2)))?;
    for point in &line.points {
        if let Some(range) = point.whisker {
            draw_whisker(plot, point.x as f64 + dodge, 0.04, range, c)?;
        }
    }
    plot.draw_series(xy.iter().map(|&p| Circle::new(p, 5, c.filled())))?;
    plot.draw_series(xy.iter().map(|&p| Circle::new(p, 5, WHITE.stroke_width(1))))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::summary::{Design, Machine, ServerInfo};

    const BAR_CHARTS: [(&str, &str); 4] = [
        ("throughput.svg", "Throughput (2xx responses per second)"),
        ("latency.svg", "Latency percentiles (ms, 2xx responses)"),
        ("cpu_per_request.svg", "Server CPU time per request (ms)"),
        ("memory.svg", "Server memory: PSS of the process tree (MiB)"),
    ];
    const SWEEP_CHARTS: [(&str, &str); 2] = [
        ("sweep_rps.svg", "Throughput by concurrency (2xx responses per second)"),
        ("sweep_latency_p99.svg", "p99 latency by concurrency (ms)"),
    ];

    fn design(sweep: Option<&str>) -> Design {
        Design {
            mode: "measured".into(),
            load: "-z 5s".into(),
            warmup_trials: 1,
            measured_trials: 3,
            sweep: sweep.map(str::to_owned),
            concurrency: 20,
            n: 500,
            workers: 4,
        }
    }

    fn empty_summary(design: Design, servers: &[&str]) -> RunSummary {
        RunSummary {
            tool: "loadtest 0.1.0".into(),
            started_utc: "2026-11-20T10:00:00Z".into(),
            wall_secs: 60.0,
            machine: Machine {
                kernel: "6.1".into(),
                cpu_model: "test cpu".into(),
                cpus: 2,
                memory_bytes: 4 << 30,
                rustc: None,
                git_commit: None,
                build_profile: "release".into(),
            },
            oha_version: "oha 1.16.0".into(),
            servers: servers
                .iter()
                .map(|name| ServerInfo {
                    name: (*name).into(),
                    url: format!("http://127.0.0.1:1/{name}"),
                    managed: true,
                    pid: Some(1),
                    command: vec![],
                })
                .collect(),
            design,
            results: vec![],
            probes: vec![],
            comparisons: vec![],
            trials: vec![],
            warnings: vec![],
            conclusions: vec![],
        }
    }

    fn trial(server: &str, scenario: ScenarioKey, phase: &str, index: u32, rps: f64) -> TrialRecord {
        let p50 = f64::from(scenario.concurrency) / rps * 1000.0;
        TrialRecord {
            server: server.into(),
            scenario,
            phase: phase.into(),
            index,
            oha_command: vec!["oha".into()],
            raw_file: format!("raw/{server}-{index}.json"),
            oha_exit_code: Some(0),
            wall_secs: 5.0,
            load_secs: Some(5.0),
            responses_2xx: (rps * 5.0) as u64,
            responses_non_2xx: 0,
            transport_errors: 0,
            deadline_aborts: 0,
            rps_2xx: Some(rps),
            latency_p50_ms: Some(p50),
            latency_p90_ms: Some(p50 * 1.3),
            latency_p99_ms: Some(p50 * 1.8),
            latency_max_ms: Some(p50 * 2.5),
            server_cpu_secs: Some(rps * 5.0 * 0.008),
            cpu_ms_per_request: Some(2000.0 / rps),
            memory_before_bytes: Some(20 << 20),
            peak_memory_bytes: Some((30 << 20) + (rps as u64) * 1000),
            memory_after_bytes: Some(22 << 20),
            oha_cpu_secs: Some(1.0),
            oha_cpu_share: Some(0.2),
            client_bound: false,
            valid: true,
            invalid_reasons: vec![],
            outlier: false,
        }
    }

    /// The aggregate of `trials` as the harness computes it.
    fn result_of(server: &str, key: ScenarioKey, trials: &[TrialRecord]) -> ScenarioResult {
        let pick = |f: fn(&TrialRecord) -> Option<f64>| trials.iter().filter_map(f).collect::<Vec<_>>();
        let rps = stats::stats(&pick(|t| t.rps_2xx));
        let p50 = stats::stats(&pick(|t| t.latency_p50_ms));
        let p99 = stats::stats(&pick(|t| t.latency_p99_ms));
        let cpu = stats::stats(&pick(|t| t.cpu_ms_per_request));
        ScenarioResult {
            server: server.into(),
            concurrency: key.concurrency,
            n: key.n,
            workers: key.workers,
            requests: trials.iter().map(|t| t.responses_2xx).sum(),
            success_rate: 1.0,
            rps_median: rps.map(|s| s.median),
            latency_p50_ms: p50.map(|s| s.median),
            latency_p99_ms: p99.map(|s| s.median),
            cpu_ms_per_request: cpu.map(|s| s.median),
            peak_memory_bytes: trials.iter().filter_map(|t| t.peak_memory_bytes).max(),
            memory_after_bytes: trials.last().and_then(|t| t.memory_after_bytes),
            trials_valid: trials.len() as u32,
            trials_invalid: 0,
            rps,
            latency_p50: p50,
            latency_p99: p99,
            cpu_per_request: cpu,
            outlier_trials: 0,
            client_bound_trials: 0,
        }
    }

    /// Adds `rps_of_trials.len()` measured trials (plus a warm-up and an invalid trial, which
    /// every chart must ignore) and their aggregate.
    fn add_scenario(summary: &mut RunSummary, server: &str, key: ScenarioKey, rps_of_trials: &[f64]) {
        let measured: Vec<TrialRecord> = rps_of_trials
            .iter()
            .enumerate()
            .map(|(i, &rps)| trial(server, key, "measured", i as u32 + 1, rps))
            .collect();
        summary.results.push(result_of(server, key, &measured));
        summary.trials.push(trial(server, key, "warmup", 1, 1.0e6));
        let mut invalid = trial(server, key, "measured", rps_of_trials.len() as u32 + 1, 1.0e6);
        invalid.valid = false;
        invalid.invalid_reasons = vec!["12 non-2xx responses".into()];
        summary.trials.push(invalid);
        summary.trials.extend(measured);
    }

    /// Two servers, three trials each, at the design's scenario and (with `sweep`) at other
    /// concurrencies too.
    pub(crate) fn fake_summary(sweep: bool) -> RunSummary {
        let mut summary = empty_summary(
            design(sweep.then_some("concurrency")),
            &["threading", "multiprocessing"],
        );
        let concurrencies: &[u32] = if sweep { &[1, 4, 20, 64] } else { &[20] };
        for &concurrency in concurrencies {
            let key = ScenarioKey {
                concurrency,
                n: 500,
                workers: 4,
            };
            let scale = (f64::from(concurrency) / 20.0).sqrt().min(1.1);
            add_scenario(
                &mut summary,
                "threading",
                key,
                &[176.0 * scale, 190.0 * scale, 161.0 * scale],
            );
            add_scenario(
                &mut summary,
                "multiprocessing",
                key,
                &[121.0 * scale, 118.0 * scale, 131.0 * scale],
            );
        }
        summary
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut files: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    }

    fn sorted(files: &[&str]) -> Vec<String> {
        let mut files: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
        files.sort();
        files
    }

    /// The contents of every `<text>` element.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|element| {
                let (_, rest) = element.split_once('>')?;
                let (content, _) = rest.split_once("</text>")?;
                Some(content.trim().to_owned())
            })
            .collect()
    }

    fn assert_well_formed(svg: &str, title: &str, servers: &[&str]) {
        let start = svg.trim_start();
        assert!(
            start.starts_with("<svg") || start.starts_with("<?xml"),
            "not an SVG: {}",
            &svg[..svg.len().min(80)]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "unterminated SVG");
        assert_eq!(
            svg.matches("<text").count(),
            svg.matches("</text>").count(),
            "unbalanced <text>"
        );
        let texts = texts(svg);
        assert!(
            texts.iter().any(|t| t == title),
            "title {title:?} missing from {texts:?}"
        );
        for server in servers {
            assert!(
                texts.iter().any(|t| t == server),
                "legend entry {server:?} missing from {texts:?}"
            );
        }
    }

    #[test]
    fn a_run_without_a_sweep_gets_the_four_bar_charts() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_charts(&fake_summary(false), dir.path()).unwrap();
        let expected: Vec<&str> = BAR_CHARTS.iter().map(|(file, _)| *file).collect();
        assert_eq!(written, expected, "written in a fixed order");
        assert_eq!(files_in(dir.path()), sorted(&expected));
        for (file, title) in BAR_CHARTS {
            let svg = fs::read_to_string(dir.path().join(file)).unwrap();
            assert_well_formed(&svg, title, &["threading", "multiprocessing"]);
        }
    }

    #[test]
    fn a_sweep_adds_one_line_per_server_over_the_swept_values() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_charts(&fake_summary(true), dir.path()).unwrap();
        let expected: Vec<&str> = BAR_CHARTS.iter().chain(&SWEEP_CHARTS).map(|(file, _)| *file).collect();
        assert_eq!(written, expected);
        for (file, title) in SWEEP_CHARTS {
            let svg = fs::read_to_string(dir.path().join(file)).unwrap();
            assert_well_formed(&svg, title, &["threading", "multiprocessing"]);
            for tick in ["1", "4", "20", "64"] {
                assert!(texts(&svg).iter().any(|t| t == tick), "{file}: x tick {tick} missing");
            }
        }
    }

    #[test]
    fn the_same_server_gets_the_same_colour_in_every_chart() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_charts(&fake_summary(true), dir.path()).unwrap();
        let [first, second] = [PALETTE[0], PALETTE[1]].map(|RGBColor(r, g, b)| format!("#{r:02X}{g:02X}{b:02X}"));
        for file in written {
            let svg = fs::read_to_string(dir.path().join(&file)).unwrap();
            assert!(
                svg.contains(&first) && svg.contains(&second),
                "{file} lacks a server colour"
            );
        }
    }

    #[test]
    fn an_empty_summary_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let summary = empty_summary(design(Some("concurrency")), &["threading", "multiprocessing"]);
        assert_eq!(write_charts(&summary, dir.path()).unwrap(), Vec::<String>::new());
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn one_server_with_one_trial_draws_without_whiskers() {
        let dir = tempfile::tempdir().unwrap();
        let mut summary = empty_summary(design(None), &["threading"]);
        let key = fixed_key(&summary);
        add_scenario(&mut summary, "threading", key, &[150.0]);
        assert_eq!(write_charts(&summary, dir.path()).unwrap().len(), 4);
        let svg = fs::read_to_string(dir.path().join("throughput.svg")).unwrap();
        assert_well_formed(&svg, BAR_CHARTS[0].1, &["threading"]);
        assert!(!svg.contains("whisker"), "a single trial has no spread to draw");
        assert!(
            texts(&svg).iter().any(|t| t == "150"),
            "the bar's value is written on it"
        );
    }

    #[test]
    fn a_server_without_a_figure_is_left_out_of_that_chart_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut summary = fake_summary(false);
        for result in summary.results.iter_mut().filter(|r| r.server == "multiprocessing") {
            result.cpu_ms_per_request = None;
            result.cpu_per_request = None;
        }
        for result in &mut summary.results {
            (result.peak_memory_bytes, result.memory_after_bytes) = (None, None);
        }
        let written = write_charts(&summary, dir.path()).unwrap();
        assert_eq!(
            written,
            ["throughput.svg", "latency.svg", "cpu_per_request.svg"],
            "no memory figures: no chart"
        );
        let cpu = fs::read_to_string(dir.path().join("cpu_per_request.svg")).unwrap();
        assert_well_formed(&cpu, BAR_CHARTS[2].1, &["threading"]);
        assert!(!cpu.contains("multiprocessing"));
    }

    #[test]
    fn an_unknown_sweep_draws_no_sweep_chart() {
        let mut summary = fake_summary(true);
        summary.design.sweep = Some("duration".into());
        let servers = Servers::of(&summary);
        assert!(sweep_chart(&summary, &servers, SweepFigure::Rps).is_none());
    }

    #[test]
    fn only_valid_measured_trials_are_drawn() {
        let summary = fake_summary(false);
        let values = trial_values(&summary, "threading", fixed_key(&summary), |t| t.rps_2xx);
        assert_eq!(values, [176.0, 190.0, 161.0]);
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        let cases = [
            (0.0, "0"),
            (0.01234, "0.012"),
            (1.5, "1.5"),
            (12.345, "12.3"),
            (176.6, "177"),
            (2000.0, "2000"),
        ];
        for (value, text) in cases {
            assert_eq!(short_number(value), text);
        }
        assert_eq!(shorten("multiprocessing-prefork-server", 10), "multiproc…");
    }
}
