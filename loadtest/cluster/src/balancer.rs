//! The running balancer: HAProxy started with a rendered configuration, its counters read from
//! its stats socket while it runs, and its request log read back once it has stopped.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::cgroup::CpuGroup;
use super::haproxy::BalancerConfig;
use super::stats::{ServerStats, parse_show_stat};
use super::topology::command_in;

/// How long HAProxy may take to answer on its stats socket and to see every host up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running HAProxy. Dropping it stops it.
#[derive(Debug)]
pub struct Balancer {
    child: Child,
    socket: PathBuf,
    listen: std::net::SocketAddr,
    log_path: PathBuf,
    hosts: usize,
}

impl Balancer {
    /// Writes `config` to `cfg_path` and starts HAProxy on it,
    /// in namespace `ns` and CPU group `group` if `place` is given, logging every request to
    /// `log_path`; returns once its checks see every host up.
    pub fn start(
        place: Option<(&str, &CpuGroup)>,
        config: &BalancerConfig,
        cfg_path: &Path,
        log_path: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::write(cfg_path, config.render()).with_context(|| format!("writing {}", cfg_path.display()))?;
        let log = File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let args = [
            "-db".to_owned(),
            "-f".to_owned(),
            cfg_path.to_string_lossy().into_owned(),
        ];
        let mut command = match place {
            Some((ns, group)) => command_in(ns, Some(group), Path::new("haproxy"), &args),
            None => {
                let mut command = Command::new("haproxy");
                command.args(&args);
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::piped())
            .spawn()
            .context("starting haproxy (apt-get install haproxy)")?;
        let mut balancer = Self {
            child,
            socket: config.stats_socket.clone(),
            listen: config.listen,
            log_path: log_path.to_path_buf(),
            hosts: config.backends.len(),
        };
        balancer.wait_ready()?;
        Ok(balancer)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                bail!("haproxy exited at start-up ({status}): {}", stderr.trim());
            }
            if let Ok(stats) = self.show_stat() {
                let up = stats
                    .iter()
                    .filter(|s| s.is_host() && s.status == "UP" && s.check_status.as_deref() == Some("L7OK"))
                    .count();
                if up == self.hosts {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "haproxy's checks did not see all {} hosts answer /healthz within {READY_TIMEOUT:?}",
                    self.hosts
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens for the clients.
    pub fn listen(&self) -> std::net::SocketAddr {
        self.listen
    }

    /// The counters now.
    pub fn show_stat(&self) -> anyhow::Result<Vec<ServerStats>> {
        let mut stream =
            UnixStream::connect(&self.socket).with_context(|| format!("connecting to {}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"show stat\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(parse_show_stat(&answer)?)
    }

    /// Stops HAProxy and returns its request log.
    pub fn stop(mut self) -> anyhow::Result<String> {
        self.terminate();
        std::fs::read_to_string(&self.log_path).with_context(|| format!("reading {}", self.log_path.display()))
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SIGTERM stops HAProxy at once; every request is over by now.
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.terminate();
    }
}
