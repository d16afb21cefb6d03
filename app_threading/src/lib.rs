//! `app_threading`: the lab's threads server. `GET /threading` generates two random matrices and
//! works on them with threads; `POST /threading` works on matrices the client sends. The routes,
//! limits and answers come from `matrix_service`; the engine is [`Threads`], whose bands run on
//! threads started per request ([`scoped_threads`], the default, as the original lab did) or on
//! a pool of threads started once ([`thread_pool`], `--strategy pool`).

pub mod band_jobs;
pub mod endpoint;
pub mod engine;
pub mod scoped_threads;
pub mod thread_pool;

use clap::{Parser, ValueEnum};
use matrix_service::CommonArgs;

pub use engine::{Runner, Threads};
pub use scoped_threads::compute_scoped;
pub use thread_pool::compute_pooled;

/// Who runs a request's bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Threads started for each request, as the original lab did.
    Scoped,
    /// A pool of --pool-threads threads started once; bands are jobs on it.
    Pool,
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
    /// --queue-timeout) for its share.
    #[arg(long, env = "APP_THREADING_MAX_THREADS", default_value_t = 256)]
    pub max_threads: usize,

    /// Who runs a request's bands.
    #[arg(long, value_enum, env = "APP_THREADING_STRATEGY", default_value_t = Strategy::Scoped)]
    pub strategy: Strategy,

    /// With --strategy pool: threads in the pool [default: the number of CPUs].
    #[arg(long, env = "APP_THREADING_POOL_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pool_threads: Option<u16>,
}

/// Runs the server until it is told to stop.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    matrix_service::memory::set_allocator_policy();
    let config = cli.common.config(cli.port, cli.max_threads, "--max-threads")?;
    matrix_service::server::init_logging();
    let active = config.admission.active_requests;
    match cli.strategy {
        Strategy::Scoped => matrix_service::serve(Threads::scoped(active), endpoint::SCOPED_THREADS, config)?,
        Strategy::Pool => {
            let cpus = std::thread::available_parallelism().map_or(1, usize::from);
            let threads = cli.pool_threads.map_or(cpus, usize::from);
            matrix_service::serve(Threads::pool(threads, active)?, endpoint::THREAD_POOL, config)?;
        }
    }
    Ok(())
}
