//! Every `unsafe` operation of this crate, and the whole life of a forked child.
//!
//! The server is multi-threaded when it forks (actix workers, the blocking pool), so the child
//! starts with one thread and a copy of memory in which other threads may have held locks: the
//! allocator's, stdout's, tracing's, tokio's. Until it exits it may only do async-signal-safe
//! things (fork(2), signal-safety(7)). So the child:
//! - computes on memory that existed before the fork (its bands of A and B, a stack buffer);
//! - `write(2)`s the result to its own pipe, retrying on EINTR and partial writes;
//! - ends with `_exit(2)`, never returning into the parent's code: a returning child would run
//!   the copied tokio runtime, which shares the parent's epoll instance and client sockets;
//! - never allocates, locks, logs or panics; an [`ExitOnUnwind`] guard turns any unwind into
//!   `_exit` all the same.
//!
//! The second half holds the pre-forked pool's unsafe parts: the memory shared with its workers
//! ([`SharedMemory`], [`SlotMemory`]) and how a worker process comes to be. The last part is
//! a test hook's: a signal handler without `SA_RESTART` and `tgkill(2)`, to interrupt blocking
//! calls on purpose ([`crate::signal_storm`]).
//!
//! Why each rule exists, and the pitfalls the tests check: `docs/multiprocessing.md`.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{ForkResult, Pid, fork, ftruncate, getpid, getppid};

use matrix_service::matrix::{BandSum, add_into};

use crate::fault::ChildFault;

/// How a child's exit code tells the parent what happened.
pub mod exit_code {
    /// The band was written whole and no sum overflowed.
    pub const OK: i32 = 0;
    /// Writing to the pipe failed (EPIPE: the parent stopped reading).
    pub const WRITE_FAILED: i32 = 3;
    /// The band was written whole, but some sum overflowed `i64` (the values wrapped).
    pub const OVERFLOW: i32 = 4;
    /// The parent was gone before the child could arm its parent-death signal.
    pub const ORPHANED: i32 = 5;
    /// Something unwound (a panic): the guard exited instead of returning.
    pub const UNWOUND: i32 = 101;
}

/// Elements the child adds per `write(2)`: 64 KiB of stack, one default pipe's worth.
const CHUNK_ELEMENTS: usize = 8192;

/// A child's whole job. Everything it refers to exists before the fork, so the child needs no
/// allocation.
pub struct BandTask<'a> {
    /// The child's rows of A and B, flattened.
    pub a: &'a [i64],
    pub b: &'a [i64],
    /// The write end of the child's own pipe.
    pub write_end: BorrowedFd<'a>,
    /// The server's pid, to detect a parent that died before the child armed PR_SET_PDEATHSIG.
    pub parent: Pid,
    pub fault: ChildFault,
}

/// Forks a child that computes `task`, writes it to `task.write_end` and exits. Returns the
/// child's pid, in the parent only: the child never returns from this call.
///
/// The caller must hold the fork lock and close its copy of the write end right after, so no
/// other child inherits it (that would delay this pipe's EOF until the other child exits).
pub fn fork_band_child(task: &BandTask<'_>) -> nix::Result<Pid> {
    // SAFETY: `fork` is unsafe because the child of a multi-threaded process may only use
    // async-signal-safe operations until it exits. The child branch calls `child_main`, which
    // only reads existing memory, writes to a pipe, calls async-signal-safe functions
    // (sigaction, prctl, getppid, close_range, write, nanosleep, pause, abort, _exit) and ends
    // in `_exit` on every path (`-> !`), so it never returns into this function's callers,
    // never drops a value, and never touches a lock or the allocator.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => child_main(task),
    }
}

