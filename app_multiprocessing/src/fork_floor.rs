//! The fork floor: what a fork of a process of a given size costs on this machine, with nothing
//! else in it. The harness runs it (`fork-floor --like PID`) beside the fork server, sized like
//! it, so the lab can set a request's forks against the least a fork can cost here.
//!
//! A fork's cost grows with the private memory the parent has touched: the kernel copies the
//! page tables of its private mappings and write-protects their pages. Shared mappings' page
//! tables are not copied (the child faults them in), yet the fork server has one, so the helper
//! maps as much shared memory too. It is a fresh process with one thread, so no other thread
//! writes to its pages while it forks.
//!
//! Per fork it measures the parent's `fork()` call (wall and this thread's CPU), the whole cycle
//! until the child is reaped (wall), and the child's CPU from `wait4`: an empty child's exit,
//! which is tearing down the copied address space.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use nix::sys::wait::WaitStatus;
use nix::time::{ClockId, clock_gettime};
use serde_json::json;

use crate::sys::{SharedMemory, fork_exiting_child, wait_with_usage};

const PAGE: usize = 4096;

/// Forks not timed first, so the allocator and the page tables have settled.
const WARM_UP: u32 = 10;

/// What to fork, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Private memory the parent has touched (`RssAnon`), in bytes.
    pub private_bytes: u64,
    /// Shared memory mapped and touched (`RssShmem`), in bytes.
    pub shared_bytes: u64,
}

impl Size {
    /// The resident private and shared memory of process `pid`, from `/proc/PID/status`.
    pub fn of_process(pid: i32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let kib = |key: &str| -> anyhow::Result<u64> {
            let line = (status.lines())
                .find_map(|line| line.strip_prefix(key))
                .with_context(|| format!("{path} has no {key} line"))?;
            let number = line.trim().trim_end_matches("kB").trim();
            number.parse::<u64>().with_context(|| format!("{path}: {key} {line:?}"))
        };
        Ok(Self {
            private_bytes: kib("RssAnon:")? * 1024,
            shared_bytes: kib("RssShmem:")? * 1024,
        })
    }
}

/// Measures a fork of a process the size of another, or of a size given in bytes; prints one
/// JSON object.
#[derive(Debug, Parser)]
#[command(name = "fork-floor", version)]
pub struct Cli {
    /// Be as big as this process (its resident private and shared memory).
    #[arg(long, conflicts_with_all = ["private_bytes", "shared_bytes"])]
    pub like: Option<i32>,
    /// Private memory to hold, in bytes (without --like).
    #[arg(long, default_value_t = 0)]
    pub private_bytes: u64,
    /// Shared memory to hold, in bytes (without --like).
    #[arg(long, default_value_t = 0)]
    pub shared_bytes: u64,
    /// Forks measured, one at a time, after 10 not measured.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub forks: u32,
}

/// The measurement `cli` asks for, as JSON.
pub fn run(cli: &Cli) -> anyhow::Result<serde_json::Value> {
    let size = match cli.like {
        Some(pid) => Size::of_process(pid)?,
        None => Size {
            private_bytes: cli.private_bytes,
            shared_bytes: cli.shared_bytes,
        },
    };
    Ok(measure(size, cli.forks)?.to_json())
}

/// One measurement: medians per fork, and CPU means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForkFloor {
    pub size: Size,
    pub forks: u32,
    /// The parent's `fork()` call, wall time, median, µs.
    pub fork_us: f64,
    /// The parent's `fork()` call, its thread's CPU, mean, µs.
    pub fork_cpu_us: f64,
    /// From the fork to the child reaped, wall time, median, µs.
    pub cycle_us: f64,
    /// The empty child's CPU (its exit) from `wait4`, mean, µs.
    pub exit_cpu_us: f64,
    /// The empty child's minor page faults from `wait4`, mean.
    pub exit_minor_faults: f64,
}

impl ForkFloor {
    /// The figures as the harness reads them (`fork-floor` prints this).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "private_bytes": self.size.private_bytes,
            "shared_bytes": self.size.shared_bytes,
            "forks": self.forks,
            "fork_us": self.fork_us,
            "fork_cpu_us": self.fork_cpu_us,
            "cycle_us": self.cycle_us,
            "exit_cpu_us": self.exit_cpu_us,
            "exit_minor_faults": self.exit_minor_faults,
        })
    }
}

