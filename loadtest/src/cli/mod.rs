//! The command line, and its conversion into a validated [`Plan`].

// Doc comments here are `--help` text, read as plain text, not Markdown: `<UTC time>` is a
// placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use loadtest_model::catalogue::Catalogue;
use loadtest_model::scenario::{DEFAULT_CONCURRENCY, ScenarioKey};
use loadtest_model::summary::TargetId;
use loadtest_run::open_loop::OpenLoop;
use loadtest_run::pinning::CpuList;
use loadtest_run::plan::{
    Api, Extra, LabTarget, Mode, PidSpec, Plan, Sweep, SweepKind, TargetSpec, TrialLoad, UrlSpec,
};
use loadtest_run::uploads::UploadsArgs;
use matrix_service::WorkKind;

/// Threads or processes: drives `oha` against the lab servers and reports which serves the
/// matrix endpoint better, by how much, and why (tables, charts, conclusions).
///
/// With no arguments: builds and starts every lab server (threads per request, a thread pool,
/// a fork per request, a pre-forked pool of processes) on free ports, checks their answers,
/// runs a warm-up and 5
/// alternating trials of 5 s per server at 20 connections, samples each server's CPU and memory,
/// and writes results/<UTC time>/ (summary.json, report.md, charts, raw oha JSON).
#[derive(Debug, Parser)]
#[command(version, about, long_about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Another job instead of the comparison.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The classic load, `oha -n 200 -c 20`, once per server: a quick look, not a measurement.
    #[arg(long)]
    pub quick: bool,

    /// Measured trials per server and scenario.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub trials: u32,

    /// Seconds per measured trial (oha -z).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = seconds)]
    pub duration: f64,

    /// Requests per measured trial (oha -n) instead of a duration.
    #[arg(long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Seconds of warm-up per server and scenario, discarded (0 skips it).
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = non_negative_seconds)]
    pub warmup: f64,

    /// Connections (oha -c); a list sweeps it, e.g. 1,2,4,8,16,32,64.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_CONCURRENCY], value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: Vec<u32>,

    /// Workers per request asked of the servers; a list sweeps it, e.g. 1,2,4,8,16,32,64.
    #[arg(long, value_delimiter = ',', default_values_t = [ScenarioKey::DEFAULT.workers], value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Vec<u32>,

    /// The kinds of work asked of the servers: add (the original lab's sum, memory-bound),
    /// matmul (C = A·B, CPU-bound), io (the sum after --wait-ms of waiting, IO-bound). A list
    /// runs each, and with a --workers list sweeps both together: one chart per kind.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_values_t = [WorkKind::default()])]
    pub work: Vec<WorkKind>,

    /// Milliseconds each io request waits, spread over its bands (the servers' wait_ms).
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub wait_ms: u32,

    /// The whole lab: add and matmul at n=500 with 20 connections, io at n=100 with
    /// --wait-ms 100 and 64 connections, each at 1, 2, 4, 8, 16, 32 and 64 workers, on every
    /// lab server, 3 trials of 2 s after a 1 s warm-up each (about 12 minutes with four servers).
    #[arg(long, conflicts_with_all = ["work", "workers", "sizes", "concurrency", "quick", "trials", "duration", "requests", "warmup"])]
    pub lab: bool,

    /// Matrix side n; a list sweeps it, e.g. 100,250,500,1000,2000.
    #[arg(long = "sizes", value_delimiter = ',', default_values_t = [ScenarioKey::DEFAULT.n], value_parser = clap::value_parser!(u32).range(1..))]
    pub sizes: Vec<u32>,

    /// Where to write the results [default: results/<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The oha binary to use [default: $OHA, else oha on PATH, else installs oha 1.16.0 into target/tools].
    #[arg(long, value_name = "PATH")]
    pub oha: Option<PathBuf>,

    /// The lab servers to measure (every one by default); list fewer to skip one.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub servers: Option<Vec<String>>,

    /// Measure a lab server already running instead of starting one, as NAME=URL (a base URL
    /// such as threading=http://10.0.0.5:8001, or the full endpoint URL); its CPU and memory are
    /// sampled only with --pid NAME=PID. Repeatable; --NAME-url URL says the same.
    #[arg(long = "url", value_name = "NAME=URL", value_parser = url_spec)]
    pub urls: Vec<UrlSpec>,

    /// Add another server to the comparison, as NAME=URL (the full endpoint URL, e.g.
    /// python-threads=http://127.0.0.1:9001/threading). Repeatable. Extra targets are sent the URL
    /// as given, so they take part in scenarios at the default n and workers only.
    #[arg(long = "target", value_name = "NAME=URL", value_parser = target_spec)]
    pub targets: Vec<TargetSpec>,

    /// Sample the CPU and memory of a server the harness did not start, as NAME=PID: PID is the
    /// root of its process tree, which is sampled whole, children included (gunicorn's master
    /// and its workers, say). NAME is a --target name, or a lab server given by URL. Repeatable.
    #[arg(long = "pid", value_name = "NAME=PID", value_parser = pid_spec)]
    pub pids: Vec<PidSpec>,

    /// Add the Python lab: makes a virtual environment under target/python-lab (flask, gunicorn,
    /// numpy, fastapi, uvicorn, pinned); measures the handout's threads app (python-threads) and
    /// its processes app with the queue read before the join (python-processes-fixed) under
    /// gunicorn as the handout runs them, and probes its own processes app once
    /// (python-processes-seed); and measures the lab's API in three Python models: py-threads
    /// (a thread per band), py-processes (a pool of processes) and py-async (FastAPI on
    /// uvicorn). With --lab, --work or --workers the py-* apps take every kind of work at 1, 2,
    /// 4 and 8 workers, 2 trials each.
    #[arg(long)]
    pub python: bool,

    /// After the trials, weigh what recording a trace costs each lab server: 10 pairs of 1 s
    /// windows at the headline scenario, untraced then traced, compared by CPU per answer
    /// (about 23 s a server).
    #[arg(long, conflicts_with = "quick")]
    pub trace_cost: bool,

    /// Open loop: send R requests a second to each server whatever its answers (oha -q with
    /// --latency-correction), so latency includes the queueing a closed loop hides.
    #[arg(long, value_name = "R", conflicts_with_all = ["rate_fraction", "lab"], value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: Option<u32>,

    /// Measure the closed loop, then the open loop at F times the slowest lab server's
    /// closed-loop median req/s, the same offered load for every server (0.7: 70% of what the
    /// slowest can serve).
    #[arg(long, value_name = "F", conflicts_with = "lab", value_parser = loadtest_run::open_loop::parse_fraction)]
    pub rate_fraction: Option<f64>,

    /// Pin the servers the harness starts (their threads and children too) to these CPUs, such
    /// as 2-7, through taskset; for machines with CPUs to spare. Default: not pinned.
    #[arg(long, value_name = "LIST", value_parser = CpuList::parse)]
    pub server_cpus: Option<CpuList>,

    /// Pin oha to these CPUs, such as 0-1, apart from --server-cpus so the client does not take
    /// the servers' CPUs. Default: not pinned.
    #[arg(long, value_name = "LIST", value_parser = CpuList::parse)]
    pub client_cpus: Option<CpuList>,

    /// Seconds before a single request counts as failed (oha -t).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = seconds)]
    pub request_timeout: f64,
}