/// The child: computes its band into a stack buffer chunk by chunk, writes each chunk, exits.
fn child_main(task: &BandTask<'_>) -> ! {
    let _exit_on_unwind = ExitOnUnwind;
    prepare_child(task);
    match task.fault {
        // The pool's own faults mean nothing to a per-request child.
        ChildFault::None
        | ChildFault::HalfWrite
        | ChildFault::ExtraByte
        | ChildFault::StaleDone
        | ChildFault::CrashAtStart
        | ChildFault::LingerIf { .. }
        | ChildFault::ParentHangsUp
        | ChildFault::SupervisorPollFails => {}
        ChildFault::Sleep(pause) => std::thread::sleep(pause), // nanosleep(2), retried on EINTR
        ChildFault::Exit(code) => exit_now(code),
        ChildFault::Hang => loop {
            nix::unistd::pause();
        },
        ChildFault::Panic => panic!("injected child panic (--debug-child-fault panic)"),
        ChildFault::Abort => std::process::abort(),
    }

    let limit = match task.fault {
        ChildFault::HalfWrite => task.a.len() / 2,
        _ => task.a.len(),
    };
    let (a, b) = (
        task.a.get(..limit).unwrap_or(task.a),
        task.b.get(..limit).unwrap_or(task.b),
    );
    let mut chunk = [0i64; CHUNK_ELEMENTS];
    let mut overflowed = false;
    for (a, b) in a.chunks(CHUNK_ELEMENTS).zip(b.chunks(CHUNK_ELEMENTS)) {
        overflowed |= add_into(a, b, &mut chunk).overflowed;
        let sums = chunk.get(..a.len()).unwrap_or(&chunk);
        let Ok(bytes) = bytemuck::try_cast_slice::<i64, u8>(sums) else {
            exit_now(exit_code::WRITE_FAILED)
        };
        if write_all(task.write_end, bytes).is_err() {
            exit_now(exit_code::WRITE_FAILED);
        }
    }
    if task.fault == ChildFault::ExtraByte && write_all(task.write_end, &[0]).is_err() {
        exit_now(exit_code::WRITE_FAILED);
    }
    if let ChildFault::LingerIf { first, pause } = task.fault
        && task.a.first() == Some(&first)
    {
        std::thread::sleep(pause);
    }
    exit_now(if overflowed { exit_code::OVERFLOW } else { exit_code::OK })
}

/// A band child's process name, as `ps` and `/proc/PID/comm` show it.
pub const BAND_CHILD_NAME: &std::ffi::CStr = c"band-child";

/// Makes the child independent of the server's signals and descriptors.
fn prepare_child(task: &BandTask<'_>) {
    // prctl(PR_SET_NAME): a system call, async-signal-safe.
    let _ = nix::sys::prctl::set_name(BAND_CHILD_NAME);
    // Ctrl-C or SIGTERM to the process group must not kill a child mid-band while the server
    // drains its in-flight requests; the server stops children with SIGKILL only. (Inherited
    // tokio handlers would swallow these signals anyway, and write into the server's self-pipe.)
    ignore_stop_signals();
    // Die with the server. The thread that counts as this child's parent outlives it: forked
    // by the server, the forking thread, which drains the child's pipe for the child's whole
    // life; forked by the fork server (CLONE_PARENT), the server's main thread, which forked
    // the fork server. So the thread-exit caveat of PR_SET_PDEATHSIG does not apply.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and no user-space lock.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if getppid() != task.parent {
        exit_now(exit_code::ORPHANED); // the server died before the line above took effect
    }
    // Close every inherited descriptor but stdio and our pipe: the listening socket, client
    // connections, and other requests' pipes, whose readers and writers must not be kept alive.
    close_all_fds_but(task.write_end);
}

/// Closes every descriptor of this single-threaded process above stdio except `keep`.
pub fn close_all_fds_but(keep: BorrowedFd<'_>) {
    let keep = keep.as_raw_fd() as libc::c_uint;
    // SAFETY: close_range(2) closes descriptors of this process, which has one thread (a child
    // or the fork server), and nothing in it uses the closed ones again (no Rust object that
    // owns one is ever dropped or used: the process ends with `_exit`). It is a raw syscall
    // taking no user-space lock. On kernels older than 5.9 it fails with ENOSYS and the
    // descriptors simply stay open.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, keep - 1, 0 as libc::c_uint);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0 as libc::c_uint);
    }
}

