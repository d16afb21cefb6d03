//! The parent's side of one request's children: draining their pipes, then reaping them.
//!
//! Order matters. A child blocks in `write` once its pipe is full (64 KiB by default), so the
//! parent reads every pipe (with `poll`, so all children keep moving) until it has each band's
//! exact byte count and then EOF, and only then waits for the children. Waiting first is the
//! original lab's deadlock. Every child is reaped by its own pid (never `waitpid(-1)`, which
//! would steal other code's children), and the [`Children`] guard SIGKILLs and reaps whatever
//! is left on every early return, so no error path leaks a process or a zombie.

use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use matrix_service::Band;

use crate::exit_code::{self, describe};
use crate::protocol::BandTimes;
use crate::sys::{Reaped, wait_with_usage};

const ELEMENT_BYTES: usize = std::mem::size_of::<i64>();

/// One child and what it owes the parent.
struct Child {
    pid: Pid,
    /// The read end of its pipe, until EOF.
    pipe: Option<OwnedFd>,
    /// Its band, as a range of elements of the output.
    band: Range<usize>,
    /// The same band as rows of the result.
    rows: Range<usize>,
    /// Bytes received so far: the band's rows, then its [`BandTimes`].
    received: usize,
    /// Where its [`BandTimes`] arrive.
    times: [u8; BandTimes::BYTES],
    /// Set once the child has been waited for, with the CPU it used in all (µs).
    /// How it ended, and what `wait4` counted (none for a child killed at drop).
    status: Option<(WaitStatus, Option<Reaped>)>,
}

impl Child {
    fn band_bytes(&self) -> usize {
        self.band.len() * ELEMENT_BYTES
    }

    /// All the child owes: its band's rows, then when it ran.
    fn expected_bytes(&self) -> usize {
        self.band_bytes() + BandTimes::BYTES
    }
}

/// How one child ran, once its pipe is drained and it is reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildRun {
    pub pid: Pid,
    pub times: BandTimes,
    /// Its user and system CPU as `wait4` reported it.
    pub cpu_at_reap_us: u64,
    /// Its minor page faults, as `wait4` reported them.
    pub minor_faults: u64,
}

/// How a drain or reap went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildrenError {
    /// The deadline passed with some bands unfinished.
    TimedOut,
    /// A child broke the protocol or died; the message says which and how.
    Failed(String),
    /// Some child's results overflowed; these are the rows of the first such band.
    Overflow { rows: Range<usize> },
}

/// Children forked for requests' bands since the server began (`lab_children_forked_total` on
/// `/metrics`), counted by the server, never by a child.
pub static FORKED: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Children reaped (`lab_children_reaped_total`), the killed ones included.
pub static REAPED: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Children SIGKILLed because their request gave up on them (`lab_children_killed_total`).
pub static KILLED: LazyLock<Counter> = LazyLock::new(Counter::default);
/// The most children alive at once since the server began (`lab_children_alive_peak`), as the
/// server counts them: forked less reaped, taken at each fork (only a fork raises it).
/// `--max-children` bounds it.
pub static ALIVE_PEAK: LazyLock<Gauge> = LazyLock::new(Gauge::default);

/// Raises [`ALIVE_PEAK`] to the children alive now. Reaped is read after forked, so a reap
/// between the two reads can only lower the figure, never raise it past the truth.
fn note_alive() {
    let alive = FORKED.get().saturating_sub(REAPED.get());
    ALIVE_PEAK
        .inner()
        .fetch_max(i64::try_from(alive).unwrap_or(i64::MAX), Ordering::Relaxed);
}

/// The children of one request. Dropping it SIGKILLs and reaps any child not yet reaped.
#[derive(Default)]
pub struct Children {
    children: Vec<Child>,
}

