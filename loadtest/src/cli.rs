//! The command line, and its conversion into a validated [`Plan`].

// Doc comments here are `--help` text, read as plain text, not Markdown: `<UTC time>` is a
// placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use matrix_service::params::DEFAULT_WORKERS;

use crate::lab_servers::{ALL_LAB_SERVERS, LAB_SERVERS, LabServer, is_lab_name, lab_server_name};
use crate::plan::{LabTarget, Mode, PidSpec, Plan, Sweep, SweepKind, TargetSpec};
use crate::summary::ScenarioKey;
use crate::uploads::UploadsArgs;
use crate::workload::WorkKind;

/// Threads or processes: drives `oha` against the lab servers and reports which serves the
/// matrix endpoint better, by how much, and why (tables, charts, conclusions).
///
/// With no arguments: builds and starts the four lab servers (threads per request, a thread
/// pool, a fork per request, a pre-forked pool of processes) on free ports, checks their
/// answers, runs a warm-up and 5
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
    #[arg(long, value_delimiter = ',', default_value = "20", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: Vec<u32>,

    /// Workers per request asked of the servers; a list sweeps it, e.g. 1,2,4,8,16,32,64.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_WORKERS as u32], value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Vec<u32>,

    /// The kinds of work asked of the servers: add (the original lab's sum, memory-bound),
    /// matmul (C = A·B, CPU-bound), io (the sum after --wait-ms of waiting, IO-bound). A list
    /// runs each, and with a --workers list sweeps both together: one chart per kind.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "add")]
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
    #[arg(long = "sizes", value_delimiter = ',', default_value = "500", value_parser = clap::value_parser!(u32).range(1..))]
    pub sizes: Vec<u32>,

    /// Where to write the results [default: results/<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The oha binary to use [default: $OHA, else oha on PATH, else installs oha 1.16.0 into target/tools].
    #[arg(long, value_name = "PATH")]
    pub oha: Option<PathBuf>,

    /// The lab servers to measure: threading (threads), multiprocessing (a fork per request),
    /// prefork (app_multiprocessing --strategy prefork, a pool forked at start-up). List fewer
    /// to skip one.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = ALL_LAB_SERVERS, value_parser = lab_server_name)]
    pub servers: Vec<&'static LabServer>,

    /// Measure an already running threads server (base URL or full /threading URL) instead of
    /// starting one; its CPU and memory are sampled only with --pid threading=PID.
    #[arg(long, value_name = "URL")]
    pub threading_url: Option<String>,

    /// Measure an already running thread-pool server (app_threading --strategy pool, base URL
    /// or full /threading URL) instead of starting one.
    #[arg(long, value_name = "URL")]
    pub thread_pool_url: Option<String>,

    /// Measure an already running fork-per-request processes server instead of starting one.
    #[arg(long, value_name = "URL")]
    pub multiprocessing_url: Option<String>,

    /// Measure an already running pre-forked pool server (app_multiprocessing --strategy
    /// prefork, base URL or full /multiprocessing URL) instead of starting one.
    #[arg(long, value_name = "URL")]
    pub prefork_url: Option<String>,

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

    /// Seconds before a single request counts as failed (oha -t).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = seconds)]
    pub request_timeout: f64,
}

/// The harness's other jobs.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Uploads(UploadsArgs),
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

