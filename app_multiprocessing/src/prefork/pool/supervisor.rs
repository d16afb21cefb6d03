//! The pool's supervisor thread, and how a worker process is started: forked while the server
//! has one thread, or re-executed from this binary once it has more.

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};

use crate::exit_code::describe;
use crate::hooks::fault::ChildFault;
use crate::prefork::worker::{self, WORKER_FLAG};
use crate::protocol::Done;
use crate::sys::{SharedMemory, fork_pool_worker, pass_worker_memory};

use super::{CRASH_LIMIT, EARLY_DEATH, Outcome, Shared, Worker};

/// How a new worker comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// fork(), only while the server has one thread.
    Fork,
    /// A fresh exec of this binary, safe from a threaded server.
    Exec,
}

/// A worker's answer pipe, as the supervisor reads it.
pub(super) struct Answers {
    pid: Pid,
    done: OwnedFd,
    /// Bytes of an incomplete message.
    partial: Vec<u8>,
}

pub(super) fn start_worker(
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
pub(super) struct Supervisor {
    pub(super) shared: Arc<Shared>,
    pub(super) answers: Vec<Answers>,
    pub(super) wake: OwnedFd,
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
    pub(super) fn run(mut self) {
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
                        ran: done.ran,
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
            let removed = position.map(|i| state.workers.swap_remove(i));
            super::WORKERS_ALIVE.set(state.workers.len() as i64);
            removed
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
                    super::WORKERS_ALIVE.set(state.workers.len() as i64);
                    super::WORKERS_REPLACED.inc();
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