/// Receives one message on a `SOCK_SEQPACKET` socket into `buf`, with the descriptors sent
/// along with it (SCM_RIGHTS; room for [`BandRequest::MAX_BATCH`], the kernel closes any
/// beyond), retrying on EINTR. Returns the message's length (0: the peer closed) and the
/// descriptors, in order.
///
/// [`BandRequest::MAX_BATCH`]: crate::protocol::BandRequest::MAX_BATCH
pub fn receive_with_fds(socket: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    loop {
        let mut space = nix::cmsg_space!([RawFd; crate::protocol::BandRequest::MAX_BATCH]);
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let message = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let mut fds = Vec::new();
        for control in message.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = control {
                // SAFETY: SCM_RIGHTS has just installed these descriptors in this process; no
                // other object owns them, so each gets exactly one owner here.
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        return Ok((message.bytes, fds));
    }
}

/// Writes all of `bytes`, retrying on EINTR and partial writes. Allocation-free.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ends the process at once: no destructors, no atexit handlers, no stdio flush (a flush would
/// print the parent's buffered output a second time).
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is async-signal-safe and touches nothing in user space.
    unsafe { libc::_exit(code) }
}

/// Ends the child if anything unwinds, so a panic can never return into the server's code.
struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        exit_now(exit_code::UNWOUND);
    }
}

// ---------------------------------------------------------------------------------------------
// The pre-forked pool: memory shared with its workers, and how a worker process comes to be.
//
// Pool workers are different from the children above: the first ones are forked while the
// server still has one thread (before any runtime exists), and replacements are started with a
// fresh exec of this binary. Either way a worker begins life single-threaded with a clean
// memory image, so it may allocate and use the standard library like any program.

/// The file descriptor a pool worker finds the shared memory on.
pub const WORKER_MEMORY_FD: RawFd = 3;

/// Memory shared with the pool's workers: one memfd, mapped `MAP_SHARED` in every process.
///
/// (`MAP_SHARED | MAP_ANONYMOUS` would be shared with forked workers too, but not with a
/// re-executed replacement; a memfd can be handed to both.)
#[derive(Debug)]
pub struct SharedMemory {
    base: NonNull<i64>,
    elements: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping lives as long as the value and is not tied to a thread; every access to
// its contents goes through `SlotMemory` (parent) or `add_band` (worker), whose rules make
// concurrent accesses touch disjoint elements.
unsafe impl Send for SharedMemory {}
// SAFETY: as above; `&SharedMemory` gives no access to the contents by itself.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// A new memfd of `elements` zeroed `i64`s, mapped shared. Pages are only allocated when
    /// first touched, so a large region costs address space, not memory.
    pub fn create(elements: usize) -> std::io::Result<Self> {
        let fd = memfd_create(c"matrix-lab-pool", MFdFlags::MFD_CLOEXEC)?;
        let bytes = elements.max(1) * size_of::<i64>();
        ftruncate(&fd, bytes as libc::off_t)?;
        Self::map(fd, elements)
    }

    /// The memory a pool worker was started with, on [`WORKER_MEMORY_FD`]. For a worker
    /// process only, once: it takes ownership of that descriptor.
    pub fn inherited() -> std::io::Result<Self> {
        // SAFETY: the pool starts every worker with its memfd on this descriptor (dup2'ed in
        // `worker_fds` or in the re-exec's pre_exec hook) and nothing else in the worker opens or
        // owns it; this is called once, at the start of the worker.
        let fd = unsafe { OwnedFd::from_raw_fd(WORKER_MEMORY_FD) };
        let bytes = nix::sys::stat::fstat(&fd)?.st_size as usize;
        Self::map(fd, bytes / size_of::<i64>())
    }

