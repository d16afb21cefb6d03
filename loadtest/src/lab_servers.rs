//! The catalogue of lab servers: which binary serves each, on which path, with which arguments.

/// A server the lab builds, starts and compares. One binary can serve several lab servers,
/// chosen by its arguments: the processes binary forks per request, or keeps a pre-forked pool.
#[derive(Debug, PartialEq, Eq)]
pub struct LabServer {
    /// Its name in flags (`--servers`, `--pid`), reports and `summary.json`.
    pub name: &'static str,
    /// The binary that serves it, which is also its package's name.
    pub binary: &'static str,
    /// The endpoint's path.
    pub path: &'static str,
    /// Arguments after `--port 0`.
    pub args: &'static [&'static str],
}

/// The lab servers' names, for the code that singles one out (conclusions, targets).
pub const THREADS: &str = "threading";
pub const THREAD_POOL: &str = "thread-pool";
pub const PROCESSES: &str = "multiprocessing";
pub const PREFORK: &str = "prefork";

/// Every lab server's name, in [`LAB_SERVERS`]' order: the default of the `--servers` flags
/// (a test holds the two lists equal).
pub const ALL_LAB_SERVERS: &str = "threading,thread-pool,multiprocessing,prefork";

/// Every lab server, in the order runs list and alternate them.
pub static LAB_SERVERS: [LabServer; 4] = [
    LabServer {
        name: THREADS,
        binary: "app_threading",
        path: "/threading",
        args: &[],
    },
    LabServer {
        name: THREAD_POOL,
        binary: "app_threading",
        path: "/threading",
        args: &["--strategy", "pool"],
    },
    LabServer {
        name: PROCESSES,
        binary: "app_multiprocessing",
        path: "/multiprocessing",
        args: &[],
    },
    LabServer {
        name: PREFORK,
        binary: "app_multiprocessing",
        path: "/multiprocessing",
        args: &["--strategy", "prefork"],
    },
];

/// Parses a lab server's name, for flags; the error lists the names.
pub fn lab_server_name(raw: &str) -> Result<&'static LabServer, String> {
    lab_server(raw).ok_or_else(|| {
        let names: Vec<&str> = LAB_SERVERS.iter().map(|s| s.name).collect();
        format!("{raw:?} is not a lab server; the lab servers are {}", names.join(", "))
    })
}

/// The lab server called `name`.
pub fn lab_server(name: &str) -> Option<&'static LabServer> {
    LAB_SERVERS.iter().find(|s| s.name == name)
}

/// Whether `name` is a lab server's (and so not free for a `--target`).
pub fn is_lab_name(name: &str) -> bool {
    lab_server(name).is_some()
}