fn target_spec(raw: &str) -> Result<TargetSpec, String> {
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
    Ok(TargetSpec {
        name: name.to_owned(),
        url: url.to_owned(),
        pid: None,
    })
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

impl Cli {
    /// Checks the flags together and turns them into a plan.
    pub fn plan(mut self, now_utc: &str) -> anyhow::Result<Plan> {
        if self.lab {
            self.work = crate::workload::ALL_WORK.to_vec();
            self.workers = LAB_WORKERS.to_vec();
            self.wait_ms = self.wait_ms.max(1);
            (self.trials, self.duration, self.warmup) = (LAB_TRIALS, LAB_DURATION_SECS, LAB_WARMUP_SECS);
        }
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
        let sweep = swept.first().map(|(kind, values)| Sweep {
            kind: *kind,
            values: dedup(values),
        });
        // A sweep's headline scenario is the lab's default when the sweep includes it.
        let base = ScenarioKey {
            work: WorkKind::Add,
            concurrency: headline(&self.concurrency, 20),
            n: headline(&self.sizes, matrix_service::params::DEFAULT_N as u32),
            workers: headline(&self.workers, DEFAULT_WORKERS as u32),
            wait_ms: None,
        };
        let works: Vec<WorkKind> = dedup(&self.work);
        let work_bases = works
            .iter()
            .map(|&work| {
                let key = ScenarioKey {
                    work,
                    wait_ms: (work == WorkKind::Io).then_some(self.wait_ms),
                    ..base
                };
                match (self.lab, work) {
                    (true, WorkKind::Io) => ScenarioKey {
                        n: LAB_IO_N,
                        concurrency: LAB_IO_CONCURRENCY,
                        ..key
                    },
                    _ => key,
                }
            })
            .collect::<Vec<_>>();
        let base = work_bases[0];
        let mode = if self.quick {
            if sweep.is_some() || self.requests.is_some() || works.len() > 1 {
                bail!(
                    "--quick runs exactly `oha -n 200 -c 20` once per server; drop the sweep and --requests, or drop --quick"
                );
            }
            Mode::Quick
        } else {
            Mode::Measured
        };
        check_target_names(&self.targets)?;
        let mut lab = self.lab_targets()?;
        let mut targets = self.targets;
        attach_pids(&self.pids, &mut lab, &mut targets)?;
        let out_dir = self.out.unwrap_or_else(|| PathBuf::from("results").join(now_utc));
        if out_dir.join("summary.json").exists() {
            bail!("{} already holds results; choose another --out", out_dir.display());
        }
        Ok(Plan {
            mode,
            trials: if self.quick { 1 } else { self.trials },
            trial_load: match (self.quick, self.requests) {
                (true, _) => crate::plan::TrialLoad::Requests(200),
                (false, Some(n)) => crate::plan::TrialLoad::Requests(n),
                (false, None) => crate::plan::TrialLoad::Duration(Duration::from_secs_f64(self.duration)),
            },
            warmup: if self.quick {
                None
            } else {
                (self.warmup > 0.0).then(|| Duration::from_secs_f64(self.warmup))
            },
            base: if self.quick {
                ScenarioKey {
                    concurrency: 20,
                    ..base
                }
            } else {
                base
            },
            sweep,
            works: if self.quick {
                work_bases
                    .iter()
                    .map(|key| ScenarioKey {
                        concurrency: 20,
                        ..*key
                    })
                    .collect()
            } else {
                work_bases
            },
            lab_grid: self.lab,
            out_dir,
            oha: self.oha,
            lab,
            extra_targets: targets,
            request_timeout: Duration::from_secs_f64(self.request_timeout),
        })
    }
}

impl Cli {
    /// The URL given for the lab server `name`, if any.
    fn lab_url(&self, name: &str) -> Option<&String> {
        match name {
            "threading" => self.threading_url.as_ref(),
            "thread-pool" => self.thread_pool_url.as_ref(),
            "multiprocessing" => self.multiprocessing_url.as_ref(),
            "prefork" => self.prefork_url.as_ref(),
            _ => None,
        }
    }

    /// The lab servers of `--servers`, in the table's order, each with its URL if given. A URL
    /// for a server left out is refused rather than ignored: the user meant to measure it.
    fn lab_targets(&self) -> anyhow::Result<Vec<LabTarget>> {
        for server in &LAB_SERVERS {
            if self.lab_url(server.name).is_some() && !self.servers.contains(&server) {
                bail!(
                    "--{}-url is given, but {} is not in --servers; add it there or drop the URL",
                    server.name,
                    server.name
                );
            }
        }
        Ok(LAB_SERVERS
            .iter()
            .filter(|server| self.servers.contains(server))
            .map(|server| LabTarget {
                server,
                url: self.lab_url(server.name).cloned(),
                pid: None,
            })
            .collect())
    }
}

/// Each `--target` needs a name of its own, and none of the lab servers'.
fn check_target_names(targets: &[TargetSpec]) -> anyhow::Result<()> {
    for (i, target) in targets.iter().enumerate() {
        let name = target.name.as_str();
        if is_lab_name(name) || targets[..i].iter().any(|t| t.name == name) {
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
        let slot = if let Some(lab) = lab.iter_mut().find(|l| l.server.name == name) {
            if lab.url.is_none() {
                bail!(
                    "--pid {name}={pid}: the harness starts the {name} server itself and samples it already; \
                     --pid is for a server given by URL (--{name}-url)"
                );
            }
            &mut lab.pid
        } else if let Some(target) = targets.iter_mut().find(|t| &t.name == name) {
            &mut target.pid
        } else {
            let mut known: Vec<&str> = lab.iter().filter(|l| l.url.is_some()).map(|l| l.server.name).collect();
            known.extend(targets.iter().map(|t| t.name.as_str()));
            bail!(
                "--pid {name}={pid}: no server given by URL is called {name:?}; --pid names one of: {}",
                if known.is_empty() {
                    "none (give a --target NAME=URL or a --threading-url first)".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        if !crate::sampler::process_exists(*pid) {
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
mod tests {
    use super::*;
    use crate::plan::TrialLoad;
    use clap::CommandFactory;

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        Cli::try_parse_from(std::iter::once("loadtest").chain(args.iter().copied()))?.plan("2026-01-01T00-00-00Z")
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_is_the_measured_run() {
        let plan = plan(&[]).unwrap();
        assert_eq!(plan.mode, Mode::Measured);
        assert_eq!(
            (plan.trials, plan.trial_load),
            (5, TrialLoad::Duration(Duration::from_secs(5)))
        );
        assert_eq!(
            plan.base,
            ScenarioKey {
                work: crate::workload::WorkKind::Add,
                wait_ms: None,
                concurrency: 20,
                n: 500,
                workers: 4
            }
        );
        assert_eq!(plan.warmup, Some(Duration::from_secs(2)));
        assert_eq!(plan.out_dir, PathBuf::from("results/2026-01-01T00-00-00Z"));
        assert!(plan.sweep.is_none());
    }

    #[test]
    fn quick_is_the_design_cards_load_once() {
        let plan = plan(&["--quick"]).unwrap();
        assert_eq!(
            (plan.mode, plan.trials, plan.trial_load),
            (Mode::Quick, 1, TrialLoad::Requests(200))
        );
        assert_eq!((plan.base.concurrency, plan.warmup), (20, None));
    }

    #[test]
    fn a_list_sweeps_that_variable() {
        let plan = plan(&["--workers", "1,2,4,4,8"]).unwrap();
        assert_eq!(
            plan.sweep,
            Some(Sweep {
                kind: SweepKind::Workers,
                values: vec![1, 2, 4, 8]
            })
        );
        let scenarios = plan.scenarios();
        assert_eq!(scenarios.len(), 4);
        assert_eq!(
            scenarios[3],
            ScenarioKey {
                work: crate::workload::WorkKind::Add,
                wait_ms: None,
                concurrency: 20,
                n: 500,
                workers: 8
            }
        );
    }

    #[test]
    fn work_kinds_are_swept_together_with_the_workers() {
        let swept = plan(&["--work", "add,io,matmul,io", "--workers", "1,2", "--wait-ms", "40"]).unwrap();
        let got: Vec<(WorkKind, u32, Option<u32>)> = swept
            .scenarios()
            .iter()
            .map(|s| (s.work, s.workers, s.wait_ms))
            .collect();
        assert_eq!(
            got,
            [
                (WorkKind::Add, 1, None),
                (WorkKind::Add, 2, None),
                (WorkKind::Io, 1, Some(40)),
                (WorkKind::Io, 2, Some(40)),
                (WorkKind::Matmul, 1, None),
                (WorkKind::Matmul, 2, None),
            ]
        );
        assert!(!swept.lab_grid);
        let at_default = |key: ScenarioKey| swept.extra_targets_join(ScenarioKey { workers: 4, ..key });
        assert!(at_default(swept.scenarios()[0]));
        assert!(!at_default(swept.scenarios()[2]), "a --target is sent add's URL only");
        assert!(plan(&["--work", "sleep"]).is_err());
    }

    #[test]
    fn the_lab_is_every_kind_at_every_worker_count_with_io_at_its_own_size() {
        let lab = plan(&["--lab"]).unwrap();
        let scenarios = lab.scenarios();
        assert_eq!(scenarios.len(), 3 * 7);
        assert!(lab.lab_grid && lab.trials == 3 && lab.warmup == Some(Duration::from_secs(1)));
        assert_eq!(lab.trial_load, crate::plan::TrialLoad::Duration(Duration::from_secs(2)));
        let io: Vec<_> = scenarios.iter().filter(|s| s.work == WorkKind::Io).collect();
        assert_eq!(io.len(), 7);
        assert!(
            io.iter()
                .all(|s| (s.n, s.concurrency, s.wait_ms) == (100, 64, Some(100)))
        );
        let matmul = scenarios.iter().filter(|s| s.work == WorkKind::Matmul);
        let workers: Vec<u32> = matmul.clone().map(|s| s.workers).collect();
        assert_eq!(workers, [1, 2, 4, 8, 16, 32, 64]);
        assert!(matmul.clone().all(|s| (s.n, s.concurrency) == (500, 20)));
        assert_eq!(lab.lab.len(), 4, "every lab server");
        for clash in [
            &["--lab", "--workers", "2"][..],
            &["--lab", "--trials", "5"],
            &["--lab", "--quick"],
        ] {
            assert!(plan(clash).is_err(), "{clash:?}");
        }
    }

    #[test]
    fn contradictions_are_refused_with_the_flags_named() {
        let err = plan(&["--workers", "1,2", "--sizes", "100,200"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--workers, --sizes"), "{err}");
        assert!(plan(&["--quick", "--concurrency", "1,2"]).is_err());
        let err = plan(&["--target", "threading=http://x/threading"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is taken"), "{err}");
        assert!(plan(&["--target", "nameonly"]).is_err());
        assert!(plan(&["--target", "a=ftp://x"]).is_err());
        assert!(plan(&["--concurrency", "0"]).is_err());
        assert!(plan(&["--duration", "0"]).is_err());
    }

    fn lab_names(plan: &Plan) -> Vec<&'static str> {
        plan.lab.iter().map(|l| l.server.name).collect()
    }

    #[test]
    fn every_lab_server_takes_part_by_default_and_the_harness_starts_them() {
        let plan = plan(&[]).unwrap();
        assert_eq!(
            lab_names(&plan),
            ["threading", "thread-pool", "multiprocessing", "prefork"]
        );
        assert!(plan.lab.iter().all(|l| l.url.is_none()));
        assert_eq!(
            ALL_LAB_SERVERS,
            LAB_SERVERS.iter().map(|s| s.name).collect::<Vec<_>>().join(","),
            "the default lists the whole table"
        );
        let pool = &plan.lab[1].server;
        assert_eq!(
            (pool.binary, pool.path, pool.args),
            ("app_threading", "/threading", &["--strategy", "pool"][..])
        );
        let prefork = &plan.lab[3].server;
        assert_eq!(
            (prefork.binary, prefork.path, prefork.args),
            (
                "app_multiprocessing",
                "/multiprocessing",
                &["--strategy", "prefork"][..]
            )
        );
    }

    #[test]
    fn servers_chooses_some_in_the_tables_order() {
        let plan = plan(&["--servers", "prefork,threading,threading"]).unwrap();
        assert_eq!(lab_names(&plan), ["threading", "prefork"]);
        let err = plan_err(&["--servers", "threading,forking"]);
        assert!(err.contains("\"forking\" is not a lab server"), "{err}");
        assert!(
            err.contains("threading, thread-pool, multiprocessing, prefork"),
            "{err}"
        );
    }

    #[test]
    fn a_url_makes_that_server_one_already_running() {
        let plan = plan(&["--prefork-url", "http://127.0.0.1:9/"]).unwrap();
        let urls: Vec<Option<&str>> = plan.lab.iter().map(|l| l.url.as_deref()).collect();
        assert_eq!(urls, [None, None, None, Some("http://127.0.0.1:9/")]);
        let err = plan_err(&["--servers", "threading", "--prefork-url", "http://127.0.0.1:9"]);
        assert!(
            err.contains("--prefork-url is given, but prefork is not in --servers"),
            "{err}"
        );
    }

    #[test]
    fn target_names_cannot_clash_with_any_lab_server() {
        for name in ["threading", "multiprocessing", "prefork"] {
            let err = plan_err(&["--target", &format!("{name}=http://x/y")]);
            assert!(err.contains("is taken"), "{err}");
        }
        let err = plan_err(&["--target", "py=http://x/a", "--target", "py=http://x/b"]);
        assert!(err.contains("is taken"), "{err}");
    }

    #[test]
    fn a_pid_is_given_to_the_server_it_names() {
        let me = std::process::id().to_string();
        let plan = plan(&[
            "--target",
            "python=http://127.0.0.1:9001/threading",
            "--threading-url",
            "http://127.0.0.1:8001",
            "--pid",
            &format!("python={me}"),
            "--pid",
            &format!("threading={me}"),
        ])
        .unwrap();
        let me: i32 = me.parse().unwrap();
        assert_eq!(plan.extra_targets[0].pid, Some(me));
        let pids: Vec<Option<i32>> = plan.lab.iter().map(|l| l.pid).collect();
        assert_eq!(pids, [Some(me), None, None, None]);
    }

    #[test]
    fn a_pid_must_be_a_positive_number_after_a_name() {
        for bad in ["python", "python=", "python=abc", "python=0", "python=-4", "=42"] {
            let err = Cli::try_parse_from(["loadtest", "--pid", bad]).unwrap_err().to_string();
            assert!(err.contains("NAME=PID"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_pid_for_no_such_server_a_started_one_a_dead_one_or_twice_is_refused() {
        let me = format!("{}", std::process::id());
        let target = ["--target", "python=http://127.0.0.1:9001/threading"];
        let with = |extra: &[&str]| plan_err(&[&target[..], extra].concat());

        let err = with(&["--pid", &format!("ruby={me}")]);
        assert!(
            err.contains("no server given by URL is called \"ruby\"; --pid names one of: python"),
            "{err}"
        );
        let err = with(&["--pid", &format!("prefork={me}")]);
        assert!(err.contains("the harness starts the prefork server itself"), "{err}");
        assert!(err.contains("--prefork-url"), "{err}");
        // Above PID_MAX_LIMIT (2^22): no process can have it.
        let err = with(&["--pid", "python=999999999"]);
        assert!(err.contains("no process 999999999 is running"), "{err}");
        let err = with(&["--pid", &format!("python={me}"), "--pid", &format!("python={me}")]);
        assert!(err.contains("given twice"), "{err}");
    }

    fn plan_err(args: &[&str]) -> String {
        plan(args).unwrap_err().to_string()
    }
}
