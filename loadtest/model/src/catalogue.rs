//! The catalogue of lab servers: every server the lab builds, starts and compares, with the facts
//! the harness needs about it. The CLI, the run, the conclusions, the targets, the charts, the
//! cluster, `uploads` and the cross-server tests are given a [`Catalogue`] (the lab's by default,
//! [`Catalogue::lab`]) and ask it; none of them singles a server out by name. A new lab server is
//! one entry here (see docs/architecture.md, "Add a lab server").

use crate::summary::TargetId;

/// How a server runs a request's bands: the model of concurrency it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Threads in one process, sharing its memory.
    Threads,
    /// Processes, each with its own memory: what a band needs is shared or sent.
    Processes,
    /// Tasks on an event loop: a band is a future, its wait a timer, its work on the loop.
    Tasks,
}

impl Family {
    /// For a person: "threads in one process", "processes".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Threads => "threads in one process",
            Self::Processes => "processes",
            Self::Tasks => "tasks on an event loop",
        }
    }

    /// Its workers, counted: "thread" / "threads", "child process" / "child processes",
    /// "future" / "futures".
    pub fn units(self, count: u32) -> String {
        let (one, many) = match self {
            Self::Threads => ("thread", "threads"),
            Self::Processes => ("child process", "child processes"),
            Self::Tasks => ("future", "futures"),
        };
        format!("{count} {}", if count == 1 { one } else { many })
    }

    /// The `/metrics` counter of the workers its servers start for bands (per request, when
    /// they have no pool); `None` for tasks, whose bands start no thread or process.
    pub fn started_counter(self) -> Option<&'static str> {
        match self {
            Self::Threads => Some("lab_threads_started_total"),
            Self::Processes => Some("lab_children_forked_total"),
            Self::Tasks => None,
        }
    }
}

/// A pool started once, at the server's start: what sizes it, and where it says its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The server's flag that sets its size.
    pub flag: String,
    /// The `/metrics` gauge that reports its size.
    pub gauge: String,
}

/// How many of its bands a server runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandsAtOnce {
    /// Every band of every request at once, each on a thread or process of its own.
    Every,
    /// As many as its pool has threads or processes, across all requests.
    PoolSize,
    /// Every band's wait at once, as a timer, but one band's work at a time on each event loop.
    WaitsAtOnce,
}

/// A server the lab builds, starts and compares. One binary can serve several lab servers,
/// chosen by its arguments: the processes binary forks per request, or keeps a pre-forked pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabServer {
    /// Its name in flags (`--servers`, `--url`, `--pid`), reports and `summary.json`.
    pub name: String,
    /// What it is, for a person: "threads started per request".
    pub description: String,
    /// The binary that serves it, which is also its package's name.
    pub binary: String,
    /// The endpoint's path.
    pub path: String,
    /// Arguments after `--port 0`.
    pub args: Vec<String>,
    pub family: Family,
    /// Its pool, if its workers are started once rather than per request.
    pub pool: Option<Pool>,
    pub bands: BandsAtOnce,
    /// Whether each band of a request forks a process.
    pub forks_per_band: bool,
    /// The servers it is weighed against in the conclusions (each pair once, from the later
    /// server's side): what it saves or costs against them is a question the lab asks.
    pub compared_with: Vec<String>,
    /// The lab's targets it is held to (where a run measures their scenario).
    pub targets: Vec<TargetId>,
    /// Its colour in every chart, as RGB.
    pub colour: [u8; 3],
}

impl LabServer {
    /// Whether its workers are started per request (no pool).
    pub fn per_request(&self) -> bool {
        self.pool.is_none()
    }
}

/// The fifth lab server: tasks on an event loop.
fn event_loop() -> LabServer {
    LabServer {
        name: "async".into(),
        description: "tasks on an event loop".into(),
        binary: "app_threading".into(),
        path: "/threading".into(),
        args: strings(&["--strategy", "async"]),
        family: Family::Tasks,
        pool: None,
        bands: BandsAtOnce::WaitsAtOnce,
        forks_per_band: false,
        compared_with: strings(&["threading"]),
        // Its bands compute one at a time on the loop: held to no speed-up from a second
        // worker, and to serving many waits on few threads.
        targets: vec![
            TargetId::Tail,
            TargetId::IoCeiling,
            TargetId::ManyWaits,
            TargetId::ManyWaitsTail,
            TargetId::WaitThreads,
            TargetId::LoopCpu,
        ],
        colour: PALETTE[4],
    }
}

