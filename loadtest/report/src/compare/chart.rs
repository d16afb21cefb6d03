//! `compare.svg`: every figure's NEW over BASE as a dot on its 95% interval, one row each, over
//! the ±5% band around 1 (a forest plot). A dot is green when NEW is better beyond noise, red
//! when worse, grey within noise; where "better" is a higher ratio for req/s and a lower one for
//! time and CPU, so the colour, not the side, says which way a figure moved.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use loadtest_model::compare::{CompareRun, FigureComparison, Metric};
use loadtest_model::stats::Verdict;

use super::markdown::metric_label;
use crate::charts::{FAINT, FONT, INK, Slots};
use crate::table::scenario_label;

/// The chart's file name.
pub const FILE: &str = "compare.svg";

const WIDTH: u32 = 960;
const ROW_PX: u32 = 22;
/// The title, the axis and the key take this much beside the rows.
const FRAME_PX: u32 = 130;
const LABELS_PX: u32 = 330;

const BETTER: RGBColor = RGBColor(46, 139, 87);
const WORSE: RGBColor = RGBColor(200, 50, 50);
const BAND: RGBColor = RGBColor(232, 232, 232);

/// Beyond this many figures the chart draws req/s alone (a `--lab` pair has hundreds); the
/// table has every figure.
const MOST_ROWS: usize = 80;

/// The chart as SVG text.
pub fn draw(run: &CompareRun) -> Result<String> {
    let all = run.comparisons.len();
    let rows: Vec<&FigureComparison> = (run.comparisons.iter())
        .filter(|c| all <= MOST_ROWS || c.metric == Metric::Rps)
        .collect();
    let caption = if rows.len() == all {
        "NEW over BASE, each figure with its 95% interval; the band is ±5%".to_owned()
    } else {
        format!(
            "NEW over BASE, req/s alone ({} of {all} figures; the table has all), 95% intervals; the band is ±5%",
            rows.len()
        )
    };
    let mut svg = String::new();
    let height = FRAME_PX + ROW_PX * rows.len().max(1) as u32;
    {
        let area = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        area.fill(&WHITE)?;
        let (lowest, highest) = span(&rows, run.noise_band);
        let labels: Vec<String> = rows.iter().map(|c| label(c)).collect();
        let mut chart = ChartBuilder::on(&area)
            .caption(caption, (FONT, 17.0).into_font().color(&INK))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(LABELS_PX)
            .build_cartesian_2d(
                lowest..highest,
                Slots {
                    count: rows.len().max(1),
                },
            )?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_max_light_lines(0)
            .x_desc("NEW / BASE")
            .x_label_formatter(&|x| format!("{x:.2}x"))
            // Slot 0 is at the bottom: the first row is drawn in the top slot.
            .y_label_formatter(&|y| {
                let from_top = rows.len().saturating_sub(1 + y.round() as usize);
                labels.get(from_top).cloned().unwrap_or_default()
            })
            .label_style((FONT, 12.0).into_font().color(&INK))
            .axis_desc_style((FONT, 13.0).into_font().color(&FAINT))
            .draw()?;
        let band = 1.0 - run.noise_band..1.0 + run.noise_band;
        let (top, bottom) = (rows.len() as f64 - 0.5, -0.5);
        chart.draw_series([Rectangle::new([(band.start, bottom), (band.end, top)], BAND.filled())])?;
        chart.draw_series([PathElement::new(vec![(1.0, bottom), (1.0, top)], FAINT.stroke_width(1))])?;
        for (i, c) in rows.iter().enumerate() {
            let y = (rows.len() - 1 - i) as f64;
            let colour = colour(c);
            if let Some([low, high]) = c.interval {
                chart.draw_series([PathElement::new(vec![(low, y), (high, y)], colour.stroke_width(2))])?;
            }
            chart.draw_series([Circle::new((c.ratio, y), 4, colour.filled())])?;
            let text = format!("  {:.2}x", c.ratio);
            let right = c.interval.map_or(c.ratio, |[_, high]| high);
            chart.draw_series([Text::new(
                text,
                (right, y),
                (FONT, 11.0)
                    .into_font()
                    .color(&FAINT)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )])?;
        }
        area.present()?;
    }
    Ok(svg)
}

/// The ratios' range, with room for the band, the text after each interval, and a margin.
fn span(rows: &[&FigureComparison], band: f64) -> (f64, f64) {
    let ends = rows.iter().flat_map(|c| {
        let [low, high] = c.interval.unwrap_or([c.ratio, c.ratio]);
        [low, high, c.ratio]
    });
    let (low, high) = ends
        .filter(|v| v.is_finite())
        .fold((1.0 - 2.0 * band, 1.0 + 2.0 * band), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let margin = (high - low) * 0.06;
    ((low - margin).max(0.0), high + 3.0 * margin)
}

fn label(c: &FigureComparison) -> String {
    format!(
        "{} {} · {}",
        c.server,
        metric_label(c.metric),
        scenario_label(c.scenario)
    )
}

fn colour(c: &FigureComparison) -> RGBColor {
    match c.verdict {
        Verdict::Higher => BETTER,
        Verdict::Lower => WORSE,
        Verdict::WithinNoise | Verdict::TooFewTrials => FAINT,
    }
}
