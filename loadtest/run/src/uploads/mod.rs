//! `loadtest uploads`: hostile uploads against the lab servers, and what they cost the server.
//!
//! Many clients post large bodies at once and hold them back (the last byte, or every byte), as
//! a hostile or merely slow client would. For each lab server, started afresh, it records how
//! every upload ended (the answer's status, or a reset, a close or a hang), the server's peak
//! memory (PSS of its whole process tree, sampled every 100 ms), how fast `/healthz` answered
//! throughout, and whether a plain upload is accepted afterwards. What the servers promise here
//! is in docs/api.md ("Request memory"); the bounded CI test is `loadtest/tests/uploads.rs`.

pub mod body;
pub mod client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadtest_model::catalogue::Catalogue;
use loadtest_model::uploads::{HealthFigures, Outcome, Pace, UploadsResult, UploadsRun};

use crate::sampler::Sampler;
use crate::servers;
use client::{UploadPlan, probe_health, run_uploads};

/// How often `/healthz` is asked, and how long one probe may take before it counts as failed.
const HEALTH_EVERY: Duration = Duration::from_millis(50);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the server's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Hostile uploads: many clients post large bodies at once and hold them back; records every
/// answer, the server's peak memory and /healthz's latency, for each lab server in turn.
#[derive(Debug, clap::Args)]
pub struct UploadsArgs {
    /// The lab servers to send the uploads to, one after another, each started afresh (every
    /// one by default).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub servers: Option<Vec<String>>,

    /// Clients uploading at once; a list runs each count in turn, such as 40,400.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "40", value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub clients: Vec<u32>,

    /// Bytes of each body: two n x n matrices of JSON integers, filled out to this size.
    #[arg(long, value_name = "BYTES", default_value_t = 60_000_000)]
    pub body_bytes: usize,

    /// The matrices' side n (at most the servers' --max-n).
    #[arg(long, default_value_t = 2000)]
    pub n: usize,

    /// Seconds each client holds back its body's last byte.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub hold: f64,

    /// Trickle each body instead, one byte every SECS (the servers answer 408 at --body-timeout).
    #[arg(long, value_name = "SECS")]
    pub trickle: Option<f64>,

    /// An argument for the servers this command starts, such as --server-arg=--body-timeout=5.
    /// Repeatable.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,

    /// Send the uploads to a server already running (its base URL, such as
    /// http://127.0.0.1:8001) instead of starting the lab servers; --servers then names its kind.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// With --url: the root of that server's process tree, to sample its memory.
    #[arg(long, requires = "url")]
    pub pid: Option<i32>,

    /// Seconds a client waits for its whole answer before it counts as a hang.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub give_up_after: f64,

    /// Where uploads.json and the servers' logs go [default: results/uploads-<UTC time>].
    #[arg(long)]
    #[allow(rustdoc::invalid_html_tags)] // `--help` text: `<UTC time>` is a placeholder
    pub out: Option<PathBuf>,
}

/// Runs every wave of `args` into `out` (its servers' logs go to `out/logs`), handing each
/// wave's result to `finished` as it ends; says what it does through `say`.
pub fn measure(
    args: &UploadsArgs,
    catalogue: &Catalogue,
    out: &Path,
    say: &dyn Fn(&str),
    finished: &mut dyn FnMut(&UploadsResult),
) -> anyhow::Result<UploadsRun> {
    let chosen = match &args.servers {
        Some(names) => catalogue.select(names).map_err(|e| anyhow::anyhow!("--servers: {e}"))?,
        None => catalogue.iter().cloned().collect(),
    };
    if args.url.is_some() && chosen.len() != 1 {
        bail!(
            "with --url, name the one kind of server it is with --servers (one of {})",
            catalogue.names().join(", ")
        );
    }
    let pace = match args.trickle {
        Some(every) if every > 0.0 => Pace::Trickle { every_secs: every },
        Some(_) => bail!("--trickle takes a number of seconds above 0"),
        None => Pace::HoldLastByte { hold_secs: args.hold },
    };
    let body = Arc::new(body::matrix_body(args.body_bytes, args.n).with_context(|| {
        format!(
            "--body-bytes {} does not fit two {n} x {n} matrices of JSON integers (1 to 18 digits each); \
             change --body-bytes or --n",
            args.body_bytes,
            n = args.n
        )
    })?);
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let bin_dir = match args.url {
        Some(_) => None,
        None => Some(servers::build_servers(&servers::binaries_of(&chosen), say)?),
    };
    let mut results = Vec::new();
    for server in &chosen {
        for &clients in &args.clients {
            say(&format!(
                "{}: {clients} uploads of {} bytes ...",
                server.name, args.body_bytes
            ));
            let (address, pid, _running) = match (&args.url, &bin_dir) {
                (Some(url), _) => (socket_address(url)?, args.pid, None),
                (None, Some(dir)) => {
                    let log = logs.join(format!("{}-{clients}.log", server.name));
                    let started = servers::start_lab_server_with(server, dir, &log, &args.server_args, &[])?;
                    let address = socket_address(started.url())?;
                    (address, Some(started.pid()), Some(started))
                }
                (None, None) => unreachable!("servers are built when no --url is given"),
            };
            let wave = Wave {
                server: server.name.clone(),
                plan: UploadPlan {
                    address,
                    path: server.path.to_owned(),
                    body: Arc::clone(&body),
                    pace,
                    give_up_after: Duration::from_secs_f64(args.give_up_after),
                },
                clients,
                n: args.n,
            };
            let result = wave.run(pid)?;
            finished(&result);
            results.push(result);
        }
    }
    Ok(UploadsRun {
        date: chrono::Utc::now().to_rfc3339(),
        server_args: args.server_args.clone(),
        results,
    })
}

