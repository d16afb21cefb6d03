//! `timeline_<server>_<work>.svg`: 50 ms of a traced window as a Gantt chart. Each lane is a
//! thread or a process; a lane is reused once its occupant has ended (a scoped band thread, a
//! forked child), and at most [`MAX_LANES`] are drawn, the rest counted in the caption. Each
//! band is a bar in its request's colour; generating and serialising are grey, hand-offs
//! (thread starts, forks, queueing) orange, the way back (joins, pipe reads, reaping) red.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use loadtest_model::trace::{Trace, TraceEvent};
use matrix_service::trace::Phase;

use crate::charts::{FAINT, FONT, INK};

/// The slice drawn, µs.
pub const SLICE_US: u64 = 50_000;
/// The most lanes drawn.
pub const MAX_LANES: usize = 24;

const WIDTH: u32 = 1100;
const LANE_PX: u32 = 22;
const TOP_PX: u32 = 74;
const BOTTOM_PX: u32 = 96;
const LABEL_PX: u32 = 190;

/// Request colours, in turn.
const REQUEST_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(188, 189, 34),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
const WORK_GREY: RGBColor = RGBColor(200, 200, 200);
const HAND_OFF: RGBColor = RGBColor(240, 140, 40);
const WAY_BACK: RGBColor = RGBColor(214, 39, 40);

/// One lane: the tracks (pid, tid) it held, in turn, and their events in the slice.
struct Lane {
    name: String,
    occupants: usize,
    free_from: u64,
    events: Vec<TraceEvent>,
}

/// The timeline of `trace` for `title` (such as "threading, add"), or `None` if the window
/// holds no band.
pub fn timeline_svg(trace: &Trace, title: &str) -> Result<Option<String>> {
    let Some(start) = slice_start(trace) else {
        return Ok(None);
    };
    let end = start + SLICE_US;
    let (lanes, hidden) = pack_lanes(trace, (start, end));
    let height = TOP_PX + BOTTOM_PX + LANE_PX * lanes.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw_frame(&root, title, (lanes.len(), hidden))?;
        let x = |us: u64| {
            LABEL_PX as i32
                + ((us.clamp(start, end) - start) as f64 / SLICE_US as f64 * f64::from(WIDTH - LABEL_PX - 20)) as i32
        };
        let left = Pos::new(HPos::Left, VPos::Center);
        for (row, lane) in lanes.iter().enumerate() {
            let y = (TOP_PX + LANE_PX * row as u32) as i32;
            let label = if lane.occupants > 1 {
                format!("{} ×{}", lane.name, lane.occupants)
            } else {
                lane.name.clone()
            };
            root.draw(&Text::new(
                label,
                (8, y + LANE_PX as i32 / 2),
                (FONT, 13.0).into_font().color(&INK).pos(left),
            ))?;
            let mut events = lane.events.clone();
            events.sort_by_key(|e| std::cmp::Reverse(e.dur_us));
            for event in events {
                let (colour, inset) = style(&event);
                let (x0, x1) = (x(event.ts_us), x(event.end_us()).max(x(event.ts_us) + 1));
                root.draw(&Rectangle::new(
                    [(x0, y + inset), (x1, y + LANE_PX as i32 - inset)],
                    colour.filled(),
                ))?;
            }
        }
        draw_axis(&root, height, &x, start)?;
        root.present()?;
    }
    Ok(Some(svg))
}

