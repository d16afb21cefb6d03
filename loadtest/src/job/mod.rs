//! The main job, in stages: set up (`Setup::prepare`: plan, oha, servers) → what the run knows
//! before its trials (`begin`: answers verified, floors measured, `summary.json` begun) → the
//! trials (`measure`, `summary.json` written again after every scenario) → the traced windows,
//! after every trial (`trace`), and the fork floor beside each fork server (`fork_floors`) → the
//! floors again and the servers stopped (`finish`) → what the figures say
//! ([`loadtest_report::analyse`]) and the reports → the terminal's summary.
//!
//! `summary.json` is written (whole, by rename) after every scenario with `"complete": false`, and
//! once more at the end without it: a run stopped by Ctrl-C or killed keeps what it finished.

mod floors;
mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;

use loadtest_model::catalogue::Catalogue;
use loadtest_model::files::write_json;
use loadtest_model::floors::ForkFloor;
use loadtest_model::summary::{Design, Mode, RunSummary};
use loadtest_model::trace_cost::TraceCost;
use loadtest_run::http::Client;
use loadtest_run::interrupt::flag_on_ctrl_c;
use loadtest_run::oha::provision::{self, Oha};
use loadtest_run::open_loop::OpenLoop;
use loadtest_run::plan::Plan;
use loadtest_run::python_lab::PythonLab;
use loadtest_run::schedule::{self, Event};
use loadtest_run::servers::{self, Target};
use loadtest_run::traces::{Traced, keep_traces, trace_cost};
use loadtest_run::trial::TrialRunner;
use loadtest_run::worker_probe;
use loadtest_run::{fork_floor, machine, machine_cpu, open_files, server_metrics, verify};
use matrix_service::launch::LaunchedServer;

use crate::cli::Cli;
use floors::Floors;
use progress::Progress;

/// What the run has once it is set up: the plan, oha, and the servers, up and answering.
struct Setup {
    plan: Plan,
    cancel: Arc<AtomicBool>,
    oha: Oha,
    /// The Python lab's servers (`--python`); dropping it ends them on any error.
    python: Option<PythonLab>,
    client: Client,
    targets: Vec<Target>,
    logs_dir: PathBuf,
    /// What set-up found that the report should say (the open-files limit too low).
    warnings: Vec<String>,
    /// When the run started, RFC 3339, and the seconds set-up took.
    started_utc: String,
    setup_secs: f64,
}

/// Runs the main job `cli` plans, on the lab servers of `catalogue`.
pub fn run(cli: Cli, catalogue: &Catalogue) -> anyhow::Result<()> {
    let mut setup = Setup::prepare(cli, catalogue)?;
    let measuring = Instant::now();
    let (mut summary, before) = begin(&mut setup)?;
    measure(&mut setup, &mut summary, catalogue, measuring)?;
    let traced = trace(&setup, &summary)?;
    let mut traced = traced;
    draw_timelines(&mut traced, &setup.plan.out_dir)?;
    (summary.traces, summary.ledger) = (traced.windows, traced.ledger);
    summary.floors.forks = fork_floors(&setup, &summary)?;
    summary.trace_cost = weigh_traces(&setup, &summary)?;
    let run_warnings = finish(&mut setup, &mut summary, before)?;
    summary.wall_secs = measuring.elapsed().as_secs_f64();
    summary.complete = true;
    loadtest_report::analyse(&mut summary, &run_warnings, catalogue);
    let out = &setup.plan.out_dir;
    write_json(&out.join("summary.json"), &summary)?;
    let mut files = vec!["summary.json".to_owned()];
    files.extend(loadtest_report::write_reports(&summary, catalogue, out)?);
    let wrote = format!("Wrote {} in {}/ (and raw/, logs/).", files.join(", "), out.display());
    println!("{}", loadtest_report::table::terminal(&summary, &wrote));
    Ok(())
}