/// The command line for `catalogue`: `--servers` takes (and `--help` lists) its servers, in
/// the main job, `uploads` and `cluster`, and each server gets `--NAME-url URL`, the same as
/// `--url NAME=URL`.
pub fn command(catalogue: &Catalogue) -> clap::Command {
    use clap::CommandFactory;
    let listed: Vec<String> = (catalogue.iter())
        .map(|s| format!("{} ({})", s.name, s.description))
        .collect();
    let names: Vec<String> = catalogue.names().into_iter().map(String::from).collect();
    let servers = |arg: clap::Arg| {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        arg.value_parser(clap::builder::PossibleValuesParser::new(names.clone()))
            .hide_possible_values(true)
            .help(format!("{help}. The lab servers: {}.", listed.join(", ")))
    };
    let mut command = Cli::command()
        .mut_arg("servers", servers)
        .mut_subcommand("uploads", |c| c.mut_arg("servers", servers))
        .mut_subcommand("cluster", |c| c.mut_arg("servers", servers));
    for server in catalogue.iter() {
        command = command.arg(
            clap::Arg::new(url_alias(&server.name))
                .long(url_alias(&server.name))
                .value_name("URL")
                .help(format!("The same as --url {}=URL", server.name)),
        );
    }
    command
}

/// `--threading-url` and the like: the flag each lab server had before `--url`.
fn url_alias(name: &str) -> String {
    format!("{name}-url")
}

