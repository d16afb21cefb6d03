//! The pre-forked pool: worker processes started once, fed small jobs through pipes, the
//! matrices themselves in memory they share with the server, supervised the way gunicorn's
//! arbiter supervises its workers.
//!
//! - **Start.** The first workers are forked while the server has a single thread (before the
//!   HTTP runtime exists), so nothing of a runtime is copied into them. Replacements are
//!   started by re-executing this binary (`--pool-worker`), never by forking the threaded
//!   server.
//! - **Jobs.** A request's bands go into one FIFO queue; each idle worker takes the next job:
//!   a [`Job`] message naming spans of the shared memory, answered by a [`Done`] message that
//!   echoes the job's id. One job per worker at a time.
//! - **Supervision** (one thread, [`Supervisor`]): reads every worker's answers; a worker
//!   whose pipe closes is reaped by pid, its job reported lost, and a replacement started. A
//!   request whose deadline passes kills its workers (SIGKILL). Workers that keep dying right
//!   after they start (a crash loop) are not replaced forever: after [`CRASH_LIMIT`] in a row
//!   the pool stops replacing them and, once none is left, answers 503.
//! - **Stop.** After the HTTP server has drained, the job pipes close; workers finish their job,
//!   read EOF and exit 0; stragglers get SIGKILL after a grace period. Every worker is reaped.
//!
//! A band of the shared memory belongs to one worker from its job to its Done (or its death):
//! the server does not read or write it meanwhile ([`SlotMemory`] checks this).

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpid, pipe2};

use crate::fault::ChildFault;
use crate::protocol::{Done, Job, Status};
use crate::slots::SlotPool;
use crate::sys::{SharedMemory, SlotMemory, fork_pool_worker, pass_worker_memory};
use crate::worker::{self, WORKER_FLAG};

/// Workers in a row that may die before finishing a single job, within [`EARLY_DEATH`] of
/// starting, before the pool stops replacing them (gunicorn halts on a worker boot error).
pub const CRASH_LIMIT: u32 = 5;

/// A worker that dies younger than this without having finished a job counts toward the
/// crash limit.
pub const EARLY_DEATH: Duration = Duration::from_secs(2);

/// After a deadline's SIGKILL, how long a request waits to see its workers reaped before it
/// gives up on its memory slot (a process stuck in the kernel may outlive SIGKILL for a while).
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How a pool is shaped.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Worker processes.
    pub workers: usize,
    /// Requests that may hold memory at once (one slot each).
    pub slots: usize,
    /// Elements per slot: room for A, B and the sum of the largest allowed request.
    pub slot_elements: usize,
    /// Elements per slot kept resident after a request; pages beyond go back to the OS.
    pub resident_elements: usize,
    /// Test hook: how every worker misbehaves.
    pub fault: ChildFault,
}

/// Why the pool did not compute a request's bands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// No worker or slot for now: try again later (503).
    Unavailable(String),
    /// A worker died or broke the protocol while holding a band (500).
    Lost(String),
    /// The deadline passed; the workers still holding bands were killed (504).
    TimedOut,
    /// The sum overflowed in the band with this index.
    Overflow { band: usize },
}

/// A request's bands, computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAddition {
    /// The worker that computed each band, in band order.
    pub pids: Vec<i32>,
    /// The sum's checksum, from the workers' band sums.
    pub checksum: i64,
}

