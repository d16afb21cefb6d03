//! `loadtest cluster`'s flags.

// Doc comments here are `--help` text, read as plain text, not Markdown: `<pid>` is a
// placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use anyhow::bail;

use super::names::MAX_HOSTS;
use loadtest_model::catalogue::{Catalogue, LabServer};
use loadtest_model::cluster::fault::{ALL_FAULTS, Fault};

/// The distributed lab: the lab servers on several hosts behind HAProxy, measured as they scale
/// out (--hosts) and as a host crashes, hangs, is cut off or slowed (--faults), each fault with
/// the balancer's retries on and off.
///
/// Hosts are network namespaces this command creates on a bridge in 198.18.0.0/15, each with one
/// lab server and a CPU quota (a cgroup); HAProxy runs in a namespace of its own and oha in a
/// client namespace. It needs root, iproute2, haproxy and a cgroup cpu controller; everything it
/// creates is named ltc<pid>-... and removed at the end, also on Ctrl-C or an error
/// (--cleanup removes what a killed run left). With --host-url it measures servers already
/// running elsewhere instead, with HAProxy and oha run here: no root, namespaces or cgroups.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Host counts to measure, each for every server kind; the largest (at least 2) is where
    /// the faults are injected.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1,2,4", value_parser = clap::value_parser!(u32).range(1..=MAX_HOSTS as i64))]
    pub hosts: Vec<u32>,

    /// Faults to inject, each with the balancer's retries on and off: crash, hang, partition,
    /// slow, or none [default: crash,hang,partition,slow; none with --host-url].
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = fault_name)]
    pub faults: Option<Vec<Option<Fault>>>,

    /// The lab servers to run on the hosts.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub servers: Option<Vec<String>>,

    /// CPUs each emulated host may use (its cgroup quota).
    #[arg(long, value_name = "CPUS", default_value_t = 0.25, value_parser = host_cpus)]
    pub host_cpus: f64,

    /// A lab server already running on a real machine, as a base URL such as
    /// http://10.0.0.5:8001 (repeatable): measures scaling over these, with HAProxy and oha run
    /// here, and injects no faults. --servers then names the one kind they run.
    #[arg(long = "host-url", value_name = "URL", value_parser = host_url)]
    pub host_urls: Vec<String>,

    /// Seconds per measured scaling trial.
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = seconds)]
    pub duration: f64,

    /// Seconds per fault trial; the fault is injected at 30% of it and healed at 60%.
    #[arg(long, value_name = "SECS", default_value_t = 15.0, value_parser = seconds)]
    pub fault_duration: f64,

    /// Also run every fault trial open-loop at R requests a second: requests due at a fixed
    /// rate over enough connections that a stalled host cannot hold the client back (R x the
    /// balancer's server and connect timeouts + 20); due requests never sent count as lost.
    #[arg(long, value_name = "R", conflicts_with = "rate_fraction", value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub rate: Option<u32>,

    /// Also run every fault trial open-loop at F x what the remaining hosts carried: F x the
    /// server's closed-loop req/s at the faults' host count x (hosts - 1) / hosts.
    #[arg(long, value_name = "F", value_parser = rate_fraction)]
    pub rate_fraction: Option<f64>,

    /// Measured scaling trials per server kind and host count.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub trials: u32,

    /// Seconds of warm-up before each host count's trials, discarded.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = seconds)]
    pub warmup: f64,

    /// Connections oha keeps busy (oha -c).
    #[arg(long, default_value_t = loadtest_model::scenario::DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: u32,

    /// Matrix side n of every request (GET ...?n=N, the default add work).
    #[arg(long, default_value_t = loadtest_model::scenario::ScenarioKey::DEFAULT.n, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub n: u32,

    /// Where to write the results [default: results/cluster-<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The oha binary to use [default: $OHA, else oha on PATH, else installs oha into target/tools].
    #[arg(long, value_name = "PATH")]
    pub oha: Option<PathBuf>,

    /// Remove what killed `loadtest cluster` runs left behind (namespaces, links, cgroups,
    /// processes named ltc<pid>-... whose run is no longer alive), and nothing else.
    #[arg(long, exclusive = true)]
    pub cleanup: bool,
}

fn fault_name(raw: &str) -> Result<Option<Fault>, String> {
    if raw == "none" {
        return Ok(None);
    }
    ALL_FAULTS
        .into_iter()
        .find(|f| f.name() == raw)
        .map(Some)
        .ok_or_else(|| format!("{raw:?} is not a fault; the faults are crash, hang, partition, slow, or none"))
}

fn host_cpus(raw: &str) -> Result<f64, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    match raw.parse::<f64>() {
        Ok(v) if (0.01..=cpus).contains(&v) => Ok(v),
        _ => Err(format!(
            "must be a number of CPUs from 0.01 to {cpus} (this machine's), such as 0.25"
        )),
    }
}

fn rate_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if (0.05..=2.0).contains(&f) => Ok(f),
        _ => Err("must be a share of the remaining hosts' closed-loop req/s from 0.05 to 2, such as 0.8".into()),
    }
}

