//! The cluster's charts, drawn from its summary: req/s against hosts with each server's ideal
//! line, and one timeline per server, fault and loop, with the balancer's retries on and off
//! (and least connections, for a slow host), each trial's mean from the fault to the heal, and
//! the recovery's bar.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::charts::{FAINT, FONT, INK, SIZE, rgb};
use loadtest_model::catalogue::{Catalogue, PALETTE};
use loadtest_model::cluster::fault::Fault;
use loadtest_model::cluster::summary::{ClusterSummary, FaultEntry};
use loadtest_model::cluster::{Balance, LoadLoop};

const FAILED: RGBColor = RGBColor(204, 37, 41);
const FAILED_NO_RETRIES: RGBColor = RGBColor(240, 150, 140);

/// Writes every chart the summary has data for; returns their file names.
pub fn write(summary: &ClusterSummary, catalogue: &Catalogue, dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    if !summary.scaling.is_empty() {
        let name = "cluster_scaling.svg".to_owned();
        scaling(summary, catalogue, &dir.join(&name)).with_context(|| format!("drawing {name}"))?;
        files.push(name);
    }
    for (server, fault, load_loop) in fault_kinds(summary) {
        let entries: Vec<&FaultEntry> = summary
            .faults
            .iter()
            .filter(|e| e.server == server && e.fault == fault && e.load_loop == load_loop)
            .collect();
        let name = timeline_file(&server, fault, load_loop);
        timeline(&server, fault, &entries, &dir.join(&name)).with_context(|| format!("drawing {name}"))?;
        files.push(name);
    }
    Ok(files)
}

/// The file of a server's timeline for `fault` under `load_loop` (`_open` after an open
/// loop's).
pub fn timeline_file(server: &str, fault: Fault, load_loop: LoadLoop) -> String {
    match load_loop {
        LoadLoop::Closed => format!("cluster_{server}_{fault}.svg"),
        LoadLoop::Open => format!("cluster_{server}_{fault}_open.svg"),
    }
}

fn fault_kinds(summary: &ClusterSummary) -> Vec<(String, Fault, LoadLoop)> {
    let mut kinds: Vec<(String, Fault, LoadLoop)> = Vec::new();
    for entry in &summary.faults {
        let kind = (entry.server.clone(), entry.fault, entry.load_loop);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}

fn servers(summary: &ClusterSummary) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for entry in &summary.scaling {
        if !names.contains(&entry.server) {
            names.push(entry.server.clone());
        }
    }
    names
}

fn scaling(summary: &ClusterSummary, catalogue: &Catalogue, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let most = summary.scaling.iter().map(|e| e.hosts).max().unwrap_or(1);
    let ideal = |server: &str| {
        summary
            .scaling
            .iter()
            .find(|e| e.server == server && e.hosts == 1)
            .map(|e| e.rps_median)
    };
    let top = summary
        .scaling
        .iter()
        .map(|e| e.rps_median.max(ideal(&e.server).unwrap_or(0.0) * f64::from(e.hosts)))
        .fold(1.0, f64::max)
        * 1.1;
    let subtitle = match summary.host_cpus {
        Some(cpus) => format!(
            "hosts of {cpus} CPU behind HAProxy, GET n={}, {} connections",
            summary.n, summary.concurrency
        ),
        None => format!(
            "hosts given by URL behind HAProxy, GET n={}, {} connections",
            summary.n, summary.concurrency
        ),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Scaling out: req/s against hosts ({subtitle})"),
            (FONT, 16).into_font().color(&INK),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..f64::from(most) + 0.5, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("hosts")
        .y_desc("2xx answers a second (median of trials)")
        .x_labels(most as usize + 1)
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE)
        .label_style((FONT, 14).into_font().color(&FAINT))
        .draw()?;
    let servers = servers(summary);
    let names: Vec<&str> = servers.iter().map(String::as_str).collect();
    for (server, colour) in servers.iter().zip(catalogue.colours(&names)) {
        let colour = rgb(colour);
        let points: Vec<(f64, f64)> = summary
            .scaling
            .iter()
            .filter(|e| &e.server == server)
            .map(|e| (f64::from(e.hosts), e.rps_median))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))?
            .label(server.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        if let Some(one) = ideal(server) {
            let line: Vec<(f64, f64)> = (1..=most).map(|h| (f64::from(h), one * f64::from(h))).collect();
            chart.draw_series(DashedLineSeries::new(line, 6, 4, colour.mix(0.6).stroke_width(1)))?;
        }
    }
    chart
        .draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0)], FAINT)))?
        .label("dashed: hosts x 1 host (ideal)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], FAINT.stroke_width(1)));
    finish(&root, &mut chart, SeriesLabelPosition::UpperLeft)
}

