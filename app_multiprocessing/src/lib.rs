//! `app_multiprocessing`: the lab's processes server. `GET /multiprocessing` generates two random
//! matrices and adds them in `fork()`ed children that send their rows back through pipes;
//! `POST /multiprocessing` adds matrices the client sends. The routes, limits and answers come
//! from `matrix_service`; the engine is [`ForkPerRequest`].
//!
//! All `unsafe` code, and everything a forked child runs, is in [`sys`].

pub mod children;
pub mod fault;
pub mod fork_per_request;
pub mod sys;

use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};
use matrix_service::CommonArgs;

pub use fault::ChildFault;
pub use fork_per_request::{ForkPerRequest, add_forked};

/// How the server gets its worker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Fork the children for each request, as the original lab did.
    Fork,
    /// A pool of worker processes forked at start-up (not built yet).
    Prefork,
}

/// Adds two matrices in forked child processes, over HTTP.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// Port to listen on; 0 picks a free one (the `listening on` line tells which).
    #[arg(long, env = "APP_MULTIPROCESSING_PORT", default_value_t = 8002)]
    pub port: u16,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Where worker processes come from.
    #[arg(long, value_enum, env = "APP_MULTIPROCESSING_STRATEGY", default_value_t = Strategy::Fork)]
    pub strategy: Strategy,

    /// Seconds a request's children may run; then they are killed (SIGKILL), reaped, and the
    /// request is answered 504.
    #[arg(long, env = "APP_MULTIPROCESSING_CHILD_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    pub child_timeout: f64,

    /// Live child processes across all requests; a request waits (fairly, up to
    /// --queue-timeout) for its share.
    #[arg(long, env = "APP_MULTIPROCESSING_MAX_CHILDREN", default_value_t = 256)]
    pub max_children: usize,

    /// Test hook: make every child misbehave (sleep-ms:MS, exit:CODE, half-write, extra-byte,
    /// hang, panic, abort).
    #[arg(long, hide = true, default_value = "none")]
    pub debug_child_fault: ChildFault,
}

fn seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err("must be a number of seconds more than 0 and at most 86400, such as 30 or 0.5".into()),
    }
}

/// Runs the server until it is told to stop.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.strategy == Strategy::Prefork {
        bail!("--strategy prefork is not implemented yet; use --strategy fork (the default)");
    }
    let mut config = cli.common.config(cli.port, cli.max_children, "--max-children")?;
    let child_timeout = Duration::from_secs_f64(cli.child_timeout);
    // Let an in-flight request finish even if it queued, then ran its children to the deadline.
    config.shutdown_timeout = child_timeout + config.admission.queue_timeout + Duration::from_secs(5);
    matrix_service::server::init_logging();
    matrix_service::serve(
        ForkPerRequest {
            child_timeout,
            fault: cli.debug_child_fault,
        },
        config,
    )?;
    Ok(())
}
