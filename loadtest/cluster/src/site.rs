//! Where a cluster run's pieces live, emulated or real, behind one interface: the balancer
//! started over the first N hosts, oha run against it, and each host's CPU counters.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use super::balancer::Balancer;
use super::cgroup::Throttling;
use super::fleet::SERVER_PORT;
use super::haproxy::{Backend, BalancerConfig};
use super::names::Role;
use super::netns;
use super::topology::Topology;
use loadtest_model::cluster::Balance;
use loadtest_run::oha::OhaReport;
use loadtest_run::oha::runner::{self, Load, OhaArgs, OhaRun};

/// The balancer over N hosts listens on this port + N in its namespace, so balancers over
/// different host counts can run side by side.
const BALANCER_PORT_BASE: u16 = 9000;

/// oha's per-request limit: past the balancer's own limits with every retry, so that the client
/// never gives up first.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The hosts, the balancer's place and the client's.
pub struct Site<'a> {
    /// The emulated hosts, or `None` for `--host-url` servers.
    pub topology: Option<&'a Topology>,
    /// Every host's server address, host 1 first.
    pub hosts: Vec<SocketAddr>,
    pub oha: &'a Path,
    /// The results folder: configurations go to `haproxy/`, logs to `raw/`.
    pub out: &'a Path,
    pub cancel: &'a AtomicBool,
    /// Where the balancers listen: the balancer namespace's address, or 127.0.0.1.
    balancer_ip: std::net::IpAddr,
    /// The folder of the balancers' stats sockets (a Unix socket's path must be short).
    runtime_dir: PathBuf,
}

impl<'a> Site<'a> {
    /// The emulated hosts of `topology`.
    pub fn emulated(topology: &'a Topology, oha: &'a Path, out: &'a Path, cancel: &'a AtomicBool) -> Self {
        Self {
            hosts: topology
                .hosts
                .iter()
                .map(|h| SocketAddr::from((h.address, SERVER_PORT)))
                .collect(),
            topology: Some(topology),
            oha,
            out,
            cancel,
            balancer_ip: netns::BALANCER_ADDRESS.into(),
            runtime_dir: topology.runtime_dir.clone(),
        }
    }

    /// Servers at `hosts`, with the balancers on 127.0.0.1 here.
    pub fn real(
        hosts: Vec<SocketAddr>,
        runtime_dir: &Path,
        oha: &'a Path,
        out: &'a Path,
        cancel: &'a AtomicBool,
    ) -> Self {
        Self {
            topology: None,
            hosts,
            oha,
            out,
            cancel,
            balancer_ip: [127, 0, 0, 1].into(),
            runtime_dir: runtime_dir.to_path_buf(),
        }
    }

    /// Where the balancer over `hosts` hosts listens: a fixed port in its own namespace, a free
    /// one on 127.0.0.1.
    fn listen(&self, hosts: u32) -> anyhow::Result<SocketAddr> {
        if self.topology.is_some() {
            return Ok(SocketAddr::new(self.balancer_ip, BALANCER_PORT_BASE + hosts as u16));
        }
        TcpListener::bind((self.balancer_ip, 0))
            .and_then(|l| l.local_addr())
            .context("finding a free port for the balancer")
    }

    /// Starts HAProxy over the first `hosts` hosts; its configuration is saved as
    /// `haproxy/<name>.cfg` and its log as `raw/<name>.log`.
    pub fn balancer(&self, hosts: u32, retries: bool, balance: Balance, name: &str) -> anyhow::Result<Balancer> {
        let config = BalancerConfig {
            listen: self.listen(hosts)?,
            stats_socket: self.runtime_dir.join(format!("{name}.sock")),
            backends: self.hosts[..hosts as usize]
                .iter()
                .enumerate()
                .map(|(i, address)| Backend {
                    name: format!("h{}", i + 1),
                    address: *address,
                })
                .collect(),
            retries,
            balance,
            settings: super::haproxy::SETTINGS,
        };
        let cfg = self.out.join("haproxy").join(format!("{name}.cfg"));
        let log = self.out.join("raw").join(format!("{name}.log"));
        let ns = self.topology.map(|t| t.namespace(Role::Balancer));
        let place = self
            .topology
            .and_then(|t| t.balancer_group.as_ref())
            .zip(ns.as_deref())
            .map(|(group, ns)| (ns, group));
        Balancer::start(place, &config, &cfg, &log)
    }

    /// Runs oha against `balancer` for `load` over `concurrency` connections, closed-loop or at
    /// `rate` requests a second, asking `path_and_query` of every request; its JSON is saved as
    /// `raw/<save_as>.json` if given.
    pub fn load(
        &self,
        balancer: &Balancer,
        path_and_query: &str,
        (load, concurrency, rate): (Load, u32, Option<u32>),
        save_as: Option<&str>,
    ) -> anyhow::Result<(OhaRun, OhaReport)> {
        let args = OhaArgs {
            url: format!("http://{}{path_and_query}", balancer.listen()),
            load,
            concurrency,
            request_timeout: CLIENT_TIMEOUT,
            rate,
        };
        let launcher = self
            .topology
            .map(|t| netns::exec_in(&t.namespace(Role::Client)))
            .unwrap_or_default();
        let limit = match load {
            Load::Duration(d) => d + CLIENT_TIMEOUT + Duration::from_secs(10),
            Load::Requests(_) => Duration::from_secs(600),
        };
        let run = runner::run_via(&launcher, self.oha, &args, limit, self.cancel)?;
        if let Some(name) = save_as {
            let path = self.out.join("raw").join(format!("{name}.json"));
            std::fs::write(&path, &run.stdout).with_context(|| format!("writing {}", path.display()))?;
        }
        let report = OhaReport::parse(&run.stdout).with_context(|| {
            format!(
                "oha's output for `{}` (its stderr: {})",
                run.command.join(" "),
                run.stderr.trim()
            )
        })?;
        Ok((run, report))
    }

    /// Host `index`'s CPU time and throttling so far (emulated hosts only).
    pub fn host_counters(&self, index: u32) -> Option<(Duration, Throttling)> {
        let host = self.topology?.hosts.get(index as usize - 1)?;
        Some((host.group.usage().ok()?, host.group.throttling().ok()?))
    }

    /// The balancer's CPU time so far (emulated only).
    pub fn balancer_cpu(&self) -> Option<Duration> {
        self.topology?.balancer_group.as_ref()?.usage().ok()
    }
}
