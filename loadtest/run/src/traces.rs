//! The traced windows: after every measured trial, for each lab server the harness started and
//! each kind of work of the run, one trace of [`TRACE_WINDOW`] taken while oha loads the server
//! at that kind's headline scenario, kept as `trace_<server>_<work>.json` (gzipped when over
//! [`GZIP_OVER_BYTES`]). Never during a trial: recording costs the server time, and the
//! trials' figures are of a server that records nothing. The second before each trace, under
//! the same load, is sampled untraced: the trials ran minutes earlier, and this says whether the
//! machine's speed moved since, so the ledger is set against the trials only when it held.
//! Before the load, a few requests one at a time under a short trace give the generation's CPU
//! with the server unloaded: a traced second whose generation took much more ran slow.
//!
//! The Python apps have no tracer, and a server given by URL is not the harness's to load
//! outside its trials: both are listed as not traced, with why.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use loadtest_model::ledger::{LedgerEntry, WindowCpu, ledger_of};
use loadtest_model::stats::median;
use loadtest_model::summary::ScenarioKey;
use loadtest_model::trace::{Trace, TracedWindow};
use loadtest_model::trace_cost::TraceCost;
use matrix_service::WorkKind;
use matrix_service::trace::Phase;

use crate::oha::runner::{self, Load, OhaArgs};
use crate::plan::Api;
use crate::servers::Target;
use crate::trial::TrialRunner;

/// How long each trace records.
pub const TRACE_WINDOW: Duration = Duration::from_secs(1);

/// The load runs this long before the window opens, so every connection is open and busy, and
/// as long again after it closes, so the window's last requests are answered under load.
const LEAD: Duration = Duration::from_millis(300);

/// A traced window's CPU is sampled from this long after the trace was asked for until this
/// long before it ends: time for the request to reach the server, and for reading the process
/// tree, so that neither the trace's start nor its writing out falls in the sample.
const SAMPLED_INSIDE_BY: Duration = Duration::from_millis(50);

/// The generation's CPU with the server unloaded: at most this many requests, sent one at a
/// time for at most this long, under a trace [`SAMPLED_INSIDE_BY`] longer on either side.
const ALONE_REQUESTS: usize = 5;
const ALONE_FOR: Duration = Duration::from_millis(250);

/// A trace over this many bytes is kept gzipped.
pub const GZIP_OVER_BYTES: usize = 2 << 20;

/// The largest trace read back: `--trace-max-events` (100,000 by default) events of about
/// 200 bytes each, with room to spare.
const MAX_TRACE_BYTES: u64 = 256 << 20;

/// What the traced windows kept: each window (or server not traced), and the ledger read from
/// them.
#[derive(Debug, Default)]
pub struct Traced {
    pub windows: Vec<TracedWindow>,
    pub ledger: Vec<LedgerEntry>,
    /// Each trace kept, read back, with its server and kind of work.
    pub traces: Vec<(String, WorkKind, Trace)>,
}

/// One traced window per lab server the harness started and kind of work in `works` (each
/// kind's headline scenario), written to `out_dir`, and its ledger; every other target listed
/// as not traced. `say` hears each file written.
pub fn keep_traces(
    runner: &TrialRunner<'_>,
    targets: &[Target],
    works: &[ScenarioKey],
    say: &dyn Fn(&str),
) -> anyhow::Result<Traced> {
    let mut traced = Traced::default();
    for target in targets {
        let not_traced = if target.api != Api::Lab {
            Some("a Python app: it has no tracer")
        } else if target.managed.is_none() {
            Some("given by URL: the harness traces only the servers it starts")
        } else {
            None
        };
        if let Some(why) = not_traced {
            traced.windows.push(TracedWindow {
                server: target.name.clone(),
                work: None,
                file: None,
                requests: 0,
                events: 0,
                dropped: 0,
                note: Some(why.to_owned()),
                timeline: None,
            });
            continue;
        }
        for &scenario in works {
            let (window, read) = traced_window(runner, target, scenario)?;
            say(&match (&window.file, &window.note) {
                (Some(file), _) => format!("traced {}: {file} ({} requests)", target.name, window.requests),
                (None, note) => format!("{}: no trace ({})", target.name, note.as_deref().unwrap_or("")),
            });
            traced.windows.push(window);
            if let Some((trace, ledger)) = read {
                traced.ledger.extend(ledger);
                traced.traces.push((target.name.clone(), scenario.work, trace));
            }
        }
    }
    Ok(traced)
}

