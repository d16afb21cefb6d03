//! `app_threading`: the lab's threads server. `GET /threading` generates two random matrices and
//! adds them with scoped threads; `POST /threading` adds matrices the client sends. The routes,
//! limits and answers come from `matrix_service`; the engine is [`ScopedThreads`].

pub mod endpoint;
pub mod scoped_threads;

use clap::Parser;
use matrix_service::CommonArgs;

pub use scoped_threads::{ScopedThreads, add_scoped};

/// Adds two matrices with scoped threads, over HTTP.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// Port to listen on; 0 picks a free one (the `listening on` line tells which).
    #[arg(long, env = "APP_THREADING_PORT", default_value_t = 8001)]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Threads working on additions at once, across all requests; a request waits (fairly, up
    /// to --queue-timeout) for its share.
    #[arg(long, env = "APP_THREADING_MAX_THREADS", default_value_t = 256)]
    pub max_threads: usize,
}

/// Runs the server until it is told to stop.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    matrix_service::memory::set_allocator_policy();
    let config = cli.common.config(cli.port, cli.max_threads, "--max-threads")?;
    matrix_service::server::init_logging();
    let engine = ScopedThreads::new(config.admission.active_requests);
    matrix_service::serve(engine, endpoint::SCOPED_THREADS, config)?;
    Ok(())
}