/// Owned copies of `items`.
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The lab servers of a run, in the order runs list and alternate them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    servers: Vec<LabServer>,
}

/// Okabe and Ito's colour-blind-safe palette: the lab servers take its first colours, other
/// servers (`--target`, the Python lab) the ones left.
pub const PALETTE: [[u8; 3]; 8] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
    [120, 120, 120],
    [240, 228, 66],
];

impl Default for Catalogue {
    fn default() -> Self {
        Self::lab()
    }
}

impl Catalogue {
    /// The lab's five servers: threads per request, a thread pool, a fork per request, a
    /// pre-forked pool of processes, tasks on an event loop.
    pub fn lab() -> Self {
        let every = [TargetId::Tail, TargetId::ProductSpeedUp, TargetId::IoCeiling];
        Self {
            servers: vec![
                LabServer {
                    name: "threading".into(),
                    description: "threads started per request".into(),
                    binary: "app_threading".into(),
                    path: "/threading".into(),
                    args: Vec::new(),
                    family: Family::Threads,
                    pool: None,
                    bands: BandsAtOnce::Every,
                    forks_per_band: false,
                    compared_with: Vec::new(),
                    targets: every.to_vec(),
                    colour: PALETTE[0],
                },
                LabServer {
                    name: "thread-pool".into(),
                    description: "a pool of threads started once".into(),
                    binary: "app_threading".into(),
                    path: "/threading".into(),
                    args: strings(&["--strategy", "pool"]),
                    family: Family::Threads,
                    pool: Some(Pool {
                        flag: "--pool-threads".into(),
                        gauge: "lab_pool_threads".into(),
                    }),
                    bands: BandsAtOnce::PoolSize,
                    forks_per_band: false,
                    compared_with: strings(&["threading"]),
                    targets: every.to_vec(),
                    colour: PALETTE[1],
                },
                LabServer {
                    name: "multiprocessing".into(),
                    description: "a fork per request".into(),
                    binary: "app_multiprocessing".into(),
                    path: "/multiprocessing".into(),
                    args: Vec::new(),
                    family: Family::Processes,
                    pool: None,
                    bands: BandsAtOnce::Every,
                    forks_per_band: true,
                    compared_with: strings(&["threading"]),
                    // A fork per band: held to no speed-up, and its io is reported with what
                    // caps it (the forks' CPU).
                    targets: vec![TargetId::Tail, TargetId::IoCeiling],
                    colour: PALETTE[2],
                },
                LabServer {
                    name: "prefork".into(),
                    description: "a pool of worker processes forked at start-up".into(),
                    binary: "app_multiprocessing".into(),
                    path: "/multiprocessing".into(),
                    args: strings(&["--strategy", "prefork"]),
                    family: Family::Processes,
                    pool: Some(Pool {
                        flag: "--pool-workers".into(),
                        gauge: "lab_pool_workers_alive".into(),
                    }),
                    bands: BandsAtOnce::PoolSize,
                    forks_per_band: false,
                    compared_with: strings(&["multiprocessing", "threading"]),
                    targets: every.to_vec(),
                    colour: PALETTE[3],
                },
                event_loop(),
            ],
        }
    }

