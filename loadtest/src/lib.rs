//! `loadtest`: threads or processes, measured.
//!
//! A run goes: plan ([`cli`], [`plan`]) → oha found or installed ([`oha::provision`]) → servers
//! built and started, or addressed ([`catalogue`], [`servers`]) → answers verified and the servers' own timings
//! probed ([`verify`]) → warm-up and measured trials, alternating the servers, each sampling the
//! server's CPU and memory ([`trial`], [`sampler`]) → aggregates, ratios and outliers
//! ([`aggregate`], [`stats`]) → conclusions computed from them ([`conclusions`]) → `summary.json`,
//! `report.md`, charts and the terminal table ([`report`]).
//!
//! The methodology is described in `docs/methodology.md`.

pub mod aggregate;
pub mod catalogue;
pub mod cli;
pub mod cluster;
pub mod conclusions;
pub mod cpu_speed;
pub mod http;
pub mod machine;
pub mod oha;
pub mod open_loop;
pub mod plan;
pub mod python_lab;
pub mod report;
pub mod sampler;
pub mod scaling;
pub mod scenario;
pub mod server_metrics;
pub mod servers;
pub mod stats;
pub mod summary;
pub mod targets;
pub mod thread_start;
pub mod trial;
pub mod uploads;
pub mod verify;
pub mod vocabulary;
pub mod work_cost;

#[cfg(test)]
mod testdata;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

pub use cli::Cli;

use crate::catalogue::Catalogue;
use crate::plan::{Plan, TrialLoad};
use crate::servers::Target;
use crate::summary::{Design, Mode, Phase, RunSummary, ScenarioKey, TrialRecord};
use crate::trial::TrialRunner;

/// Pause between trials, so one trial's connections and children are gone before the next.
const SETTLE: Duration = Duration::from_millis(500);