impl Setup {
    /// The plan made, Ctrl-C caught, the folders made, oha found (or installed), and the
    /// servers built and started (or addressed), the Python lab's among them.
    fn prepare(cli: Cli, catalogue: &Catalogue) -> anyhow::Result<Self> {
        let started = Instant::now();
        let now = chrono::Utc::now();
        let mut plan = cli.plan(catalogue, &now.format("%Y-%m-%dT%H-%M-%SZ").to_string())?;
        let mut warnings = open_files_for(&plan)?;
        let cancel = flag_on_ctrl_c("stopping: ending the current trial and the servers this run started ...")?;
        let logs_dir = plan.out_dir.join("logs");
        for dir in [&plan.out_dir.join("raw"), &logs_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let oha = provision::find_or_install(plan.oha.as_deref(), &provision::default_tools_root())?;
        eprintln!("using {} ({})", oha.path.display(), oha.version_line);
        let python = if plan.python {
            let pin = loadtest_run::pinning::launcher(plan.server_cpus.as_ref());
            let lab = PythonLab::start(&logs_dir, &pin, &|message| eprintln!("{}", progress::wrapped(message)))?;
            plan.extra_targets.extend(lab.targets());
            warnings.extend(lab.not_started.iter().cloned());
            Some(lab)
        } else {
            None
        };
        let client = Client::new(Duration::from_secs(60));
        let targets = servers::prepare(&plan, &logs_dir, &client, &|message| eprintln!("{message}"))?;
        for target in &targets {
            eprintln!("{}: {} ({})", target.name, target.endpoint, target.info().origin());
        }
        Ok(Self {
            plan,
            cancel,
            oha,
            python,
            client,
            targets,
            logs_dir,
            warnings,
            started_utc: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // The measurement's clock starts after this: installing oha or building the
            // servers is set-up.
            setup_secs: started.elapsed().as_secs_f64(),
        })
    }
}

/// What the run knows before its trials: the servers' answers verified and their own timings
/// probed, their pool sizes, the floors measured once, and the machine. The summary it begins
/// has no trials yet and says it is not complete.
fn begin(setup: &mut Setup) -> anyhow::Result<(RunSummary, Floors)> {
    let plan = &setup.plan;
    let verified = verify::verify(
        &setup.targets,
        &plan.all_scenarios(),
        |target, s| plan.joins(target.api, &target.name, s),
        &setup.client,
    )?;
    for warning in verified.warnings() {
        eprintln!("{}", progress::wrapped(&warning));
        setup.warnings.push(warning);
    }
    let left_out: Vec<&str> = verified.left_out.iter().map(|(name, _)| name.as_str()).collect();
    setup.targets.retain(|target| !left_out.contains(&target.name.as_str()));
    let probes = verified.probes;
    eprintln!("verified: every endpoint answers, and the lab servers agree on the sum for a seed");
    let worker_probes = if plan.python {
        let probes = worker_probe::probe_all(&setup.targets, &setup.client)?;
        for probe in &probes {
            eprintln!("{}", probe.describe());
        }
        probes
    } else {
        Vec::new()
    };
    let servers = (setup.targets.iter())
        .map(|target| loadtest_model::summary::ServerInfo {
            pool_size: server_metrics::pool_size(&setup.client, &target.endpoint),
            ..target.info()
        })
        .collect();
    let before = Floors::measure(plan, "before the trials")?;
    let machine = machine::describe(servers::workspace_root().as_deref());
    let summary = RunSummary {
        tool: format!("loadtest {}", env!("CARGO_PKG_VERSION")),
        started_utc: setup.started_utc.clone(),
        wall_secs: 0.0,
        setup_secs: setup.setup_secs,
        noise: Some(machine_cpu::noise_at_start(&machine.kernel)),
        machine,
        oha_version: setup.oha.version_line.clone(),
        servers,
        design: design(plan),
        probes,
        work_costs: before.work_costs.clone(),
        cpu_speed: before.cpu_speed(None),
        thread_start_cpu_us: Some(before.thread_start_us),
        floors: loadtest_model::floors::Floors {
            memory_bandwidth_gb_s: Some(before.memory_bandwidth_gb_s),
            forks: Vec::new(),
        },
        python_processes_seed: setup.python.as_ref().map(|lab| lab.probe.clone()),
        worker_probes,
        claims: Vec::new(),
        results: Vec::new(),
        comparisons: Vec::new(),
        trials: Vec::new(),
        warnings: Vec::new(),
        verdict: Vec::new(),
        conclusions: Vec::new(),
        targets: Vec::new(),
        traces: Vec::new(),
        ledger: Vec::new(),
        trace_cost: Vec::new(),
        complete: false,
    };
    Ok((summary, before))
}

/// Every trial of the plan, with a progress bar; after each scenario, `summary.json` holds the
/// trials so far and what they say.
fn measure(
    setup: &mut Setup,
    summary: &mut RunSummary,
    catalogue: &Catalogue,
    measuring: Instant,
) -> anyhow::Result<()> {
    let runner = trial_runner(
        &setup.client,
        &setup.oha,
        &setup.plan,
        &setup.cancel,
        summary.machine.cpus,
    );
    let path = setup.plan.out_dir.join("summary.json");
    let mut progress = Progress::default();
    let mut saved = Ok(());
    let trials = schedule::run_trials(&setup.plan, &mut setup.targets, &runner, &mut |event| {
        progress.show(&event);
        if let Event::ScenarioDone { trials, .. } = event
            && saved.is_ok()
        {
            summary.trials = trials.to_vec();
            summary.wall_secs = measuring.elapsed().as_secs_f64();
            saved = save_partial(summary, catalogue, &path);
        }
    })?;
    saved?;
    summary.trials = trials;
    Ok(())
}

/// What every trial, and every traced window, of the run shares.
fn trial_runner<'a>(
    client: &'a Client,
    oha: &'a Oha,
    plan: &'a Plan,
    cancel: &'a AtomicBool,
    cpus: u32,
) -> TrialRunner<'a> {
    TrialRunner {
        client,
        oha: &oha.path,
        oha_launcher: loadtest_run::pinning::launcher(plan.client_cpus.as_ref()),
        out_dir: &plan.out_dir,
        cancel,
        request_timeout: plan.request_timeout,
        cpus,
    }
}