/// The pool: shared by every request thread; [`Pool::shutdown`] ends it.
pub struct Pool {
    shared: Arc<Shared>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

/// What request threads and the supervisor share.
struct Shared {
    slots: Arc<SlotPool>,
    state: Mutex<State>,
    /// Signalled whenever an outcome is recorded.
    changed: Condvar,
    /// The supervisor also polls this pipe, so [`Pool::shutdown`] can wake it.
    wake: OwnedFd,
    server: Pid,
    config: PoolConfig,
}

struct State {
    workers: Vec<Worker>,
    queue: VecDeque<Job>,
    /// How each finished job ended, until its request collects it.
    outcomes: HashMap<u64, Outcome>,
    next_job: u64,
    /// Workers in a row that died early (see [`CRASH_LIMIT`]).
    crash_streak: u32,
    /// Set when the pool stopped replacing workers, with the reason.
    down: Option<String>,
    stopping: bool,
}

/// A live worker, as request threads see it.
struct Worker {
    pid: Pid,
    /// The write end of the worker's job pipe.
    jobs: Option<OwnedFd>,
    job: Option<Job>,
    /// A job could not be written: the worker is dying; the supervisor will reap it.
    broken: bool,
    started: Instant,
    finished_jobs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Finished { status: Status, checksum: i64, pid: Pid },
    Lost(String),
    Unavailable(String),
}

impl Pool {
    /// Maps the shared memory, forks `config.workers` workers and starts the supervisor.
    ///
    /// Must run while the process has one thread: before the HTTP runtime, the logger's or any
    /// other thread exists.
    pub fn start(config: PoolConfig) -> anyhow::Result<Arc<Self>> {
        if thread_count() != Some(1) {
            anyhow::bail!("the worker pool must start before any thread does (forking a threaded process is unsafe)");
        }
        let slots = Arc::new(SlotPool::new(
            config.slots,
            config.slot_elements,
            config.resident_elements,
        )?);
        let (wake_rx, wake) = pipe2(OFlag::O_CLOEXEC)?;
        let server = getpid();
        let mut workers = Vec::with_capacity(config.workers);
        let mut answers = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            let (worker, answer) = start_worker(slots.memory(), server, config.fault, Start::Fork)?;
            workers.push(worker);
            answers.push(answer);
        }
        let shared = Arc::new(Shared {
            slots,
            state: Mutex::new(State {
                workers,
                queue: VecDeque::new(),
                outcomes: HashMap::new(),
                next_job: 0,
                crash_streak: 0,
                down: None,
                stopping: false,
            }),
            changed: Condvar::new(),
            wake,
            server,
            config,
        });
        let supervisor = Supervisor {
            shared: Arc::clone(&shared),
            answers,
            wake: wake_rx,
        };
        let handle = std::thread::Builder::new()
            .name("pool-supervisor".into())
            .spawn(move || supervisor.run())?;
        tracing::info!(workers = config.workers, slots = config.slots, "worker pool started");
        Ok(Arc::new(Self {
            shared,
            supervisor: Mutex::new(Some(handle)),
        }))
    }

    /// The memory requests keep their matrices in, shared with the workers.
    pub fn slots(&self) -> &Arc<SlotPool> {
        &self.shared.slots
    }

