//! `app_multiprocessing`: the lab's processes server. `GET /multiprocessing` generates two random
//! matrices and adds them in `fork()`ed children that send their rows back through pipes;
//! `POST /multiprocessing` adds matrices the client sends. The routes, limits and answers come
//! from `matrix_service`; the engine is [`ForkPerRequest`] (children forked per request, as in
//! the original lab) or, with `--strategy prefork`, [`PreforkPool`] (a supervised [`prefork::pool`] of
//! worker processes started once, sharing the matrices' memory with the server).
//!
//! All `unsafe` code, and everything a forked child runs, is in [`sys`].

pub mod endpoint;
pub mod exit_code;
pub mod fork_floor;
pub mod fork_per_request;
pub mod hooks;
pub mod prefork;
pub mod protocol;
pub mod slots;
pub mod sys;

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use matrix_service::CommonArgs;
use matrix_service::params::DEFAULT_N;
use nix::unistd::Pid;

pub use fork_per_request::fork_server::ForkServer;
pub use fork_per_request::{ForkPerRequest, compute_forked};
pub use hooks::fault::ChildFault;
pub use hooks::signal_storm::SignalStorm;
pub use prefork::PreforkPool;
pub use prefork::pool::{Pool, PoolConfig};
pub use slots::{SlotPool, SlotWorkspace};

/// How long the pool's workers get to finish their last job at shutdown before SIGKILL.
const POOL_GRACE: Duration = Duration::from_secs(10);

/// How the server gets its worker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Fork the children for each request, as the original lab did.
    Fork,
    /// A pool of worker processes forked at start-up, sharing memory with the server, supervised.
    Prefork,
}

/// With `--strategy fork`: which process forks each request's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForkFrom {
    /// A fork server: a small process with one thread, started with the server (as Python's
    /// `forkserver`). The children are still the server's own.
    ForkServer,
    /// The server itself, from the request's thread, as the original lab did: slower, since
    /// every fork of a busy multi-threaded process costs copy-on-write faults in all its
    /// threads.
    Server,
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

    /// With --strategy fork: which process forks the children.
    #[arg(long, value_enum, env = "APP_MULTIPROCESSING_FORK_FROM", default_value_t = ForkFrom::ForkServer)]
    pub fork_from: ForkFrom,

    /// Seconds a request's children may run; then they are killed (SIGKILL), reaped, and the
    /// request is answered 504.
    #[arg(long, env = "APP_MULTIPROCESSING_CHILD_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    pub child_timeout: f64,

    /// Live child processes across all requests; a request waits (fairly, up to
    /// --queue-timeout) for its share.
    #[arg(long, env = "APP_MULTIPROCESSING_MAX_CHILDREN", default_value_t = 256)]
    pub max_children: usize,

    /// With --strategy prefork: worker processes in the pool [default: the larger of --workers
    /// and the number of CPUs].
    #[arg(long, env = "APP_MULTIPROCESSING_POOL_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pool_workers: Option<u16>,

    /// Test hook: make every child misbehave (sleep-ms:MS, exit:CODE, half-write, extra-byte,
    /// hang, panic, abort, and for the pool stale-done, crash-at-start).
    #[arg(long, hide = true, default_value = "none")]
    pub debug_child_fault: ChildFault,

    /// Test hook: interrupt every thread of the server with a signal every MICROS
    /// microseconds, its handler installed without SA_RESTART; print what was sent and handled
    /// to stdout on exit.
    #[arg(long, hide = true, value_name = "MICROS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub debug_signal_storm: Option<u64>,

    /// Internal: run as a replacement pool worker of the server with this pid.
    #[arg(long = "pool-worker", hide = true, value_name = "SERVER_PID")]
    pub pool_worker: Option<i32>,
}

fn seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err("must be a number of seconds more than 0 and at most 86400, such as 30 or 0.5".into()),
    }
}

/// Runs the server until it is told to stop (or, with `--pool-worker`, a pool worker until its
/// server closes its job pipe). Returns the process's exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    // First, while the process has one thread: pool workers forked at start-up and the pool's
    // supervisor thread then allocate under the same policy as the server.
    matrix_service::memory::set_allocator_policy();
    if let Some(server) = cli.pool_worker {
        return Ok(prefork::worker::run(Pid::from_raw(server), cli.debug_child_fault));
    }
    let mut config = cli.common.config(cli.port, cli.max_children, "--max-children")?;
    anyhow::ensure!(
        config.limits.max_n <= sys::MAX_RESULT_COLS,
        "--max-n {} is above {}, the widest result row a band child can compute on its stack",
        config.limits.max_n,
        sys::MAX_RESULT_COLS
    );
    let child_timeout = Duration::from_secs_f64(cli.child_timeout);
    // Let an in-flight request finish even if it queued, then ran its children to the deadline.
    config.shutdown_timeout = child_timeout + config.admission.queue_timeout + Duration::from_secs(5);
    matrix_service::server::init_logging();
    // Every request that may compute or wait at once has a slot of shared memory, with room
    // for A, B and the result at the largest n (a product's three matrices, at most n x n
    // each, take no more than a sum's): virtual memory, resident only as requests touch
    // it, and bounded in use by the memory budget. After a request, as many slots as requests
    // may compute keep the default n's worth resident; the others give all their pages back.
    let (computing, slots) = (
        config.admission.active_requests,
        config.admission.active_requests + config.admission.waiting_requests,
    );
    let slot_elements = 3 * config.limits.max_n * config.limits.max_n;
    let resident_elements = 3 * DEFAULT_N * DEFAULT_N;
    match cli.strategy {
        Strategy::Fork => {
            let slots = Arc::new(SlotPool::new(slots, slot_elements, resident_elements)?.keeping_floor_in(computing));
            // Before anything starts a thread: the fork server is forked here.
            let fork_server = match cli.fork_from {
                ForkFrom::ForkServer => Some(Arc::new(ForkServer::start(
                    slots.memory_handle(),
                    cli.debug_child_fault,
                )?)),
                ForkFrom::Server => None,
            };
            let engine = ForkPerRequest {
                child_timeout,
                fault: cli.debug_child_fault,
                slots,
                fork_server,
            };
            serve_in_storm(cli.debug_signal_storm, || {
                matrix_service::serve(engine, endpoint::FORK_PER_REQUEST, config)
            })?;
        }
        Strategy::Prefork => {
            let cpus = std::thread::available_parallelism().map_or(1, usize::from);
            // Before anything starts a thread: the first workers are forked here.
            let pool = Pool::start(PoolConfig {
                workers: cli
                    .pool_workers
                    .map_or(config.limits.default_workers.max(cpus), usize::from),
                slots,
                slot_elements,
                resident_elements,
                resident_slots: computing,
                fault: cli.debug_child_fault,
            })?;
            let served = serve_in_storm(cli.debug_signal_storm, || {
                let engine = PreforkPool::new(pool.clone(), child_timeout);
                matrix_service::serve(engine, endpoint::PREFORK_POOL, config)
            });
            pool.shutdown(POOL_GRACE);
            served?;
        }
    }
    Ok(0)
}

/// Runs `serve`, inside a [`SignalStorm`] when `storm_micros` asks for one (it starts only now,
/// after the pool has forked its first workers from a single-threaded process).
fn serve_in_storm(storm_micros: Option<u64>, serve: impl FnOnce() -> std::io::Result<()>) -> anyhow::Result<()> {
    let storm = storm_micros
        .map(|micros| SignalStorm::start(Duration::from_micros(micros)))
        .transpose()?;
    let served = serve();
    if let Some(storm) = storm {
        println!("{}", storm.stop());
    }
    Ok(served?)
}
