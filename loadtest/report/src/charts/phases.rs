//! `phases.svg`: where a request's wall time and CPU go, per server, from the ledger of the
//! run's headline kind of work: two panels of stacked bars, wall time left and CPU right, one
//! segment per phase in the same colour in both, labelled with its milliseconds when it is tall
//! enough to hold them.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use loadtest_model::ledger::{LedgerEntry, all_phases};
use loadtest_model::summary::RunSummary;

use super::{FAINT, FONT, INK, LEGEND_WIDTH, SIZE, TITLE_HEIGHT, short_number};

/// Each phase's colour, in [`all_phases`]' order: waits in greys, the work in blues and greens,
/// the models' own costs (hand-off, way back, the fork server) in warm colours.
const COLOURS: [RGBColor; 14] = [
    RGBColor(190, 190, 190), // admission
    RGBColor(150, 150, 150), // queueing
    RGBColor(200, 170, 120), // parse
    RGBColor(70, 130, 180),  // generation
    RGBColor(230, 120, 40),  // hand-off
    RGBColor(215, 215, 180), // awaiting
    RGBColor(120, 120, 120), // queued on the loop
    RGBColor(60, 160, 90),   // waiting for bands
    RGBColor(200, 50, 50),   // way back
    RGBColor(130, 90, 170),  // serialise
    RGBColor(170, 170, 110), // back to the loop
    RGBColor(225, 225, 225), // other
    RGBColor(240, 180, 60),  // the fork server
    RGBColor(60, 60, 60),    // outside the handler
];

/// The phases drawn, with their colours: every phase some entry has, in order.
fn phases_drawn(entries: &[&LedgerEntry]) -> Vec<(&'static str, RGBColor)> {
    all_phases()
        .zip(COLOURS)
        .filter(|(name, _)| {
            entries
                .iter()
                .any(|e| e.phases.get(*name).is_some_and(|p| p.wall_ms > 0.0 || p.cpu_ms > 0.0))
        })
        .collect()
}

/// The chart of `summary`'s ledger at its headline kind of work, servers in `order`; `None`
/// when the run has no ledger for it.
pub(super) fn phases_svg(summary: &RunSummary, order: &[&str]) -> Result<Option<String>> {
    let work = summary.design.work;
    let entries: Vec<&LedgerEntry> = (order.iter())
        .filter_map(|server| (summary.ledger.iter()).find(|e| e.server == *server && e.scenario.work == work))
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let phases = phases_drawn(&entries);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, rest) = root.split_vertically(TITLE_HEIGHT);
        let centre = (SIZE.0 / 2) as i32;
        let middle = Pos::new(HPos::Center, VPos::Top);
        top.draw(&Text::new(
            "Where a request's time and CPU go",
            (centre, 12),
            (FONT, 24.0).into_font().color(&INK).pos(middle),
        ))?;
        let subtitle = format!(
            "{}: mean per request over a 1 s traced window; CPU outside the handler: the server's, no phase's",
            work.name()
        );
        top.draw(&Text::new(
            subtitle,
            (centre, 40),
            (FONT, 15.0).into_font().color(&FAINT).pos(middle),
        ))?;
        let (plots, legend) = rest.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let (left, right) = plots.split_horizontally((SIZE.0 - LEGEND_WIDTH) / 2);
        let wall = |e: &LedgerEntry, name: &str| e.phases.get(name).map_or(0.0, |p| p.wall_ms.max(0.0));
        let cpu = |e: &LedgerEntry, name: &str| e.phases.get(name).map_or(0.0, |p| p.cpu_ms.max(0.0));
        draw_panel(&left, "wall time (ms)", &entries, &phases, &wall)?;
        draw_panel(&right, "CPU (ms)", &entries, &phases, &cpu)?;
        let mut y = 24;
        for (name, colour) in &phases {
            legend.draw(&Rectangle::new([(8, y - 7), (24, y + 7)], colour.filled()))?;
            let left_middle = Pos::new(HPos::Left, VPos::Center);
            legend.draw(&Text::new(
                *name,
                (32, y),
                (FONT, 15.0).into_font().color(&INK).pos(left_middle),
            ))?;
            y += 24;
        }
        root.present()?;
    }
    Ok(Some(svg))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// One panel: a stacked bar per entry of `value(entry, phase)` over `phases`.
fn draw_panel(
    area: &Area,
    caption: &str,
    entries: &[&LedgerEntry],
    phases: &[(&'static str, RGBColor)],
    value: &dyn Fn(&LedgerEntry, &str) -> f64,
) -> Result<()> {
    let totals: Vec<f64> = (entries.iter())
        .map(|e| phases.iter().map(|(name, _)| value(e, name)).sum())
        .collect();
    let top = totals.iter().copied().fold(0.0, f64::max).max(0.001) * 1.08;
    let count = entries.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17.0).into_font().color(&INK))
        .margin(12)
        .x_label_area_size(56)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..count as f64 - 0.5, 0.0..top)?;
    let names: Vec<String> = entries.iter().map(|e| e.server.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count * 2 + 1)
        .x_label_formatter(&|x| {
            let nearest = x.round();
            if (x - nearest).abs() < 0.01 && nearest >= 0.0 {
                names.get(nearest as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| short_number(*y))
        .label_style((FONT, 14.0).into_font().color(&INK))
        .draw()?;
    for (i, entry) in entries.iter().enumerate() {
        let x = i as f64;
        let mut base = 0.0;
        for (name, colour) in phases {
            let height = value(entry, name);
            if height <= 0.0 {
                continue;
            }
            chart.draw_series([Rectangle::new(
                [(x - 0.3, base), (x + 0.3, base + height)],
                colour.filled(),
            )])?;
            // A label where the segment is at least a twentieth of the panel tall.
            if height >= top / 20.0 {
                let centre = Pos::new(HPos::Center, VPos::Center);
                // Light text on the dark segments, dark on the others.
                let luminance = 0.3 * f64::from(colour.0) + 0.59 * f64::from(colour.1) + 0.11 * f64::from(colour.2);
                let ink = if luminance < 110.0 { WHITE } else { INK };
                chart.draw_series([Text::new(
                    short_number(height),
                    (x, base + height / 2.0),
                    (FONT, 12.0).into_font().color(&ink).pos(centre),
                )])?;
            }
            base += height;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::entry;
    use loadtest_model::ledger::FORK_SERVER;

    #[test]
    fn one_stacked_bar_per_server_in_each_panel_with_every_phase_in_the_legend() {
        let mut summary = crate::testdata::summary();
        assert_eq!(phases_svg(&summary, &["threading"]).unwrap(), None);
        summary.ledger = vec![entry("threading", 0.5, 0.25), entry("prefork", 1.5, 0.75)];
        let svg = phases_svg(&summary, &["threading", "prefork"]).unwrap().unwrap();
        for name in all_phases() {
            // Neither server has a fork server, nor is a task: those phases are left out.
            let drawn = name != FORK_SERVER && !crate::ledger::tests::TASKS_ALONE.contains(&name);
            assert_eq!(svg.contains(&format!(">\n{name}\n<")), drawn, "{name} in the legend");
        }
        // Each segment is a rectangle of its phase's colour: 10 phases in the wall panel and 11
        // (outside the handler too) in the CPU panel, for each of 2 servers, plus 11 swatches.
        let fill = |c: RGBColor| format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
        let segments: usize = COLOURS.iter().map(|&c| svg.matches(&fill(c)).count()).sum();
        assert_eq!(segments, 2 * (10 + 11) + 11, "{svg}");
        assert_eq!(COLOURS.len(), all_phases().count(), "a colour for every phase");
    }
}