/// What a stage after the trials loads the servers with, if it is `wanted` and Ctrl-C has not
/// been pressed.
fn runner_after_trials<'a>(setup: &'a Setup, summary: &RunSummary, wanted: bool) -> Option<TrialRunner<'a>> {
    let cancelled = setup.cancel.load(std::sync::atomic::Ordering::Relaxed);
    (wanted && !cancelled).then(|| {
        trial_runner(
            &setup.client,
            &setup.oha,
            &setup.plan,
            &setup.cancel,
            summary.machine.cpus,
        )
    })
}

/// The traced windows, once every trial has run: one per lab server the run started and kind
/// of work, at that kind's headline scenario (none for `--quick`, or once Ctrl-C is pressed).
fn trace(setup: &Setup, summary: &RunSummary) -> anyhow::Result<Traced> {
    let Some(runner) = runner_after_trials(setup, summary, setup.plan.mode == Mode::Measured) else {
        return Ok(Traced::default());
    };
    let started = Instant::now();
    let traced = keep_traces(&runner, &setup.targets, &setup.plan.works, &|message| {
        eprintln!("{message}")
    })?;
    let kept = traced.windows.iter().filter(|window| window.file.is_some()).count();
    eprintln!("{kept} traced windows in {:.1} s", started.elapsed().as_secs_f64());
    Ok(traced)
}

/// The open-files limit raised to the hard one, said on the terminal; a warning for the report
/// when even the hard limit is too low for the plan's most connections.
fn open_files_for(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let connections = plan.scenarios().iter().map(|s| s.concurrency).max().unwrap_or(0);
    let limits = open_files::raise_to_hard_limit().context("raising the open-files limit")?;
    let too_low = limits.too_low_for(connections);
    for line in limits.raised().iter().chain(&too_low) {
        eprintln!("{line}");
    }
    Ok(too_low.into_iter().collect())
}

/// The fork floor beside each fork server of the servers the run started, once their trials
/// have grown them to their working size (none for `--quick`, or once Ctrl-C is pressed).
fn fork_floors(setup: &Setup, summary: &RunSummary) -> anyhow::Result<Vec<ForkFloor>> {
    if runner_after_trials(setup, summary, setup.plan.mode == Mode::Measured).is_none() {
        return Ok(Vec::new());
    }
    let bin_dir = servers::binary_dir()?;
    let mut floors = Vec::new();
    for target in &setup.targets {
        let Some(pid) = target.managed.as_ref().map(LaunchedServer::pid) else {
            continue;
        };
        if let Some(floor) = fork_floor::measure_beside(&bin_dir, &target.name, pid)? {
            eprintln!(
                "a fork of a process the size of the {} server's fork server ({:.1} MiB private): {:.0} µs \
                 (median of {}), {:.0} µs of its CPU, {:.0} µs and {:.0} minor faults for the child's exit",
                target.name,
                floor.private_bytes as f64 / f64::from(1 << 20),
                floor.fork_us,
                floor.forks,
                floor.fork_cpu_us,
                floor.exit_cpu_us,
                floor.exit_minor_faults.unwrap_or(0.0)
            );
            floors.push(floor);
        }
    }
    Ok(floors)
}

