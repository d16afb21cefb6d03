//! Helpers for the processes server's end-to-end tests (`answers.rs`, `faults.rs`,
//! `overload.rs`, `shutdown.rs`, `fork_server.rs`, `pitfalls.rs`): starting the real binary,
//! and finding its band children and fork server in `/proc`.
// Each test binary uses its own part of these.
#![allow(dead_code)]

use std::time::Duration;

use actix_web::http::StatusCode;
use matrix_service::testing::{ServerProcess, client, eventually, get};

pub const BINARY: &str = env!("CARGO_BIN_EXE_app_multiprocessing");

pub fn start(args: &[&str]) -> ServerProcess {
    ServerProcess::start(BINARY, args)
}

/// The server's children that compute bands, live or zombie: all but its fork server.
pub fn band_children(server: &ServerProcess) -> Vec<(i32, char)> {
    let fork_server = find_fork_server(server);
    let children = server.children();
    children
        .into_iter()
        .filter(|(pid, _)| Some(*pid) != fork_server)
        .collect()
}

/// The server's children that have become band children (renamed `band-child`): none of them
/// can be its fork server, even one still starting, before it has named itself.
pub fn named_band_children(server: &ServerProcess) -> Vec<i32> {
    let name = app_multiprocessing::sys::child::BAND_CHILD_NAME
        .to_str()
        .expect("ASCII");
    (server.children().into_iter())
        .map(|(pid, _)| pid)
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == name))
        .collect()
}

/// The server's fork server, if it has one: the oldest of its children named `fork-server`.
/// (A child the fork server has just forked bears that name too, for the microseconds before
/// it renames itself `band-child`.)
pub fn find_fork_server(server: &ServerProcess) -> Option<i32> {
    let name = app_multiprocessing::fork_per_request::fork_server::PROCESS_NAME
        .to_str()
        .expect("ASCII");
    let named =
        |pid: &i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == name);
    let started = |pid: &i32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Field 22, start time; the fields after the command name start at field 3.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        after_name
            .split_whitespace()
            .nth(19)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    server
        .children()
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(named)
        .min_by_key(started)
}

/// The server's fork server, which it must have.
pub fn fork_server_of(server: &ServerProcess) -> i32 {
    find_fork_server(server).unwrap_or_else(|| panic!("no fork server among {:?}", server.children()))
}

/// No band child of the server is left, live or zombie.
pub fn assert_no_children(server: &ServerProcess) {
    assert!(
        eventually(Duration::from_secs(5), || band_children(server).is_empty()),
        "children left: {:?}",
        band_children(server)
    );
}

/// Serves one request to `url` on a client that is then dropped (closing its connection), and
/// returns the server's settled descriptor count: the baseline a test compares against later.
pub async fn descriptors_after_one_request(server: &ServerProcess, url: &str) -> usize {
    let warm = client();
    assert_eq!(get(&warm, url).await.status, StatusCode::OK);
    drop(warm);
    server.settled_fd_count()
}
