//! Computing with a child process per band, forked for each request, as the original lab did.
//!
//! Under one process-wide lock: make a pipe (O_CLOEXEC) per band, fork a child per band that
//! inherits A and B (through the fork server by default, see [`fork_server`]; the
//! child is this process's child either way), and close the parent's write ends at once. Then
//! drain every pipe for its exact byte count, and reap every child by pid. Any failure on the
//! way (a child that crashes, hangs past `--child-timeout`, or sends too much or too little)
//! ends the request with an error while the [`Children`] guard kills and reaps what is left.

pub mod children;
pub mod fork_server;

use std::future::Future;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::{Pid, getpid, pipe2};

use matrix_service::trace::{Mark, Phase, Place, Trace};
use matrix_service::{Band, Computed, Engine, Operands, Shapes, Task, WorkError};

use crate::hooks::fault::ChildFault;
use crate::slots::{SlotPool, SlotWorkspace};
use crate::sys::{BAND_CHILD_NAME, BandTask, fork_band_child};
use children::{ChildRun, Children, ChildrenError};
use fork_server::ForkServer;

/// Held from a request's first `pipe2` to the parent's close of its write ends, so a child
/// forked for another request at the same moment cannot inherit this request's write ends
/// (which would hold those pipes' EOF back until that other child exits).
static FORK_LOCK: Mutex<()> = Mutex::new(());

/// The largest pipe buffer asked for. Unprivileged processes may raise a pipe to 1 MiB
/// (`fs.pipe-max-size`); a bigger pipe means fewer context switches per band. It is only an
/// optimization: if the kernel says no, the default 64 KiB works the same, just slower.
const PIPE_BYTES: usize = 1 << 20;

/// The fork-per-request engine.
#[derive(Debug, Clone)]
pub struct ForkPerRequest {
    /// How long a request's children may take before they are killed (`--child-timeout`).
    pub child_timeout: Duration,
    /// What every child does wrong, for tests (`--debug-child-fault`).
    pub fault: ChildFault,
    /// Where requests keep their matrices: memory shared with the children (see [`crate::slots`]).
    pub slots: Arc<SlotPool>,
    /// Who forks the children: the fork server (`--fork-from fork-server`), or, with `None`,
    /// the request's own thread (`--fork-from server`).
    pub fork_server: Option<Arc<ForkServer>>,
}

impl Engine for ForkPerRequest {
    const UNITS: &'static str = "child processes";

    type Workspace = SlotWorkspace;

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "children_forked",
            "Child processes forked for bands",
            children::FORKED.clone(),
        );
        registry.register("children_reaped", "Child processes reaped", children::REAPED.clone());
        registry.register(
            "children_killed",
            "Child processes SIGKILLed because their request gave up on them",
            children::KILLED.clone(),
        );
        registry.register(
            "children_alive_peak",
            "The most child processes alive at once since the server began",
            children::ALIVE_PEAK.clone(),
        );
    }

    fn workspace(&self, shapes: Shapes) -> Result<SlotWorkspace, WorkError> {
        self.slots.workspace(shapes).map_err(WorkError::Unavailable)
    }

    fn compute(
        &self,
        work: &mut SlotWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> impl Future<Output = Result<Computed, WorkError>> {
        std::future::ready(self.compute_here(work, workers, task, trace))
    }

    fn reclaim_idle(&self, now: Instant) {
        self.slots.reclaim_idle(now);
    }
}