    fn map(fd: OwnedFd, elements: usize) -> std::io::Result<Self> {
        let length = NonZeroUsize::new(elements.max(1) * size_of::<i64>()).expect("at least one element");
        // SAFETY: a fresh shared mapping of a memfd at an address the kernel picks: it aliases
        // no Rust object. It is unmapped only in `Drop`, after every slice into it is gone
        // (slices borrow from `self`).
        let base = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Self {
            base: base.cast(),
            elements,
            fd,
        })
    }

    pub fn len(&self) -> usize {
        self.elements
    }

    pub fn is_empty(&self) -> bool {
        self.elements == 0
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives the pages of `span` back to the OS (they read as zeros afterwards), so one big
    /// request does not leave its memory resident in the pool for good.
    /// Bytes of the memory that hold pages now (the memfd's allocated blocks).
    pub fn allocated_bytes(&self) -> nix::Result<u64> {
        let stat = nix::sys::stat::fstat(&self.fd)?;
        Ok(u64::try_from(stat.st_blocks).unwrap_or(0) * 512)
    }

    pub fn release(&self, span: Range<usize>) -> nix::Result<()> {
        let span = span.start.min(self.elements)..span.end.min(self.elements);
        if span.is_empty() {
            return Ok(());
        }
        let size = size_of::<i64>() as libc::off_t;
        fallocate(
            &self.fd,
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            span.start as libc::off_t * size,
            span.len() as libc::off_t * size,
        )
    }

    /// Worker side: `out[i] = a[i] + b[i]` over three spans of the shared memory, each `len`
    /// elements from the given offsets. `None` if a span is out of bounds or the output
    /// overlaps an input (a corrupt job).
    pub fn add_band(&self, a: usize, b: usize, out: usize, len: usize) -> Option<BandSum> {
        let (a, b, out) = (self.span(a, len)?, self.span(b, len)?, self.span(out, len)?);
        let overlaps = |x: &Range<usize>| x.start < out.end && out.start < x.end;
        if len > 0 && (overlaps(&a) || overlaps(&b)) {
            return None;
        }
        // SAFETY: the spans are in bounds (checked above) and the output overlaps neither
        // input. By the pool's protocol the parent hands this band to this worker alone and
        // neither writes the inputs nor touches the output until the worker's Done message
        // (or its death), so nothing else accesses these elements while the slices live.
        let (a, b, out) = unsafe {
            (
                std::slice::from_raw_parts(self.base.as_ptr().add(a.start), len),
                std::slice::from_raw_parts(self.base.as_ptr().add(b.start), len),
                std::slice::from_raw_parts_mut(self.base.as_ptr().add(out.start), len),
            )
        };
        Some(add_into(a, b, out))
    }

    /// Fork-server side: the `len` elements at offsets `a` and `b`, a band's inputs, to hand
    /// to the child forked for it. `None` if either is out of bounds (a corrupt request).
    pub fn band_inputs(&self, a: usize, b: usize, len: usize) -> Option<(&[i64], &[i64])> {
        let (a, b) = (self.span(a, len)?, self.span(b, len)?);
        // SAFETY: both spans are in bounds (checked above). The server writes a request's
        // inputs before it asks for the request's children and not again until it has reaped
        // them, so nothing writes these elements while the child (the only reader) runs.
        Some(unsafe {
            (
                std::slice::from_raw_parts(self.base.as_ptr().add(a.start), len),
                std::slice::from_raw_parts(self.base.as_ptr().add(b.start), len),
            )
        })
    }

    /// Where `elements` start in this memory, if they lie wholly inside it: the offset a
    /// request to the fork server names them by.
    pub fn offset_of(&self, elements: &[i64]) -> Option<usize> {
        let base = self.base.as_ptr() as usize;
        let start = (elements.as_ptr() as usize).checked_sub(base)? / size_of::<i64>();
        self.span(start, elements.len()).map(|span| span.start)
    }

    /// Elements `start..start + len`, if in bounds.
    fn span(&self, start: usize, len: usize) -> Option<Range<usize>> {
        start
            .checked_add(len)
            .filter(|end| *end <= self.elements)
            .map(|end| start..end)
    }

    /// Parent side: the memory cut into `count` disjoint slots of `each` elements. Call once:
    /// every slot is the only handle to its elements in this process.
    pub fn into_slots(self: &Arc<Self>, count: usize, each: usize) -> Vec<SlotMemory> {
        assert!(count * each <= self.elements, "the slots fit the memory");
        (0..count)
            .map(|i| SlotMemory {
                memory: Arc::clone(self),
                start: i * each,
                len: each,
                lent: 0,
            })
            .collect()
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        let length = self.elements.max(1) * size_of::<i64>();
        // SAFETY: `base` is this value's own mapping of `length` bytes, and no slice into it
        // outlives `self` (every accessor borrows from `self` or holds an `Arc` of it).
        let _ = unsafe { munmap(self.base.cast(), length) };
    }
}

