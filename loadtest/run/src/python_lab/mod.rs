//! `loadtest --python`: the Python lab beside the Rust servers, in one command.
//!
//! Two sets of apps, kept in the repository's `python_lab/` folder. The lab handout's own, Flask
//! and numpy run by gunicorn exactly as the handout says, sent their URL as given: the threads
//! app (`python-threads`), the processes app with its one bug fixed (`python-processes-fixed`),
//! and the processes app as written, which deadlocks and is only probed ([`probe`]). And three
//! that serve the lab's API (`n`, `workers`, `work`, `wait_ms`, `seed`; a checksum equal to the
//! Rust servers'), one per model: `py-threads` (a thread per band, gunicorn), `py-processes` (a
//! pool of processes started once, gunicorn) and `py-async` (coroutines on FastAPI and uvicorn).
//!
//! The harness makes a virtual environment with the pinned packages under `target/python-lab/`
//! ([`venv`]), starts each app ([`app_server`]) and gives it to the run as a target with its
//! process tree sampled like any server. An app that does not start is reported and left out;
//! the run goes on. Everything it starts runs in its own process group and is ended with it.

pub mod app_server;
pub mod probe;
pub mod venv;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::plan::{Api, TargetSpec};
use app_server::{AppServer, Launcher};
use loadtest_model::python::SeedProbe;
use venv::Venv;

/// A Python server that is measured: its name in the results, its app module, how it is
/// served, its endpoint, and what it understands of the lab's protocol.
struct PythonServer {
    name: &'static str,
    app: &'static str,
    launcher: Launcher,
    path: &'static str,
    api: Api,
}

const MEASURED: [PythonServer; 5] = [
    PythonServer {
        name: "python-threads",
        app: "app_threading",
        launcher: Launcher::Gunicorn(&["-w", "1", "--threads", "4"]),
        path: "/threading",
        api: Api::AsGiven,
    },
    PythonServer {
        name: "python-processes-fixed",
        app: "app_multiprocessing_fixed",
        launcher: Launcher::Gunicorn(&["-w", "1"]),
        path: "/multiprocessing",
        api: Api::AsGiven,
    },
    PythonServer {
        name: "py-threads",
        app: "py_threads",
        launcher: Launcher::Gunicorn(&["-w", "1", "--threads", "4"]),
        path: "/threading",
        api: Api::LabQuery,
    },
    PythonServer {
        name: "py-processes",
        app: "py_processes",
        launcher: Launcher::Gunicorn(&["-w", "1"]),
        path: "/multiprocessing",
        api: Api::LabQuery,
    },
    PythonServer {
        name: "py-async",
        app: "py_async",
        launcher: Launcher::Uvicorn,
        path: "/async",
        api: Api::LabQuery,
    },
];

/// The Python lab's running servers, the seed app's probe, and the apps that did not start.
pub struct PythonLab {
    servers: Vec<(&'static PythonServer, AppServer)>,
    pub probe: SeedProbe,
    /// Each app that did not start, and why, in a sentence for the report.
    pub not_started: Vec<String>,
}

impl PythonLab {
    /// Makes the environment, probes the handout's processes app, and starts the measured apps;
    /// their logs go to `logs_dir`. An app that does not start is left out and said so.
    /// With `pin` (`taskset --cpu-list LIST`), each measured app runs on those CPUs.
    pub fn start(logs_dir: &Path, pin: &[String], say: &dyn Fn(&str)) -> anyhow::Result<Self> {
        let root = crate::servers::workspace_root()
            .context("loadtest --python runs the apps of the repository's python_lab/ folder: run it from a clone")?;
        let app_dir = root.join("python_lab");
        let venv = Venv::ensure(&venv_dir(&root), &app_dir.join("requirements.txt"), say)?;
        say("probing the handout's own processes app (python-processes-seed): one request, up to 45 s ...");
        let probe = probe::probe_seed(&venv, &app_dir, &logs_dir.join("python-processes-seed.log"))?;
        say(&probe.verdict);
        let (servers, not_started) = start_each(&MEASURED, &venv, &app_dir, pin, logs_dir, say);
        Ok(Self {
            servers,
            probe,
            not_started,
        })
    }

    /// The measured apps as the run's other targets, each with its process tree sampled.
    pub fn targets(&self) -> Vec<TargetSpec> {
        (self.servers.iter())
            .map(|(server, app)| TargetSpec {
                name: server.name.to_owned(),
                url: format!("{}{}", app.base_url, server.path),
                pid: Some(app.pid()),
                api: server.api,
            })
            .collect()
    }

    /// Stops every app and what it started; a warning for any that had to be killed or left
    /// something.
    pub fn stop(mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (server, app) in &mut self.servers {
            let killed = app.stop();
            if !app.is_gone() {
                warnings.push(format!("{}: processes of its server survived SIGKILL.", server.name));
            } else if killed > 0 {
                warnings.push(format!(
                    "{}: {killed} process(es) of its server ignored SIGTERM and were killed.",
                    server.name
                ));
            }
        }
        warnings
    }
}

/// Starts each of `servers`; those that do not start are left out, each with a sentence saying
/// why.
fn start_each(
    servers: &'static [PythonServer],
    venv: &Venv,
    app_dir: &Path,
    pin: &[String],
    logs_dir: &Path,
    say: &dyn Fn(&str),
) -> (Vec<(&'static PythonServer, AppServer)>, Vec<String>) {
    let (mut started, mut not_started) = (Vec::new(), Vec::new());
    for server in servers {
        let log = logs_dir.join(format!("{}.log", server.name));
        let command = server.launcher.describe(server.app);
        match AppServer::start(venv, app_dir, server.launcher, pin, server.app, &log) {
            Ok(app) => {
                say(&format!(
                    "{}: {}{} ({command}, pid {})",
                    server.name,
                    app.base_url,
                    server.path,
                    app.pid()
                ));
                started.push((server, app));
            }
            Err(error) => {
                let why = format!(
                    "{} did not start ({command}): {error:#}; the run goes on without it.",
                    server.name
                );
                say(&why);
                not_started.push(why);
            }
        }
    }
    (started, not_started)
}

/// `target/python-lab/venv` in the workspace (or `$CARGO_TARGET_DIR/python-lab/venv`).
pub fn venv_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("python-lab").join("venv")
}
