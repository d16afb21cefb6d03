//! File descriptors: what a child or a worker keeps, and descriptors passed over a socket.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;

/// The file descriptor a pool worker finds the shared memory on.
pub const WORKER_MEMORY_FD: RawFd = 3;

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
/// along with it (SCM_RIGHTS; room for [`BandSpec::MAX_BATCH`], the kernel closes any
/// beyond), retrying on EINTR. Returns the message's length (0: the peer closed) and the
/// descriptors, in order.
///
/// [`BandSpec::MAX_BATCH`]: crate::protocol::BandSpec::MAX_BATCH
pub fn receive_with_fds(socket: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    loop {
        let mut space = nix::cmsg_space!([RawFd; crate::protocol::BandSpec::MAX_BATCH]);
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
pub(super) fn worker_fds(jobs: RawFd, done: RawFd, memory: RawFd) -> Result<(), ()> {
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
