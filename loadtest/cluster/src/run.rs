//! `loadtest cluster` from flags to results folder.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};

use super::args::{ClusterArgs, ClusterPlan, HostSource};
use super::cgroup::Hierarchy;
use super::fault_plan::fault_setups;
use super::fault_trial;
use super::fleet::Fleet;
use super::names::RunMarker;
use super::preflight;
use super::scale_out;
use super::site::Site;
use super::topology::{Topology, leftover_runs, remove_run};
use loadtest_model::catalogue::Catalogue;
use loadtest_model::cluster::ClusterRun;
use loadtest_model::cluster::summary::ClusterSummary;
use loadtest_model::files::write_json;
use loadtest_report::cluster::report;
use loadtest_run::interrupt::flag_on_ctrl_c;

/// Runs `loadtest cluster`.
pub fn run(args: ClusterArgs, catalogue: &Catalogue) -> anyhow::Result<()> {
    if args.cleanup {
        return cleanup();
    }
    let started = Instant::now();
    let now = chrono::Utc::now();
    let plan = args.plan(catalogue, &now.format("%Y-%m-%dT%H-%M-%SZ").to_string())?;
    // Root first: without it no emulated run can work, whatever else is installed.
    let hierarchy = match plan.source {
        HostSource::Emulated { .. } => Some(preflight::check_emulation()?),
        HostSource::Urls(_) => None,
    };
    let haproxy_version = preflight::haproxy_version()?;
    let cancel = flag_on_ctrl_c("stopping: ending the current trial and removing what this run made ...")?;

    for dir in ["raw", "haproxy", "logs"] {
        let dir = plan.out.join(dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let oha = loadtest_run::oha::provision::find_or_install(
        args.oha.as_deref(),
        &loadtest_run::oha::provision::default_tools_root(),
    )?;
    eprintln!(
        "using {} ({}) and {haproxy_version}",
        oha.path.display(),
        oha.version_line
    );
    let say = |message: &str| eprintln!("{message}");

    let mut summary = begun(&plan, hierarchy.as_ref(), haproxy_version);
    match (&plan.source, hierarchy) {
        (HostSource::Emulated { host_cpus }, Some(hierarchy)) => {
            run_emulated(&plan, *host_cpus, hierarchy, &oha.path, &cancel, &mut summary, &say)?;
        }
        (HostSource::Urls(hosts), _) => {
            let runtime = tempfile_dir()?;
            let site = Site::real(hosts.clone(), runtime.path(), &oha.path, &plan.out, &cancel);
            say(&format!(
                "hosts: {}",
                hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ")
            ));
            summary.scaling = scale_out::measure(&site, &plan.servers[0], &plan, &say)?;
        }
        (HostSource::Emulated { .. }, None) => unreachable!("emulation was checked"),
    }
    finish(summary, &plan, catalogue, now, started)
}

/// The run's summary before its trials: how its hosts are made and its load.
fn begun(plan: &ClusterPlan, hierarchy: Option<&Hierarchy>, haproxy_version: String) -> ClusterSummary {
    ClusterSummary {
        host_cpus: match plan.source {
            HostSource::Emulated { host_cpus } => Some(host_cpus),
            HostSource::Urls(_) => None,
        },
        host_cpus_applied: None,
        hosts_from: match plan.source {
            HostSource::Emulated { .. } => "netns".into(),
            HostSource::Urls(_) => "urls".into(),
        },
        cgroup: hierarchy.map(|h| h.version().to_owned()),
        haproxy_version,
        n: plan.n,
        concurrency: plan.concurrency,
        trial_secs: plan.duration,
        trials: plan.trials,
        fault_trial_secs: plan.fault_duration,
        balancer: super::haproxy::SETTINGS,
        scaling: Vec::new(),
        faults: Vec::new(),
    }
}

/// The run's summary with its conclusions, written with its reports; the tables printed.
fn finish(
    summary: ClusterSummary,
    plan: &ClusterPlan,
    catalogue: &Catalogue,
    now: chrono::DateTime<chrono::Utc>,
    started: Instant,
) -> anyhow::Result<()> {
    let machine = loadtest_run::machine::describe(loadtest_run::servers::workspace_root().as_deref());
    let run = ClusterRun {
        conclusions: loadtest_report::cluster::conclusions::conclusions(&summary, machine.cpus),
        targets: loadtest_report::targets::cluster::check(&summary),
        command: std::env::args().collect(),
        started_utc: now.to_rfc3339(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        machine,
        cluster: summary,
    };
    write_json(&plan.out.join("summary.json"), &run)?;
    let mut written = vec!["summary.json".to_owned()];
    written.extend(report::write(&run, catalogue, &plan.out)?);
    written.extend(copy_haproxy_cfg(&run, &plan.out)?);
    eprintln!("\n{}", loadtest_report::cluster::terminal::tables(&run.cluster));
    eprintln!("wrote {} ({})", plan.out.display(), written.join(", "));
    Ok(())
}

/// The configuration of the largest host count, retries on, as `haproxy.cfg` (every trial's own
/// is in haproxy/); nothing when there is none.
fn copy_haproxy_cfg(run: &ClusterRun, dir: &Path) -> anyhow::Result<Option<String>> {
    let Some(last) = run.cluster.scaling.last() else {
        return Ok(None);
    };
    let used = dir
        .join("haproxy")
        .join(format!("{}-scale-{}.cfg", last.server, last.hosts));
    if !used.exists() {
        return Ok(None);
    }
    std::fs::copy(&used, dir.join("haproxy.cfg")).context("copying haproxy.cfg")?;
    Ok(Some("haproxy.cfg".to_owned()))
}

fn run_emulated(
    plan: &ClusterPlan,
    host_cpus: f64,
    hierarchy: Hierarchy,
    oha: &Path,
    cancel: &AtomicBool,
    summary: &mut ClusterSummary,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let binaries = loadtest_run::servers::binaries_of(&plan.servers);
    let bin_dir = loadtest_run::servers::build_servers(&binaries, say)?;
    let most = plan.fault_hosts();
    let marker = RunMarker::own();
    say(&format!(
        "creating {most} hosts of {host_cpus} CPU, the balancer's and the client's namespaces ({}..., cgroup {})",
        marker.name(super::names::Role::Bridge).trim_end_matches("br"),
        hierarchy.version()
    ));
    let mut topology = Topology::create(marker, hierarchy, most, host_cpus)?;
    summary.host_cpus_applied = topology.host_cpus_applied;
    let site = Site::emulated(&topology, oha, &plan.out, cancel);
    let logs = plan.out.join("logs");
    for kind in &plan.servers {
        check_cancel(cancel)?;
        let mut fleet = Fleet::start(&topology, kind, &bin_dir, &logs, host_cpus)?;
        summary.scaling.extend(scale_out::measure(&site, kind, plan, say)?);
        let setups = fault_setups(plan, &summary.scaling, &kind.name);
        if plan.open_rate.is_some() && !setups.iter().any(|s| s.open.is_some()) {
            say(&format!(
                "warning: no closed-loop req/s of {} at {most} hosts to take --rate-fraction of: its open-loop trials are left out",
                kind.name
            ));
        }
        for (i, setup) in setups.iter().enumerate() {
            check_cancel(cancel)?;
            let entry = fault_trial::run(&site, &mut fleet, *setup, plan)?;
            fleet.check_alive()?;
            say(&format!(
                "{} [{}/{}]: {} requests, {} lost, {} retried, down after {}, {} req/s during the fault ({:.0} before)",
                setup.describe(&kind.name),
                i + 1,
                setups.len(),
                entry.requests,
                entry.lost,
                entry.retried,
                entry
                    .detect_s
                    .map_or_else(|| "never".to_owned(), |s| format!("{s:.1} s")),
                entry.rps_during.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
                entry.rps_before,
            ));
            summary.faults.push(entry);
        }
        fleet.stop();
    }
    drop(site);
    match topology.remove() {
        Ok(removal) => say(&format!("removed what the run made: {}", removal.describe())),
        // The results stand; what is left is named for the run, for --cleanup.
        Err(error) => say(&format!(
            "warning: could not remove everything this run made ({error:#}); `loadtest cluster --cleanup` removes the rest"
        )),
    }
    Ok(())
}

fn check_cancel(cancel: &AtomicBool) -> anyhow::Result<()> {
    if cancel.load(Ordering::SeqCst) {
        bail!("stopped on request; everything this run made is being removed");
    }
    Ok(())
}

/// A private folder for the balancer's socket when no topology provides one.
fn tempfile_dir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!("loadtest-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(TempDir(path))
}

/// Removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--cleanup`: removes the leftovers of every run whose harness is gone.
fn cleanup() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("--cleanup removes namespaces, links and cgroups, which needs root: run it as root");
    }
    let hierarchy = Hierarchy::detect().ok();
    let runs = leftover_runs(hierarchy.as_ref())?;
    if runs.is_empty() {
        eprintln!("nothing to clean up: no namespace, link, cgroup or folder named ltc<pid>-...");
    }
    for run in runs {
        let name = run.name(super::names::Role::Bridge);
        let prefix = name.trim_end_matches("br");
        if loadtest_run::sampler::process_exists(run.pid as i32) {
            eprintln!(
                "left alone: {prefix}... belongs to process {} which is still running (a run in progress)",
                run.pid
            );
            continue;
        }
        let removal = remove_run(run, hierarchy.as_ref())?;
        eprintln!("removed {prefix}...: {}", removal.describe());
    }
    Ok(())
}