    /// Computes `sum = a + b` for the request in `slot` (A, B and the sum, `len` elements each,
    /// in that order, at the slot's start), one job per band of rows of `cols` elements, by
    /// `deadline`. Blocking.
    pub fn add(
        &self,
        slot: &mut SlotMemory,
        len: usize,
        cols: usize,
        bands: impl Iterator<Item = Range<usize>>,
        deadline: Instant,
    ) -> Result<PoolAddition, PoolError> {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(PoolError::Unavailable("the server is shutting down".into()));
        }
        if let (Some(why), true) = (&state.down, state.workers.is_empty()) {
            return Err(PoolError::Unavailable(why.clone()));
        }
        let base = slot.start();
        let mut ids = Vec::new();
        for rows in bands {
            let offset = (base + rows.start * cols) as u64;
            let job = Job {
                id: state.next_job,
                a: offset,
                b: offset + len as u64,
                out: offset + 2 * len as u64,
                len: (rows.len() * cols) as u64,
            };
            state.next_job += 1;
            slot.lend();
            state.queue.push_back(job);
            ids.push(job.id);
        }
        state.dispatch();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; ids.len()];
        let (mut state, in_time) = self.collect(state, slot, &ids, &mut outcomes, deadline);
        if !in_time {
            // Unqueue what never started; kill the workers holding the rest, then wait to see
            // them reaped, so no dead request's band is still being written when its slot is
            // reused.
            for (id, outcome) in ids.iter().zip(&mut outcomes) {
                if outcome.is_none() && state.unqueue(*id) {
                    *outcome = Some(Outcome::Lost("never started".into()));
                    slot.give_back();
                }
            }
            for worker in state
                .workers
                .iter()
                .filter(|w| w.job.is_some_and(|job| ids.contains(&job.id)))
            {
                let _ = kill(worker.pid, Signal::SIGKILL);
            }
            let _ = self.collect(state, slot, &ids, &mut outcomes, Instant::now() + KILL_GRACE);
            return Err(PoolError::TimedOut);
        }
        drop(state);
        let mut added = PoolAddition {
            pids: Vec::with_capacity(ids.len()),
            checksum: 0,
        };
        let mut overflow = None;
        for (band, outcome) in outcomes.into_iter().enumerate() {
            let (status, checksum, pid) = match outcome.expect("collected in time") {
                Outcome::Finished { status, checksum, pid } => (status, checksum, pid),
                Outcome::Lost(why) => return Err(PoolError::Lost(why)),
                Outcome::Unavailable(why) => return Err(PoolError::Unavailable(why)),
            };
            match status {
                Status::Ok => {}
                Status::Overflow => _ = overflow.get_or_insert(band),
                Status::BadJob | Status::Unknown(_) => {
                    return Err(PoolError::Lost(format!(
                        "pool worker {pid} answered {status:?} to a well-formed job"
                    )));
                }
            }
            added.pids.push(pid.as_raw());
            added.checksum = added.checksum.wrapping_add(checksum);
        }
        match overflow {
            Some(band) => Err(PoolError::Overflow { band }),
            None => Ok(added),
        }
    }

    /// Waits until every job of `ids` has an outcome or `deadline` passes; gives each
    /// finished band back to `slot`. Returns whether all finished.
    fn collect<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        slot: &mut SlotMemory,
        ids: &[u64],
        outcomes: &mut [Option<Outcome>],
        deadline: Instant,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            for (id, outcome) in ids.iter().zip(outcomes.iter_mut()) {
                if outcome.is_none()
                    && let Some(found) = state.outcomes.remove(id)
                {
                    *outcome = Some(found);
                    slot.give_back();
                }
            }
            if outcomes.iter().all(Option::is_some) {
                return (state, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (state, false);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the pool: refuses new jobs, closes the job pipes so idle workers exit and busy ones
    /// exit after their job, waits up to `grace`, then kills and reaps any left. Idempotent.
    pub fn shutdown(&self, grace: Duration) {
        let Some(handle) = self.supervisor.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        {
            let mut state = self.shared.lock();
            state.stopping = true;
            state.fail_queue(&Outcome::Unavailable("the server is shutting down".into()));
        }
        self.shared.changed.notify_all();
        let _ = nix::unistd::write(
            &self.shared.wake,
            &grace.as_millis().min(u32::MAX as u128).to_ne_bytes()[..4],
        );
        let _ = handle.join();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Hands queued jobs to idle workers, in order.
    fn dispatch(&mut self) {
        while !self.queue.is_empty() {
            let Some(worker) = self.workers.iter_mut().find(|w| w.job.is_none() && !w.broken) else {
                return;
            };
            let job = self.queue.pop_front().expect("checked non-empty");
            // One message into an empty pipe: never blocks, never splits.
            let sent = worker.jobs.as_ref().map(|fd| nix::unistd::write(fd, &job.encode()));
            match sent {
                Some(Ok(Job::BYTES)) => worker.job = Some(job),
                _ => {
                    worker.broken = true;
                    self.queue.push_front(job);
                }
            }
        }
    }

    /// Removes a job that has not started; says whether it was queued.
    fn unqueue(&mut self, id: u64) -> bool {
        let before = self.queue.len();
        self.queue.retain(|job| job.id != id);
        self.queue.len() < before
    }

    fn fail_queue(&mut self, outcome: &Outcome) {
        for job in std::mem::take(&mut self.queue) {
            self.outcomes.insert(job.id, outcome.clone());
        }
    }
}

/// How a new worker comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// fork(), only while the server has one thread.
    Fork,
    /// A fresh exec of this binary, safe from a threaded server.
    Exec,
}

/// A worker's answer pipe, as the supervisor reads it.
struct Answers {
    pid: Pid,
    done: OwnedFd,
    /// Bytes of an incomplete message.
    partial: Vec<u8>,
}

fn start_worker(
    memory: &SharedMemory,
    server: Pid,
    fault: ChildFault,
    how: Start,
) -> std::io::Result<(Worker, Answers)> {
    let (jobs_rx, jobs_tx) = pipe2(OFlag::O_CLOEXEC)?;
    let (done_rx, done_tx) = pipe2(OFlag::O_CLOEXEC)?;
    let pid = match how {
        Start::Fork => fork_pool_worker(jobs_rx.as_fd(), done_tx.as_fd(), memory.fd(), || {
            worker::run(server, fault)
        })?,
        Start::Exec => {
            // /proc/self/exe, not current_exe(): it still works if the binary was replaced or
            // deleted since the server started (a rebuild under a running server).
            let mut command = Command::new("/proc/self/exe");
            command
                .args([
                    WORKER_FLAG,
                    &server.to_string(),
                    "--debug-child-fault",
                    &fault.to_string(),
                ])
                .stdin(Stdio::from(jobs_rx))
                .stdout(Stdio::from(done_tx))
                .stderr(Stdio::inherit());
            pass_worker_memory(&mut command, memory.fd());
            let child = command.spawn()?;
            // Reaped by pid with waitpid; dropping the handle neither waits nor kills.
            Pid::from_raw(child.id() as i32)
        }
    };
    fcntl(&done_rx, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    let worker = Worker {
        pid,
        jobs: Some(jobs_tx),
        job: None,
        broken: false,
        started: Instant::now(),
        finished_jobs: 0,
    };
    Ok((
        worker,
        Answers {
            pid,
            done: done_rx,
            partial: Vec::new(),
        },
    ))
}

/// The supervisor thread: reads answers, reaps and replaces dead workers, stops the pool.
struct Supervisor {
    shared: Arc<Shared>,
    answers: Vec<Answers>,
    wake: OwnedFd,
}

/// What reading a worker's pipe showed.
enum Heard {
    Nothing,
    /// The pipe closed or failed: the worker is dead or dying.
    Closed,
    /// The worker broke the protocol (a corrupt or unexpected message): kill it.
    Broken(String),
}

impl Supervisor {
    fn run(mut self) {
        let grace = loop {
            let missing = self.shared.config.workers.saturating_sub(self.answers.len());
            let retry = missing > 0 && self.shared.lock().down.is_none();
            let timeout = if retry {
                PollTimeout::from(1000u16)
            } else {
                PollTimeout::NONE
            };
            let (woken, ready) = match self.wait(timeout) {
                Ok(ready) => ready,
                Err(e) => {
                    let why =
                        format!("the worker pool is down: its supervisor could not poll ({e}); see the server's log");
                    tracing::error!("{why}; stopping the pool");
                    self.shared.lock().down = Some(why);
                    break Duration::ZERO;
                }
            };
            if let Some(grace) = woken {
                break grace;
            }
            for index in ready.into_iter().rev() {
                match self.read_answers(index) {
                    Heard::Nothing => {}
                    Heard::Closed => self.bury(index),
                    Heard::Broken(why) => {
                        tracing::error!(pid = %self.answers[index].pid, "pool worker broke the protocol ({why}); killing it");
                        let _ = kill(self.answers[index].pid, Signal::SIGKILL);
                    }
                }
            }
            self.replace_missing();
        };
        self.stop_workers(grace);
    }

    /// Polls the wake pipe and every answer pipe. Returns the grace period if woken to stop,
    /// and the indexes of answer pipes with something to read.
    fn wait(&mut self, timeout: PollTimeout) -> nix::Result<(Option<Duration>, Vec<usize>)> {
        if self.shared.config.fault == ChildFault::SupervisorPollFails
            && self.shared.lock().workers.iter().any(|w| w.job.is_some())
        {
            return Err(Errno::EINVAL);
        }
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            self.answers
                .iter()
                .map(|a| PollFd::new(a.done.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let woken = ready(&fds[0]).then(|| {
            let mut millis = [0u8; 4];
            let _ = nix::unistd::read(&self.wake, &mut millis);
            Duration::from_millis(u64::from(u32::from_ne_bytes(millis)))
        });
        let answers = fds[1..]
            .iter()
            .enumerate()
            .filter(|(_, fd)| ready(fd))
            .map(|(i, _)| i)
            .collect();
        Ok((woken, answers))
    }

    /// Reads what worker `index` sent and records finished jobs.
    fn read_answers(&mut self, index: usize) -> Heard {
        let answers = &mut self.answers[index];
        let mut closed = false;
        let mut buffer = [0u8; 256];
        loop {
            match nix::unistd::read(&answers.done, &mut buffer) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(read) => answers.partial.extend_from_slice(&buffer[..read]),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let pid = answers.pid;
        let mut messages = Vec::new();
        while answers.partial.len() >= Done::BYTES {
            let message: [u8; Done::BYTES] = answers.partial[..Done::BYTES].try_into().expect("sliced to size");
            answers.partial.drain(..Done::BYTES);
            messages.push(Done::decode(&message));
        }
        let leftover = !answers.partial.is_empty();
        let mut state = self.shared.lock();
        for done in messages {
            let Some(worker) = state.workers.iter_mut().find(|w| w.pid == pid) else {
                break;
            };
            match worker.job {
                Some(job) if job.id == done.id => {
                    worker.job = None;
                    worker.finished_jobs += 1;
                    state.crash_streak = 0;
                    let finished = Outcome::Finished {
                        status: done.status,
                        checksum: done.checksum,
                        pid,
                    };
                    state.outcomes.insert(done.id, finished);
                    self.shared.changed.notify_all();
                }
                // An answer about a job this worker no longer holds: an older job's, or a
                // corrupt one. It must not complete anything.
                _ => tracing::warn!(%pid, job = done.id, "ignored an answer for a job the worker does not hold"),
            }
        }
        let idle = state.workers.iter().any(|w| w.pid == pid && w.job.is_none());
        state.dispatch();
        if closed {
            Heard::Closed
        } else if leftover && idle {
            // A healthy worker has nothing to say between jobs.
            Heard::Broken("a partial message after its answer".into())
        } else {
            Heard::Nothing
        }
    }

    /// Worker `index` closed its pipe: reap it, report its job lost, count an early death.
    fn bury(&mut self, index: usize) {
        let Answers { pid, .. } = self.answers.swap_remove(index);
        let worker = {
            let mut state = self.shared.lock();
            let position = state.workers.iter().position(|w| w.pid == pid);
            position.map(|i| state.workers.swap_remove(i))
        };
        // Outside the lock: the worker closed its pipe, so it is exiting; this returns soon.
        let how = describe(waitpid(pid, None));
        let mut state = self.shared.lock();
        let Some(worker) = worker else { return };
        if let Some(job) = worker.job {
            let why = format!("pool worker {pid} {how} while adding a band; it is being replaced");
            state.outcomes.insert(job.id, Outcome::Lost(why));
        }
        let early = worker.finished_jobs == 0 && worker.started.elapsed() < EARLY_DEATH;
        state.crash_streak = if early { state.crash_streak + 1 } else { 0 };
        if state.stopping {
            return;
        }
        tracing::warn!(%pid, "pool worker {how}");
        if state.crash_streak >= CRASH_LIMIT && state.down.is_none() {
            let why = format!(
                "the worker pool is down: {CRASH_LIMIT} workers in a row died right after starting (the last {how}); \
                 see the server's log"
            );
            tracing::error!("{why}; no more replacements");
            state.down = Some(why);
        }
        if let (Some(why), true) = (state.down.clone(), state.workers.is_empty()) {
            state.fail_queue(&Outcome::Unavailable(why));
        }
        self.shared.changed.notify_all();
    }

    /// Starts replacements (by exec) until the pool is whole, unless it is down or stopping.
    fn replace_missing(&mut self) {
        while self.answers.len() < self.shared.config.workers {
            {
                let state = self.shared.lock();
                if state.down.is_some() || state.stopping {
                    return;
                }
            }
            let config = self.shared.config;
            match start_worker(
                self.shared.slots.memory(),
                self.shared.server,
                config.fault,
                Start::Exec,
            ) {
                Ok((worker, answers)) => {
                    tracing::info!(pid = %worker.pid, "started a replacement pool worker");
                    self.answers.push(answers);
                    let mut state = self.shared.lock();
                    state.workers.push(worker);
                    state.dispatch();
                }
                Err(e) => {
                    let mut state = self.shared.lock();
                    state.crash_streak += 1;
                    tracing::error!("could not start a replacement pool worker: {e}; retrying in a second");
                    return;
                }
            }
        }
    }

    /// Closes every job pipe, waits up to `grace` for the workers to exit, kills the rest, and
    /// reaps them all.
    fn stop_workers(self, grace: Duration) {
        let pids: Vec<Pid> = {
            let mut state = self.shared.lock();
            for worker in &mut state.workers {
                worker.jobs = None; // EOF: the worker exits after its current job
            }
            state.workers.iter().map(|w| w.pid).collect()
        };
        let deadline = Instant::now() + grace;
        let mut left = pids;
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|pid| matches!(waitpid(*pid, Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive)));
            std::thread::sleep(Duration::from_millis(5));
        }
        for pid in &left {
            tracing::warn!(%pid, "pool worker still running after {grace:?}; killing it");
            let _ = kill(*pid, Signal::SIGKILL);
            let _ = waitpid(*pid, None);
        }
        // Nothing waits for a worker that is gone: a job still held is lost, and if the pool
        // went down (rather than being stopped), so is every job still queued.
        let mut state = self.shared.lock();
        for worker in std::mem::take(&mut state.workers) {
            if let Some(job) = worker.job {
                let why = format!("pool worker {} was stopped while adding a band", worker.pid);
                state.outcomes.insert(job.id, Outcome::Lost(why));
            }
        }
        if let Some(why) = state.down.clone() {
            state.fail_queue(&Outcome::Unavailable(why));
        }
        drop(state);
        self.shared.changed.notify_all();
        tracing::info!("worker pool stopped");
    }
}

/// "exited with code 3", "was killed by SIGKILL", ...
fn describe(status: nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("exited with code {code}"),
        Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) => "was killed by SIGKILL (out of memory, or killed)".into(),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {signal}"),
        Ok(other) => format!("changed state ({other:?})"),
        Err(e) => format!("could not be reaped ({e})"),
    }
}

/// The process's thread count, from `/proc/self/status`.
pub fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("Threads:"))?;
    line.trim().parse().ok()
}