/// Parses `args` (the program's name first) against `catalogue`'s command line.
pub fn try_parse_from<I, T>(catalogue: &Catalogue, args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let matches = command(catalogue).try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    for server in catalogue.iter() {
        if let Some(url) = matches.get_one::<String>(&url_alias(&server.name)) {
            cli.urls.push(UrlSpec {
                name: server.name.clone(),
                url: url.clone(),
            });
        }
    }
    Ok(cli)
}

/// The harness's other jobs.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Uploads(UploadsArgs),
    /// Lists the lab servers, one a line: name, command (binary and arguments), path, and what
    /// it is, separated by tabs (for scripts: `scripts/soak.sh` reads it).
    Servers,
    Cluster(loadtest_cluster::ClusterArgs),
    Report(loadtest_report::ReportArgs),
    Compare(loadtest_report::compare::CompareArgs),
}

fn seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 3600.0 => Ok(secs),
        _ => Err("must be a number of seconds more than 0 and at most 3600, such as 5 or 0.5".into()),
    }
}

fn non_negative_seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if (0.0..=3600.0).contains(&secs) => Ok(secs),
        _ => Err("must be a number of seconds from 0 to 3600".into()),
    }
}

/// `NAME=URL`, with a name of letters, digits, '-' or '_' and an http(s) URL.
fn name_and_url(raw: &str) -> Result<(String, String), String> {
    let (name, url) = raw
        .split_once('=')
        .ok_or("must be NAME=URL, such as python=http://127.0.0.1:9001/threading")?;
    let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(format!("the name {name:?} must be letters, digits, '-' or '_'"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("the URL {url:?} must start with http:// or https://"));
    }
    Ok((name.to_owned(), url.to_owned()))
}

fn target_spec(raw: &str) -> Result<TargetSpec, String> {
    let (name, url) = name_and_url(raw)?;
    Ok(TargetSpec {
        name,
        url,
        pid: None,
        api: Api::AsGiven,
    })
}

fn url_spec(raw: &str) -> Result<UrlSpec, String> {
    let (name, url) = name_and_url(raw)?;
    Ok(UrlSpec { name, url })
}

fn pid_spec(raw: &str) -> Result<PidSpec, String> {
    let (name, pid) = raw.split_once('=').ok_or("must be NAME=PID, such as python=4242")?;
    match pid.parse::<i32>() {
        Ok(pid) if pid > 0 && !name.is_empty() => Ok(PidSpec {
            name: name.to_owned(),
            pid,
        }),
        _ => Err(format!(
            "{raw:?} must be NAME=PID, with a process id above 0, such as python=4242"
        )),
    }
}

/// `--lab`'s grid.
const LAB_WORKERS: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];
const LAB_TRIALS: u32 = 3;
const LAB_DURATION_SECS: f64 = 2.0;
const LAB_WARMUP_SECS: f64 = 1.0;
/// io at a small n, so the wait dominates, and with more connections than add's 20, so the
/// servers have many waiting requests at once.
const LAB_IO_N: u32 = 100;
const LAB_IO_CONCURRENCY: u32 = 64;

/// `--lab`'s scenarios beyond the grid: many waits on every lab server, so the report sets
/// the models side by side; long waits on the servers held to [`TargetId::WaitThreads`] alone,
/// since a pool blocked in them takes a minute to work through what one trial leaves it (the
/// threads every model holds for many waits are in the first already).
fn lab_extras(catalogue: &Catalogue) -> Vec<Extra> {
    let held = (catalogue.iter())
        .filter(|s| s.targets.contains(&TargetId::WaitThreads))
        .map(|s| s.name.clone())
        .collect();
    vec![
        Extra {
            scenario: ScenarioKey::MANY_WAITS,
            servers: None,
        },
        Extra {
            scenario: ScenarioKey::LONG_WAITS,
            servers: Some(held),
        },
    ]
}

