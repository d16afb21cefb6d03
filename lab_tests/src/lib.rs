//! Support for the tests that run more than one lab server (`tests/`): where the servers'
//! binaries are, and starting each lab server of the harness's catalogue.
//!
//! The tests of one server live in its own crate; a test that compares servers belongs to none
//! of them, so it lives here. `cargo nextest run --workspace` builds every server binary first.

use std::path::PathBuf;

use loadtest_model::catalogue::LabServer;
use matrix_service::testing::ServerProcess;

/// The directory cargo builds this profile's binaries into: the test binary runs from its
/// `deps/` folder.
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary lives in a folder");
    deps.parent()
        .expect("deps/ lives in the profile's folder")
        .to_path_buf()
}

/// Starts `server` as the harness would (its binary and arguments), on a free port.
///
/// # Panics
/// If its binary has not been built in this profile: the message says how to build it.
pub fn start(server: &LabServer) -> ServerProcess {
    start_with(server, &[])
}

/// As [`start`], with `extra` arguments after the server's own.
pub fn start_with(server: &LabServer, extra: &[&str]) -> ServerProcess {
    let binary = binary_dir().join(&server.binary);
    assert!(
        binary.exists(),
        "{} is missing: run the tests for the whole workspace (cargo nextest run --workspace), or build it first \
         (cargo build -p {})",
        binary.display(),
        server.binary
    );
    let args: Vec<&str> = server
        .args
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
        .collect();
    ServerProcess::start(binary, &args)
}
