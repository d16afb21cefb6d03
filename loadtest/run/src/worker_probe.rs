//! One request at a time, at 1 worker and at 2 alternately, with no other load: whether a
//! model's second worker speeds up one request's computing. The GIL, if anything, shows here:
//! Python's threads against its processes, on numpy's product and on a pure-Python one, and
//! Rust's threads beside them.

use anyhow::{Context, ensure};
use loadtest_model::python::WorkerProbe;
use loadtest_model::summary::ScenarioKey;
use matrix_service::WorkKind;

use crate::http::Client;
use crate::servers::Target;

/// Requests at each worker count, after one of each not counted.
pub const PAIRS: u32 = 10;

/// The product the probes ask for with numpy (and of a Rust server): the lab's headline size.
const NUMPY_N: u32 = 500;
/// The pure-Python product's size: about 40 ms a request on one worker here, long enough to
/// time, short enough for 22 requests a server.
const PYTHON_N: u32 = 64;

/// What each server is probed with: its name and the `impl`s it is asked for (`rust`: the Rust
/// server's own kernel, no `impl` sent).
const PROBED: [(&str, &[&str]); 3] = [
    ("threading", &["rust"]),
    ("py-threads", &["numpy", "python"]),
    ("py-processes", &["numpy", "python"]),
];

/// Probes every target the run has of those named in `PROBED`.
pub fn probe_all(targets: &[Target], client: &Client) -> anyhow::Result<Vec<WorkerProbe>> {
    let mut probes = Vec::new();
    for (name, impls) in PROBED {
        let Some(target) = targets.iter().find(|t| t.name == name && t.api.takes_query()) else {
            continue;
        };
        for implementation in impls {
            probes.push(probe(target, implementation, client)?);
        }
    }
    Ok(probes)
}

/// `target`'s product, one request at a time, 1 worker then 2, [`PAIRS`] times.
fn probe(target: &Target, implementation: &str, client: &Client) -> anyhow::Result<WorkerProbe> {
    let n = if implementation == "python" { PYTHON_N } else { NUMPY_N };
    let url = |workers: u32| {
        let scenario = ScenarioKey {
            work: WorkKind::Matmul,
            n,
            workers,
            ..ScenarioKey::DEFAULT
        };
        let control = if implementation == "python" { "&impl=python" } else { "" };
        format!("{}{control}", target.url_for(scenario))
    };
    let mut probe = WorkerProbe {
        server: target.name.clone(),
        work: WorkKind::Matmul,
        n,
        implementation: implementation.to_owned(),
        one_worker_ms: Vec::new(),
        two_workers_ms: Vec::new(),
    };
    for round in 0..=PAIRS {
        for workers in [1, 2] {
            let ms = execution_ms(client, &url(workers))
                .with_context(|| format!("probing {} at {workers} worker(s)", target.name))?;
            match (round, workers) {
                (0, _) => {}
                (_, 1) => probe.one_worker_ms.push(ms),
                _ => probe.two_workers_ms.push(ms),
            }
        }
    }
    Ok(probe)
}

/// The answer's parallel part, in ms.
fn execution_ms(client: &Client, url: &str) -> anyhow::Result<f64> {
    let (status, answer) = client.get_json(url)?;
    ensure!(status == 200, "{url} answered {status}: {answer}");
    let secs = answer["execution_time_sec"]
        .as_f64()
        .with_context(|| format!("{url} answered without execution_time_sec: {answer}"))?;
    Ok(secs * 1000.0)
}