impl Cli {
    /// Checks the flags together and turns them into a plan.
    pub fn plan(mut self, catalogue: &Catalogue, now_utc: &str) -> anyhow::Result<Plan> {
        if self.lab {
            self.work = WorkKind::ALL.to_vec();
            self.workers = LAB_WORKERS.to_vec();
            self.wait_ms = self.wait_ms.max(1);
            (self.trials, self.duration, self.warmup) = (LAB_TRIALS, LAB_DURATION_SECS, LAB_WARMUP_SECS);
        }
        let sweep = self.sweep()?;
        let works = self.work_bases();
        let mode = self.mode(sweep.as_ref(), works.len())?;
        check_target_names(&self.targets, catalogue)?;
        for (flag, list) in [
            ("--server-cpus", &self.server_cpus),
            ("--client-cpus", &self.client_cpus),
        ] {
            list.as_ref().map(|l| l.check_allowed(flag)).transpose()?;
        }
        let mut lab = self.lab_targets(catalogue)?;
        let mut targets = std::mem::take(&mut self.targets);
        attach_pids(&self.pids, &mut lab, &mut targets)?;
        let out_dir = self
            .out
            .take()
            .unwrap_or_else(|| PathBuf::from("results").join(now_utc));
        if out_dir.join("summary.json").exists() {
            bail!("{} already holds results; choose another --out", out_dir.display());
        }
        // --quick is the classic load at the classic connections, once, without a warm-up.
        let quick = |key: ScenarioKey| match mode {
            Mode::Quick => ScenarioKey {
                concurrency: DEFAULT_CONCURRENCY,
                ..key
            },
            Mode::Measured => key,
        };
        Ok(Plan {
            mode,
            trials: if self.quick { 1 } else { self.trials },
            trial_load: match (self.quick, self.requests) {
                (true, _) => TrialLoad::Requests(200),
                (false, Some(n)) => TrialLoad::Requests(n),
                (false, None) => TrialLoad::Duration(Duration::from_secs_f64(self.duration)),
            },
            warmup: (!self.quick && self.warmup > 0.0).then(|| Duration::from_secs_f64(self.warmup)),
            base: quick(works[0]),
            sweep,
            works: works.into_iter().map(quick).collect(),
            lab_grid: self.lab,
            extra: if self.lab { lab_extras(catalogue) } else { Vec::new() },
            out_dir,
            oha: self.oha,
            lab,
            extra_targets: targets,
            request_timeout: Duration::from_secs_f64(self.request_timeout),
            python: self.python,
            python_sweep: self.python
                && (self.lab || self.work != [WorkKind::default()] || self.workers != [ScenarioKey::DEFAULT.workers]),
            trace_cost: self.trace_cost,
            open_loop: match (self.rate, self.rate_fraction) {
                (Some(rate), _) => Some(OpenLoop::Rate(rate)),
                (None, Some(fraction)) => Some(OpenLoop::Fraction(fraction)),
                (None, None) => None,
            },
            server_cpus: self.server_cpus,
            client_cpus: self.client_cpus,
        })
    }

