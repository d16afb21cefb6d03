//! Everything the harness knows about oha, the HTTP load generator it drives.
//!
//! oha is an external program with a JSON contract that has changed between releases, so the
//! harness keeps that knowledge in one place, split by concern:
//!
//! - [`model`]: typed parsing of `oha --output-format json`, and what its numbers really mean
//!   (2xx goodput, transport errors, deadline aborts, latency over 2xx answers only).
//! - [`provision`]: finding an oha of a supported version (1.15 to below 2.0), or installing the
//!   pinned [`provision::PINNED_VERSION`] with `cargo install --locked`.
//! - [`runner`]: the exact command line, and running it to completion or to a wall-clock limit or
//!   cancellation, with stdout, stderr and oha's CPU time captured.
//!
//! How the harness reads oha's figures, and why: `docs/methodology.md`, "Reading oha".

pub mod model;
pub mod provision;
pub mod runner;

pub use model::{DEADLINE_ABORT_MESSAGE, OhaParseError, OhaReport};
pub use provision::{Oha, PINNED_VERSION, ProvisionError, check_version, find_or_install};
pub use runner::{Load, OhaArgs, OhaRun, RunError, run};

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Writes an executable `#!/bin/sh` script standing in for oha, and returns its path.
    ///
    /// A child `sh` writes it, not this process: a file this process holds open for writing would
    /// be inherited by a fork in another test thread, and exec'ing the script while that copy is
    /// open fails with ETXTBSY ("Text file busy").
    pub(crate) fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        let status = Command::new("/bin/sh")
            .args([
                "-c",
                r#"printf '#!/bin/sh\n%s\n' "$1" > "$2" && chmod 755 "$2""#,
                "sh",
                body,
            ])
            .arg(&path)
            .status()
            .expect("/bin/sh runs");
        assert!(status.success(), "could not write {}", path.display());
        path
    }
}
