//! Bulk work that must not slow the answers to other connections: it runs on a thread of its own
//! at a lower priority.
//!
//! A posted body of tens of megabytes takes its parser a second of CPU. Parsed on a thread of
//! the same priority as the server's async workers, a few of them at once slow every other
//! answer, `/healthz` included, by as much as the CPUs are shared. At [`BACKGROUND_NICE`] the
//! scheduler gives a thread of the ordinary priority about nine times the CPU of a parser when
//! both want it (weights 1024 and 110), so a health check is answered first and the parser
//! still gets every idle cycle.
//!
//! The thread is new rather than one of actix's blocking threads: an unprivileged process may
//! lower a thread's priority but never raise it back, so a pooled thread, once lowered, would
//! stay lowered for the work it runs next.

use std::io;
use std::thread;

use tokio::sync::oneshot;

/// How much a background thread's nice value is above the server's own (capped at 19).
pub const BACKGROUND_NICE: i32 = 10;

/// The highest nice value Linux has: the lowest priority of an ordinary thread.
const LOWEST_PRIORITY: i32 = 19;

/// Starts `work` on a new thread named `name`, at a lower priority. The work runs at once;
/// [`Background::finish`] waits for its result.
pub fn spawn_background<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Background<T> {
    let (result, received) = oneshot::channel();
    let spawned = thread::Builder::new().name(name.to_owned()).spawn(move || {
        lower_own_priority();
        // The request may have given up on the result; then nobody is left to tell.
        let _ = result.send(work());
    });
    Background {
        name: name.to_owned(),
        result: spawned.map(|_| received),
    }
}

/// Work started by [`spawn_background`].
#[derive(Debug)]
pub struct Background<T> {
    name: String,
    /// The way its result comes back, or why its thread could not start.
    result: io::Result<oneshot::Receiver<T>>,
}

impl<T> Background<T> {
    /// The work's result; an error names the thread and says whether it could not start (the
    /// system had no thread to give) or panicked.
    pub async fn finish(self) -> Result<T, String> {
        let name = self.name;
        let received = self
            .result
            .map_err(|e| format!("the {name} thread could not start: {e}"))?;
        received.await.map_err(|_| format!("the {name} thread panicked"))
    }
}

/// Raises this thread's nice value by [`BACKGROUND_NICE`]. Best effort: a thread left at the
/// server's priority only competes as it did before.
fn lower_own_priority() {
    let thread = Some(rustix::thread::gettid());
    if let Ok(now) = rustix::process::getpriority_process(thread) {
        let _ = rustix::process::setpriority_process(thread, (now + BACKGROUND_NICE).min(LOWEST_PRIORITY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        actix_web::rt::System::new().block_on(future)
    }

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn the_work_runs_at_a_lower_priority_and_the_caller_keeps_its_own() {
        let before = own_nice();
        let seen = block_on(spawn_background("test-background", own_nice).finish()).unwrap();
        assert_eq!(seen, (before + BACKGROUND_NICE).min(LOWEST_PRIORITY));
        assert_eq!(own_nice(), before, "only the new thread is lowered");
    }

    #[test]
    fn a_panic_in_the_work_is_an_error_that_names_the_thread() {
        let finished = block_on(spawn_background("test-panic", || -> u8 { panic!("on purpose") }).finish());
        assert_eq!(finished, Err("the test-panic thread panicked".to_owned()));
    }
}
