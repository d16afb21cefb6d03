//! `app_threading`: the lab's threads server. `GET /threading` generates two random matrices and
//! works on them with threads; `POST /threading` works on matrices the client sends. The routes,
//! limits and answers come from `matrix_service`; the engine is [`Threads`], whose bands run on
//! threads started per request ([`scoped_threads`], the default, as the original lab did) or on
//! a pool of threads started once ([`thread_pool`], `--strategy pool`). With `--strategy async`
//! the engine is [`EventLoop`] instead: each request is a task on the event loops, its bands
//! futures that await timers and compute on the loop ([`event_loop`]).

pub mod band_jobs;
pub mod endpoint;
pub mod engine;
pub mod event_loop;
pub mod scoped_threads;
pub mod thread_pool;

use clap::{Parser, ValueEnum};
use matrix_service::CommonArgs;

pub use engine::{Runner, Threads};
pub use event_loop::EventLoop;
pub use scoped_threads::compute_scoped;
pub use thread_pool::compute_pooled;

/// Who runs a request's bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Threads started for each request, as the original lab did.
    Scoped,
    /// A pool of --pool-threads threads started once; bands are jobs on it.
    Pool,
    /// Each request a task on the event loops (--http-workers of them), its bands futures
    /// joined in it: waits await timers, CPU work runs on the loop and holds it up.
    Async,
}

/// Works on two matrices with threads, over HTTP.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// Port to listen on; 0 picks a free one (the `listening on` line tells which).
    #[arg(long, env = "APP_THREADING_PORT", default_value_t = 8001)]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Threads working at once, across all requests; a request waits (fairly, up to
    /// --queue-timeout) for its share. With --strategy async, bands in flight at once, each a
    /// future on the loop, not a thread [default: 256; 16384 with --strategy async].
    #[arg(long, env = "APP_THREADING_MAX_THREADS")]
    pub max_threads: Option<usize>,

    /// Who runs a request's bands.
    #[arg(long, value_enum, env = "APP_THREADING_STRATEGY", default_value_t = Strategy::Scoped)]
    pub strategy: Strategy,

    /// With --strategy pool: threads in the pool [default: the number of CPUs].
    #[arg(long, env = "APP_THREADING_POOL_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pool_threads: Option<u16>,
}

/// `--max-threads` by default for threads.
pub const DEFAULT_MAX_THREADS: usize = 256;

/// Runs the server until it is told to stop.
pub fn run(mut cli: Cli) -> anyhow::Result<()> {
    matrix_service::memory::set_allocator_policy();
    let max_threads = match cli.strategy {
        Strategy::Async => {
            // A waiting task is a timer, not a thread: the event loop can hold thousands.
            (cli.common.max_waiting_requests).get_or_insert(event_loop::DEFAULT_WAITING_TASKS);
            cli.max_threads.unwrap_or(event_loop::DEFAULT_BANDS_IN_FLIGHT)
        }
        Strategy::Scoped | Strategy::Pool => cli.max_threads.unwrap_or(DEFAULT_MAX_THREADS),
    };
    let config = cli.common.config(cli.port, max_threads, "--max-threads")?;
    matrix_service::server::init_logging();
    let active = config.admission.active_requests;
    match cli.strategy {
        Strategy::Async => matrix_service::serve(EventLoop::new(active), endpoint::EVENT_LOOP, config)?,
        Strategy::Scoped => matrix_service::serve(Threads::scoped(active), endpoint::SCOPED_THREADS, config)?,
        Strategy::Pool => {
            let cpus = std::thread::available_parallelism().map_or(1, usize::from);
            let threads = cli.pool_threads.map_or(cpus, usize::from);
            matrix_service::serve(Threads::pool(threads, active)?, endpoint::THREAD_POOL, config)?;
        }
    }
    Ok(())
}