fn seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if (0.1..=600.0).contains(&secs) => Ok(secs),
        _ => Err("must be a number of seconds from 0.1 to 600, such as 5".into()),
    }
}

fn host_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("http://")
        .ok_or_else(|| format!("{raw:?} must start with http:// (HAProxy balances plain HTTP here)"))?;
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('?') {
        return Err(format!("{raw:?} must be a base URL, http://HOST:PORT, with no path"));
    }
    match authority.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(authority.to_owned()),
        Err(_) => Err(format!(
            "{raw:?} must name an IP address and port, such as http://10.0.0.5:8001 (HAProxy resolves no names here)"
        )),
    }
}

/// Where the hosts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum HostSource {
    /// Network namespaces made here, with this CPU quota each.
    Emulated { host_cpus: f64 },
    /// Servers already running at these addresses.
    Urls(Vec<std::net::SocketAddr>),
}

/// The open-loop fault trials' offered rate, as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenRate {
    /// `--rate R`: R requests a second.
    Fixed(u32),
    /// `--rate-fraction F`: F x the remaining hosts' closed-loop req/s.
    Fraction(f64),
}

/// The flags checked together.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub source: HostSource,
    pub hosts: Vec<u32>,
    pub faults: Vec<Fault>,
    pub servers: Vec<LabServer>,
    pub duration: f64,
    pub fault_duration: f64,
    pub trials: u32,
    pub warmup: f64,
    pub concurrency: u32,
    pub n: u32,
    pub out: PathBuf,
    /// Open-loop fault trials beside the closed-loop ones, at this rate.
    pub open_rate: Option<OpenRate>,
}

impl ClusterPlan {
    /// The host count the faults are injected at.
    pub fn fault_hosts(&self) -> u32 {
        self.hosts.iter().copied().max().unwrap_or(1)
    }
}

impl ClusterArgs {
    /// `--rate` or `--rate-fraction` (clap refuses both), for a run with `faults` to run.
    fn open_rate(&self, faults: &[Fault]) -> anyhow::Result<Option<OpenRate>> {
        let rate = match (self.rate, self.rate_fraction) {
            (Some(rate), _) => Some(OpenRate::Fixed(rate)),
            (None, Some(fraction)) => Some(OpenRate::Fraction(fraction)),
            (None, None) => None,
        };
        if rate.is_some() && faults.is_empty() {
            bail!("--rate and --rate-fraction set the open-loop fault trials' load, and this run has no fault trials");
        }
        Ok(rate)
    }

    pub fn plan(&self, catalogue: &Catalogue, now_utc: &str) -> anyhow::Result<ClusterPlan> {
        let mut hosts = self.hosts.clone();
        hosts.sort_unstable();
        hosts.dedup();
        let listed: Vec<Option<Fault>> = match &self.faults {
            Some(listed) => listed.clone(),
            None if self.host_urls.is_empty() => ALL_FAULTS.map(Some).to_vec(),
            None => vec![None],
        };
        if listed.contains(&None) && listed.len() > 1 {
            bail!("--faults none cannot be listed with faults; give none alone, or the faults");
        }
        let mut faults: Vec<Fault> = Vec::new();
        for fault in listed.iter().flatten() {
            if !faults.contains(fault) {
                faults.push(*fault);
            }
        }
        let servers = match &self.servers {
            Some(names) => catalogue.select(names).map_err(|e| anyhow::anyhow!("--servers: {e}"))?,
            None => catalogue.iter().cloned().collect(),
        };
        let source = if self.host_urls.is_empty() {
            HostSource::Emulated {
                host_cpus: self.host_cpus,
            }
        } else {
            let addresses: Vec<std::net::SocketAddr> = self
                .host_urls
                .iter()
                .map(|a| a.parse().expect("checked by the flag's parser"))
                .collect();
            if servers.len() != 1 {
                bail!(
                    "with --host-url, --servers names the one kind the hosts run (one of {})",
                    catalogue.names().join(", ")
                );
            }
            if !faults.is_empty() {
                bail!("--host-url injects no faults (the harness does not own those machines); drop --faults");
            }
            let most = *hosts.last().expect("--hosts has a value");
            if most as usize > addresses.len() {
                bail!(
                    "--hosts goes up to {most}, but {} --host-url {} given; give as many URLs as the largest host count",
                    addresses.len(),
                    if addresses.len() == 1 { "is" } else { "are" }
                );
            }
            HostSource::Urls(addresses)
        };
        let open_rate = self.open_rate(&faults)?;
        if !faults.is_empty() && hosts.last().is_some_and(|&h| h < 2) {
            bail!(
                "faults need at least 2 hosts (one to lose, one to carry on); add 2 to --hosts or give --faults none"
            );
        }
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(format!("cluster-{now_utc}")));
        if out.join("summary.json").exists() {
            bail!("{} already holds results; choose another --out", out.display());
        }
        Ok(ClusterPlan {
            source,
            hosts,
            faults,
            servers,
            duration: self.duration,
            fault_duration: self.fault_duration,
            trials: self.trials,
            warmup: self.warmup,
            concurrency: self.concurrency,
            n: self.n,
            out,
            open_rate,
        })
    }
}