/// Grows this process to `size` (less what it already holds), then forks `forks` empty
/// children one at a time and measures each.
pub fn measure(size: Size, forks: u32) -> anyhow::Result<ForkFloor> {
    if forks == 0 {
        bail!("--forks must be at least 1");
    }
    let own = Size::of_process(std::process::id() as i32)?;
    let private = touched_private(size.private_bytes.saturating_sub(own.private_bytes));
    let shared = touched_shared(size.shared_bytes)?;
    let (mut fork_us, mut cycle_us) = (Vec::new(), Vec::new());
    let (mut fork_cpu, mut exit_cpu, mut exit_faults) = (Duration::ZERO, 0u64, 0u64);
    for round in 0..WARM_UP + forks {
        let started = Instant::now();
        let cpu_before = thread_cpu()?;
        let child = fork_exiting_child().context("forking")?;
        let (forked, cpu_after) = (started.elapsed(), thread_cpu()?);
        let reaped = wait_with_usage(child).context("reaping the child")?;
        let cycle = started.elapsed();
        if reaped.status != WaitStatus::Exited(child, 0) {
            bail!("an empty child ended with {:?}", reaped.status);
        }
        if round >= WARM_UP {
            fork_us.push(forked.as_secs_f64() * 1e6);
            cycle_us.push(cycle.as_secs_f64() * 1e6);
            fork_cpu += cpu_after.saturating_sub(cpu_before);
            exit_cpu += reaped.cpu_us;
            exit_faults += reaped.minor_faults;
        }
    }
    std::hint::black_box((&private, &shared));
    Ok(ForkFloor {
        size,
        forks,
        fork_us: median(fork_us),
        fork_cpu_us: fork_cpu.as_secs_f64() * 1e6 / f64::from(forks),
        cycle_us: median(cycle_us),
        exit_cpu_us: exit_cpu as f64 / f64::from(forks),
        exit_minor_faults: exit_faults as f64 / f64::from(forks),
    })
}

/// `bytes` of private memory, every page written so it is resident.
fn touched_private(bytes: u64) -> Vec<u8> {
    let mut memory = vec![0u8; usize::try_from(bytes).unwrap_or(usize::MAX)];
    for page in memory.chunks_mut(PAGE) {
        page[0] = 1;
    }
    memory
}

/// `bytes` of shared memory (a memfd, as the fork server's), every page written.
fn touched_shared(bytes: u64) -> anyhow::Result<SharedMemory> {
    let elements = usize::try_from(bytes).unwrap_or(usize::MAX) / size_of::<i64>();
    let memory = std::sync::Arc::new(SharedMemory::create(elements).context("mapping shared memory")?);
    if elements > 0 {
        let mut slots = memory.into_slots(1, elements);
        let (pages, _) = slots[0].two_mut(0..elements, elements..elements);
        for page in pages.chunks_mut(PAGE / size_of::<i64>()) {
            page[0] = 1;
        }
    }
    std::sync::Arc::into_inner(memory).context("the shared memory is still lent")
}

fn thread_cpu() -> anyhow::Result<Duration> {
    Ok(clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)?.into())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_s_size_reads_its_resident_private_and_shared_memory() {
        let before = Size::of_process(std::process::id() as i32).unwrap();
        let private = touched_private(8 << 20);
        let after = Size::of_process(std::process::id() as i32).unwrap();
        assert!(
            after.private_bytes >= before.private_bytes + (7 << 20),
            "{before:?} then {after:?}"
        );
        drop(private);
        assert!(Size::of_process(-1).is_err());
    }

    #[test]
    fn forking_a_bigger_process_costs_the_parent_more() {
        let small = measure(
            Size {
                private_bytes: 0,
                shared_bytes: 0,
            },
            20,
        )
        .unwrap();
        let big = measure(
            Size {
                private_bytes: 512 << 20,
                shared_bytes: 4 << 20,
            },
            20,
        )
        .unwrap();
        // 512 MiB is 131,072 pages whose page-table entries the fork copies: far above noise.
        assert!(big.fork_cpu_us > 2.0 * small.fork_cpu_us, "{small:?} against {big:?}");
        assert!(big.cycle_us >= big.fork_us && small.exit_cpu_us >= 0.0);
        let json = big.to_json();
        assert_eq!(json["forks"], 20);
        assert_eq!(json["private_bytes"], 512u64 << 20);
    }
}