/// The slice's threads and processes packed into lanes: a lane takes a thread or process of
/// its kind once its last occupant has ended. Returns the lanes and how many did not fit.
fn pack_lanes(trace: &Trace, (start, end): (u64, u64)) -> (Vec<Lane>, usize) {
    let mut tracks: BTreeMap<(u64, u64), Vec<TraceEvent>> = BTreeMap::new();
    for event in trace.events.iter().filter(|e| e.ts_us < end && e.end_us() > start) {
        if matches!(event.phase, Phase::Request | Phase::Compute)
            || !trace.threads.contains_key(&(event.pid, event.tid))
        {
            continue;
        }
        if trace.threads[&(event.pid, event.tid)].starts_with("requests, lane") {
            continue; // the awaiting part of a request: no thread of its own
        }
        tracks.entry((event.pid, event.tid)).or_default().push(*event);
    }
    let mut ordered: Vec<((u64, u64), Vec<TraceEvent>)> = tracks.into_iter().collect();
    ordered.sort_by_key(|(_, events)| events.iter().map(|e| e.ts_us).min());
    let mut lanes: Vec<Lane> = Vec::new();
    let mut hidden = 0;
    for (track, events) in ordered {
        let first = events.iter().map(|e| e.ts_us).min().unwrap_or(start);
        let last = events.iter().map(TraceEvent::end_us).max().unwrap_or(first);
        let name = lane_name(trace, track);
        let free = lanes
            .iter()
            .position(|lane| lane.free_from <= first && lane.name == name);
        if let Some(lane) = free.map(|i| &mut lanes[i]) {
            lane.occupants += 1;
            lane.free_from = last;
            lane.events.extend(events);
        } else if lanes.len() < MAX_LANES {
            lanes.push(Lane {
                name,
                occupants: 1,
                free_from: last,
                events,
            });
        } else {
            hidden += 1;
        }
    }
    (lanes, hidden)
}

/// Where the slice starts: at the first band that starts after a quarter of the window.
fn slice_start(trace: &Trace) -> Option<u64> {
    let bands: Vec<u64> = (trace.events.iter())
        .filter(|e| e.phase == Phase::Band)
        .map(|e| e.ts_us)
        .collect();
    let first = trace.events.iter().map(|e| e.ts_us).min()?;
    let quarter = first + trace.window_ms * 1000 / 4;
    bands
        .iter()
        .copied()
        .filter(|&ts| ts >= quarter)
        .min()
        .or_else(|| bands.iter().copied().min())
}

/// A lane's name for a student: what the thread or process is.
fn lane_name(trace: &Trace, (pid, tid): (u64, u64)) -> String {
    let name = trace.threads.get(&(pid, tid)).map_or("thread", String::as_str);
    match name {
        "band" => "band thread".to_owned(),
        "band-child" => "forked child".to_owned(),
        "pool-worker" => "pool worker process".to_owned(),
        "tokio-rt-worker" => "request's thread".to_owned(),
        // actix's workers, one single-threaded event loop each: where a task's work runs.
        arbiter if arbiter.starts_with("actix-rt|") => match arbiter.rsplit_once("arbiter:") {
            Some((_, n)) => format!("event loop {n}"),
            None => "event loop".to_owned(),
        },
        pool if pool.starts_with("pool-") => format!("pool thread {}", &pool[5..]),
        other => other.to_owned(),
    }
}

/// An event's colour, and how far inside its lane it is drawn (hand-offs and way backs thinner,
/// over the bars they sit on).
fn style(event: &TraceEvent) -> (RGBColor, i32) {
    match event.phase {
        Phase::Band => (
            REQUEST_COLOURS[(event.request % REQUEST_COLOURS.len() as u64) as usize],
            2,
        ),
        Phase::ThreadStart | Phase::Queue | Phase::ForkRequest | Phase::Fork => (HAND_OFF, 6),
        Phase::Join | Phase::PipeRead | Phase::Reap | Phase::DoneMessage => (WAY_BACK, 6),
        _ => (WORK_GREY, 4),
    }
}

fn draw_frame(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    (shown, hidden): (usize, usize),
) -> Result<()> {
    let centre = Pos::new(HPos::Center, VPos::Top);
    root.draw(&Text::new(
        format!("{title}: 50 ms of the traced window"),
        ((WIDTH / 2) as i32, 10),
        (FONT, 22.0).into_font().color(&INK).pos(centre),
    ))?;
    let lanes = if hidden > 0 {
        format!("{shown} lanes shown, {hidden} more threads or processes not drawn")
    } else {
        format!("{shown} lanes")
    };
    root.draw(&Text::new(
        format!("each lane a thread or process; ×k: k of them in turn, each started when the last ended; {lanes}"),
        ((WIDTH / 2) as i32, 40),
        (FONT, 14.0).into_font().color(&FAINT).pos(centre),
    ))?;
    Ok(())
}