/// One request's share of the pool's memory: the parent's exclusive handle to `len` elements.
///
/// While bands of it are lent to workers (between a job and its Done, or the worker's death)
/// the parent must not look at it: the accessors check that nothing is lent, so a mistake in
/// the pool's bookkeeping is a panic (a 500) rather than a data race with another process.
#[derive(Debug)]
pub struct SlotMemory {
    memory: Arc<SharedMemory>,
    start: usize,
    len: usize,
    lent: usize,
}

impl SlotMemory {
    /// Where the slot starts in the shared memory, in elements: jobs name absolute offsets.
    pub fn start(&self) -> usize {
        self.start
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bands lent to workers and not yet given back.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// Records a band lent to a worker.
    pub fn lend(&mut self) {
        self.lent += 1;
    }

    /// Records a band given back: its worker sent Done, or is dead and reaped.
    pub fn give_back(&mut self) {
        self.lent = self.lent.checked_sub(1).expect("only lent bands come back");
    }

    /// The elements `span` (relative to the slot).
    pub fn elements(&self, span: Range<usize>) -> &[i64] {
        let span = self.checked(span);
        // SAFETY: `checked` keeps the span inside this slot, which no other slot overlaps, and
        // asserts no band is lent, so no worker writes here while the shared borrow lives.
        unsafe { std::slice::from_raw_parts(self.memory.base.as_ptr().add(span.start), span.len()) }
    }

    /// Two disjoint spans (relative to the slot), writable.
    pub fn two_mut(&mut self, first: Range<usize>, second: Range<usize>) -> (&mut [i64], &mut [i64]) {
        let (first, second) = (self.checked(first), self.checked(second));
        assert!(
            first.end <= second.start || second.end <= first.start,
            "the spans are disjoint"
        );
        let base = self.memory.base.as_ptr();
        // SAFETY: both spans lie inside this slot (checked), do not overlap each other
        // (asserted), and no band is lent (checked), so these are the only references to those
        // elements in any process while the `&mut self` borrow lives.
        unsafe {
            (
                std::slice::from_raw_parts_mut(base.add(first.start), first.len()),
                std::slice::from_raw_parts_mut(base.add(second.start), second.len()),
            )
        }
    }

    /// The slot's first three spans of `len` elements (A, B and the sum): the first two to
    /// read, the third to write.
    pub fn three(&mut self, len: usize) -> (&[i64], &[i64], &mut [i64]) {
        let whole = self.checked(0..3 * len);
        let base = self.memory.base.as_ptr();
        // SAFETY: the three spans lie inside this slot (checked), do not overlap, and no band is
        // lent (checked), so these are the only references to those elements in this process
        // while the `&mut self` borrow lives; children forked meanwhile only read A and B.
        unsafe {
            let a = base.add(whole.start);
            (
                std::slice::from_raw_parts(a, len),
                std::slice::from_raw_parts(a.add(len), len),
                std::slice::from_raw_parts_mut(a.add(2 * len), len),
            )
        }
    }

    /// Frees the slot's pages from element `keep` on (relative), keeping the first ones
    /// resident for the next request.
    pub fn release_beyond(&self, keep: usize) -> nix::Result<()> {
        self.memory
            .release(self.start + keep.min(self.len)..self.start + self.len)
    }

    fn checked(&self, span: Range<usize>) -> Range<usize> {
        assert_eq!(self.lent, 0, "no band of the slot is lent to a worker");
        assert!(
            span.start <= span.end && span.end <= self.len,
            "the span lies in the slot"
        );
        self.start + span.start..self.start + span.end
    }
}

/// Forks a pool worker while the server is still single-threaded: the child moves its pipe
/// ends to stdin and stdout and the shared memory to [`WORKER_MEMORY_FD`], closes everything
/// else, runs `worker_main` and exits with its code. Returns the worker's pid, in the parent.
///
/// # Panics
/// If the process has more than one thread: forking then is exactly what the pool avoids.
pub fn fork_pool_worker(
    jobs: BorrowedFd<'_>,
    done: BorrowedFd<'_>,
    memory: BorrowedFd<'_>,
    worker_main: impl FnOnce() -> i32,
) -> nix::Result<Pid> {
    fork_single_threaded(|| {
        if worker_fds(jobs.as_raw_fd(), done.as_raw_fd(), memory.as_raw_fd()).is_err() {
            return exit_code::WRITE_FAILED;
        }
        worker_main()
    })
}

/// Forks a long-lived helper (a pool worker, the fork server) while the process still has a
/// single thread. The child runs `child` and `_exit`s with its result; returns its pid, in the
/// parent.
///
/// # Panics
/// If the process has more than one thread: forking then is exactly what helpers avoid.
pub fn fork_single_threaded(child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    assert_eq!(
        crate::pool::thread_count(),
        Some(1),
        "helper processes are forked before any thread starts"
    );
    // SAFETY: the process has one thread (asserted above), so the child's copy of memory holds
    // no lock another thread owned, and the child may run ordinary code. It never returns into
    // the caller: `child`'s result goes to `_exit`, and a panic inside it is caught by the
    // unwind guard, which also `_exit`s.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let _exit_on_unwind = ExitOnUnwind;
            exit_now(child())
        }
    }
}

