//! Ctrl-C (and SIGTERM) raise a flag the work watches, rather than ending the process: the
//! current trial ends, and what the run started is stopped and removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

/// The flag Ctrl-C raises; `stopping` is said once, when it is first raised.
pub fn flag_on_ctrl_c(stopping: &'static str) -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        if !flag.swap(true, Ordering::SeqCst) {
            eprintln!("\n{stopping}");
        }
    })
    .context("installing the Ctrl-C handler")?;
    Ok(cancel)
}