/// One wave: `clients` uploads at once against one server.
struct Wave {
    server: String,
    plan: UploadPlan,
    clients: u32,
    n: usize,
}

impl Wave {
    fn run(&self, pid: Option<i32>) -> anyhow::Result<UploadsResult> {
        let sampler = pid.map(|pid| Sampler::start(pid, SAMPLE_EVERY)).transpose()?;
        let stop = Arc::new(AtomicBool::new(false));
        let prober = {
            let (stop, address) = (Arc::clone(&stop), self.plan.address);
            thread::spawn(move || probe_until(address, &stop))
        };
        let started = Instant::now();
        let ends = run_uploads(&self.plan, self.clients).context("running the uploads")?;
        let wall_secs = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let latencies = prober.join().unwrap_or_default();
        let window = sampler.map(Sampler::finish).transpose()?;
        // A plain upload afterwards: the charges of every upload above must be free again.
        let plain = UploadPlan {
            pace: Pace::HoldLastByte { hold_secs: 0.0 },
            ..self.plan.clone()
        };
        let after = run_uploads(&plain, 1).context("the plain upload afterwards")?[0].0;
        let mut result = UploadsResult {
            server: self.server.clone(),
            clients: self.clients,
            body_bytes: self.plan.body.len(),
            n: self.n,
            pace: self.plan.pace,
            statuses: BTreeMap::new(),
            resets: 0,
            closed: 0,
            hangs: 0,
            not_connected: 0,
            wall_secs,
            first_end_secs: ends.iter().map(|e| e.1.as_secs_f64()).fold(f64::INFINITY, f64::min),
            last_end_secs: ends.iter().map(|e| e.1.as_secs_f64()).fold(0.0, f64::max),
            peak_pss_bytes: window.map(|w| w.pss_peak_bytes),
            pss_before_bytes: window.map(|w| w.pss_before_bytes),
            health: health_figures(&latencies),
            after,
        };
        for (outcome, _) in ends {
            match outcome {
                Outcome::Answered(status) => *result.statuses.entry(status).or_default() += 1,
                Outcome::Reset => result.resets += 1,
                Outcome::Closed => result.closed += 1,
                Outcome::Hang => result.hangs += 1,
                Outcome::NotConnected => result.not_connected += 1,
            }
        }
        Ok(result)
    }
}

/// Probes `/healthz` every [`HEALTH_EVERY`] until `stop`; `None` for a failed probe.
fn probe_until(address: SocketAddr, stop: &AtomicBool) -> Vec<(Duration, Option<Duration>)> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        latencies.push((started.elapsed(), probe_health(address, HEALTH_TIMEOUT)));
        thread::sleep(HEALTH_EVERY);
    }
    latencies
}

/// Probes slower than this are listed with their time.
const SLOW_PROBE: Duration = Duration::from_millis(100);

fn health_figures(probes: &[(Duration, Option<Duration>)]) -> HealthFigures {
    let slow = (probes.iter())
        .filter(|(_, latency)| latency.is_none_or(|l| l > SLOW_PROBE))
        .map(|(at, latency)| (at.as_secs_f64(), latency.map(|l| l.as_secs_f64() * 1e3)))
        .collect();
    let latencies: Vec<Option<Duration>> = probes.iter().map(|p| p.1).collect();
    let mut answered: Vec<f64> = latencies.iter().flatten().map(|d| d.as_secs_f64() * 1e3).collect();
    answered.sort_by(f64::total_cmp);
    let at = |q: f64| {
        answered
            .get(((answered.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    HealthFigures {
        probes: latencies.len() as u32,
        failed: latencies.iter().filter(|l| l.is_none()).count() as u32,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: answered.last().copied().unwrap_or(0.0),
        slow,
    }
}

/// The socket address of a base URL such as `http://127.0.0.1:8001`.
fn socket_address(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port
        .parse()
        .with_context(|| format!("{url:?} must be http://IP:PORT, such as http://127.0.0.1:8001"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_figures_are_percentiles_of_the_answered_probes() {
        let ms = |m| Some(Duration::from_millis(m));
        let at = |s| Duration::from_secs(s);
        let figures = health_figures(&[
            (at(0), ms(1)),
            (at(1), ms(2)),
            (at(2), None),
            (at(3), ms(3)),
            (at(4), ms(150)),
        ]);
        assert_eq!((figures.probes, figures.failed), (5, 1));
        assert_eq!((figures.p50_ms, figures.p99_ms, figures.max_ms), (2.0, 150.0, 150.0));
        assert_eq!(figures.slow, [(2.0, None), (4.0, Some(150.0))]);
    }

    #[test]
    fn a_base_url_gives_its_socket_address() {
        assert_eq!(
            socket_address("http://127.0.0.1:8001").unwrap(),
            "127.0.0.1:8001".parse().unwrap()
        );
        assert!(socket_address("http://localhost:8001").is_err());
    }
}
