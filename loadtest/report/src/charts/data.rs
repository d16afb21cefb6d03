//! What to draw, computed from a [`RunSummary`] alone: the titles, the bars (per server, with
//! trial spreads and per-trial dots) and the sweep lines of every chart, each built by a pure
//! `*_chart` function that returns `None` when there is nothing to draw. Nothing here knows
//! about plotters; `draw` turns these figures into SVG.

use loadtest_model::stats::{self, Stats};
use loadtest_model::summary::{RunSummary, ScenarioKey, ScenarioResult, SweepKind, TrialRecord};
use matrix_service::WorkKind;

use super::{BYTES_PER_MIB, Servers, short_number};
use crate::conclusions::TAIL_TARGET;

/// Titles shared by both kinds of chart.
pub(super) struct Labels {
    pub(super) title: String,
    /// The load and parameters the figures come from.
    pub(super) subtitle: String,
    pub(super) x_desc: String,
    pub(super) y_desc: String,
}

/// Bars grouped along x (one group per server, or per percentile with a bar per server).
pub(super) struct BarChart {
    pub(super) labels: Labels,
    /// What a bar's height is, for the legend.
    pub(super) bar_means: &'static str,
    pub(super) groups: Vec<BarGroup>,
    /// A level across the whole plot, with its legend text (the work's own cost on the CPU
    /// chart).
    pub(super) reference: Option<(f64, String)>,
    /// What the bars' `target` ticks mean, for the legend.
    pub(super) target_means: Option<&'static str>,
}

pub(super) struct BarGroup {
    pub(super) label: String,
    pub(super) bars: Vec<Bar>,
}

pub(super) struct Bar {
    pub(super) server: usize,
    pub(super) value: f64,
    /// Min and max across trials, drawn only when they differ.
    pub(super) whisker: Option<(f64, f64)>,
    /// Each trial's own figure.
    pub(super) dots: Vec<f64>,
    /// A level this bar should stay under, drawn as a tick across it (p99's 3 x p50).
    pub(super) target: Option<f64>,
}

/// One line per server over the swept values (drawn evenly spaced, labelled with the real values).
pub(super) struct LineChart {
    pub(super) labels: Labels,
    pub(super) x_values: Vec<u32>,
    pub(super) lines: Vec<Line>,
}

pub(super) struct Line {
    pub(super) server: usize,
    /// In ascending x.
    pub(super) points: Vec<Point>,
}

pub(super) struct Point {
    /// Index into `x_values`.
    pub(super) x: usize,
    pub(super) value: f64,
    pub(super) whisker: Option<(f64, f64)>,
}

impl Point {
    pub(super) fn top(&self) -> f64 {
        self.whisker.map_or(self.value, |(_, hi)| hi.max(self.value))
    }
}

/// The scenario that is not swept: the design's own concurrency, n and workers.
pub(super) fn fixed_key(summary: &RunSummary) -> ScenarioKey {
    summary.design.base()
}

/// `figure` of every valid measured trial of `server` in scenario `key`.
pub(super) fn trial_values(
    summary: &RunSummary,
    server: &str,
    key: ScenarioKey,
    figure: impl Fn(&TrialRecord) -> Option<f64>,
) -> Vec<f64> {
    summary
        .measured_trials(server, key)
        .filter_map(figure)
        .filter(|v| v.is_finite())
        .collect()
}

/// Min and max, only when there is a spread to show.
fn spread(stats: Option<Stats>) -> Option<(f64, f64)> {
    stats.filter(|s| s.n > 1 && s.max > s.min).map(|s| (s.min, s.max))
}

/// The load and parameters the figures come from, leaving out the swept one.
fn subtitle(summary: &RunSummary, swept: Option<SweepKind>) -> String {
    let d = &summary.design;
    let mut command = format!("oha {}", d.load);
    if swept != Some(SweepKind::Concurrency) {
        command.push_str(&format!(" -c {}", d.concurrency));
    }
    let mut parts = vec![command];
    if swept != Some(SweepKind::N) {
        parts.push(format!("n={}", d.n));
    }
    if swept != Some(SweepKind::Workers) {
        parts.push(format!("workers={}", d.workers));
    }
    if let Some(name) = swept {
        parts.push(format!("{name} swept"));
    }
    parts.push(loop_label(d.rate));
    let plural = if d.measured_trials == 1 { "" } else { "s" };
    parts.push(format!("{} measured trial{plural} each", d.measured_trials));
    parts.join(" · ")
}

