//! Starting a server: the flags both binaries share, their validation, logging, and the actix
//! `HttpServer` around a [`Service`].

use std::future::{Future, poll_fn};
use std::io::{IsTerminal, Write};
use std::task::Poll;
use std::time::{Duration, Instant};

use actix_web::dev::Service as _;
use actix_web::middleware::Logger;
use actix_web::web::Data;
use actix_web::{App, HttpServer};

use crate::admission::{Admission, AdmissionLimits};
use crate::buffers::RECLAIM_EVERY;
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::http::{Service, ServiceParts, routes};
use crate::memory_budget::{DEFAULT_MAX_BODY_MEMORY, MemoryBudget};
use crate::metrics::{NO_WORK, WorkLabel};
use crate::params::{DEFAULT_WORKERS, Limits};
use crate::upload::BodyRules;

/// `--max-waiting-requests` by default: as many as the default live-worker bound has workers
/// for at one band each.
pub const DEFAULT_WAITING_REQUESTS: usize = 256;

/// Flags both servers take. Each binary adds `--port` (its own default) and its own bound on
/// live workers (`--max-threads` or `--max-children`).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address to listen on. The default serves this machine only.
    #[arg(long, env = "MATRIX_LAB_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Actix worker threads that accept connections and run handlers [default: available cores].
    #[arg(long, env = "MATRIX_LAB_HTTP_WORKERS", value_parser = positive)]
    pub http_workers: Option<usize>,

    /// Parallel workers per request when the request does not give `workers`.
    #[arg(long, env = "MATRIX_LAB_WORKERS", default_value_t = DEFAULT_WORKERS, value_parser = positive)]
    pub workers: usize,

    /// Largest matrix side `n` a GET may ask for, and largest row or column count of a POST.
    #[arg(long, env = "MATRIX_LAB_MAX_N", default_value_t = 2000, value_parser = positive)]
    pub max_n: usize,

    /// Largest `workers` a request may ask for.
    #[arg(long, env = "MATRIX_LAB_MAX_WORKERS", default_value_t = 64, value_parser = positive)]
    pub max_workers: usize,

    /// Largest POST body in bytes; a larger one is answered 413 (64 MiB by default).
    #[arg(long, env = "MATRIX_LAB_MAX_BODY_BYTES", default_value_t = 64 << 20, value_parser = positive)]
    pub max_body_bytes: usize,

    /// Server-wide budget in bytes for request memory (512 MiB by default; at least
    /// --max-body-bytes). Each request is charged its body's length plus its three matrices
    /// (rows x cols x 8 bytes each) and holds the charge until its answer is written. Before its
    /// parser starts, a body is charged the most its length could hold (up to 7 times its
    /// length; a body under 1 MiB holds only its length while it arrives), trimmed once parsed;
    /// a request that cannot get a charge within --queue-timeout is answered 503.
    #[arg(long, env = "MATRIX_LAB_MAX_BODY_MEMORY", default_value_t = DEFAULT_MAX_BODY_MEMORY, value_parser = positive)]
    pub max_body_memory: usize,

    /// Seconds a client may take from the end of its request head to the last byte of its body;
    /// past that it is answered 408. Also bounds reading and discarding a refused body.
    #[arg(long, env = "MATRIX_LAB_BODY_TIMEOUT", default_value_t = 30.0, value_parser = positive_seconds)]
    pub body_timeout: f64,

    /// Requests that compute at once; more wait their turn (fairly, up to --queue-timeout).
    /// Beyond a few per core they would finish no sooner, only hold more memory [default: 2 per
    /// available core].
    #[arg(long, env = "MATRIX_LAB_MAX_ACTIVE_REQUESTS", value_parser = positive)]
    pub max_active_requests: Option<usize>,

    /// Requests that wait at once (work=io with a wait): a waiting request holds no CPU, so many
    /// may, each still holding its matrices (charged to --max-body-memory) and its threads,
    /// children or timers (counted in the live-worker bound) [default: 256; 4096 for
    /// app_threading --strategy async, where a waiting request is a timer, not a thread].
    #[arg(long, env = "MATRIX_LAB_MAX_WAITING_REQUESTS", value_parser = positive)]
    pub max_waiting_requests: Option<usize>,

    /// Seconds a request may wait to start (for an active slot and its workers) before it is
    /// answered 503.
    #[arg(long, env = "MATRIX_LAB_QUEUE_TIMEOUT", default_value_t = 10.0, value_parser = positive_seconds)]
    pub queue_timeout: f64,

    /// Events a `GET /debug/trace` keeps at most; past it they are counted (`dropped`), not kept.
    #[arg(long, env = "MATRIX_LAB_TRACE_MAX_EVENTS", default_value_t = crate::trace::DEFAULT_MAX_EVENTS, value_parser = positive)]
    pub trace_max_events: usize,

    /// Test hook: once listening, leave this text in stdout's buffer with no newline, for only
    /// the server's own exit to flush. A forked child that flushed stdio as it exited would
    /// print it again.
    #[arg(long, hide = true)]
    pub debug_unflushed_stdout: Option<String>,
}

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub http_workers: usize,
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// `--max-body-memory`.
    pub max_body_memory: usize,
    /// `--body-timeout`.
    pub body_timeout: Duration,
    pub admission: AdmissionLimits,
    /// How long in-flight requests may take to finish after SIGTERM or Ctrl-C.
    pub shutdown_timeout: Duration,
    /// See [`CommonArgs::debug_unflushed_stdout`].
    pub unflushed_stdout: Option<String>,
    /// `--trace-max-events`.
    pub trace_max_events: usize,
}

