//! One Python app server, gunicorn or uvicorn, started as the lab handout (or seed 000) starts
//! it, in a process group of its own.
//!
//! The group is what makes "stop everything it started" possible: the handout's processes app
//! leaves children behind when gunicorn kills its worker, and those orphans are adopted by
//! init, out of gunicorn's process tree, but they stay in its group. Stopping sends SIGTERM to
//! the group, then SIGKILL to whatever is left in it.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::venv::Venv;
use crate::http::Client;

/// How long the server may take to import the app (numpy included) and answer `/`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the group has to end after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How a Python app is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// `gunicorn <args> -b 127.0.0.1:<port> <app>:app`, as the handout runs its apps.
    Gunicorn(&'static [&'static str]),
    /// `uvicorn --host 127.0.0.1 --port <port> <app>:app`: one process, one asyncio event loop,
    /// as seed 000 runs FastAPI.
    Uvicorn,
}

impl Launcher {
    /// The command line's program and arguments for `app` on `port`.
    fn command(self, venv: &Venv, app: &str, port: u16) -> (std::path::PathBuf, Vec<String>) {
        let app = format!("{app}:app");
        match self {
            Self::Gunicorn(args) => {
                let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                all.extend(["-b".to_owned(), format!("127.0.0.1:{port}"), app]);
                (venv.bin("gunicorn"), all)
            }
            Self::Uvicorn => {
                let all = [
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--no-access-log",
                    &app,
                ];
                (venv.bin("uvicorn"), all.map(str::to_owned).to_vec())
            }
        }
    }

    /// How a person would type it, for the terminal and the report.
    pub fn describe(self, app: &str) -> String {
        match self {
            Self::Gunicorn(args) => format!("gunicorn {} {app}:app", args.join(" ")),
            Self::Uvicorn => format!("uvicorn {app}:app"),
        }
    }
}

/// A running Python app server.
pub struct AppServer {
    /// The master (gunicorn's) or the one process (uvicorn's): the group's leader, so its pid
    /// is the group's id.
    master: Child,
    pub base_url: String,
}

impl AppServer {
    /// `launcher`'s command for `app` on a free port of 127.0.0.1, in `app_dir`, its output in
    /// `log`, through `pin` (`taskset --cpu-list LIST`) unless it is empty; returns once it
    /// answers `GET /`.
    pub fn start(
        venv: &Venv,
        app_dir: &Path,
        launcher: Launcher,
        pin: &[String],
        app: &str,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("sharing the log file")?;
        let (program, args) = launcher.command(venv, app, port);
        let master = crate::pinning::command(pin, &program)
            .current_dir(app_dir)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = Self {
            master,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(error) = server.wait_ready(log) {
            server.stop();
            return Err(error);
        }
        Ok(server)
    }

    /// The master's pid: the root of the tree to sample, and the group's id.
    pub fn pid(&self) -> i32 {
        self.master.id() as i32
    }

    fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let client = Client::new(Duration::from_secs(5));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.master.try_wait().context("checking on the app server")? {
                bail!("it exited at start ({status}); its log is {}", log.display());
            }
            if matches!(client.get_text(&format!("{}/", self.base_url)), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "it did not answer GET / within {} s; its log is {}",
                    STARTUP_TIMEOUT.as_secs(),
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes of its group whose parent is outside it: what its workers left behind when
    /// they died (adopted by init). A live worker's own children are not orphans.
    pub fn orphans(&self) -> Vec<i32> {
        orphans_of(&group_members(self.pid()), self.pid())
    }

    /// Ends the whole group: SIGTERM, then SIGKILL for what is still there. Returns how many
    /// processes needed the SIGKILL.
    pub fn stop(&mut self) -> usize {
        let group = Pid::from_raw(self.pid());
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && !group_members(self.pid()).is_empty() {
            // Reaps the master as soon as it exits, so it does not linger as a zombie member.
            let _ = self.master.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        let stubborn = group_members(self.pid()).len();
        if stubborn > 0 {
            let _ = killpg(group, Signal::SIGKILL);
            // SIGKILL is delivered at once but a process takes a moment to be gone.
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && !self.is_gone() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.master.wait();
        stubborn
    }

    /// Whether anything of its group is still alive.
    pub fn is_gone(&self) -> bool {
        group_members(self.pid()).is_empty()
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        if !self.is_gone() {
            self.stop();
        }
    }
}

/// Of a group's `members` (pid, parent pid), those other than `master` whose parent is not a
/// member.
fn orphans_of(members: &[(i32, i32)], master: i32) -> Vec<i32> {
    let in_group = |pid: i32| members.iter().any(|&(member, _)| member == pid);
    (members.iter())
        .filter(|&&(pid, parent)| pid != master && !in_group(parent))
        .map(|&(pid, _)| pid)
        .collect()
}

/// The live processes (pid, parent pid) in process group `group`; zombies are not counted.
fn group_members(group: i32) -> Vec<(i32, i32)> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.flatten()
        .filter_map(|process| process.stat().ok())
        .filter(|stat| stat.pgrp == group && stat.state != 'Z')
        .map(|stat| (stat.pid, stat.ppid))
        .collect()
}

/// A port free on 127.0.0.1 now (the kernel's choice; gunicorn binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}

#[cfg(test)]
mod tests {
    use super::orphans_of;

    #[test]
    fn orphans_are_members_whose_parent_left_the_group() {
        // Master 10 (child of the harness, 5), its worker 11 with a child 12 at work, and 13
        // and 14, children of a killed worker, now init's.
        let members = [(10, 5), (11, 10), (12, 11), (13, 1), (14, 1)];
        assert_eq!(orphans_of(&members, 10), [13, 14]);
        assert!(orphans_of(&members[..3], 10).is_empty());
    }
}
