//! One lab server kind running on every emulated host, and the faults done to a host.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use matrix_service::launch::LaunchedServer;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::netns;
use super::topology::{Topology, command_in};
use loadtest_model::catalogue::LabServer;
use loadtest_model::cluster::fault::{Fault, SLOW_SHARE};

/// The port every host's server listens on (each host has its own network stack).
pub const SERVER_PORT: u16 = 8000;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The servers of one kind, one a host.
pub struct Fleet<'t> {
    topology: &'t Topology,
    kind: &'t LabServer,
    binary: PathBuf,
    logs_dir: PathBuf,
    host_cpus: f64,
    /// By host, from host 1; `None` while a host is crashed.
    servers: Vec<Option<LaunchedServer>>,
}

impl<'t> Fleet<'t> {
    /// Starts `kind` on every host of `topology`, from `bin_dir`, logging to `logs_dir`.
    pub fn start(
        topology: &'t Topology,
        kind: &'t LabServer,
        bin_dir: &Path,
        logs_dir: &Path,
        host_cpus: f64,
    ) -> anyhow::Result<Self> {
        let mut fleet = Self {
            topology,
            kind,
            binary: bin_dir.join(&kind.binary),
            logs_dir: logs_dir.to_path_buf(),
            host_cpus,
            servers: Vec::new(),
        };
        for index in 1..=topology.hosts.len() as u32 {
            let server = fleet.launch(index)?;
            fleet.servers.push(Some(server));
        }
        Ok(fleet)
    }

    pub fn kind(&self) -> &'t LabServer {
        self.kind
    }

    fn launch(&self, index: u32) -> anyhow::Result<LaunchedServer> {
        let host = &self.topology.hosts[index as usize - 1];
        let log_path = self.logs_dir.join(format!("{}-h{index}.log", self.kind.name));
        // Appended to: a crashed host's server is started again into the same log.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut args: Vec<String> = ["--host", "0.0.0.0", "--port"].map(String::from).to_vec();
        args.push(SERVER_PORT.to_string());
        args.extend(self.kind.args.iter().map(|a| a.to_string()));
        let mut command = command_in(&host.name, Some(&host.group), &self.binary, &args);
        command
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stderr(log);
        LaunchedServer::start(command, STARTUP_TIMEOUT).with_context(|| {
            format!(
                "starting {} on host {index} (its log: {})",
                self.kind.name,
                log_path.display()
            )
        })
    }

    /// Does `fault` to host `index`.
    pub fn inject(&mut self, fault: Fault, index: u32) -> anyhow::Result<()> {
        let host = &self.topology.hosts[index as usize - 1];
        match fault {
            Fault::Crash => {
                signal_all(&host.group.pids(), Signal::SIGKILL);
                if let Some(mut server) = self.servers[index as usize - 1].take() {
                    // Reaped now, so that no zombie of it lingers.
                    while server.exit_status().is_none() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Ok(())
            }
            Fault::Hang => {
                signal_all(&host.group.pids(), Signal::SIGSTOP);
                Ok(())
            }
            Fault::Partition => netns::set_link(&host.name, false),
            Fault::Slow => host.group.set_quota(Some(self.host_cpus * SLOW_SHARE)).map(drop),
        }
    }

    /// Undoes `fault` on host `index`.
    pub fn heal(&mut self, fault: Fault, index: u32) -> anyhow::Result<()> {
        let host = &self.topology.hosts[index as usize - 1];
        match fault {
            Fault::Crash => {
                let server = self.launch(index)?;
                self.servers[index as usize - 1] = Some(server);
                Ok(())
            }
            Fault::Hang => {
                signal_all(&host.group.pids(), Signal::SIGCONT);
                Ok(())
            }
            Fault::Partition => netns::set_link(&host.name, true),
            Fault::Slow => host.group.set_quota(Some(self.host_cpus)).map(drop),
        }
    }

    /// Fails if a server that should be running has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (i, server) in self.servers.iter_mut().enumerate() {
            if let Some(status) = server.as_mut().and_then(LaunchedServer::exit_status) {
                anyhow::bail!(
                    "{} on host {} exited ({status}); see its log in {}",
                    self.kind.name,
                    i + 1,
                    self.logs_dir.display()
                );
            }
        }
        Ok(())
    }

    /// Stops every server.
    pub fn stop(mut self) {
        for server in self.servers.drain(..).flatten() {
            let _ = server.stop(STOP_GRACE);
        }
    }
}

fn signal_all(pids: &[i32], signal: Signal) {
    for &pid in pids {
        // A process that exited since the list was read needs no signal.
        let _ = kill(Pid::from_raw(pid), signal);
    }
}