/// How the load was sent, for a subtitle.
fn loop_label(offered_rps: Option<u32>) -> String {
    offered_rps.map_or_else(|| "closed loop".to_owned(), |rate| format!("open loop, {rate} req/s"))
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
            let result = summary.result(name, key)?;
            let bar = Bar {
                server,
                value: value(result).filter(|v| v.is_finite())?,
                whisker: spread(spread_of(result)),
                dots: trial_values(summary, name, key, &trial_figure),
                target: None,
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
        reference: None,
        target_means: None,
    })
}

/// RPS per server, median of trials, whisker min-max, a dot per trial.
pub(super) fn throughput_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
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

/// p50, p90 and p99 per server in scenario `key`: medians of the trials' percentiles, whisker
/// min-max.
pub(super) fn latency_chart(summary: &RunSummary, servers: &Servers, key: ScenarioKey) -> Option<BarChart> {
    type Pick = fn(&TrialRecord) -> Option<f64>;
    let percentiles: [(&str, Pick); 3] = [
        ("p50", |t| t.latency_p50_ms),
        ("p90", |t| t.latency_p90_ms),
        ("p99", |t| t.latency_p99_ms),
    ];
    let groups = percentiles
        .iter()
        .map(|(label, pick)| BarGroup {
            label: (*label).to_owned(),
            bars: servers
                .iter()
                .filter_map(|(server, name)| {
                    let dots = trial_values(summary, name, key, pick);
                    let stats = stats::stats(&dots)?;
                    // The lab's tail target, p99 at most 3 x p50, against this server's own p50.
                    let target = (*label == "p99")
                        .then(|| stats::stats(&trial_values(summary, name, key, |t| t.latency_p50_ms)))
                        .flatten()
                        .map(|p50| TAIL_TARGET * p50.median);
                    Some(Bar {
                        server,
                        value: stats.median,
                        whisker: spread(Some(stats)),
                        dots,
                        target,
                    })
                })
                .collect(),
        })
        .collect();
    let mut subtitle = subtitle(summary, None);
    if key.offered_rps != summary.design.rate {
        subtitle = subtitle.replace(&loop_label(summary.design.rate), &loop_label(key.offered_rps));
    }
    let labels = Labels {
        title: "Latency percentiles (ms, 2xx responses)".into(),
        subtitle,
        x_desc: "percentile".into(),
        y_desc: "latency (ms)".into(),
    };
    let mut chart = bar_chart(labels, "bar: median of trials", groups)?;
    chart.target_means = Some("tick: 3 x p50 (target)");
    Some(chart)
}

/// Server CPU time (user + system, whole process tree) per 2xx answer; beside it, when the run
/// read it, oha's own CPU per answer: the client shares the CPUs, and what it takes, the servers
/// cannot have.
pub(super) fn cpu_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    let mut groups = per_server_groups(
        summary,
        servers,
        |r| r.cpu_ms_per_request.or(r.cpu_per_request.map(|s| s.median)),
        |r| r.cpu_per_request,
        |t| t.cpu_ms_per_request,
    );
    let key = fixed_key(summary);
    let client: Vec<Bar> = (servers.iter())
        .filter_map(|(server, name)| {
            Some(Bar {
                server,
                value: summary.result(name, key)?.client_cpu_ms_per_request?,
                whisker: None,
                dots: trial_values(summary, name, key, TrialRecord::client_cpu_ms_per_request),
                target: None,
            })
        })
        .collect();
    let title = if client.is_empty() {
        "Server CPU time per request (ms)"
    } else {
        groups = vec![
            BarGroup {
                label: "server (process tree)".into(),
                bars: groups.into_iter().flat_map(|g| g.bars).collect(),
            },
            BarGroup {
                label: "client (oha)".into(),
                bars: client,
            },
        ];
        "CPU time per request (ms): the server's and oha's"
    };
    let labels = Labels {
        title: title.into(),
        subtitle: subtitle(summary, None),
        x_desc: "server".into(),
        y_desc: "CPU ms per request (user + system)".into(),
    };
    let mut chart = bar_chart(labels, "bar: median of trials", groups)?;
    // The work itself on one thread, in the harness's process: what a request cannot cost less
    // than; the gap above it is the model's own cost.
    let work = (summary.work_costs.iter()).find(|cost| cost.n == key.n && cost.work == key.work);
    chart.reference = work.map(|cost| (cost.cpu_ms, format!("line: the work, {} ms", short_number(cost.cpu_ms))));
    Some(chart)
}