    /// This catalogue with `server` added at its end.
    ///
    /// # Panics
    /// If the name is taken: a name is a server's identity in every flag and report.
    #[must_use]
    pub fn with(mut self, server: LabServer) -> Self {
        assert!(
            self.get(&server.name).is_none(),
            "{:?} is in the catalogue already",
            server.name
        );
        self.servers.push(server);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &LabServer> {
        self.servers.iter()
    }

    /// The lab server called `name`.
    pub fn get(&self, name: &str) -> Option<&LabServer> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// Whether `name` is a lab server's (and so not free for a `--target`).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every name, in order.
    pub fn names(&self) -> Vec<&str> {
        self.servers.iter().map(|s| s.name.as_str()).collect()
    }

    /// The server called `name`, or an error that lists the lab servers.
    pub fn find(&self, name: &str) -> Result<&LabServer, String> {
        self.get(name).ok_or_else(|| {
            format!(
                "{name:?} is not a lab server; the lab servers are {}",
                self.names().join(", ")
            )
        })
    }

    /// The servers called `names` (each once, in the catalogue's order), or an error naming the
    /// first that is not one.
    pub fn select(&self, names: &[String]) -> Result<Vec<LabServer>, String> {
        for name in names {
            self.find(name)?;
        }
        Ok((self.servers.iter())
            .filter(|s| names.contains(&s.name))
            .cloned()
            .collect())
    }

    /// The pairs the conclusions weigh, `(server, against)`, in the catalogue's order.
    pub fn comparisons(&self) -> Vec<(&LabServer, &LabServer)> {
        (self.servers.iter())
            .flat_map(|s| (s.compared_with.iter()).filter_map(move |other| Some((s, self.get(other)?))))
            .collect()
    }

    /// Each lab server's colour; other names get the palette's colours no lab server of
    /// `present` took, in turn.
    pub fn colours(&self, present: &[&str]) -> Vec<[u8; 3]> {
        let taken: Vec<[u8; 3]> = (present.iter()).filter_map(|n| self.get(n).map(|s| s.colour)).collect();
        let mut free = PALETTE.iter().copied().filter(|c| !taken.contains(c)).cycle();
        (present.iter())
            .map(|name| match self.get(name) {
                Some(server) => server.colour,
                None => free.next().unwrap_or(PALETTE[0]),
            })
            .collect()
    }

    /// One line per server: its name, binary and arguments, and what it is (`loadtest servers`).
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for s in &self.servers {
            let command = std::iter::once(s.binary.as_str())
                .chain(s.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            out.push_str(&format!("{}\t{command}\t{}\t{}\n", s.name, s.path, s.description));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_comparisons_name_lab_servers() {
        let lab = Catalogue::lab();
        let mut names = lab.names();
        names.dedup();
        assert_eq!(
            names,
            ["threading", "thread-pool", "multiprocessing", "prefork", "async"]
        );
        for s in lab.iter() {
            for other in &s.compared_with {
                assert!(
                    lab.contains(other),
                    "{} is compared with {other}, not a lab server",
                    s.name
                );
            }
            assert_eq!(s.pool.is_some(), s.bands == BandsAtOnce::PoolSize, "{}", s.name);
        }
        let pairs: Vec<(&str, &str)> = (lab.comparisons().into_iter())
            .map(|(a, b)| (a.name.as_str(), b.name.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("thread-pool", "threading"),
                ("multiprocessing", "threading"),
                ("prefork", "multiprocessing"),
                ("prefork", "threading"),
                ("async", "threading")
            ]
        );
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_names_allowed() {
        let lab = Catalogue::lab();
        assert_eq!(
            lab.find("threads").unwrap_err(),
            "\"threads\" is not a lab server; the lab servers are threading, thread-pool, multiprocessing, prefork, async"
        );
        let picked = lab.select(&["prefork".into(), "threading".into()]).unwrap();
        let names: Vec<&str> = picked.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["threading", "prefork"], "the catalogue's order");
        assert!(lab.select(&["nope".into()]).is_err());
    }

    #[test]
    fn lab_servers_keep_their_colour_and_others_take_the_rest() {
        let lab = Catalogue::lab();
        let colours = lab.colours(&["prefork", "python", "threading", "other"]);
        assert_eq!(colours, [PALETTE[3], PALETTE[1], PALETTE[0], PALETTE[2]]);
        let all: Vec<[u8; 3]> = lab.iter().map(|s| s.colour).collect();
        assert_eq!(all, PALETTE[..5], "each lab server a colour of its own");
    }

    #[test]
    fn an_added_server_joins_at_the_end_and_a_taken_name_is_refused() {
        let extra = LabServer {
            name: "test-pool".into(),
            ..Catalogue::lab().get("thread-pool").unwrap().clone()
        };
        let catalogue = Catalogue::lab().with(extra);
        assert_eq!(catalogue.names().last(), Some(&"test-pool"));
        assert!(
            catalogue
                .listing()
                .lines()
                .any(|l| l.starts_with("test-pool\tapp_threading --strategy pool"))
        );
        let taken =
            std::panic::catch_unwind(|| Catalogue::lab().with(Catalogue::lab().get("prefork").unwrap().clone()));
        assert!(taken.is_err());
    }
}