/// Pairs of windows, one untraced then one traced, that `--trace-cost` measures per server.
pub const COST_PAIRS: u32 = 10;

/// What recording costs `target` under `scenario`'s load: [`COST_PAIRS`] pairs of 1 s windows,
/// untraced then traced, its process tree's CPU per answer in each. `None` for a server the
/// harness did not start or a Python app.
pub fn trace_cost(
    runner: &TrialRunner<'_>,
    target: &Target,
    scenario: ScenarioKey,
) -> anyhow::Result<Option<TraceCost>> {
    if target.api != Api::Lab || target.managed.is_none() {
        return Ok(None);
    }
    // Each window and the gap between windows (reading /proc and /metrics), with room.
    let pair = 2 * (TRACE_WINDOW + Duration::from_millis(150));
    let (args, trace_url) = load_and_trace(runner, target, scenario, pair * COST_PAIRS);
    let wall_limit = args.request_timeout + pair * COST_PAIRS + Duration::from_secs(30);
    let (load, windows) = std::thread::scope(|scope| {
        let load = scope.spawn(|| runner::run_via(&runner.oha_launcher, runner.oha, &args, wall_limit, runner.cancel));
        std::thread::sleep(LEAD);
        let (mut untraced, mut traced) = (Vec::new(), Vec::new());
        for _ in 0..COST_PAIRS {
            let before = tree_and_answers(runner, target);
            std::thread::sleep(TRACE_WINDOW);
            untraced.extend(cpu_ms_per_answer(before, tree_and_answers(runner, target)));
            let before = tree_and_answers(runner, target);
            let answered = runner.client.get_text_up_to(&trace_url, MAX_TRACE_BYTES);
            let after = tree_and_answers(runner, target);
            if answered.is_ok_and(|(status, _)| status == 200) {
                traced.extend(cpu_ms_per_answer(before, after));
            }
        }
        (load.join(), (untraced, traced))
    });
    load.map_err(|_| anyhow::anyhow!("oha's thread panicked"))?
        .with_context(|| format!("loading the {} server to weigh its traces", target.name))?;
    let (untraced, traced) = windows;
    Ok(Some(TraceCost::of(&target.name, scenario, untraced, traced)))
}

/// oha's load on `target` at `scenario` for `measured` and [`LEAD`] on either side, and the
/// URL of one [`TRACE_WINDOW`]'s trace.
fn load_and_trace(
    runner: &TrialRunner<'_>,
    target: &Target,
    scenario: ScenarioKey,
    measured: Duration,
) -> (OhaArgs, String) {
    let args = OhaArgs {
        url: target.url_for(scenario),
        load: Load::Duration(LEAD + measured + LEAD),
        concurrency: scenario.concurrency,
        request_timeout: runner.request_timeout,
        rate: scenario.offered_rps,
    };
    let trace_url = format!(
        "{}/debug/trace?ms={}",
        origin_of(&target.endpoint),
        TRACE_WINDOW.as_millis()
    );
    (args, trace_url)
}

/// The server's process tree's CPU (s) and its count of answers, now.
fn tree_and_answers(runner: &TrialRunner<'_>, target: &Target) -> Option<(f64, u64)> {
    let cpu = crate::sampler::snapshot(target.pid()?).ok()?.cpu_secs;
    Some((cpu, crate::server_metrics::scrape(runner.client, &target.endpoint)?))
}

/// The tree's CPU per answer, ms, between two readings of [`tree_and_answers`]; `None` without
/// both or without an answer between them.
fn cpu_ms_per_answer(before: Option<(f64, u64)>, after: Option<(f64, u64)>) -> Option<f64> {
    let ((cpu0, answers0), (cpu1, answers1)) = before.zip(after)?;
    let answers = answers1.checked_sub(answers0).filter(|&n| n > 0)?;
    Some((cpu1 - cpu0).max(0.0) * 1000.0 / answers as f64)
}

/// A trace kept, read back, and its ledger (none when the trace has problems or no whole
/// request).
type ReadBack = (Trace, Option<LedgerEntry>);