/// The longest the harness waits for a server to finish the requests a trial left behind.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the job `cli` asks for, on the lab servers of `catalogue`; see the crate docs.
pub fn run(cli: Cli, catalogue: &Catalogue) -> anyhow::Result<()> {
    match cli.command {
        Some(cli::Command::Uploads(args)) => return uploads::run(args, catalogue),
        Some(cli::Command::Cluster(args)) => return cluster::run(args, catalogue),
        Some(cli::Command::Report(args)) => return report::redraw(&args, catalogue),
        Some(cli::Command::Servers) => {
            print!("{}", catalogue.listing());
            return Ok(());
        }
        None => {}
    }
    let started = Instant::now();
    let now = chrono::Utc::now();
    let mut plan = cli.plan(catalogue, &now.format("%Y-%m-%dT%H-%M-%SZ").to_string())?;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        if !flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping: ending the current trial and the servers this run started ...");
        }
    })
    .context("installing the Ctrl-C handler")?;

    let raw_dir = plan.out_dir.join("raw");
    let logs_dir = plan.out_dir.join("logs");
    for dir in [&raw_dir, &logs_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let workspace = servers::workspace_root();
    let oha = oha::provision::find_or_install(plan.oha.as_deref(), &oha::provision::default_tools_root())?;
    eprintln!("using {} ({})", oha.path.display(), oha.version_line);

    // The Python lab's servers join as other targets; dropping `python` ends them on any error.
    let python = if plan.python {
        let say = |message: &str| eprintln!("{}", textwrap::fill(message, report::table::terminal_options()));
        let lab = python_lab::PythonLab::start(&logs_dir, &say)?;
        plan.extra_targets.extend(lab.targets());
        Some(lab)
    } else {
        None
    };
    let client = http::Client::new(Duration::from_secs(60));
    let mut targets = servers::prepare(&plan, &logs_dir, &client, &|message| eprintln!("{message}"))?;
    for target in &targets {
        eprintln!("{}: {} ({})", target.name, target.endpoint, target.info().origin());
    }
    // The measurement's clock starts here: installing oha or building the servers is set-up.
    let setup_secs = started.elapsed().as_secs_f64();
    let measuring = Instant::now();
    let probes = verify::verify(&targets, &plan.scenarios(), |s| plan.extra_targets_join(s), &client)?;
    eprintln!("verified: every endpoint answers, and the lab servers agree on the sum for a seed");
    let pool_sizes: Vec<Option<u32>> = (targets.iter())
        .map(|target| server_metrics::pool_size(&client, &target.endpoint))
        .collect();
    let mut sizes: Vec<(matrix_service::WorkKind, u32)> = plan.scenarios().iter().map(|s| (s.work, s.n)).collect();
    sizes.dedup();
    let work_before = sizes
        .iter()
        .map(|(work, n)| work_cost::measure(*work, *n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut speed_checks = Vec::new();
    speed_checks.extend(check_cpu_speed("before the trials"));
    let thread_start_before = thread_start::measure_us()?;

    let machine = machine::describe(workspace.as_deref());
    let runner = TrialRunner {
        client: &client,
        oha: &oha.path,
        out_dir: &plan.out_dir,
        cancel: &cancel,
        request_timeout: plan.request_timeout,
        cpus: machine.cpus,
    };
    let trials = run_trials(&plan, &mut targets, &runner)?;

    // Measured again once the load is over, and the lower kept: the work's cost is a floor, and
    // a busy or throttled machine (another process, a noisy neighbour) only ever inflates it.
    let mut work_costs = Vec::with_capacity(work_before.len());
    for before in work_before {
        let after = work_cost::measure(before.work, before.n)?;
        eprintln!(
            "in-process {} at n={}: {:.2} ms of CPU before the trials, {:.2} ms after (one thread)",
            before.work.name(),
            before.n,
            before.cpu_ms,
            after.cpu_ms
        );
        work_costs.push(before.lower(after));
    }
    speed_checks.extend(check_cpu_speed("after the trials"));
    let thread_start_after = thread_start::measure_us()?;
    eprintln!("a thread start: {thread_start_before:.1} µs of CPU before the trials, {thread_start_after:.1} µs after");
    let cpu_speed = (!speed_checks.is_empty()).then(|| cpu_speed::CpuSpeed {
        reference: cpu_speed::reference(),
        checks: speed_checks,
    });

    // Described before stopping: a stopped server no longer has a process to describe.
    let server_infos: Vec<summary::ServerInfo> = (targets.iter().zip(pool_sizes))
        .map(|(target, pool_size)| summary::ServerInfo {
            pool_size,
            ..target.info()
        })
        .collect();

    let mut warnings = Vec::new();
    for target in &mut targets {
        if let Some(server) = target.managed.take() {
            match server.stop(Duration::from_secs(10)) {
                Ok(status) if status.success() => {}
                Ok(status) => warnings.push(format!("The {} server ended with {status} when stopped.", target.name)),
                Err(e) => warnings.push(format!("Stopping the {} server failed: {e}.", target.name)),
            }
        }
    }

    let python_probe = python.as_ref().map(|lab| lab.probe.clone());
    if let Some(lab) = python {
        warnings.extend(lab.stop());
    }

    // A server that wrote nothing leaves an empty log; an empty file only hides the ones that
    // say something.
    remove_empty_files(&logs_dir);

    let facts = RunFacts {
        started_utc: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        wall_secs: measuring.elapsed().as_secs_f64(),
        setup_secs,
        machine,
        oha_version: oha.version_line.clone(),
        servers: server_infos,
        design: design(&plan),
        probes,
        work_costs,
        cpu_speed,
        thread_start_cpu_us: Some(thread_start_before.min(thread_start_after)),
        python_probe,
    };
    let summary = summarize(facts, trials, warnings, catalogue);
    let files = report::write_all(&summary, catalogue, &plan.out_dir)?;
    println!("{}", report::table::comparison_table(&summary));
    println!("\nConclusions:");
    for line in &summary.conclusions {
        println!("{}", report::table::terminal_bullet(line));
    }
    if !summary.targets.is_empty() {
        println!("\nTargets:");
        for line in report::table::target_lines(&summary) {
            println!("{}", report::table::terminal_bullet(&line));
        }
    }
    println!("\nWarnings:");
    for line in &summary.warnings {
        println!("{}", report::table::terminal_bullet(line));
    }
    let wrote = format!(
        "Wrote {} in {}/ (and raw/, logs/).",
        files.join(", "),
        plan.out_dir.display()
    );
    println!("\n{}", textwrap::fill(&wrote, report::table::terminal_options()));
    Ok(())
}

/// One CPU speed check, said on the terminal; a machine where threads cannot be pinned skips it
/// with a note.
fn check_cpu_speed(when: &str) -> Option<cpu_speed::SpeedCheck> {
    match cpu_speed::check(when) {
        Ok(check) => {
            let cpus: Vec<String> = (check.cpus.iter())
                .map(|t| format!("CPU {} {:.2} ms", t.cpu, t.median_ms))
                .collect();
            eprintln!("CPU speed {when}, {}: {}", cpu_speed::reference(), cpus.join(", "));
            Some(check)
        }
        Err(e) => {
            eprintln!("CPU speed {when}: not checked ({e})");
            None
        }
    }
}

/// Removes the empty files of `dir` (what cannot be read or removed is left as it is).
fn remove_empty_files(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Every trial of the plan; with `--rate-fraction`, the closed loop's trials and then the open
/// loop's, at rates the closed loop's results decide.
fn run_trials(plan: &Plan, targets: &mut [Target], runner: &TrialRunner<'_>) -> anyhow::Result<Vec<TrialRecord>> {
    let mut trials = run_schedule(plan, targets, runner, schedule(plan, targets, &plan.scenarios(), true))?;
    if let Some(open_loop::OpenLoop::Fraction(fraction)) = plan.open_loop {
        let lab: Vec<&str> = targets.iter().filter(|t| t.lab).map(|t| t.name.as_str()).collect();
        let offered = open_loop::offered_rates(&trials, &lab, fraction);
        for (scenario, slowest) in &offered {
            eprintln!(
                "open loop: {} req/s ({fraction} x the slowest lab server's closed-loop median, {slowest:.0} req/s)",
                scenario.offered_rps.unwrap_or_default()
            );
        }
        let scenarios: Vec<ScenarioKey> = offered.into_iter().map(|(scenario, _)| scenario).collect();
        // The servers are warm from the closed loop: no second warm-up.
        trials.extend(run_schedule(
            plan,
            targets,
            runner,
            schedule(plan, targets, &scenarios, false),
        )?);
    }
    Ok(trials)
}

/// One trial to run: the scenario, its phase and index, and which target.
type Slot = (ScenarioKey, Phase, u32, usize);

/// For each scenario: its warm-ups (if `warm_up` and the plan has one), then measured trials
/// alternating the servers.
fn schedule(plan: &Plan, targets: &[Target], scenarios: &[ScenarioKey], warm_up: bool) -> Vec<Slot> {
    let mut schedule = Vec::new();
    for &scenario in scenarios {
        let joined: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].lab || plan.extra_targets_join(scenario))
            .collect();
        if warm_up && plan.warmup.is_some() {
            schedule.extend(joined.iter().map(|&t| (scenario, Phase::Warmup, 1, t)));
        }
        for index in 1..=plan.trials {
            schedule.extend(joined.iter().map(|&t| (scenario, Phase::Measured, index, t)));
        }
    }
    schedule
}

/// Runs `schedule`, with a progress bar.
fn run_schedule(
    plan: &Plan,
    targets: &mut [Target],
    runner: &TrialRunner<'_>,
    schedule: Vec<Slot>,
) -> anyhow::Result<Vec<TrialRecord>> {
    let progress = ProgressBar::new(schedule.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} trials, {elapsed} elapsed, about {eta} left  {msg}")
            .expect("the template is valid"),
    );
    let mut trials = Vec::with_capacity(schedule.len());
    // Each server's drain (see `drain`) runs while the other servers take their trials, and is
    // waited for only before its own next trial.
    let drainer = Arc::new(http::Client::new(DRAIN_TIMEOUT));
    let mut draining: Vec<Option<std::thread::JoinHandle<()>>> = targets.iter().map(|_| None).collect();
    for (scenario, phase, index, target_index) in schedule {
        let target = &mut targets[target_index];
        if let Some(drained) = draining[target_index].take() {
            let waiting = Instant::now();
            let _ = drained.join();
            if waiting.elapsed() > Duration::from_secs(1) {
                progress.println(format!(
                    "{}: waited {:.1} s for it to finish the requests its last trial left behind",
                    target.name,
                    waiting.elapsed().as_secs_f64()
                ));
            }
        }
        let open = scenario
            .offered_rps
            .map(|rate| format!(" q={rate}"))
            .unwrap_or_default();
        progress.set_message(format!(
            "{} c={} n={} w={}{open} {} {index}",
            target.name,
            scenario.concurrency,
            scenario.n,
            scenario.workers,
            phase.name()
        ));
        let load = match (phase, plan.warmup) {
            (Phase::Warmup, Some(warmup)) => TrialLoad::Duration(warmup),
            _ => plan.trial_load,
        };
        let record = runner.run(target, scenario, phase, index, load)?;
        if !record.valid && phase == Phase::Measured {
            progress.println(format!(
                "invalid trial: {} {index}: {}",
                target.name,
                record.invalid_reasons.join("; ")
            ));
        }
        trials.push(record);
        progress.inc(1);
        if plan.mode == Mode::Measured {
            std::thread::sleep(SETTLE);
            let (client, url) = (Arc::clone(&drainer), target.url_for(scenario));
            draining[target_index] = Some(std::thread::spawn(move || drain(&client, &url)));
        }
    }
    for drained in draining.into_iter().flatten() {
        let _ = drained.join();
    }
    progress.finish_and_clear();
    Ok(trials)
}