/// Peak PSS of the process tree during the trials, and PSS after the last one, in MiB.
pub(super) fn memory_chart(summary: &RunSummary, servers: &Servers) -> Option<BarChart> {
    let key = fixed_key(summary);
    let mib = |bytes: Option<u64>| bytes.map(|b| b as f64 / BYTES_PER_MIB);
    // Each trial's peak is a dot beside the highest; "after" is one reading, after the last trial.
    let group = |label: &str,
                 of_result: fn(&ScenarioResult) -> Option<u64>,
                 of_trial: Option<fn(&TrialRecord) -> Option<u64>>| {
        let bars = servers
            .iter()
            .filter_map(|(server, name)| {
                let value = mib(of_result(summary.result(name, key)?))?;
                let dots = of_trial.map_or_else(Vec::new, |of| trial_values(summary, name, key, |t| mib(of(t))));
                Some(Bar {
                    server,
                    value,
                    whisker: None,
                    dots,
                    target: None,
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
            Some(|t| t.peak_memory_bytes),
        ),
        group("after the last trial", |r| r.memory_after_bytes, None),
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
pub(super) enum SweepFigure {
    Rps,
    P50,
    P99,
}

impl SweepFigure {
    fn of(self, result: &ScenarioResult) -> (Option<f64>, Option<Stats>) {
        match self {
            Self::Rps => (result.rps_median.or(result.rps.map(|s| s.median)), result.rps),
            Self::P50 => (
                result.latency_p50_ms.or(result.latency_p50.map(|s| s.median)),
                result.latency_p50,
            ),
            Self::P99 => (
                result.latency_p99_ms.or(result.latency_p99.map(|s| s.median)),
                result.latency_p99,
            ),
        }
    }
}

/// The swept parameter's value in `result`, if `result` belongs to the sweep: its other
/// parameters are `fixed`'s.
fn swept_value(fixed: ScenarioKey, axis: SweepKind, result: &ScenarioResult) -> Option<u32> {
    let key = result.scenario;
    (axis.apply(key, axis.value(fixed)) == fixed).then_some(axis.value(key))
}

/// The fixed parameters of `work`'s sweep: the design's, or, for another kind of work than the
/// headline's, those its results ran with (under `--lab`, io has its own n and connections).
fn fixed_for(summary: &RunSummary, work: Option<WorkKind>) -> Option<ScenarioKey> {
    let base = fixed_key(summary);
    match work {
        None => Some(base),
        Some(work) if work == base.work => Some(base),
        Some(work) => summary
            .results
            .iter()
            .find(|r| r.scenario.work == work)
            .map(|r| r.scenario),
    }
}

/// The sweep's chart of `figure`, for one kind of work (`None`: the headline's, in a run of one
/// kind).
pub(super) fn sweep_chart(
    summary: &RunSummary,
    servers: &Servers,
    (figure, work): (SweepFigure, Option<WorkKind>),
) -> Option<LineChart> {
    let axis = summary.design.sweep?;
    let fixed = fixed_for(summary, work)?;
    let mut x_values: Vec<u32> = summary
        .results
        .iter()
        .filter_map(|r| swept_value(fixed, axis, r))
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
                    let x = x_values.binary_search(&swept_value(fixed, axis, r)?).ok()?;
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
    let axis_desc = axis.axis();
    let of_work = work.map_or(String::new(), |w| format!("{} ({}): ", w.name(), w.bound().describe()));
    let throughput = if work.is_some() { "throughput" } else { "Throughput" };
    let (title, y_desc) = match figure {
        SweepFigure::Rps => (
            format!("{of_work}{throughput} by {axis} (2xx responses per second)"),
            "requests per second",
        ),
        SweepFigure::P50 => (format!("{of_work}p50 latency by {axis} (ms)"), "p50 latency (ms)"),
        SweepFigure::P99 => (format!("{of_work}p99 latency by {axis} (ms)"), "p99 latency (ms)"),
    };
    let subtitle = match work {
        Some(_) => format!(
            "n={}, {} connections{}; whiskers: min-max of the trials",
            fixed.n,
            fixed.concurrency,
            fixed.wait_ms.map_or(String::new(), |w| format!(", wait_ms={w}"))
        ),
        None => subtitle(summary, Some(axis)),
    };
    let labels = Labels {
        title,
        subtitle,
        x_desc: axis_desc.into(),
        y_desc: y_desc.into(),
    };
    Some(LineChart {
        labels,
        x_values,
        lines,
    })
}