/// One window on `target` under `scenario`'s load, and its ledger, with the CPU the server's
/// process tree used while the trace ran and in the untraced second before it.
fn traced_window(
    runner: &TrialRunner<'_>,
    target: &Target,
    scenario: ScenarioKey,
) -> anyhow::Result<(TracedWindow, Option<ReadBack>)> {
    let work = scenario.work;
    let generation_alone = generation_alone(runner, target, scenario);
    // An untraced second, then the traced one, under one load.
    let (args, trace_url) = load_and_trace(runner, target, scenario, 2 * TRACE_WINDOW);
    let wall_limit = args.request_timeout + Duration::from_secs(30);
    let (load, traced, sampled, untraced) = std::thread::scope(|scope| {
        let load = scope.spawn(|| runner::run_via(&runner.oha_launcher, runner.oha, &args, wall_limit, runner.cancel));
        std::thread::sleep(LEAD);
        let untraced_from = tree_and_answers(runner, target);
        std::thread::sleep(TRACE_WINDOW);
        let fork_server = target.pid().and_then(crate::fork_floor::fork_server_of);
        let untraced = cpu_ms_per_answer(untraced_from, tree_and_answers(runner, target));
        let traced = scope.spawn(|| runner.client.get_text_up_to(&trace_url, MAX_TRACE_BYTES));
        // The CPU is read inside the trace, a margin after it began and before it ends: its
        // start and writing it out are the tracer's cost, not the requests'.
        std::thread::sleep(SAMPLED_INSIDE_BY);
        let forks_before = fork_server.and_then(crate::fork_floor::cpu_ms);
        let before = tree_and_answers(runner, target);
        std::thread::sleep(TRACE_WINDOW - 2 * SAMPLED_INSIDE_BY);
        let after = tree_and_answers(runner, target);
        let forks_after = fork_server.and_then(crate::fork_floor::cpu_ms);
        let traced = (traced.join()).unwrap_or_else(|_| Err(anyhow::anyhow!("the trace's request panicked")));
        let sampled = before.zip(after).map(|((cpu0, answers0), (cpu1, answers1))| WindowCpu {
            cpu_ms: (cpu1 - cpu0).max(0.0) * 1000.0,
            // The trace's own answer is not an answer of the endpoint; neither is counted.
            answers: answers1.saturating_sub(answers0),
            fork_server_cpu_ms: forks_before.zip(forks_after).map(|(a, b)| (b - a).max(0.0)),
        });
        (load.join(), traced, sampled, untraced)
    });
    load.map_err(|_| anyhow::anyhow!("oha's thread panicked"))?
        .with_context(|| format!("loading the {} server for its trace", target.name))?;
    let mut window = TracedWindow {
        server: target.name.clone(),
        work: Some(work),
        ..TracedWindow::default()
    };
    let (status, text) = traced?;
    let json: serde_json::Value = match (status, serde_json::from_str(&text)) {
        (200, Ok(json)) => json,
        (status, _) => {
            window.note = Some(format!("GET /debug/trace answered {status}: {}", first_line(&text)));
            return Ok((window, None));
        }
    };
    let trace = Trace::parse(&json).with_context(|| format!("reading the {} server's trace", target.name))?;
    window.requests = trace.whole_requests().len() as u64;
    window.events = trace.events.len() as u64;
    window.dropped = trace.dropped;
    let problems = trace.problems();
    if let Some(first) = problems.first() {
        window.note = Some(format!("{} problems, the first: {first}", problems.len()));
    } else if window.requests == 0 {
        window.note = Some(format!(
            "no request both began and ended in the {} ms window: each took longer under this load",
            TRACE_WINDOW.as_millis()
        ));
    }
    let name = format!("trace_{}_{}.json", target.name, work.name());
    window.file = Some(write_trace(runner.out_dir, &name, &text)?);
    let ledger = problems
        .is_empty()
        .then(|| ledger_of(&target.name, scenario, &trace, sampled))
        .flatten()
        .map(|entry| LedgerEntry {
            untraced_cpu_ms_per_request: untraced,
            generation_alone_cpu_ms: generation_alone,
            ..entry
        });
    Ok((window, Some((trace, ledger))))
}