/// Returns once the server has finished what the last trial left it. oha ends a trial at its deadline by dropping the requests still in flight, but a server
/// still works through them: a pool whose threads or processes block in `io` waits has a queue
/// of seconds (64 abandoned requests of four 25 ms bands on 2 threads are 3.2 s), and the next
/// trial's requests would wait behind it. One request of the scenario, sent after the trial,
/// is answered once the work queued before it is done, as the servers' queues are
/// first-come-first-served; a server with nothing queued answers it at once. Best effort: a
/// failed or timed-out request only ends the wait.
fn drain(client: &http::Client, url: &str) {
    let _ = client.get_json(url);
}

/// What a run knows apart from its trials.
pub struct RunFacts {
    pub started_utc: String,
    pub wall_secs: f64,
    pub setup_secs: f64,
    pub machine: summary::Machine,
    pub oha_version: String,
    pub servers: Vec<summary::ServerInfo>,
    pub design: Design,
    pub probes: Vec<summary::Probe>,
    pub work_costs: Vec<summary::WorkCost>,
    pub cpu_speed: Option<cpu_speed::CpuSpeed>,
    pub thread_start_cpu_us: Option<f64>,
    /// What the handout's own processes app did (`--python`).
    pub python_probe: Option<python_lab::probe::SeedProbe>,
}

