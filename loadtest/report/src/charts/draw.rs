//! How to draw the figures from `data` with plotters: the title band and the legend panel, the
//! axes over evenly spaced categories (`Slots`), bars with whiskers and per-trial dots, sweep
//! lines, and the number and label formatting used on the drawing. Nothing here reads a
//! `RunSummary`.

use std::ops::Range;

use anyhow::Result;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{Bar, BarChart, Labels, Line, LineChart, Point};
use super::{
    FAINT, FONT, INK, LABEL_CHAR_PX, LEGEND_NAME_CHARS, LEGEND_WIDTH, PLOT_WIDTH_PX, SIZE, Servers, TITLE_HEIGHT,
    short_number,
};

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Slots, RangedCoordf64>>;

/// An x axis of `count` evenly spaced categories at 0, 1, 2, ..., each half a unit wide on either
/// side; its ticks sit at the categories only.
pub(crate) struct Slots {
    pub(crate) count: usize,
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
    Server(RGBColor, &'a str),
    Note(Mark, &'a str),
}

#[derive(Clone, Copy)]
enum Mark {
    Bar,
    Point,
    Whisker,
    Dot,
    /// A level: the reference line, or a bar's target tick.
    Level,
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
        let (lines, style) = match item {
            LegendItem::Server(c, name) => {
                let c = *c;
                panel.draw(&Rectangle::new([(8, y - 7), (24, y + 7)], c.filled()))?;
                (label_lines(name, LEGEND_NAME_CHARS), text_style(17.0, INK))
            }
            LegendItem::Note(mark, text) => {
                draw_mark(panel, *mark, (16, y))?;
                (vec![(*text).to_owned()], text_style(15.0, FAINT))
            }
        };
        let left = Pos::new(HPos::Left, VPos::Center);
        let extra_lines = lines.len() as i32 - 1;
        for (k, line) in lines.into_iter().enumerate() {
            panel.draw(&Text::new(line, (32, y + 19 * k as i32), style.clone().pos(left)))?;
        }
        y += 19 * extra_lines + if matches!(item, LegendItem::Server(..)) { 26 } else { 22 };
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
        Mark::Level => panel.draw(&PathElement::new(vec![(x - 8, y), (x + 8, y)], level_style()))?,
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

fn level_style() -> ShapeStyle {
    RGBColor(200, 30, 30).stroke_width(2)
}

pub(super) fn shorten(name: &str, max: usize) -> String {
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
        .map(|s| LegendItem::Server(servers.colour(s), servers.name(s)))
        .collect()
}

/// A category label in at most two lines of `fits` characters, broken after a hyphen
/// (`python-` / `processes-fixed`), cut short only if it still does not fit.
pub(super) fn label_lines(label: &str, fits: usize) -> Vec<String> {
    let options = textwrap::Options::new(fits).break_words(false);
    let mut lines: Vec<String> = textwrap::wrap(label, options)
        .into_iter()
        .map(|l| l.into_owned())
        .collect();
    if lines.len() > 2 {
        let rest = lines.split_off(1).concat();
        lines.push(rest);
    }
    lines.iter().map(|line| shorten(line, fits)).collect()
}

/// Axes over `x_labels.len()` evenly spaced categories and `0..y_max`.
fn plot_area<'a, 'b>(area: &'a Area<'b>, labels: &Labels, x_labels: &[String], y_max: f64) -> Result<Plot<'a, 'b>> {
    let count = x_labels.len();
    let fits = ((PLOT_WIDTH_PX / LABEL_CHAR_PX) as usize / count.max(1)).max(4);
    let wrapped: Vec<Vec<String>> = x_labels.iter().map(|label| label_lines(label, fits)).collect();
    // Labels on one line are plotters'; labels on two are drawn below the axis here.
    let two_lines = wrapped.iter().any(|lines| lines.len() > 1);
    let x_labels: Vec<String> = if two_lines {
        vec![String::new(); count]
    } else {
        wrapped.iter().map(|lines| lines.concat()).collect()
    };
    let label_room = if labels.x_desc.is_empty() { 34 } else { 56 } + if two_lines { 20 } else { 0 };
    let mut plot = ChartBuilder::on(area)
        .margin_top(8)
        .margin_left(12)
        .margin_right(16)
        .x_label_area_size(label_room)
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
        .label_style(text_style(if two_lines { 14.0 } else { 16.0 }, INK))
        .axis_desc_style(text_style(17.0, INK))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(FAINT)
        .draw()?;
    if two_lines {
        let (left, top) = area.get_base_pixel();
        let below = Pos::new(HPos::Center, VPos::Top);
        for (i, lines) in wrapped.iter().enumerate() {
            let (x, y) = plot.backend_coord(&(i as f64, 0.0));
            for (k, line) in lines.iter().enumerate() {
                let at = (x - left, y - top + 8 + 17 * k as i32);
                area.draw(&Text::new(line.clone(), at, text_style(14.0, INK).pos(below)))?;
            }
        }
    }
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

pub(super) fn draw_bars(root: &Area, chart: &BarChart, servers: &Servers) -> Result<()> {
    let all_bars = || chart.groups.iter().flat_map(|g| &g.bars);
    let mut legend = server_items(servers, all_bars().map(|b| b.server));
    legend.push(LegendItem::Note(Mark::Bar, chart.bar_means));
    if all_bars().any(|b| b.whisker.is_some()) {
        legend.push(LegendItem::Note(Mark::Whisker, "whisker: min to max"));
    }
    if all_bars().any(|b| !b.dots.is_empty()) {
        legend.push(LegendItem::Note(Mark::Dot, "dot: one trial"));
    }
    if let (Some(means), true) = (chart.target_means, all_bars().any(|b| b.target.is_some())) {
        legend.push(LegendItem::Note(Mark::Level, means));
    }
    if let Some((_, means)) = &chart.reference {
        legend.push(LegendItem::Note(Mark::Level, means));
    }
    let area = frame(root, &chart.labels, &legend)?;
    // The axis is for the bars: a target tick above them is left out rather than squash them.
    let levels = chart.reference.iter().map(|(level, _)| *level);
    let highest = all_bars().map(bar_top).chain(levels).fold(0.0, f64::max);
    let x_labels: Vec<String> = chart.groups.iter().map(|g| g.label.clone()).collect();
    let mut plot = plot_area(&area, &chart.labels, &x_labels, y_top(highest))?;
    for (g, group) in chart.groups.iter().enumerate() {
        let slot = 0.7 / group.bars.len() as f64;
        // Past three bars a group is too narrow for a value above each bar; the axis still reads.
        let labelled = group.bars.len() <= 3;
        for (i, bar) in group.bars.iter().enumerate() {
            let centre = g as f64 - 0.35 + slot * (i as f64 + 0.5);
            let c = servers.colour(bar.server);
            draw_bar(&mut plot, bar, c, centre, slot.min(0.4) * 0.85, labelled)?;
        }
    }
    if let Some((level, _)) = chart.reference {
        let across = [(-0.5, level), (chart.groups.len() as f64 - 0.5, level)];
        plot.draw_series([PathElement::new(across.to_vec(), level_style())])?;
    }
    Ok(())
}

/// The highest mark of a bar: its value, whisker or a dot.
fn bar_top(bar: &Bar) -> f64 {
    let whisker = bar.whisker.map_or(bar.value, |(_, hi)| hi);
    bar.dots.iter().copied().fold(bar.value.max(whisker), f64::max)
}

/// One bar `width` wide centred at `x`, its whisker, its trials' dots and (if `labelled`) its value.
fn draw_bar(plot: &mut Plot, bar: &Bar, c: RGBColor, x: f64, width: f64, labelled: bool) -> Result<()> {
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
    if let Some(target) = bar.target.filter(|t| *t <= plot.y_range().end) {
        let tick = [(x - half * 1.3, target), (x + half * 1.3, target)];
        plot.draw_series([PathElement::new(tick.to_vec(), level_style())])?;
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

pub(super) fn draw_lines(root: &Area, chart: &LineChart, servers: &Servers) -> Result<()> {
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
        draw_line(&mut plot, line, servers.colour(line.server), dodge)?;
    }
    Ok(())
}

fn draw_line(plot: &mut Plot, line: &Line, c: RGBColor, dodge: f64) -> Result<()> {
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
