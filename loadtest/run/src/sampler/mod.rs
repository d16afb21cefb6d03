//! CPU time and memory of a server's whole process tree, measured over a load-test trial.
//!
//! This module owns the measurement of the *server side* of a trial: how much CPU the server
//! spent and how much memory it held, for the root process and every descendant. The
//! multiprocessing server forks children per request and reaps them, so reading the root's own
//! figures would miss most of its work, and summing the wrong memory figure would count the same
//! pages several times. The kernel facts it relies on (man `proc_pid_stat(5)`, `times(2)`, kernel
//! `Documentation/filesystems/proc.rst` and `Documentation/ABI/testing/procfs-smaps_rollup`):
//!
//! - `utime` and `stime` in `/proc/PID/stat` cover every thread of the process and are in clock
//!   ticks of `1 / ticks_per_second` (usually 100 per second, so a reading has 10 ms resolution).
//! - `cutime` and `cstime` cover only children that have terminated *and been waited for*, and they
//!   include those children's own `cutime`/`cstime`. A child's CPU therefore moves from its own
//!   `utime`/`stime` into its parent's `cutime`/`cstime` at the moment it is reaped, and a tree sum
//!   of `utime + stime + cutime + cstime` over the live processes stays continuous across reaping.
//! - Descendants are found through `/proc/PID/task/TID/children`, one file per thread, because a
//!   child is listed under the thread that forked it (actix workers fork from their own threads).
//! - PSS from `/proc/PID/smaps_rollup` divides each shared page among the processes mapping it, so
//!   it is the only memory figure that can be summed over a tree. RSS counts a shared page in full
//!   in every process: a forked child's RSS repeats the parent's copy-on-write pages.
//!
//! What this cannot see, by construction: children reaped automatically because their parent
//! ignores `SIGCHLD` (their CPU is added to no one), and descendants whose parent exits without
//! waiting for them (they are re-parented out of the tree). Neither happens in the lab's servers.
//!
//! [`snapshot`] is one look at the tree; [`Sampler`] takes one at the start and end of a window and
//! others in between on a background thread, so that the memory peak of a trial is caught.
//! (How the figures are used: `docs/methodology.md`, "CPU and memory of a server".)

use std::collections::HashSet;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use procfs::ProcError;
use procfs::process::Process;
use serde::{Deserialize, Serialize};

/// How many times [`snapshot`] walks the tree again when the root reaped a child mid-walk.
///
/// A child reaped during the walk is either missed (its CPU not yet in the root's `cutime` when the
/// root was read, and gone from `/proc` when the walk reached it) or, with the opposite order,
/// counted twice. A few retries make that rare; if the root reaps on every attempt (a server busy
/// forking), the last walk is kept: its error is at most the CPU of the children reaped during it.
const WALK_ATTEMPTS: u32 = 3;

/// The shortest sampling interval [`Sampler::start`] accepts; shorter ones are raised to it.
///
/// Below one clock tick the CPU figures cannot change between samples, and walking the tree and its
/// page tables (`smaps_rollup` is not free) that often would itself load the machine being measured.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One look at a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TreeSnapshot {
    /// user+system CPU of every live process in the tree (all threads), plus the root's cutime+cstime
    /// (its reaped children), in seconds.
    ///
    /// Live descendants' own `cutime`/`cstime` (grandchildren they reaped) are included too, so the
    /// figure does not jump when such a descendant is itself reaped. Only differences between two
    /// snapshots of the same root mean anything: the absolute value includes the root's whole past.
    pub cpu_secs: f64,
    /// PSS summed over the tree (smaps_rollup), bytes.
    pub pss_bytes: u64,
    /// Processes in the tree (root included).
    pub processes: u32,
    /// Threads in the tree, every process's counted.
    #[serde(default)]
    pub threads: u32,
}

