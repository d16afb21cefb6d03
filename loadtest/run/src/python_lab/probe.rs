//! One request to the handout's own processes app, and what it did: the handout joins its
//! children before reading their queue, so no measurement of it is possible, only a report.

use std::path::Path;
use std::time::{Duration, Instant};

use loadtest_model::python::{SeedProbe, verdict};

use super::app_server::{AppServer, Launcher};
use super::venv::Venv;
use crate::http::Client;

/// Longer than gunicorn's own worker timeout (30 s), so its verdict is seen.
const PATIENCE: Duration = Duration::from_secs(45);
/// How long the orphans of a killed worker get to go away on their own before they are counted.
const SETTLE: Duration = Duration::from_secs(2);

/// Starts the handout's processes app, sends it one request, and stops it and everything it
/// left behind.
pub fn probe_seed(venv: &Venv, app_dir: &Path, log: &Path) -> anyhow::Result<SeedProbe> {
    let launcher = Launcher::Gunicorn(&["-w", "1"]);
    let mut gunicorn = AppServer::start(venv, app_dir, launcher, &[], "app_multiprocessing", log)?;
    let client = Client::new(PATIENCE);
    let asked = Instant::now();
    let answer = client.get_text(&format!("{}/multiprocessing", gunicorn.base_url));
    let seconds = asked.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let orphans = gunicorn.orphans().len() as u32;
    gunicorn.stop();
    let left_after_stop = u32::from(!gunicorn.is_gone());
    let worker_timeout = std::fs::read_to_string(log).is_ok_and(|text| text.contains("WORKER TIMEOUT"));
    let (status, error) = match answer {
        Ok((status, _)) => (Some(status), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let mut probe = SeedProbe {
        command: ["gunicorn", "-w", "1", "app_multiprocessing:app"]
            .map(String::from)
            .to_vec(),
        status,
        error,
        seconds,
        worker_timeout,
        orphans,
        left_after_stop,
        verdict: String::new(),
    };
    probe.verdict = verdict(&probe);
    Ok(probe)
}