fn draw_axis(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    height: u32,
    x: &dyn Fn(u64) -> i32,
    start: u64,
) -> Result<()> {
    let axis_y = (height - BOTTOM_PX + 8) as i32;
    root.draw(&PathElement::new(
        vec![(x(start), axis_y), (x(start + SLICE_US), axis_y)],
        INK.stroke_width(1),
    ))?;
    let centre = Pos::new(HPos::Center, VPos::Top);
    for ms in (0..=50).step_by(10) {
        let at = x(start + ms * 1000);
        root.draw(&PathElement::new(
            vec![(at, axis_y), (at, axis_y + 5)],
            INK.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            format!("{ms} ms"),
            (at, axis_y + 8),
            (FONT, 13.0).into_font().color(&INK).pos(centre),
        ))?;
    }
    let legend_y = axis_y + 36;
    let left = Pos::new(HPos::Left, VPos::Center);
    let items = [
        (REQUEST_COLOURS[0], "a band, in its request's colour"),
        (WORK_GREY, "generating, serialising"),
        (HAND_OFF, "hand-off: thread start, fork, queue"),
        (WAY_BACK, "way back: join, pipe read, reap"),
    ];
    let mut lx = LABEL_PX as i32;
    for (colour, text) in items {
        root.draw(&Rectangle::new(
            [(lx, legend_y - 6), (lx + 14, legend_y + 6)],
            colour.filled(),
        ))?;
        root.draw(&Text::new(
            text,
            (lx + 20, legend_y),
            (FONT, 13.0).into_font().color(&INK).pos(left),
        ))?;
        lx += 230;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use loadtest_model::testdata::trace_events::{complete as event, process_name, thread_name as named, whole};
    use serde_json::Value;

    use super::*;

    fn trace(events: Vec<Value>) -> Trace {
        Trace::parse(&whole(events, 100)).unwrap()
    }

    #[test]
    fn children_one_after_another_share_a_lane_and_lanes_past_24_are_counted() {
        let mut events = vec![process_name(1, "lab")];
        // Three children forked one after another: one lane, "forked child ×3".
        for (i, pid) in [100u64, 101, 102].into_iter().enumerate() {
            let at = 30_000 + 10_000 * i as u64;
            events.push(named(pid, pid, "band-child"));
            events.push(event("fork", (at, 2_000), (pid, pid), i as u64));
            events.push(event("band", (at + 2_000, 5_000), (pid, pid), i as u64));
        }
        let svg = timeline_svg(&trace(events.clone()), "lab, add").unwrap().unwrap();
        assert!(svg.contains("forked child ×3"), "{svg}");
        assert!(svg.contains("1 lanes"), "{svg}");
        // Thirty band threads at once beside the children's lane: 23 of them drawn, 7 counted.
        for tid in 0..30u64 {
            events.push(named(1, 1000 + tid, "band"));
            events.push(event("band", (31_000, 8_000), (1, 1000 + tid), 9));
        }
        let svg = timeline_svg(&trace(events), "lab, add").unwrap().unwrap();
        assert!(
            svg.contains("24 lanes shown, 7 more threads or processes not drawn"),
            "{svg}"
        );
    }

    #[test]
    fn an_event_loop_s_bands_share_its_lane_and_it_is_named_for_a_student() {
        let mut events = vec![named(1, 7, "actix-rt|system:0|arbiter:1")];
        for request in 1..=3 {
            let ts = 30_000 + request * 2_000;
            events.push(event("band", (ts, 1_500), (1, 7), request));
        }
        let svg = timeline_svg(&trace(events), "async, add").unwrap().unwrap();
        assert!(svg.contains("event loop 1"), "{svg}");
        assert!(!svg.contains("actix-rt"), "{svg}");
        assert!(!svg.contains("lanes shown,"), "one lane, nothing hidden: {svg}");
    }

    #[test]
    fn a_window_without_a_band_has_no_timeline() {
        let events = vec![named(1, 7, "tokio-rt-worker"), event("generate", (0, 10), (1, 7), 1)];
        assert_eq!(timeline_svg(&trace(events), "lab, add").unwrap(), None);
    }
}