/// A flag combination that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl CommonArgs {
    /// The configuration for a server on `port` with at most `max_live_workers` workers alive at
    /// once (set by the flag `flag`).
    pub fn config(&self, port: u16, max_live_workers: usize, flag: &'static str) -> Result<ServerConfig, ConfigError> {
        if self.workers > self.max_workers {
            return Err(ConfigError(format!(
                "--workers {} is above --max-workers {}; raise --max-workers or lower --workers",
                self.workers, self.max_workers
            )));
        }
        if self.max_workers > max_live_workers {
            return Err(ConfigError(format!(
                "--max-workers {} is above {flag} {max_live_workers}, so a request could never get all its workers; \
                 raise {flag} or lower --max-workers",
                self.max_workers
            )));
        }
        if self.max_body_memory < self.max_body_bytes {
            return Err(ConfigError(format!(
                "--max-body-memory {} is below --max-body-bytes {}, so the largest allowed body could never be \
                 charged; raise --max-body-memory or lower --max-body-bytes",
                self.max_body_memory, self.max_body_bytes
            )));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let admission = AdmissionLimits {
            active_requests: self.max_active_requests.unwrap_or(2 * cores),
            waiting_requests: self.max_waiting_requests.unwrap_or(DEFAULT_WAITING_REQUESTS),
            live_workers: max_live_workers,
            live_workers_flag: flag,
            queue_timeout: Duration::from_secs_f64(self.queue_timeout),
        };
        Ok(ServerConfig {
            host: self.host.clone(),
            port,
            http_workers: self.http_workers.unwrap_or(cores),
            limits: Limits {
                max_n: self.max_n,
                max_workers: self.max_workers,
                default_workers: self.workers,
            },
            max_body_bytes: self.max_body_bytes,
            max_body_memory: self.max_body_memory,
            body_timeout: Duration::from_secs_f64(self.body_timeout),
            admission,
            shutdown_timeout: Duration::from_secs(30),
            unflushed_stdout: self.debug_unflushed_stdout.clone(),
            trace_max_events: self.trace_max_events,
        })
    }
}

fn positive(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(e) => Err(format!("must be a whole number from 1 up: {e}")),
    }
}

fn positive_seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        Ok(_) => Err("must be more than 0 and at most 86400 seconds".into()),
        Err(e) => Err(format!("must be a number of seconds, such as 10 or 0.5: {e}")),
    }
}

/// Logs to stderr through `tracing`; `RUST_LOG` sets the level (default `info`, which includes
/// one access-log line per request from actix's `Logger`), in colour only on a terminal.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // `try_init` also routes the `log` records of actix's Logger into tracing. It fails only if a
    // subscriber is already set (tests), which is fine.
    // Colour only for a person at a terminal: escape codes in a log file are noise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs the server until SIGTERM, SIGINT or SIGQUIT, then lets in-flight requests finish.