/// In the fork server: forks a child that computes `task` and is the child not of the fork
/// server but of its parent, the HTTP server (`clone(CLONE_PARENT)`). So the server reaps it,
/// kills it at its deadline and sees it in its own process tree, exactly as if it had forked
/// it itself, and the child's `getppid()` and parent-death signal refer to the server.
///
/// Must only be called in the fork server, which has one thread.
pub fn fork_band_child_for_parent(task: &BandTask<'_>) -> nix::Result<Pid> {
    // SAFETY: a raw clone(2) with no new stack behaves like fork(2): the child continues on a
    // copy of this stack. The fork server has a single thread, so no lock in the child's copy
    // of memory is held by anyone. The raw call skips glibc's fork bookkeeping (atfork
    // handlers, the thread descriptor's cached tid), which `child_main` does not depend on: it
    // calls no pthread function, and raise/abort ask the kernel for the thread id. The child
    // branch calls `child_main`, which ends in `_exit` on every path and never returns. The
    // four trailing zeros (no stack, no tid pointers, no TLS) mean the same in every
    // architecture's argument order.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        -1 => Err(Errno::last()),
        0 => child_main(task),
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// Arranges for `command` to start with `memory` on [`WORKER_MEMORY_FD`] (its stdin and
/// stdout are set by the caller through `Command`).
pub fn pass_worker_memory(command: &mut Command, memory: BorrowedFd<'_>) {
    let memory = memory.as_raw_fd();
    // SAFETY: the hook runs in the forked child just before exec, where only async-signal-safe
    // calls are allowed: dup2 and fcntl are. `dup2` clears close-on-exec on the copy; when the
    // descriptor already is 3, dup2 does nothing, so close-on-exec is cleared by hand.
    unsafe {
        command.pre_exec(move || {
            let result = if memory == WORKER_MEMORY_FD {
                libc::fcntl(memory, libc::F_SETFD, 0)
            } else {
                libc::dup2(memory, WORKER_MEMORY_FD)
            };
            if result < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// In a freshly forked worker: jobs on 0, done on 1, memory on 3, nothing else above 2.
fn worker_fds(jobs: RawFd, done: RawFd, memory: RawFd) -> Result<(), ()> {
    // SAFETY: the child has one thread and owns its descriptor table. Each source is first
    // copied above every target (F_DUPFD), so a later dup2 cannot clobber a source that
    // happened to sit on a target number; then close_range drops everything else, including
    // the other workers' pipe ends this child inherited.
    unsafe {
        let high = [jobs, done, memory].map(|fd| libc::fcntl(fd, libc::F_DUPFD, 10));
        if high.iter().any(|fd| *fd < 0) {
            return Err(());
        }
        for (source, target) in high.into_iter().zip([0, 1, WORKER_MEMORY_FD]) {
            if libc::dup2(source, target) < 0 {
                return Err(());
            }
        }
    }
    close_stray_fds();
    Ok(())
}

/// In a pool worker: closes every descriptor above the shared memory's, such as ones the server
/// itself inherited without close-on-exec from whatever started it.
pub fn close_stray_fds() {
    // SAFETY: close_range(2) on descriptors this single-threaded worker does not use (it keeps
    // stdio and the shared memory, 0 to 3); no Rust object in the worker owns the others.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            (WORKER_MEMORY_FD + 1) as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
    }
}

/// SIG_IGN for the stop signals a terminal or a process manager sends the whole group: a
/// worker ends when the server closes its job pipe, after the server has drained.
pub fn ignore_stop_signals() {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT] {
        // SAFETY: installing SIG_IGN runs no handler code; sigaction is async-signal-safe.
        let _ = unsafe { sigaction(signal, &ignore) };
    }
}

// ---------------------------------------------------------------------------------------------
// Test hook: interrupting signals (pitfall A8 in `docs/multiprocessing.md`).

/// Signals [`count_signal`] has handled, in every thread of this process.
static SIGNALS_HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs a handler for `signal` that only counts, without `SA_RESTART`: a thread blocked in
/// poll(2), read(2), write(2) or waitpid(2) when the signal arrives returns from it with EINTR
/// (poll does so even with `SA_RESTART`), which every such call of the server must retry.
pub fn interrupt_on(signal: Signal) -> nix::Result<()> {
    let action = SigAction::new(SigHandler::Handler(count_signal), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only increments an atomic counter, which is async-signal-safe, so it
    // may run on any thread at any point, in a forked child (which inherits it) too.
    unsafe { sigaction(signal, &action) }.map(drop)
}

/// How many signals the handler of [`interrupt_on`] has handled so far.
pub fn signals_handled() -> u64 {
    SIGNALS_HANDLED.load(Ordering::Relaxed)
}

/// Sends `signal` to thread `tid` of this process: tgkill(2), so a thread that has exited and
/// whose id now belongs to another process's thread is not signalled (ESRCH instead).
pub fn signal_own_thread(tid: Pid, signal: Signal) -> nix::Result<()> {
    // SAFETY: tgkill takes three integers and touches no memory of this process.
    let result = unsafe { libc::syscall(libc::SYS_tgkill, getpid().as_raw(), tid.as_raw(), signal as libc::c_int) };
    Errno::result(result).map(drop)
}