fn timeline(server: &str, fault: Fault, entries: &[&FaultEntry], path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let slot_s = loadtest_model::cluster::SLOT_MS as f64 / 1000.0;
    let length = entries.iter().map(|e| e.timeline.len()).max().unwrap_or(1) as f64 * slot_s;
    let top = entries
        .iter()
        .flat_map(|e| e.timeline.iter().map(|s| s.ok.max(s.failed)))
        .max()
        .unwrap_or(1) as f64
        * 1.15
        + 1.0;
    let hosts = entries.first().map_or(0, |e| e.hosts);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{server}: {fault} of 1 of {hosts} hosts, requests per 100 ms"),
            (FONT, 18).into_font().color(&INK),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..length, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start of the load (fault and heal: grey lines)")
        .y_desc("requests per 100 ms")
        .light_line_style(WHITE)
        .label_style((FONT, 14).into_font().color(&FAINT))
        .draw()?;
    if let Some(first) = entries.first() {
        for at in [first.fault_at_s, first.heal_at_s] {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(at, 0.0), (at, top)],
                FAINT.stroke_width(2),
            )))?;
        }
        // The recovery's bar: 90% of the remaining hosts' capacity, per 100 ms.
        let bar = 0.9 * first.rps_before * f64::from(first.hosts - 1) / f64::from(first.hosts) * slot_s;
        chart
            .draw_series(DashedLineSeries::new(
                [(first.fault_at_s, bar), (first.heal_at_s, bar)],
                2,
                4,
                FAINT.stroke_width(2),
            ))?
            .label("90% of the remaining hosts' capacity")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], FAINT.stroke_width(2)));
    }
    for entry in entries {
        draw_trial(&mut chart, entry, slot_s)?;
    }
    finish(&root, &mut chart, SeriesLabelPosition::UpperRight)
}

/// One trial's 2xx and failed requests per 100 ms, and its mean from the fault to the heal.
fn draw_trial<'a>(chart: &mut Chart<'a, 'a>, entry: &FaultEntry, slot_s: f64) -> Result<()> {
    let series = |value: fn(&loadtest_model::cluster::summary::Slot) -> u32| -> Vec<(f64, f64)> {
        entry
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64 * slot_s, f64::from(value(s))))
            .collect()
    };
    let label = match (entry.retries, entry.balance) {
        (true, Balance::Leastconn) => "leastconn, retries on",
        (false, Balance::Leastconn) => "leastconn, retries off",
        (true, Balance::Roundrobin) => "retries on",
        (false, Balance::Roundrobin) => "retries off",
    };
    let ok_colour = rgb(match (entry.retries, entry.balance) {
        (_, Balance::Leastconn) => PALETTE[2],
        (true, _) => PALETTE[0],
        (false, _) => PALETTE[1],
    });
    let fail_colour = if entry.retries { FAILED } else { FAILED_NO_RETRIES };
    // Its mean from the fault to the heal, dashed in its colour.
    if let Some(during) = entry.rps_during {
        let level = during * slot_s;
        chart.draw_series(DashedLineSeries::new(
            [(entry.fault_at_s, level), (entry.heal_at_s, level)],
            8,
            4,
            ok_colour.stroke_width(2),
        ))?;
    }
    chart
        .draw_series(LineSeries::new(series(|s| s.ok), ok_colour.stroke_width(2)))?
        .label(format!(
            "2xx, {label}{}",
            entry
                .rps_during
                .map_or_else(String::new, |r| format!(": {r:.0}/s from fault to heal (dashed)"))
        ))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ok_colour.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(series(|s| s.failed), fail_colour.stroke_width(2)))?
        .label(format!("failed, {label}: {} lost", entry.lost))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], fail_colour.stroke_width(2)));
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws the legend at `position` and writes the file.
fn finish<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    chart: &mut Chart<'a, 'a>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(FAINT)
        .label_font((FONT, 14).into_font().color(&INK))
        .draw()?;
    root.present()?;
    Ok(())
}