///
/// Prints `listening on http://HOST:PORT` (the real port, also for `--port 0`) on stdout once the
/// socket is bound, so scripts and tests can find the server. Builds the actix runtime itself,
/// so the caller's `main` stays synchronous: a pre-fork pool must fork before any thread exists.
/// The caller sets the allocator policy first ([`crate::memory::set_allocator_policy`]).
pub fn serve<E: Engine>(engine: E, endpoint: Endpoint, config: ServerConfig) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let parts = ServiceParts {
            limits: config.limits,
            admission: Admission::new(config.admission, E::UNITS),
            budget: MemoryBudget::new(config.max_body_memory, config.limits.max_n),
            body_rules: BodyRules {
                max_bytes: config.max_body_bytes,
                timeout: config.body_timeout,
                queue_timeout: config.admission.queue_timeout,
            },
            tracer: crate::trace::Tracer::new(config.trace_max_events),
        };
        let service = Data::new(Service::new(engine, endpoint, parts));
        let reclaimer = service.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(RECLAIM_EVERY);
            loop {
                every.tick().await;
                reclaimer.reclaim_idle(Instant::now());
            }
        });
        let server = HttpServer::new(move || {
            let metrics = service.metrics().clone();
            App::new()
                .wrap(Logger::new(r#"%a "%r" %s %b %Dms"#))
                // Counts and times every request, errors included, once its answer is ready.
                .wrap_fn(move |request, inner| {
                    let metrics = metrics.clone();
                    let path = metrics.path_label(request.path());
                    let started = Instant::now();
                    let answering = inner.call(request);
                    async move {
                        let _in_flight = metrics.start();
                        let answer = answering.await;
                        let (status, work) = match &answer {
                            Ok(answer) => (
                                answer.status().as_u16(),
                                answer
                                    .response()
                                    .extensions()
                                    .get::<WorkLabel>()
                                    .map_or(NO_WORK, |w| w.0),
                            ),
                            Err(error) => (error.as_response_error().status_code().as_u16(), NO_WORK),
                        };
                        metrics.answered(path, status, work, started.elapsed());
                        answer
                    }
                })
                .configure(routes(service.clone()))
        })
        .workers(config.http_workers)
        // How long a connection lingers after answering a body it did not read, reading and
        // discarding the rest so the client hears the answer (see `upload`).
        .client_disconnect_timeout(config.body_timeout)
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .bind((config.host.as_str(), config.port))?;
        let address = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("bound to no address"))?;
        let mut running = std::pin::pin!(server.run());
        // The server's first poll starts its workers and installs its SIGINT/SIGTERM/SIGQUIT
        // handlers. Poll once before announcing the address, so a stop signal sent right after
        // the `listening on` line stops the server gracefully instead of killing it.
        if let Poll::Ready(result) = poll_fn(|cx| Poll::Ready(running.as_mut().poll(cx))).await {
            return result;
        }
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{address}")?;
        stdout.flush()?;
        if let Some(text) = &config.unflushed_stdout {
            write!(stdout, "{text}")?;
        }
        drop(stdout);
        tracing::info!(
            %address,
            endpoint = %endpoint.path(),
            http_workers = config.http_workers,
            workers = config.limits.default_workers,
            "{} server started; Ctrl-C or SIGTERM stops it",
            endpoint.method
        );
        running.await?;
        tracing::info!("stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn common(args: &[&str]) -> CommonArgs {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .expect("flags parse")
            .common
    }

    #[test]
    fn defaults_match_the_design() {
        let config = common(&[]).config(8001, 256, "--max-children").unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(
            config.limits,
            Limits {
                max_n: 2000,
                max_workers: 64,
                // The design's number, not the constant it is parsed from: a changed default
                // must change this test too.
                default_workers: 4
            }
        );
        assert_eq!(config.max_body_bytes, 64 * 1024 * 1024);
        assert_eq!(config.max_body_memory, 512 * 1024 * 1024);
        assert_eq!(config.body_timeout, Duration::from_secs(30));
        assert_eq!(config.admission.queue_timeout, Duration::from_secs(10));
        assert_eq!(config.admission.live_workers, 256);
        assert_eq!(config.admission.waiting_requests, 256);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(config.admission.active_requests, 2 * cores);
    }

    #[test]
    fn impossible_combinations_are_refused_with_the_flags_named() {
        let err = common(&["--workers", "8", "--max-workers", "4"])
            .config(0, 256, "--max-threads")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--workers 8 is above --max-workers 4; raise --max-workers or lower --workers"
        );
        let err = common(&["--max-body-bytes", "2000", "--max-body-memory", "1999"])
            .config(0, 256, "--max-threads")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--max-body-memory 1999 is below --max-body-bytes 2000"),
            "{err}"
        );
        let err = common(&[]).config(0, 16, "--max-children").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--max-workers 64 is above --max-children 16"),
            "{err}"
        );
    }

    #[test]
    fn zero_and_nonsense_values_are_refused_by_the_parser() {
        for args in [
            ["--workers", "0"],
            ["--max-n", "x"],
            ["--queue-timeout", "0"],
            ["--queue-timeout", "-1"],
            ["--body-timeout", "0"],
            ["--max-body-memory", "lots"],
        ] {
            assert!(
                Cli::try_parse_from(std::iter::once("test").chain(args)).is_err(),
                "{args:?}"
            );
        }
    }
}