/// What a sampled window found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResourceWindow {
    /// CPU the tree used during the window (end snapshot minus start snapshot), in seconds; never negative.
    pub cpu_secs: f64,
    /// Tree PSS at the start snapshot, bytes.
    pub pss_before_bytes: u64,
    /// Largest tree PSS seen: over the start snapshot, every background sample and the end snapshot, bytes.
    pub pss_peak_bytes: u64,
    /// Tree PSS at the end snapshot, bytes.
    pub pss_after_bytes: u64,
    /// Most processes seen in the tree at once (root included), over the same snapshots as the peak.
    pub peak_processes: u32,
    /// Most threads seen in the tree at once, over the same snapshots.
    #[serde(default)]
    pub peak_threads: u32,
    /// Background samples taken between the start and end snapshots (those two not included).
    pub samples: u32,
    /// Wall-clock time from the start snapshot to the end snapshot, in seconds.
    pub wall_secs: f64,
}

/// Why the tree could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// The root process does not exist (wrong pid, or it has exited and been reaped or become a zombie).
    #[error("process {pid} does not exist (it exited, or the pid is wrong), so its tree cannot be sampled")]
    RootNotFound {
        /// The pid that was asked for.
        pid: i32,
    },
    /// A `/proc` file of a live process in the tree could not be read, for a reason other than the
    /// process going away (most often permission: `smaps_rollup` needs ptrace read access).
    #[error("cannot read /proc/{pid}/{file} while sampling the tree of process {root}")]
    Read {
        /// Root of the tree being sampled.
        root: i32,
        /// The process whose file failed.
        pid: i32,
        /// The file under `/proc/PID/`.
        file: &'static str,
        /// What procfs reported.
        #[source]
        source: ProcError,
    },
    /// The background sampling thread could not be started.
    #[error("cannot start the sampling thread for process {pid}")]
    SpawnThread {
        /// Root of the tree to be sampled.
        pid: i32,
        /// What the OS reported.
        #[source]
        source: std::io::Error,
    },
    /// The background sampling thread panicked (a bug in this module).
    #[error("the sampling thread for process {pid} panicked")]
    ThreadPanicked {
        /// Root of the tree that was being sampled.
        pid: i32,
    },
}

/// The tree rooted at `root`: root plus all descendants (via /proc/PID/task/TID/children,
/// recursively). Processes that vanish mid-read are skipped, not errors; only a missing root is an
/// error.
pub fn snapshot(root: i32) -> Result<TreeSnapshot, SamplerError> {
    let ticks_per_sec = procfs::ticks_per_second().max(1) as f64;
    let mut attempt = 1;
    loop {
        let walk = walk_tree(root)?;
        // Re-reading the root tells whether it reaped a child while the walk ran (see WALK_ATTEMPTS).
        // If the root is gone by now, the walk (which found it) is the last word on this tree.
        let stable = match Process::new(root).and_then(|p| p.stat()) {
            Ok(stat) => reaped_ticks(&stat) == walk.root_reaped_ticks,
            Err(ProcError::NotFound(_)) => true,
            Err(source) => return Err(root_error(root, ("stat", source))),
        };
        if stable || attempt >= WALK_ATTEMPTS {
            return Ok(TreeSnapshot {
                cpu_secs: walk.cpu_ticks as f64 / ticks_per_sec,
                pss_bytes: walk.pss_bytes,
                processes: walk.processes,
                threads: walk.threads,
            });
        }
        attempt += 1;
    }
}

