//! The pre-forked pool: worker processes started once, fed small jobs through pipes, the
//! matrices themselves in memory they share with the server, supervised the way gunicorn's
//! arbiter supervises its workers.
//!
//! - **Start.** The first workers are forked while the server has a single thread (before the
//!   HTTP runtime exists), so nothing of a runtime is copied into them. Replacements are
//!   started by re-executing this binary (`--pool-worker`), never by forking the threaded
//!   server.
//! - **Jobs.** A request's bands go into one FIFO queue; each idle worker takes the next job:
//!   a [`Job`] message naming spans of the shared memory, answered by a [`Done`](crate::protocol::Done) message that
//!   echoes the job's id. One job per worker at a time.
//! - **Supervision** (one thread, in `supervisor`): reads every worker's answers; a worker
//!   whose pipe closes is reaped by pid, its job reported lost, and a replacement started. A
//!   request whose deadline passes kills its workers (SIGKILL). Workers that keep dying right
//!   after they start (a crash loop) are not replaced forever: after [`CRASH_LIMIT`] in a row
//!   the pool stops replacing them and, once none is left, answers 503.
//! - **Stop.** After the HTTP server has drained, the job pipes close; workers finish their job,
//!   read EOF and exit 0; stragglers get SIGKILL after a grace period. Every worker is reaped.
//!
//! A band of the shared memory belongs to one worker from its job to its Done (or its death):
//! the server does not read or write it meanwhile ([`SlotMemory`] checks this).

mod supervisor;

use supervisor::{Start, Supervisor, start_worker};

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, pipe2};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use matrix_service::{Band, Kernel};

use crate::hooks::fault::ChildFault;
use crate::protocol::{BandSpec, BandTimes, Job, Status};
use crate::slots::SlotPool;
use crate::sys::{SlotMemory, thread_count};

/// Workers in a row that may die before finishing a single job, within [`EARLY_DEATH`] of
/// starting, before the pool stops replacing them (gunicorn halts on a worker boot error).
pub const CRASH_LIMIT: u32 = 5;

/// A worker that dies younger than this without having finished a job counts toward the
/// crash limit.
pub const EARLY_DEATH: Duration = Duration::from_secs(2);

/// Pool workers alive now (`lab_pool_workers_alive` on `/metrics`), counted by the server's
/// supervisor, never by a worker.
pub static WORKERS_ALIVE: LazyLock<Gauge> = LazyLock::new(Gauge::default);
/// Workers started to replace dead ones since the server began (`lab_pool_workers_replaced_total`).
pub static WORKERS_REPLACED: LazyLock<Counter> = LazyLock::new(Counter::default);

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
    /// How many free slots keep `resident_elements` (the most recently used); the others keep
    /// none.
    pub resident_slots: usize,
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
    /// The sum overflowed in this band of rows (the first such band).
    Overflow { rows: Range<usize> },
}

/// A request's bands, computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAddition {
    /// The worker that computed each band, in band order.
    pub pids: Vec<i32>,
    /// The sum's checksum, from the workers' band sums.
    pub checksum: i64,
    /// When each band ran, by its worker's account, in band order.
    pub ran: Vec<BandTimes>,
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
    Finished {
        status: Status,
        checksum: i64,
        pid: Pid,
        ran: BandTimes,
    },
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
        let slots = Arc::new(
            SlotPool::new(config.slots, config.slot_elements, config.resident_elements)?
                .keeping_floor_in(config.resident_slots),
        );
        let (wake_rx, wake) = pipe2(OFlag::O_CLOEXEC)?;
        let server = getpid();
        let mut workers = Vec::with_capacity(config.workers);
        let mut answers = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            let (worker, answer) = start_worker(slots.memory(), server, config.fault, Start::Fork)?;
            workers.push(worker);
            answers.push(answer);
        }
        WORKERS_ALIVE.set(workers.len() as i64);
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

    /// Runs `kernel` on each of `bands` for the request in `slot` (A, B and the result start at
    /// the slot-relative offsets `starts`), one job per band, each waiting `wait` first, by
    /// `deadline`. Blocking.
    pub fn compute(
        &self,
        slot: &mut SlotMemory,
        (kernel, starts): (Kernel, [usize; 3]),
        bands: impl Iterator<Item = Band>,
        (wait, deadline): (Duration, Instant),
    ) -> Result<PoolAddition, PoolError> {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(PoolError::Unavailable("the server is shutting down".into()));
        }
        if let (Some(why), true) = (&state.down, state.workers.is_empty()) {
            return Err(PoolError::Unavailable(why.clone()));
        }
        let [a, b, out] = starts.map(|start| (slot.start() + start) as u64);
        let bands: Vec<Band> = bands.collect();
        let mut ids = Vec::with_capacity(bands.len());
        for band in &bands {
            let job = Job {
                id: state.next_job,
                band: BandSpec {
                    kernel,
                    a: a + band.a.start as u64,
                    a_len: band.a.len() as u64,
                    b: b + band.b.start as u64,
                    b_len: band.b.len() as u64,
                    out: out + band.out.start as u64,
                    out_len: band.out.len() as u64,
                    wait_us: u64::try_from(wait.as_micros()).unwrap_or(u64::MAX),
                },
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
            ran: Vec::with_capacity(ids.len()),
        };
        let mut overflow = None;
        for (band, outcome) in bands.iter().zip(outcomes) {
            let (status, checksum, pid, ran) = match outcome.expect("collected in time") {
                Outcome::Finished {
                    status,
                    checksum,
                    pid,
                    ran,
                } => (status, checksum, pid, ran),
                Outcome::Lost(why) => return Err(PoolError::Lost(why)),
                Outcome::Unavailable(why) => return Err(PoolError::Unavailable(why)),
            };
            match status {
                Status::Ok => {}
                Status::Overflow => _ = overflow.get_or_insert_with(|| band.rows.clone()),
                Status::BadJob | Status::Unknown(_) => {
                    return Err(PoolError::Lost(format!(
                        "pool worker {pid} answered {status:?} to a well-formed job"
                    )));
                }
            }
            added.pids.push(pid.as_raw());
            added.ran.push(ran);
            added.checksum = added.checksum.wrapping_add(checksum);
        }
        match overflow {
            Some(rows) => Err(PoolError::Overflow { rows }),
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
