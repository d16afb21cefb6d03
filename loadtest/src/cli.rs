//! The command line, and its conversion into a validated [`Plan`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::plan::{Mode, Plan, Sweep, SweepKind, TargetSpec};
use crate::summary::ScenarioKey;

/// Threads or processes: drives `oha` against both lab servers and reports which serves the
/// matrix endpoint better, by how much, and why (tables, charts, conclusions).
///
/// With no arguments: builds and starts both servers on free ports, checks their answers, runs a
/// warm-up and 5 alternating trials of 5 s per server at 20 connections, samples each server's
/// CPU and memory, and writes results/<UTC time>/ (summary.json, report.md, charts, raw oha JSON).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// The design card's load, `oha -n 200 -c 20`, once per server: a quick look, not a measurement.
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
    #[arg(long, value_delimiter = ',', default_value = "4", value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Vec<u32>,

    /// Matrix side n; a list sweeps it, e.g. 100,250,500,1000,2000.
    #[arg(long = "sizes", value_delimiter = ',', default_value = "500", value_parser = clap::value_parser!(u32).range(1..))]
    pub sizes: Vec<u32>,

    /// Where to write the results [default: results/<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The oha binary to use [default: $OHA, else oha on PATH, else installs oha 1.16.0 into target/tools].
    #[arg(long, value_name = "PATH")]
    pub oha: Option<PathBuf>,

    /// Measure an already running threads server (base URL or full /threading URL) instead of
    /// starting one; its CPU and memory cannot be sampled.
    #[arg(long, value_name = "URL")]
    pub threading_url: Option<String>,

    /// Measure an already running processes server instead of starting one.
    #[arg(long, value_name = "URL")]
    pub multiprocessing_url: Option<String>,

    /// Add another server to the comparison, as NAME=URL (the full endpoint URL, e.g.
    /// python-threads=http://127.0.0.1:9001/threading). Repeatable. Extra targets are sent the URL
    /// as given, so they take part in scenarios at the default n and workers only.
    #[arg(long = "target", value_name = "NAME=URL", value_parser = target_spec)]
    pub targets: Vec<TargetSpec>,

    /// Seconds before a single request counts as failed (oha -t).
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = seconds)]
    pub request_timeout: f64,
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
    })
}

impl Cli {
    /// Checks the flags together and turns them into a plan.
    pub fn plan(self, now_utc: &str) -> anyhow::Result<Plan> {
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
            concurrency: headline(&self.concurrency, 20),
            n: headline(&self.sizes, matrix_service::params::DEFAULT_N as u32),
            workers: headline(&self.workers, 4),
        };
        let mode = if self.quick {
            if sweep.is_some() || self.requests.is_some() {
                bail!(
                    "--quick runs exactly `oha -n 200 -c 20` once per server; drop the sweep and --requests, or drop --quick"
                );
            }
            Mode::Quick
        } else {
            Mode::Measured
        };
        let names = self.targets.iter().map(|t| t.name.as_str());
        for (i, name) in names.clone().enumerate() {
            if ["threading", "multiprocessing"].contains(&name) || names.clone().take(i).any(|n| n == name) {
                bail!("--target name {name:?} is taken; give each target its own name");
            }
        }
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
            out_dir,
            oha: self.oha,
            threading_url: self.threading_url,
            multiprocessing_url: self.multiprocessing_url,
            extra_targets: self.targets,
            request_timeout: Duration::from_secs_f64(self.request_timeout),
        })
    }
}

/// `default` if `values` has it, else the first value.
fn headline(values: &[u32], default: u32) -> u32 {
    if values.contains(&default) { default } else { values[0] }
}

fn dedup(values: &[u32]) -> Vec<u32> {
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
                concurrency: 20,
                n: 500,
                workers: 8
            }
        );
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
}