/// Whether a process `pid` exists now (a zombie counts: it is there until reaped).
pub fn process_exists(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Samples the tree on a background thread every `interval` (the harness uses 200 ms) until `finish`.
///
/// Dropping it without calling [`Sampler::finish`] stops the thread too, at its next wake-up.
#[derive(Debug)]
pub struct Sampler {
    root: i32,
    start: TreeSnapshot,
    started_at: Instant,
    stop: mpsc::Sender<()>,
    worker: JoinHandle<Result<Extremes, SamplerError>>,
}

impl Sampler {
    /// Takes the start snapshot of the tree rooted at `root` (synchronously, so a missing root fails
    /// here) and starts sampling it every `interval` (at least 10 ms) on a background thread.
    pub fn start(root: i32, interval: Duration) -> Result<Sampler, SamplerError> {
        let start = snapshot(root)?;
        let started_at = Instant::now();
        let interval = interval.max(MIN_INTERVAL);
        let (stop, stopped) = mpsc::channel();
        let worker = thread::Builder::new()
            .name(format!("sampler-{root}"))
            .spawn(move || sample_until_stopped(root, interval, &stopped))
            .map_err(|source| SamplerError::SpawnThread { pid: root, source })?;
        Ok(Sampler {
            root,
            start,
            started_at,
            stop,
            worker,
        })
    }

    /// Stops the background thread (at once, not at its next tick), takes the end snapshot and
    /// returns the window. Fails if the root exited during the window or a sample could not be read.
    pub fn finish(self) -> Result<ResourceWindow, SamplerError> {
        // A send error means the thread already returned (with a sample error), which join reports.
        let _ = self.stop.send(());
        let extremes = self
            .worker
            .join()
            .map_err(|_| SamplerError::ThreadPanicked { pid: self.root })??;
        let end = snapshot(self.root)?;
        let wall_secs = self.started_at.elapsed().as_secs_f64();
        Ok(window(&self.start, &end, extremes, wall_secs))
    }
}

/// Peaks seen by the background samples alone.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Extremes {
    pss_peak_bytes: u64,
    peak_processes: u32,
    peak_threads: u32,
    samples: u32,
}

impl Extremes {
    fn record(&mut self, snap: &TreeSnapshot) {
        self.pss_peak_bytes = self.pss_peak_bytes.max(snap.pss_bytes);
        self.peak_processes = self.peak_processes.max(snap.processes);
        self.peak_threads = self.peak_threads.max(snap.threads);
        self.samples += 1;
    }
}

fn sample_until_stopped(root: i32, interval: Duration, stopped: &mpsc::Receiver<()>) -> Result<Extremes, SamplerError> {
    let mut extremes = Extremes::default();
    // Ticks are scheduled from a fixed origin so that the time a snapshot takes does not drift the
    // rate; ticks missed while the thread was starved are skipped rather than taken in a burst.
    let mut next = Instant::now() + interval;
    loop {
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop message, or the Sampler was dropped without `finish`: either way, stop.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(extremes),
        }
        extremes.record(&snapshot(root)?);
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now + interval;
        }
    }
}

fn window(start: &TreeSnapshot, end: &TreeSnapshot, extremes: Extremes, wall_secs: f64) -> ResourceWindow {
    ResourceWindow {
        // The tree sum can go down: a descendant that leaves the tree (re-parented when its parent
        // exits without waiting, or auto-reaped under SIG_IGN) takes its CPU with it. CPU used cannot
        // be negative, so a drop means "unknown, at least nothing": clamp rather than report < 0.
        cpu_secs: (end.cpu_secs - start.cpu_secs).max(0.0),
        pss_before_bytes: start.pss_bytes,
        pss_peak_bytes: extremes.pss_peak_bytes.max(start.pss_bytes).max(end.pss_bytes),
        pss_after_bytes: end.pss_bytes,
        peak_processes: extremes.peak_processes.max(start.processes).max(end.processes),
        peak_threads: extremes.peak_threads.max(start.threads).max(end.threads),
        samples: extremes.samples,
        wall_secs,
    }
}

/// Sums over one walk of the tree, in the kernel's units.
#[derive(Debug, Default)]
struct Walk {
    cpu_ticks: u64,
    pss_bytes: u64,
    processes: u32,
    threads: u32,
    root_reaped_ticks: u64,
}

fn walk_tree(root: i32) -> Result<Walk, SamplerError> {
    let Some(first) = read_process(root, None).map_err(|e| root_error(root, e))? else {
        return Err(SamplerError::RootNotFound { pid: root });
    };
    let mut walk = Walk {
        root_reaped_ticks: first.reaped_ticks,
        ..Walk::default()
    };
    // A set, not just a stack: a pid recycled mid-walk must not be able to make the walk loop.
    let mut seen = HashSet::from([root]);
    let mut pending = vec![first];
    while let Some(reading) = pending.pop() {
        walk.cpu_ticks += reading.cpu_ticks;
        walk.pss_bytes += reading.pss_bytes;
        walk.processes += 1;
        walk.threads += reading.threads;
        for child in reading.children {
            if !seen.insert(child) {
                continue;
            }
            match read_process(child, Some(reading.pid)) {
                Ok(Some(r)) => pending.push(r),
                // Exited and reaped between being listed and being read: its CPU is now in its
                // parent's cutime, which snapshot's retry accounts for.
                Ok(None) => {}
                Err((file, source)) => {
                    return Err(SamplerError::Read {
                        root,
                        pid: child,
                        file,
                        source,
                    });
                }
            }
        }
    }
    Ok(walk)
}