impl Children {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            children: Vec::with_capacity(capacity),
        }
    }

    /// Takes charge of a forked child that will write `band`'s result to `pipe`.
    pub fn push(&mut self, pid: Pid, pipe: OwnedFd, band: &Band) {
        FORKED.inc();
        note_alive();
        self.children.push(Child {
            pid,
            pipe: Some(pipe),
            band: band.out.clone(),
            rows: band.rows.clone(),
            received: 0,
            times: [0; BandTimes::BYTES],
            status: None,
        });
    }

    /// Closes the parent's end of every pipe, as if it had stopped reading (the test hook
    /// [`ChildFault::ParentHangsUp`](crate::ChildFault::ParentHangsUp)): a child's next write
    /// fails with EPIPE, and [`reap_all`](Self::reap_all) reports how it exited.
    pub fn hang_up(&mut self) {
        for child in &mut self.children {
            child.pipe = None;
        }
    }

    pub fn pids(&self) -> Vec<i32> {
        self.children.iter().map(|c| c.pid.as_raw()).collect()
    }

    /// How each child ran, in band order, once all are drained and reaped.
    pub fn runs(&self) -> impl Iterator<Item = ChildRun> + '_ {
        self.children.iter().filter_map(|child| {
            let (_, reaped) = child.status?;
            let reaped = reaped?;
            Some(ChildRun {
                pid: child.pid,
                times: BandTimes::decode(&child.times),
                cpu_at_reap_us: reaped.cpu_us,
                minor_faults: reaped.minor_faults,
            })
        })
    }

    /// Reads every child's band into `out` until each pipe has delivered exactly its band and
    /// then EOF, or `deadline` passes.
    pub fn drain_into(&mut self, out: &mut [i64], deadline: Instant) -> Result<(), ChildrenError> {
        let out: &mut [u8] = bytemuck::cast_slice_mut(out);
        loop {
            let open: Vec<usize> = (0..self.children.len())
                .filter(|&i| self.children[i].pipe.is_some())
                .collect();
            if open.is_empty() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ChildrenError::TimedOut);
            }
            let ready = self.poll(&open, left)?;
            for index in ready {
                self.read_from(index, out)?;
            }
        }
    }

    /// Waits up to `left` for any of the `open` pipes; returns the ready ones.
    fn poll(&self, open: &[usize], left: Duration) -> Result<Vec<usize>, ChildrenError> {
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| {
                PollFd::new(
                    self.children[i].pipe.as_ref().expect("open pipe").as_fd(),
                    PollFlags::POLLIN,
                )
            })
            .collect();
        // Round up, so a deadline under a millisecond away does not spin with a zero timeout.
        let timeout = PollTimeout::try_from(left + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                return Err(ChildrenError::Failed(format!(
                    "poll on the children's pipes failed: {e}"
                )));
            }
        }
        Ok(fds
            .iter()
            .zip(open)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, &i)| i)
            .collect())
    }

    /// Reads what child `index` has sent: its rows into its band of `out`, then its times.
    fn read_from(&mut self, index: usize, out: &mut [u8]) -> Result<(), ChildrenError> {
        let child = &mut self.children[index];
        let (band_bytes, expected) = (child.band_bytes(), child.expected_bytes());
        let mut probe = [0u8; 1];
        // Once all is received, read into a probe byte: EOF is required, anything more is a
        // protocol error. (A zero-length read would return 0 and look like EOF.)
        let buffer = if child.received < band_bytes {
            let start = child.band.start * ELEMENT_BYTES + child.received;
            &mut out[start..child.band.end * ELEMENT_BYTES]
        } else if child.received < expected {
            &mut child.times[child.received - band_bytes..]
        } else {
            &mut probe[..]
        };
        let pipe = child.pipe.as_ref().expect("only open pipes are polled");
        match nix::unistd::read(pipe, buffer) {
            Ok(0) if child.received == expected => {
                child.pipe = None;
                Ok(())
            }
            Ok(0) => {
                let (pid, received) = (child.pid, child.received);
                let how = self.reap_one(index).map_or_else(|e| e, |status| describe(Ok(status)));
                Err(ChildrenError::Failed(format!(
                    "child {pid} sent {received} of its {expected} bytes, then its pipe closed ({how})"
                )))
            }
            Ok(_) if child.received == expected => Err(ChildrenError::Failed(format!(
                "child {} sent more than the {expected} bytes of its band and its times",
                child.pid
            ))),
            Ok(count) => {
                child.received += count;
                Ok(())
            }
            Err(Errno::EINTR | Errno::EAGAIN) => Ok(()),
            Err(e) => Err(ChildrenError::Failed(format!(
                "reading child {}'s pipe failed: {e}",
                child.pid
            ))),
        }
    }

    /// Waits for every child (after [`drain_into`](Self::drain_into) succeeded) and checks how
    /// each one exited.
    pub fn reap_all(&mut self) -> Result<(), ChildrenError> {
        let mut overflow = None;
        for index in 0..self.children.len() {
            let status = self.reap_one(index).map_err(ChildrenError::Failed)?;
            match status {
                WaitStatus::Exited(_, exit_code::OK) => {}
                WaitStatus::Exited(_, exit_code::OVERFLOW) => {
                    overflow.get_or_insert_with(|| self.children[index].rows.clone());
                }
                status => {
                    let pid = self.children[index].pid;
                    return Err(ChildrenError::Failed(format!("child {pid} {}", describe(Ok(status)))));
                }
            }
        }
        match overflow {
            Some(rows) => Err(ChildrenError::Overflow { rows }),
            None => Ok(()),
        }
    }

    /// Waits for child `index` (blocking), once.
    fn reap_one(&mut self, index: usize) -> Result<WaitStatus, String> {
        let child = &mut self.children[index];
        if let Some((status, _)) = child.status {
            return Ok(status);
        }
        let reaped = wait_with_usage(child.pid).map_err(|e| format!("waiting for child {} failed: {e}", child.pid))?;
        REAPED.inc();
        child.status = Some((reaped.status, Some(reaped)));
        Ok(reaped.status)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter(|c| c.status.is_none()) {
            // SIGKILL, not SIGTERM: children ignore SIGTERM (see `sys::prepare_child`).
            let _ = kill(child.pid, Signal::SIGKILL);
            KILLED.inc();
            if wait_with_usage(child.pid).is_ok() {
                REAPED.inc();
            }
            child.status = Some((WaitStatus::StillAlive, None));
        }
    }
}
