//! Adding with a child process per band, forked for each request, as the original lab did.
//!
//! Under one process-wide lock: make a pipe (O_CLOEXEC) per band, fork a child per band that
//! inherits A and B (through the fork server by default, see [`fork_server`]; the
//! child is this process's child either way), and close the parent's write ends at once. Then
//! drain every pipe for its exact byte count, and reap every child by pid. Any failure on the
//! way (a child that crashes, hangs past `--child-timeout`, or sends too much or too little)
//! ends the request with an error while the [`Children`] guard kills and reaps what is left.

pub mod children;
pub mod fork_server;

use std::ops::Range;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::{Pid, getpid, pipe2};

use matrix_service::bands::bands;
use matrix_service::{AddEngine, AddError, Addition, Operands, Work};

use crate::hooks::fault::ChildFault;
use crate::slots::{SlotPool, SlotWorkspace};
use crate::sys::{BandTask, fork_band_child};
use children::{Children, ChildrenError};
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

impl AddEngine for ForkPerRequest {
    const UNITS: &'static str = "child processes";

    type Workspace = SlotWorkspace;

    fn workspace(&self, rows: usize, cols: usize) -> Result<SlotWorkspace, AddError> {
        self.slots.workspace(rows, cols).map_err(AddError::Unavailable)
    }

    fn add(&self, work: &mut SlotWorkspace, workers: usize, task: Work) -> Result<Addition, AddError> {
        let (inputs, sum) = work.split();
        let child_pids = add_forked(
            inputs,
            sum,
            (workers, task),
            self.child_timeout,
            self.fault,
            self.fork_server.as_deref(),
        )?;
        Ok(Addition {
            child_pids: Some(child_pids),
            checksum: None,
        })
    }

    fn reclaim_idle(&self, now: Instant) {
        self.slots.reclaim_idle(now);
    }
}

/// `a + b` into `out` (as long as the inputs), computed by one forked child per band (fewer
/// children if there are fewer rows), forked by `fork_server` if given (the inputs must then
/// lie in its shared memory), else by this thread. Returns the children's pids, in band order,
/// all reaped.
pub fn add_forked(
    inputs: Operands<'_>,
    out: &mut [i64],
    (workers, task): (usize, Work),
    timeout: Duration,
    fault: ChildFault,
    fork_server: Option<&ForkServer>,
) -> Result<Vec<i32>, AddError> {
    let Operands {
        a: a_all,
        b: b_all,
        cols,
    } = inputs;
    assert_eq!(out.len(), a_all.len(), "the sum has the inputs' shape");
    let deadline = Instant::now() + timeout;
    // Everything the children and the drain need is allocated before the first fork.
    let band_spans: Vec<Range<usize>> = bands(inputs.rows(), workers)
        .map(|r| r.start * cols..r.end * cols)
        .collect();
    let mut children = Children::with_capacity(band_spans.len());
    let parent = getpid();
    let wait = task.band_wait(band_spans.len());

    {
        let _forking = FORK_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pipes = Vec::with_capacity(band_spans.len());
        for span in &band_spans {
            let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| start_error("a pipe", e))?;
            let band_bytes = span.len() * std::mem::size_of::<i64>();
            let _ = fcntl(&write_end, FcntlArg::F_SETPIPE_SZ(band_bytes.min(PIPE_BYTES) as i32));
            pipes.push((read_end, write_end));
        }
        let tasks: Vec<BandTask<'_>> = (band_spans.iter().zip(&pipes))
            .map(|(span, (_, write_end))| BandTask {
                a: &a_all[span.clone()],
                b: &b_all[span.clone()],
                write_end: write_end.as_fd(),
                parent,
                fault,
                wait,
            })
            .collect();
        let forked = match fork_server {
            Some(fork_server) => fork_server.fork_bands(&tasks),
            None => fork_band_children(&tasks),
        };
        drop(tasks);
        // Every write end closes here, the children's being their only ones; a band whose fork
        // failed, or was never tried, goes with its whole pipe.
        let tried = forked.len();
        for ((read_end, _write_end), (span, result)) in pipes.into_iter().zip(band_spans.iter().zip(forked)) {
            let pid = result.map_err(|e| start_error("a child process", e))?;
            children.push(pid, read_end, span.clone());
        }
        if tried < band_spans.len() {
            let why = format!("only {tried} of {} children were forked", band_spans.len());
            return Err(AddError::WorkerFailed(why));
        }
    }

    if fault == ChildFault::ParentHangsUp {
        children.hang_up();
    }
    let finished = children.drain_into(out, deadline).and_then(|()| children.reap_all());
    match finished {
        Ok(()) => {}
        Err(ChildrenError::TimedOut) => return Err(AddError::TimedOut(timeout)),
        Err(ChildrenError::Failed(why)) => return Err(AddError::WorkerFailed(why)),
        Err(ChildrenError::Overflow { band }) => {
            let overflow = inputs.first_overflow_in(band);
            return Err(AddError::Overflow(
                overflow.expect("the child saw an overflow in its band"),
            ));
        }
    }
    Ok(children.pids())
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
fn start_error(what: &str, errno: Errno) -> AddError {
    match errno {
        Errno::EAGAIN | Errno::ENOMEM | Errno::EMFILE | Errno::ENFILE => {
            AddError::Unavailable(format!("the OS refused {what}: {errno}"))
        }
        _ => AddError::WorkerFailed(format!("could not create {what}: {errno}")),
    }
}