/// One process's figures, in the kernel's units.
#[derive(Debug)]
struct ProcessReading {
    pid: i32,
    /// utime + stime + cutime + cstime.
    cpu_ticks: u64,
    /// cutime + cstime alone.
    reaped_ticks: u64,
    pss_bytes: u64,
    threads: u32,
    children: Vec<i32>,
}

/// Reads one process; `Ok(None)` if it is gone (or its pid now belongs to someone else's child).
/// On failure, returns the file that failed and why.
fn read_process(pid: i32, expected_parent: Option<i32>) -> Result<Option<ProcessReading>, (&'static str, ProcError)> {
    // Process::new opens /proc/PID once and reads every file relative to that handle, so if the pid
    // is recycled mid-read the reads fail (ESRCH, mapped to NotFound) instead of reading a stranger.
    let process = match Process::new(pid) {
        Ok(p) => p,
        Err(ProcError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(("", e)),
    };
    let stat = match process.stat() {
        Ok(s) => s,
        Err(ProcError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(("stat", e)),
    };
    // With pid_max often 32768, the pid we were given by a children file may already be a new,
    // unrelated process; its parent tells.
    if expected_parent.is_some_and(|parent| stat.ppid != parent) {
        return Ok(None);
    }
    let pss_bytes = match process.smaps_rollup() {
        Ok(rollup) => rollup
            .memory_map_rollup
            .0
            .iter()
            .filter_map(|map| map.extension.map.get("Pss"))
            .sum(),
        // A zombie (exited, not yet reaped) has released its memory and smaps_rollup fails with
        // ESRCH; a child caught mid-exit, its memory half torn down, reads as empty (Incomplete).
        // Its CPU still counts until its parent reaps it, so keep it with no memory.
        Err(ProcError::NotFound(_) | ProcError::Incomplete(_)) if expected_parent.is_some() => 0,
        Err(ProcError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(("smaps_rollup", e)),
    };
    let children = read_children(&process).map_err(|e| ("task/TID/children", e))?;
    let reaped_ticks = reaped_ticks(&stat);
    Ok(Some(ProcessReading {
        pid,
        cpu_ticks: stat.utime + stat.stime + reaped_ticks,
        reaped_ticks,
        pss_bytes,
        threads: u32::try_from(stat.num_threads).unwrap_or(0),
        children,
    }))
}

/// cutime + cstime: CPU of the reaped children (and, through theirs, of their reaped descendants).
fn reaped_ticks(stat: &procfs::process::Stat) -> u64 {
    // C longs in the kernel's format, but never negative.
    u64::try_from(stat.cutime).unwrap_or(0) + u64::try_from(stat.cstime).unwrap_or(0)
}

/// Children of every thread of `process`; threads that exit while being read are skipped.
fn read_children(process: &Process) -> Result<Vec<i32>, ProcError> {
    let tasks = match process.tasks() {
        Ok(tasks) => tasks,
        // The whole process exited after its stat was read: it has no children any more.
        Err(ProcError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut children = Vec::new();
    for task in tasks {
        let listed = match task.and_then(|t| t.children()) {
            Ok(listed) => listed,
            Err(ProcError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        // Pids fit in i32 (PID_MAX_LIMIT is 2^22); anything else is not a pid we could open.
        children.extend(listed.into_iter().filter_map(|pid| i32::try_from(pid).ok()));
    }
    Ok(children)
}

fn root_error(root: i32, (file, source): (&'static str, ProcError)) -> SamplerError {
    match source {
        ProcError::NotFound(_) => SamplerError::RootNotFound { pid: root },
        source => SamplerError::Read {
            root,
            pid: root,
            file,
            source,
        },
    }
}

#[cfg(test)]
mod tests;