/// The generation phase's CPU per request of `target` at `scenario` with nothing else running:
/// the median over up to [`ALONE_REQUESTS`] requests sent one at a time under a short trace.
/// `None` when the trace holds no generation.
fn generation_alone(runner: &TrialRunner<'_>, target: &Target, scenario: ScenarioKey) -> Option<f64> {
    let trace_url = format!(
        "{}/debug/trace?ms={}",
        origin_of(&target.endpoint),
        (ALONE_FOR + 2 * SAMPLED_INSIDE_BY).as_millis()
    );
    let url = target.url_for(scenario);
    let (status, text) = std::thread::scope(|scope| {
        let traced = scope.spawn(|| runner.client.get_text_up_to(&trace_url, MAX_TRACE_BYTES));
        std::thread::sleep(SAMPLED_INSIDE_BY);
        let started = Instant::now();
        for _ in 0..ALONE_REQUESTS {
            if started.elapsed() >= ALONE_FOR || runner.client.get_text(&url).is_err() {
                break;
            }
        }
        traced.join().ok()?.ok()
    })?;
    let trace = (status == 200)
        .then(|| serde_json::from_str(&text).ok())
        .flatten()
        .and_then(|json| Trace::parse(&json).ok())?;
    // The median: one of five requests that met a busy moment does not move it.
    let cpu: Vec<f64> = (trace.events.iter())
        .filter(|e| e.phase == Phase::Generate)
        .filter_map(|e| Some(e.cpu_us? as f64 / 1000.0))
        .collect();
    median(&cpu)
}

/// Writes `text` as `name` in `dir`, gzipped (`name.gz`) when over [`GZIP_OVER_BYTES`];
/// returns the file's name.
pub fn write_trace(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    if text.len() <= GZIP_OVER_BYTES {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))?;
        return Ok(name.to_owned());
    }
    let name = format!("{name}.gz");
    let file = std::fs::File::create(dir.join(&name)).with_context(|| format!("creating {name}"))?;
    let mut gzip = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gzip.write_all(text.as_bytes())
        .and_then(|()| gzip.finish().map(drop))
        .with_context(|| format!("writing {name}"))?;
    Ok(name)
}

/// `http://host:port` of an endpoint URL such as `http://host:port/threading`.
fn origin_of(endpoint: &str) -> &str {
    let after_scheme = endpoint.find("://").map_or(0, |at| at + 3);
    match endpoint[after_scheme..].find('/') {
        Some(path) => &endpoint[..after_scheme + path],
        None => endpoint,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_s_origin_drops_its_path() {
        assert_eq!(origin_of("http://127.0.0.1:8001/threading"), "http://127.0.0.1:8001");
        assert_eq!(origin_of("http://10.0.0.2:80"), "http://10.0.0.2:80");
    }

    #[test]
    fn a_trace_over_2_mb_is_kept_gzipped_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let small = "{\"traceEvents\": []}";
        assert_eq!(write_trace(dir.path(), "small.json", small).unwrap(), "small.json");
        assert_eq!(std::fs::read_to_string(dir.path().join("small.json")).unwrap(), small);
        let big = "x".repeat(GZIP_OVER_BYTES + 1);
        let name = write_trace(dir.path(), "big.json", &big).unwrap();
        assert_eq!(name, "big.json.gz");
        let file = std::fs::File::open(dir.path().join(&name)).unwrap();
        assert!(file.metadata().unwrap().len() < 100_000, "compressed");
        let mut back = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut back).unwrap();
        assert_eq!(back, big);
    }
}

#[cfg(test)]
mod not_traced {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::http::Client;

    #[test]
    fn a_server_given_by_url_and_a_python_app_are_listed_not_traced_and_not_loaded() {
        let out = tempfile::tempdir().unwrap();
        let cancel = AtomicBool::new(false);
        let client = Client::new(Duration::from_secs(1));
        // An oha that does not exist: listing these two must not load anything.
        let runner = TrialRunner {
            client: &client,
            oha: Path::new("/nonexistent/oha"),
            oha_launcher: Vec::new(),
            out_dir: out.path(),
            cancel: &cancel,
            request_timeout: Duration::from_secs(1),
            cpus: 2,
        };
        let target = |name: &str, api: Api| Target {
            name: name.to_owned(),
            endpoint: "http://127.0.0.1:9/threading".to_owned(),
            api,
            managed: None,
            given_pid: None,
        };
        let targets = [
            target("threading", Api::Lab),
            target("python-threads", Api::AsGiven),
            target("py-async", Api::LabQuery),
        ];
        let works = [ScenarioKey::DEFAULT];
        let traced = keep_traces(&runner, &targets, &works, &|_| {}).unwrap();
        assert!(traced.ledger.is_empty());
        let windows = traced.windows;
        let listed: Vec<(&str, Option<&str>, Option<&str>)> = windows
            .iter()
            .map(|w| (w.server.as_str(), w.file.as_deref(), w.note.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "threading",
                    None,
                    Some("given by URL: the harness traces only the servers it starts")
                ),
                ("python-threads", None, Some("a Python app: it has no tracer")),
                ("py-async", None, Some("a Python app: it has no tracer")),
            ]
        );
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "no file written");
    }
}
