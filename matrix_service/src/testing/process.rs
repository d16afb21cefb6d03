//! A real server binary on port 0, and what `/proc` shows of it and its children.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use nix::sys::signal::Signal;
use procfs::process::{MMPermissions, MMapPath, Process};

use super::http_client::{client, get};
use crate::launch::LaunchedServer;

/// A server binary running on a free port, stopped when dropped if still running.
pub struct ServerProcess {
    server: LaunchedServer,
}

impl ServerProcess {
    /// Starts `binary --port 0 ARGS` (logging warnings only) and waits for its `listening on` line.
    pub fn start(binary: impl AsRef<Path>, args: &[&str]) -> Self {
        let mut command = Command::new(binary.as_ref());
        command.args(["--port", "0"]).args(args).env("RUST_LOG", "warn");
        Self::launch(command)
    }

    /// Runs `command` as it is (a wrapper that ends by executing a server, say) and waits for
    /// the server's `listening on` line.
    pub fn launch(command: Command) -> Self {
        let server = LaunchedServer::start(command, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
        Self { server }
    }

    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn pid(&self) -> i32 {
        self.server.pid()
    }

    /// The server's child processes now, with their state letter from `/proc/PID/stat`
    /// (`Z` for a zombie).
    pub fn children(&self) -> Vec<(i32, char)> {
        children_of(self.pid())
    }

    /// How many file descriptors the server has open now.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// The descriptor count once it has stopped changing (the same over 200 ms), for a baseline:
    /// actix starts its workers, each with its own epoll and eventfd, just after printing the
    /// `listening on` line.
    pub fn settled_fd_count(&self) -> usize {
        let mut last = self.fd_count();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.fd_count();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// The server's resident memory now (`VmRSS`: its heap, and shared memory it has touched).
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        kib.expect("the server is alive and /proc shows its VmRSS") * 1024
    }

    /// How many malloc heaps of glibc's own (arenas beyond the main one) the server has mapped
    /// now. Each is one anonymous mapping of 64 MiB (`HEAP_MAX_SIZE` on 64-bit) at a 64 MiB
    /// boundary, readable and writable at its start and reserved (`---p`) beyond.
    pub fn extra_malloc_arenas(&self) -> usize {
        const HEAP_BYTES: u64 = 64 << 20;
        let maps = Process::new(self.pid())
            .and_then(|process| process.maps())
            .expect("the server is alive and /proc shows its mappings");
        let maps: Vec<_> = maps
            .into_iter()
            .filter(|map| map.pathname == MMapPath::Anonymous)
            .collect();
        maps.iter()
            .enumerate()
            .filter(|(_, map)| map.address.0 % HEAP_BYTES == 0 && map.perms.contains(MMPermissions::WRITE))
            .filter(|&(first, map)| {
                // The reserved rest follows at once: the mapping and its tail make 64 MiB.
                let mut end = map.address.1;
                for next in &maps[first + 1..] {
                    if next.address.0 != end || next.perms.contains(MMPermissions::READ) {
                        break;
                    }
                    end = next.address.1;
                }
                end - map.address.0 == HEAP_BYTES
            })
            .count()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        self.server
            .signal(signal)
            .expect("the server is our child and still exists");
    }

    /// Sends SIGTERM and waits up to `timeout` for the server to exit by itself.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        self.stop_within(timeout)
    }

    /// [`terminate`](Self::terminate), then waits (within the same `timeout`) for the server's
    /// stdout to close, and returns every line it printed as well.
    pub fn terminate_with_stdout(mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = self.stop_within(timeout);
        loop {
            let (lines, closed) = self.server.stdout();
            if closed {
                return (status, lines);
            }
            assert!(
                Instant::now() < deadline,
                "the server exited, but a process it started still holds its stdout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop_within(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.server.exit_status() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Checks the allocator policy ([`crate::memory::set_allocator_policy`]) in a running server:
/// 64 concurrent requests run on many threads (HTTP workers, blocking threads, adding threads),
/// and all of them allocate from glibc's one main heap, with no arena of their own (by default
/// glibc would give them up to 8 per core, each one more lock page for every fork to
/// copy-on-write).
pub async fn check_one_malloc_heap(server: &ServerProcess, path: &str) {
    let client = client();
    let url = format!("{}{path}?n=200", server.url());
    let replies = futures_util::future::join_all((0..64).map(|_| get(&client, &url))).await;
    assert!(replies.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(server.extra_malloc_arenas(), 0, "malloc heaps besides the main one");
}

/// Checks that a server's matrix memory follows its load: several rounds of concurrent requests
/// at n=1500 (54 MB of matrices each) keep it resident between requests, and a second or two
/// of quiet gives it back, down to what the default n needs.
pub async fn check_memory_follows_load(server: &ServerProcess, path: &str) {
    const N: usize = 1500;
    const ONE_REQUEST: u64 = 3 * (N * N) as u64 * 8;
    const AT_REST_AT_MOST: u64 = 64 << 20;
    let client = client();
    let url = format!("{}{path}?n={N}", server.url());
    let before = server.resident_bytes();
    for _ in 0..3 {
        let replies = futures_util::future::join_all((0..4).map(|_| get(&client, &url))).await;
        for reply in replies {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        }
    }
    let busy = server.resident_bytes();
    assert!(
        busy >= before + ONE_REQUEST,
        "right after the requests the server should still hold their matrices: {before} -> {busy} bytes"
    );
    let rested = eventually(Duration::from_secs(10), || server.resident_bytes() <= AT_REST_AT_MOST);
    assert!(
        rested,
        "idle, the server should give the matrices back: {busy} -> {} bytes, not at most {AT_REST_AT_MOST}",
        server.resident_bytes()
    );
    let reply = get(&client, &url).await;
    assert_eq!(reply.status, StatusCode::OK, "serving again after giving memory back");
}

/// The children of `pid` (from every thread's `/proc/PID/task/TID/children`) and their states.
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children: Vec<(i32, char)> = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .map(|child| (child, process_state(child).unwrap_or('?')))
        .collect();
    children.sort_unstable();
    children.dedup();
    children
}

/// Every process below `pid`, children first, then theirs.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    let mut found: Vec<i32> = Vec::new();
    let mut next = vec![pid];
    while let Some(parent) = next.pop() {
        for (child, _) in children_of(parent) {
            if !found.contains(&child) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

/// The state letter of `pid` (`R`, `S`, `Z`, ...), or `None` if it no longer exists.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns the last result.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
