//! The fork server: a process with one thread, forked when the server starts, that forks each
//! request's children on the server's behalf (Python's `forkserver`, Chromium's zygote).
//!
//! Why: forking the HTTP server itself is what made fork per request slow. The server has
//! several busy threads, so every fork write-protects pages those threads keep writing (the
//! allocator's, their stacks, the runtime's), and each write then costs a copy-on-write fault
//! plus a TLB shootdown to the other CPU. Profiled under `oha -z 5s -c 20`, those faults were
//! 15% of all CPU, the forks 10% and the children's teardown 10%. The fork server's address
//! space is small and quiet, and only it forks.
//!
//! How:
//! - It is forked before any thread exists, after the shared memory that holds the requests'
//!   matrices is mapped, so its children inherit that mapping as the server's would.
//! - For each request the server sends one message on a `SOCK_SEQPACKET` socket: a
//!   [`BandSpec`] per band (its kernel, and where its A and B lie in the shared memory), with the
//!   write ends of the bands' pipes attached (SCM_RIGHTS). It reads back a [`Forked`] per band:
//!   the child's pid or fork's errno.
//! - The fork server forks with `clone(CLONE_PARENT)`, so each child is the server's own child:
//!   the server drains its pipe, reaps it by pid and kills it at its deadline exactly as if it
//!   had forked it. The fork server reaps nothing and holds nothing but its socket and,
//!   while it forks a request's children, their pipes' write ends.
//! - It ends when the server closes the socket (or, by its parent-death signal, when the
//!   server dies). If it dies first, the server reaps it, logs it and forks children itself
//!   from then on: slower, not wrong. The request that found it dead gets a 500 if the fork
//!   server might have forked some of its children before dying; such children (the
//!   server's, though it never learned their pids) finish or fail on their pipes by
//!   themselves, but stay zombies until the server exits. Only a fork server killed between a
//!   fork and its answer leaves any.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use matrix_service::work::MAX_WAIT_MS;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, recv, send, sendmsg, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, getpid, getppid};

use crate::fork_per_request::{fork_band_children, until_first_failure};
use crate::hooks::fault::ChildFault;
use crate::protocol::{BandSpec, Forked};
use crate::sys::thread_count;
use crate::sys::{
    BandTask, SharedMemory, close_all_fds_but, fork_band_child_for_parent, fork_single_threaded, ignore_stop_signals,
    receive_with_fds,
};

/// The fork server's process name, as `ps` and `/proc/PID/comm` show it.
pub const PROCESS_NAME: &CStr = c"fork-server";

/// The server's handle on its fork server.
#[derive(Debug)]
pub struct ForkServer {
    pid: Pid,
    /// The server's end of the socket; `None` once the fork server is gone.
    socket: Mutex<Option<OwnedFd>>,
    memory: Arc<SharedMemory>,
}

impl ForkServer {
    /// Forks the fork server, whose children will read their bands from `memory`.
    ///
    /// Must run while the process has one thread: before the HTTP runtime, the logger's or any
    /// other thread exists.
    pub fn start(memory: Arc<SharedMemory>, fault: ChildFault) -> anyhow::Result<Self> {
        if thread_count() != Some(1) {
            anyhow::bail!("the fork server must start before any thread does (forking a threaded process is unsafe)");
        }
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        let server = getpid();
        let pid = fork_single_threaded(|| serve(theirs.as_fd(), &memory, server, fault))?;
        drop(theirs);
        tracing::info!(%pid, "fork server started");
        Ok(Self {
            pid,
            socket: Mutex::new(Some(ours)),
            memory,
        })
    }