    /// The one variable given as a list, if any; two lists are refused.
    fn sweep(&self) -> anyhow::Result<Option<Sweep>> {
        let swept: Vec<(SweepKind, &Vec<u32>)> = [
            (SweepKind::Concurrency, &self.concurrency),
            (SweepKind::Workers, &self.workers),
            (SweepKind::N, &self.sizes),
        ]
        .into_iter()
        .filter(|(_, values)| values.len() > 1)
        .collect();
        if swept.len() > 1 {
            bail!(
                "sweep one variable at a time: {} are all lists; give the others a single value",
                swept.iter().map(|(kind, _)| kind.flag()).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(swept.first().map(|(kind, values)| Sweep {
            kind: *kind,
            values: dedup(values),
        }))
    }

    /// Each kind of work's base scenario, in `--work`'s order: the headline values (a sweep's is
    /// the lab's default when the sweep includes it), its wait, and under `--lab` io's own n and
    /// connections.
    fn work_bases(&self) -> Vec<ScenarioKey> {
        let default = ScenarioKey::DEFAULT;
        let base = ScenarioKey {
            concurrency: headline(&self.concurrency, default.concurrency),
            n: headline(&self.sizes, default.n),
            workers: headline(&self.workers, default.workers),
            ..default
        };
        (dedup(&self.work).into_iter())
            .map(|work| {
                let key = ScenarioKey {
                    work,
                    wait_ms: work.waits().then_some(self.wait_ms),
                    ..base
                };
                if self.lab && work.waits() {
                    ScenarioKey {
                        n: LAB_IO_N,
                        concurrency: LAB_IO_CONCURRENCY,
                        ..key
                    }
                } else {
                    key
                }
            })
            .collect()
    }

    /// Quick (one classic load, nothing swept) or measured.
    fn mode(&self, sweep: Option<&Sweep>, works: usize) -> anyhow::Result<Mode> {
        if !self.quick {
            return Ok(Mode::Measured);
        }
        if sweep.is_some() || self.requests.is_some() || works > 1 {
            bail!(
                "--quick runs exactly `oha -n 200 -c 20` once per server; drop the sweep and --requests, or drop --quick"
            );
        }
        Ok(Mode::Quick)
    }
}

impl Cli {
    /// The lab servers of `--servers` (every one by default), in the catalogue's order, each
    /// with its URL if given. A URL for a server left out is refused rather than ignored: the
    /// user meant to measure it.
    fn lab_targets(&self, catalogue: &Catalogue) -> anyhow::Result<Vec<LabTarget>> {
        let chosen = match &self.servers {
            Some(names) => catalogue.select(names).map_err(|e| anyhow::anyhow!("--servers: {e}"))?,
            None => catalogue.iter().cloned().collect(),
        };
        for (i, UrlSpec { name, .. }) in self.urls.iter().enumerate() {
            catalogue
                .find(name)
                .map_err(|e| anyhow::anyhow!("--url {name}=: {e}"))?;
            if self.urls[..i].iter().any(|u| &u.name == name) {
                bail!("--url {name}= is given twice; give each lab server one URL");
            }
            if !chosen.iter().any(|s| &s.name == name) {
                bail!("--url {name}= is given, but {name} is not in --servers; add it there or drop the URL");
            }
        }
        Ok(chosen
            .into_iter()
            .map(|server| LabTarget {
                url: (self.urls.iter())
                    .find(|u| u.name == server.name)
                    .map(|u| u.url.clone()),
                server,
                pid: None,
            })
            .collect())
    }
}

/// Each `--target` needs a name of its own, and none of the lab servers'.
fn check_target_names(targets: &[TargetSpec], catalogue: &Catalogue) -> anyhow::Result<()> {
    for (i, target) in targets.iter().enumerate() {
        let name = target.name.as_str();
        if catalogue.contains(name) || targets[..i].iter().any(|t| t.name == name) {
            bail!("--target name {name:?} is taken; give each target its own name");
        }
    }
    Ok(())
}

/// Gives each `--pid` to the server it names, which must be one the harness does not start (it
/// samples those already), given once, and alive now: a typo should fail here, not after the
/// servers were built and started.
fn attach_pids(pids: &[PidSpec], lab: &mut [LabTarget], targets: &mut [TargetSpec]) -> anyhow::Result<()> {
    for (i, PidSpec { name, pid }) in pids.iter().enumerate() {
        if pids[..i].iter().any(|p| &p.name == name) {
            bail!("--pid {name}= is given twice; give each server one pid, the root of its process tree");
        }
        let slot = if let Some(lab) = lab.iter_mut().find(|l| &l.server.name == name) {
            if lab.url.is_none() {
                bail!(
                    "--pid {name}={pid}: the harness starts the {name} server itself and samples it already; \
                     --pid is for a server given by URL (--url {name}=URL)"
                );
            }
            &mut lab.pid
        } else if let Some(target) = targets.iter_mut().find(|t| &t.name == name) {
            &mut target.pid
        } else {
            let mut known: Vec<&str> = (lab.iter())
                .filter(|l| l.url.is_some())
                .map(|l| l.server.name.as_str())
                .collect();
            known.extend(targets.iter().map(|t| t.name.as_str()));
            bail!(
                "--pid {name}={pid}: no server given by URL is called {name:?}; --pid names one of: {}",
                if known.is_empty() {
                    "none (give a --target NAME=URL or a --url NAME=URL first)".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        if !loadtest_run::sampler::process_exists(*pid) {
            bail!("--pid {name}={pid}: no process {pid} is running (there is no /proc/{pid})");
        }
        *slot = Some(*pid);
    }
    Ok(())
}

/// `default` if `values` has it, else the first value.
fn headline(values: &[u32], default: u32) -> u32 {
    if values.contains(&default) { default } else { values[0] }
}

fn dedup<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut seen = Vec::new();
    for v in values {
        if !seen.contains(v) {
            seen.push(*v);
        }
    }
    seen
}

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
