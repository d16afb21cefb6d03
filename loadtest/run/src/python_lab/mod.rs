//! `loadtest --python`: the original Python lab beside the Rust servers, in one command.
//!
//! The apps are the lab handout's, kept in the repository's `python_lab/` folder: Flask and
//! numpy, run by gunicorn exactly as the handout says. The harness makes a virtual environment
//! with the pinned packages under `target/python-lab/` ([`venv`]), probes the handout's own
//! processes app once ([`probe`]: it deadlocks, so it can only be reported on), starts the
//! threads app and the fixed processes app ([`gunicorn`]), and gives them to the run as
//! `--target`s with their process trees sampled like any server. Everything it starts runs in
//! its own process group and is ended with it.

pub mod gunicorn;
pub mod probe;
pub mod venv;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::plan::TargetSpec;
use gunicorn::Gunicorn;
use loadtest_model::python::SeedProbe;
use venv::Venv;

/// A Python server that is measured: its name in the results, its app module, gunicorn's
/// arguments as the handout gives them, and its endpoint.
struct PythonServer {
    name: &'static str,
    app: &'static str,
    args: &'static [&'static str],
    path: &'static str,
}

const MEASURED: [PythonServer; 2] = [
    PythonServer {
        name: "python-threads",
        app: "app_threading",
        args: &["-w", "1", "--threads", "4"],
        path: "/threading",
    },
    PythonServer {
        name: "python-processes-fixed",
        app: "app_multiprocessing_fixed",
        args: &["-w", "1"],
        path: "/multiprocessing",
    },
];

/// The Python lab's running servers and the seed app's probe.
pub struct PythonLab {
    servers: Vec<(&'static PythonServer, Gunicorn)>,
    pub probe: SeedProbe,
}

impl PythonLab {
    /// Makes the environment, probes the handout's processes app, and starts the two measured
    /// apps; their logs go to `logs_dir`.
    pub fn start(logs_dir: &Path, say: &dyn Fn(&str)) -> anyhow::Result<Self> {
        let root = crate::servers::workspace_root()
            .context("loadtest --python runs the apps of the repository's python_lab/ folder: run it from a clone")?;
        let app_dir = root.join("python_lab");
        let venv = Venv::ensure(&venv_dir(&root), &app_dir.join("requirements.txt"), say)?;
        say("probing the handout's own processes app (python-processes-seed): one request, up to 45 s ...");
        let probe = probe::probe_seed(&venv, &app_dir, &logs_dir.join("python-processes-seed.log"))?;
        say(&probe.verdict);
        let mut servers = Vec::new();
        for server in &MEASURED {
            let log = logs_dir.join(format!("{}.log", server.name));
            let gunicorn = Gunicorn::start(&venv, &app_dir, server.app, server.args, &log)
                .with_context(|| format!("starting {} (gunicorn {})", server.name, server.args.join(" ")))?;
            say(&format!(
                "{}: {}{} (gunicorn {} {}:app, pid {})",
                server.name,
                gunicorn.base_url,
                server.path,
                server.args.join(" "),
                server.app,
                gunicorn.pid()
            ));
            servers.push((server, gunicorn));
        }
        Ok(Self { servers, probe })
    }

    /// The measured apps as the run's other targets, each with its gunicorn master's tree
    /// sampled.
    pub fn targets(&self) -> Vec<TargetSpec> {
        (self.servers.iter())
            .map(|(server, gunicorn)| TargetSpec {
                name: server.name.to_owned(),
                url: format!("{}{}", gunicorn.base_url, server.path),
                pid: Some(gunicorn.pid()),
            })
            .collect()
    }

    /// Stops every gunicorn and what it started; a warning for any that had to be killed or
    /// left something.
    pub fn stop(mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (server, gunicorn) in &mut self.servers {
            let killed = gunicorn.stop();
            if !gunicorn.is_gone() {
                warnings.push(format!("{}: processes of its gunicorn survived SIGKILL.", server.name));
            } else if killed > 0 {
                warnings.push(format!(
                    "{}: {killed} process(es) of its gunicorn ignored SIGTERM and were killed.",
                    server.name
                ));
            }
        }
        warnings
    }
}

/// `target/python-lab/venv` in the workspace (or `$CARGO_TARGET_DIR/python-lab/venv`).
fn venv_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("python-lab").join("venv")
}