    /// Forks a child of this process for each of `tasks`, in order, stopping at the first
    /// refusal: through the fork server (one message for all of them, up to
    /// [`BandSpec::MAX_BATCH`] bands a message), or right here if the fork server is gone (or
    /// a task is not in its shared memory). Returns one result per band tried; only the last may
    /// be an error.
    ///
    /// The caller holds the fork lock and closes its copies of the write ends right after, as
    /// for [`fork_band_children`].
    pub fn fork_bands(&self, tasks: &[BandTask<'_>]) -> Vec<nix::Result<Pid>> {
        let mut socket = self.lock();
        let requests: Option<Vec<BandSpec>> = tasks.iter().map(|task| self.request_for(task)).collect();
        let (Some(channel), Some(requests)) = (socket.as_ref(), requests) else {
            return fork_band_children(tasks);
        };
        let mut forked = Vec::with_capacity(tasks.len());
        let mut failure = None;
        for (batch, requests) in tasks
            .chunks(BandSpec::MAX_BATCH)
            .zip(requests.chunks(BandSpec::MAX_BATCH))
        {
            match ask(channel.as_fd(), requests, batch) {
                Ok(answers) => {
                    let refused =
                        answers.len() < batch.len() || answers.iter().any(|a| matches!(a, Forked::Refused(_)));
                    forked.extend(answers.into_iter().map(|answer| match answer {
                        Forked::Child(pid) => Ok(Pid::from_raw(pid)),
                        Forked::Refused(errno) => Err(Errno::from_raw(errno)),
                    }));
                    if refused {
                        return forked;
                    }
                }
                Err(why) => {
                    failure = Some(why);
                    break;
                }
            }
        }
        let Some(failure) = failure else { return forked };
        tracing::error!(pid = %self.pid, "the fork server is gone ({}); the server forks children itself from now on", failure.why);
        *socket = None;
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
        if failure.asked {
            // It may have forked some of this batch's children: forking others would send a
            // band twice down one pipe.
            forked.push(Err(Errno::EIO));
        } else {
            forked.extend(fork_band_children(&tasks[forked.len()..]));
        }
        forked
    }

    /// `task` as the fork server is told it: where its inputs lie in the shared memory, if
    /// they do. (The child writes its result to its pipe, so `out` names nothing.)
    fn request_for(&self, task: &BandTask<'_>) -> Option<BandSpec> {
        let (a, b) = (self.memory.offset_of(task.a)?, self.memory.offset_of(task.b)?);
        Some(BandSpec {
            kernel: task.kernel,
            a: a as u64,
            a_len: task.a.len() as u64,
            b: b as u64,
            b_len: task.b.len() as u64,
            out: 0,
            out_len: task.out_len as u64,
            wait_us: u64::try_from(task.wait.as_micros()).ok()?,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<OwnedFd>> {
        self.socket.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ForkServer {
    /// Closes the socket, which ends the fork server, and reaps it.
    fn drop(&mut self) {
        if self.lock().take().is_some() {
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Why an exchange with the fork server failed: it is gone or broke the protocol.
struct AskFailure {
    why: String,
    /// Whether the request reached it (so it may have forked children).
    asked: bool,
}

/// One exchange: the bands with their pipes' write ends attached, then the answers: one per
/// band tried, all children but perhaps a refused last one.
fn ask(socket: BorrowedFd<'_>, requests: &[BandSpec], tasks: &[BandTask<'_>]) -> Result<Vec<Forked>, AskFailure> {
    let failed = |asked: bool| move |why: String| AskFailure { why, asked };
    let message = BandSpec::encode_batch(requests);
    let fds: Vec<RawFd> = tasks.iter().map(|task| task.write_end.as_raw_fd()).collect();
    let control = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &[std::io::IoSlice::new(&message)],
            &control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(sent) if sent == message.len() => break,
            Ok(sent) => return Err(failed(true)(format!("sent {sent} of {} bytes", message.len()))),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(failed(false)(format!("sending failed: {e}"))),
        }
    }
    let mut answer = vec![0u8; Forked::BYTES * requests.len()];
    let received = loop {
        match recv(socket.as_raw_fd(), &mut answer, MsgFlags::empty()) {
            Err(Errno::EINTR) => {}
            other => break other.map_err(|e| failed(true)(format!("receiving failed: {e}")))?,
        }
    };
    let answers = Forked::decode_batch(&answer[..received]).unwrap_or_default();
    let children = answers.iter().take_while(|a| matches!(a, Forked::Child(_))).count();
    let whole = children == requests.len() || (!answers.is_empty() && children == answers.len() - 1);
    if !whole {
        return Err(failed(true)(format!(
            "an answer of {received} bytes to {} bands",
            requests.len()
        )));
    }
    Ok(answers)
}

/// The fork server's life: one child per request, until the server closes the socket.
fn serve(socket: BorrowedFd<'_>, memory: &SharedMemory, server: Pid, fault: ChildFault) -> i32 {
    let _ = nix::sys::prctl::set_name(PROCESS_NAME);
    // The server decides when children stop; Ctrl-C to the process group must not end the fork
    // server while the server drains its in-flight requests.
    ignore_stop_signals();
    close_all_fds_but(socket);
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != server {
        return 1;
    }
    // One byte more than the largest request: a longer one arrives truncated, and is refused.
    let mut message = vec![0u8; BandSpec::BYTES * BandSpec::MAX_BATCH + 1];
    loop {
        let (received, write_ends) = match receive_with_fds(socket, &mut message) {
            Ok((0, _)) => return 0, // the server closed the socket
            Ok(got) => got,
            Err(_) => return 1,
        };
        let bands = BandSpec::decode_batch(&message[..received]).filter(|bands| bands.len() == write_ends.len());
        let answers = match bands {
            Some(bands) => fork_in_order(&bands, &write_ends, memory, server, fault),
            None => vec![Forked::Refused(Errno::EINVAL as i32)],
        };
        // Ours close now: the only write ends left are the server's (closed as soon as it
        // reads the answers) and the children's.
        drop(write_ends);
        loop {
            match send(
                socket.as_raw_fd(),
                &Forked::encode_batch(&answers),
                MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => break,
                Err(Errno::EINTR) => {}
                Err(_) => return 1,
            }
        }
    }
}

/// Forks a child of the server for each band, in order, stopping at the first refusal.
fn fork_in_order(
    bands: &[BandSpec],
    write_ends: &[OwnedFd],
    memory: &SharedMemory,
    server: Pid,
    fault: ChildFault,
) -> Vec<Forked> {
    let jobs: Vec<(&BandSpec, &OwnedFd)> = bands.iter().zip(write_ends).collect();
    let forked = until_first_failure(&jobs, |(band, write_end)| {
        let (a, b) = (memory.band_inputs(band))
            .filter(|_| band.wait_us <= MAX_WAIT_MS * 1000)
            .ok_or(Errno::EINVAL)?;
        let task = BandTask {
            a,
            b,
            kernel: band.kernel,
            out_len: band.out_len as usize,
            write_end: write_end.as_fd(),
            parent: server,
            fault,
            wait: Duration::from_micros(band.wait_us),
        };
        fork_band_child_for_parent(&task)
    });
    let answer = |result: nix::Result<Pid>| match result {
        Ok(pid) => Forked::Child(pid.as_raw()),
        Err(errno) => Forked::Refused(errno as i32),
    };
    forked.into_iter().map(answer).collect()
}