impl ForkPerRequest {
    /// The computation, done on this (blocking) thread.
    fn compute_here(
        &self,
        work: &mut SlotWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> Result<Computed, WorkError> {
        let (a, b, out) = work.split();
        let child_pids = compute_forked(
            Operands::new(a, b, task),
            (out, workers),
            (self.child_timeout, self.fault),
            self.fork_server.as_deref(),
            trace,
        )?;
        Ok(Computed {
            child_pids: Some(child_pids),
            checksum: None,
        })
    }
}

/// The task of `inputs` into `out` (the result's length), computed by one forked child per band
/// (fewer children if there are fewer rows), forked by `fork_server` if given (the inputs must then
/// lie in its shared memory), else by this thread. Returns the children's pids, in band order,
/// all reaped. `timeout` bounds the children's lives; `fault` is the test hooks'.
///
/// Traced, this thread records the fork server's round trip, the pipes' reading and the
/// reaping; then, for each child, from the times it sent after its rows, its fork (from this
/// request asking for children to the child ready) and its band, on the child's own lane.
pub fn compute_forked(
    inputs: Operands<'_>,
    (out, workers): (&mut [i64], usize),
    (timeout, fault): (Duration, ChildFault),
    fork_server: Option<&ForkServer>,
    trace: Trace<'_>,
) -> Result<Vec<i32>, WorkError> {
    let task = inputs.task;
    assert_eq!(out.len(), task.shapes.out_len(), "the result has the task's shape");
    let deadline = Instant::now() + timeout;
    let bands: Vec<Band> = task.bands(workers).collect();
    let mut children = Children::with_capacity(bands.len());
    let parent = getpid();
    let wait = task.band_wait(bands.len());
    let asked = trace.start();

    {
        let _forking = FORK_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pipes = Vec::with_capacity(bands.len());
        for band in &bands {
            let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| start_error("a pipe", e))?;
            let band_bytes = band.out.len() * std::mem::size_of::<i64>();
            let _ = fcntl(&write_end, FcntlArg::F_SETPIPE_SZ(band_bytes.min(PIPE_BYTES) as i32));
            pipes.push((read_end, write_end));
        }
        let tasks: Vec<BandTask<'_>> = (bands.iter().zip(&pipes))
            .map(|(band, (_, write_end))| {
                let (a, b) = inputs.of(band);
                BandTask {
                    a,
                    b,
                    kernel: task.kernel,
                    out_len: band.out.len(),
                    write_end: write_end.as_fd(),
                    parent,
                    fault,
                    wait,
                }
            })
            .collect();
        let forked = match fork_server {
            Some(fork_server) => {
                let forked = fork_server.fork_bands(&tasks);
                trace.here(Phase::ForkRequest, asked);
                forked
            }
            None => fork_band_children(&tasks),
        };
        drop(tasks);
        // Every write end closes here, the children's being their only ones; a band whose fork
        // failed, or was never tried, goes with its whole pipe.
        let tried = forked.len();
        for ((read_end, _write_end), (band, result)) in pipes.into_iter().zip(bands.iter().zip(forked)) {
            let pid = result.map_err(|e| start_error("a child process", e))?;
            children.push(pid, read_end, band);
        }
        if tried < bands.len() {
            let why = format!("only {tried} of {} children were forked", bands.len());
            return Err(WorkError::WorkerFailed(why));
        }
    }

    if fault == ChildFault::ParentHangsUp {
        children.hang_up();
    }
    let reading = trace.start();
    let drained = children.drain_into(out, deadline);
    trace.here(Phase::PipeRead, reading);
    let reaping = trace.start();
    let finished = drained.and_then(|()| children.reap_all());
    trace.here(Phase::Reap, reaping);
    if let Some(asked) = asked {
        record_children(trace, asked.wall_us, children.runs());
    }
    match finished {
        Ok(()) => {}
        Err(ChildrenError::TimedOut) => return Err(WorkError::TimedOut(timeout)),
        Err(ChildrenError::Failed(why)) => return Err(WorkError::WorkerFailed(why)),
        // The child only says that its band overflowed; find where, for the client.
        Err(ChildrenError::Overflow { rows }) => return Err(inputs.overflow_in(rows)),
    }
    Ok(children.pids())
}

/// Records each child's fork, from `asked` to the child ready, and its band, on its own lane.
fn record_children(trace: Trace<'_>, asked: u64, runs: impl Iterator<Item = ChildRun>) {
    for (band, run) in runs.enumerate() {
        let lane = Place::Process {
            pid: run.pid.as_raw(),
            name: BAND_CHILD_NAME.to_str().unwrap_or("band-child"),
        };
        let times = run.times;
        trace.record(Mark::new(Phase::Fork, asked, times.started_us).band(band), lane);
        let ran = Mark::new(Phase::Band, times.started_us, times.ended_us)
            .band(band)
            .cpu_us(times.cpu_us)
            .rusage_cpu_us(run.cpu_at_reap_us)
            .minor_faults(run.minor_faults);
        trace.record(ran, lane);
    }
}

/// Forks a child for each of `tasks` from this thread, in order, stopping at the first
/// failure; returns one result per child tried (only the last may be an error). The caller
/// holds the fork lock.
pub fn fork_band_children(tasks: &[BandTask<'_>]) -> Vec<nix::Result<Pid>> {
    until_first_failure(tasks, fork_band_child)
}

/// `step` on each of `items` in order, up to and including the first that fails.
pub(crate) fn until_first_failure<T, R, E>(items: &[T], mut step: impl FnMut(&T) -> Result<R, E>) -> Vec<Result<R, E>> {
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let result = step(item);
        let failed = result.is_err();
        results.push(result);
        if failed {
            break;
        }
    }
    results
}

/// Maps a failure to create a pipe or process: running out is temporary (503), the rest is not.
fn start_error(what: &str, errno: Errno) -> WorkError {
    match errno {
        Errno::EAGAIN | Errno::ENOMEM | Errno::EMFILE | Errno::ENFILE => {
            WorkError::Unavailable(format!("the OS refused {what}: {errno}"))
        }
        _ => WorkError::WorkerFailed(format!("could not create {what}: {errno}")),
    }
}