/// Aggregates the trials (outliers flagged in place), compares the servers, and draws the
/// warnings (after `warnings` already known) and conclusions.
pub fn summarize(
    facts: RunFacts,
    mut trials: Vec<TrialRecord>,
    mut warnings: Vec<String>,
    catalogue: &Catalogue,
) -> RunSummary {
    let names: Vec<String> = facts.servers.iter().map(|s| s.name.clone()).collect();
    aggregate::flag_outliers(&mut trials, &names);
    let mut results = aggregate::results(&trials, &names);
    aggregate::attach_work_costs(&mut results, &facts.work_costs);
    let comparisons = aggregate::comparisons(&trials, &results, &names);
    let mut summary = RunSummary {
        tool: format!("loadtest {}", env!("CARGO_PKG_VERSION")),
        started_utc: facts.started_utc,
        wall_secs: facts.wall_secs,
        setup_secs: facts.setup_secs,
        machine: facts.machine,
        oha_version: facts.oha_version,
        servers: facts.servers,
        design: facts.design,
        probes: facts.probes,
        work_costs: facts.work_costs,
        cpu_speed: facts.cpu_speed,
        thread_start_cpu_us: facts.thread_start_cpu_us,
        python_processes_seed: facts.python_probe,
        results,
        comparisons,
        trials,
        warnings: Vec::new(),
        conclusions: Vec::new(),
        targets: Vec::new(),
    };
    warnings.extend(conclusions::warnings(&summary));
    summary.warnings = warnings;
    summary.conclusions = conclusions::conclusions(&summary, catalogue);
    summary.targets = targets::check(&summary, catalogue);
    summary
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
            Some(open_loop::OpenLoop::Rate(rate)) => Some(rate),
            _ => None,
        },
        rate_fraction: match plan.open_loop {
            Some(open_loop::OpenLoop::Fraction(fraction)) => Some(fraction),
            _ => None,
        },
    }
}