/// With `--trace-cost`, what recording a trace costs each lab server the run started, at the
/// headline scenario, said on the terminal as it goes.
fn weigh_traces(setup: &Setup, summary: &RunSummary) -> anyhow::Result<Vec<TraceCost>> {
    let Some(runner) = runner_after_trials(setup, summary, setup.plan.trace_cost) else {
        return Ok(Vec::new());
    };
    let mut costs = Vec::new();
    for target in &setup.targets {
        if let Some(cost) = trace_cost(&runner, target, setup.plan.works[0])? {
            eprintln!("{}", cost.sentence());
            costs.push(cost);
        }
    }
    Ok(costs)
}

/// `timeline_<server>_<work>.svg` for each trace kept, named in its window's entry.
fn draw_timelines(traced: &mut Traced, out: &Path) -> anyhow::Result<()> {
    for (server, work, trace) in &traced.traces {
        let title = format!("{server}, {}", work.name());
        let Some(svg) = loadtest_report::timeline::timeline_svg(trace, &title)? else {
            continue;
        };
        let file = format!("timeline_{server}_{}.svg", work.name());
        std::fs::write(out.join(&file), svg).with_context(|| format!("writing {file}"))?;
        let window = (traced.windows.iter_mut()).find(|w| &w.server == server && w.work == Some(*work));
        if let Some(window) = window {
            window.timeline = Some(file);
        }
    }
    Ok(())
}

/// `summary` analysed as it stands and written to `path`, still marked not complete.
fn save_partial(summary: &mut RunSummary, catalogue: &Catalogue, path: &Path) -> anyhow::Result<()> {
    loadtest_report::analyse(summary, &[], catalogue);
    write_json(path, summary)
}

/// The floors measured again (the lower kept), the servers stopped, and the Python lab's
/// servers with them; returns what the run itself saw that a reader should know.
fn finish(setup: &mut Setup, summary: &mut RunSummary, before: Floors) -> anyhow::Result<Vec<String>> {
    let after = Floors::measure(&setup.plan, "after the trials")?;
    summary.cpu_speed = before.cpu_speed(Some(&after));
    summary.thread_start_cpu_us = Some(before.thread_start_us.min(after.thread_start_us));
    summary.floors.memory_bandwidth_gb_s = Some(before.memory_bandwidth_gb_s.max(after.memory_bandwidth_gb_s));
    summary.work_costs = before.lower(&after);
    let mut warnings = std::mem::take(&mut setup.warnings);
    for target in &mut setup.targets {
        if let Some(server) = target.managed.take() {
            match server.stop(Duration::from_secs(10)) {
                Ok(status) if status.success() => {}
                Ok(status) => warnings.push(format!("The {} server ended with {status} when stopped.", target.name)),
                Err(e) => warnings.push(format!("Stopping the {} server failed: {e}.", target.name)),
            }
        }
    }
    if let Some(lab) = setup.python.take() {
        warnings.extend(lab.stop());
    }
    // A server that wrote nothing leaves an empty log; an empty file only hides the ones that
    // say something.
    remove_empty_files(&setup.logs_dir);
    Ok(warnings)
}

/// Removes the empty files of `dir` (what cannot be read or removed is left as it is).
fn remove_empty_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The design as `summary.json` states it.
fn design(plan: &Plan) -> Design {
    Design {
        mode: plan.mode,
        load: plan.trial_load.describe(),
        warmup_trials: u32::from(plan.warmup.is_some()),
        measured_trials: plan.trials,
        sweep: plan.sweep.as_ref().map(|s| s.kind),
        concurrency: plan.base.concurrency,
        n: plan.base.n,
        workers: plan.base.workers,
        work: plan.base.work,
        wait_ms: plan.base.wait_ms,
        works: plan.works.iter().map(|key| key.work).collect(),
        lab: plan.lab_grid,
        rate: match plan.open_loop {
            Some(OpenLoop::Rate(rate)) => Some(rate),
            _ => None,
        },
        rate_fraction: match plan.open_loop {
            Some(OpenLoop::Fraction(fraction)) => Some(fraction),
            _ => None,
        },
        server_cpuset: plan.server_cpus.as_ref().map(ToString::to_string),
        client_cpuset: plan.client_cpus.as_ref().map(ToString::to_string),
    }
}
