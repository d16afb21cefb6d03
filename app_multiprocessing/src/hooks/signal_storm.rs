//! A test hook (the hidden `--debug-signal-storm` flag): a thread that signals every other
//! thread of the server, over and over, with a signal whose handler is installed without
//! `SA_RESTART`. Each blocking call in flight (the poll on the children's pipes, a read, a
//! waitpid, the pool supervisor's poll, the runtime's own waits) then fails with EINTR, as it
//! would under a profiler, a debugger or a library that uses signals. The server must answer
//! every request as if nothing happened (pitfall A8 in `docs/multiprocessing.md`).
//!
//! A signal sent to the process as a whole would nearly always land on the main thread (actix's
//! idle event loop), never on the blocking threads that wait for children, so the storm aims at
//! each thread in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Pid, gettid};

use crate::sys;

/// The signal the storm sends; its default action (ending the process) is replaced.
pub const SIGNAL: Signal = Signal::SIGUSR1;

/// A running storm; [`SignalStorm::stop`] ends it.
#[derive(Debug)]
pub struct SignalStorm {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

/// What a storm did, printed to stdout when the server stops so that tests can check the
/// signals really arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormReport {
    /// Signals sent to a thread that existed at the time.
    pub sent: u64,
    /// Signals whose handler ran.
    pub handled: u64,
}

impl std::fmt::Display for StormReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signal storm: {} sent, {} handled", self.sent, self.handled)
    }
}

impl SignalStorm {
    /// Installs the interrupting handler, then signals every other thread once per `interval`.
    pub fn start(interval: Duration) -> anyhow::Result<Self> {
        sys::interrupt_on(SIGNAL)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("signal-storm".into()).spawn({
            let stop = Arc::clone(&stop);
            move || {
                let own = gettid();
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    for tid in threads().into_iter().filter(|&tid| tid != own) {
                        // A thread may have exited since it was listed: ESRCH, nothing sent.
                        sent += u64::from(sys::signal_own_thread(tid, SIGNAL).is_ok());
                    }
                    std::thread::sleep(interval);
                }
                sent
            }
        })?;
        Ok(Self { stop, thread })
    }

    /// Ends the storm. The handler stays installed: a signal still on its way must not end the
    /// process.
    pub fn stop(self) -> StormReport {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.thread.join().unwrap_or_default();
        StormReport {
            sent,
            handled: sys::signals_handled(),
        }
    }
}

/// The ids of this process's threads now.
fn threads() -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::sync::mpsc;

    /// A writer blocked on a full pipe is interrupted again and again; `sys::write_all` still
    /// delivers every byte, in order (the forked children write their bands with it). Only the
    /// writer is signalled, so tests running beside this one in the same process are left alone.
    #[test]
    fn write_all_delivers_everything_while_its_thread_is_interrupted() {
        sys::interrupt_on(SIGNAL).unwrap();
        let handled_before = sys::signals_handled();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let bytes: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let (tid_tx, tid_rx) = mpsc::channel();
        let writer = std::thread::spawn({
            let bytes = bytes.clone();
            move || {
                tid_tx.send(gettid()).unwrap();
                sys::write_all(write_end.as_fd(), &bytes)
            }
        });
        let writer_tid = tid_rx.recv().unwrap();
        let mut reader = std::fs::File::from(read_end);
        let mut received = Vec::with_capacity(bytes.len());
        let mut chunk = vec![0; 16 << 10];
        let mut sent = 0;
        loop {
            // While the pipe is full: a first signal cuts the writer's write(2) short after the
            // bytes it wrote since the last read (a partial write); the second finds its next
            // write(2) blocked with nothing written, which fails with EINTR.
            for _ in 0..2 {
                sent += u32::from(sys::signal_own_thread(writer_tid, SIGNAL).is_ok());
                std::thread::sleep(Duration::from_micros(200));
            }
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(count) => received.extend_from_slice(&chunk[..count]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the pipe: {e}"),
            }
        }
        assert_eq!(writer.join().unwrap(), Ok(()));
        assert!(
            received == bytes,
            "{} of {} bytes arrived, or out of order",
            received.len(),
            bytes.len()
        );
        let handled = sys::signals_handled() - handled_before;
        assert!(
            sent >= 100 && handled >= 100,
            "the writer was barely interrupted: {sent} signals sent, {handled} handled"
        );
    }
}
