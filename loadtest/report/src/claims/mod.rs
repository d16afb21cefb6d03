//! "The seeds' claims, measured": each claim of the lab's seed documents decided by the run's
//! data (`--python`), the Python lab's and the Rust servers' side by side.
//!
//! Every figure is a ratio of two sets of samples (trials, or one-request probes) with its 95%
//! bootstrap interval, judged against the ±5% noise band ([`Expect::judge`]). A claim whose data
//! the run did not gather is `not measured`, with what was missing.

mod evidence;
mod section;

pub use section::section;

use evidence::{Figure, Trials, decide, one_request, servers, workers};
use loadtest_model::claims::{Claim, Expect};
use loadtest_model::summary::{RunSummary, ScenarioKey};
use matrix_service::WorkKind;

/// The seeds' words a claim is tested against, quoted briefly with the seed that says them.
#[derive(Debug, Clone, Copy)]
enum Source {
    Gil,
    SeparateInterpreters,
    ThreadsForIo,
    BetterPerformance,
    MoreMemory,
    Overhead,
    Asynchronous,
}

impl Source {
    fn quote(self) -> &'static str {
        match self {
            Self::Gil => {
                "seed 002, the lab handout: “due to Python's Global Interpreter Lock (GIL), it cannot achieve true \
                 parallelism in CPU-heavy operations”"
            }
            Self::SeparateInterpreters => {
                "seed 000, a FastAPI benchmarking suite: processes “bypass the GIL by using separate interpreters”, \
                 best for CPU-bound tasks"
            }
            Self::ThreadsForIo => {
                "seed 002, the lab handout: “Multithreading is lightweight and suitable for I/O-bound tasks”"
            }
            Self::BetterPerformance => {
                "seed 002, the lab handout: “multiprocessing gives better performance because it allows true \
                 parallel execution”"
            }
            Self::MoreMemory => "seed 002, the lab handout: “Processes use more memory than threads”",
            Self::Overhead => {
                "seed 000, a FastAPI benchmarking suite: processes' overhead is “High (process creation and IPC \
                 overhead)”"
            }
            Self::Asynchronous => {
                "seed 000, a FastAPI benchmarking suite: FastAPI on uvicorn, an “Asynchronous Web API”"
            }
        }
    }
}

/// Which scenario of two servers' a claim compares them at.
#[derive(Debug, Clone, Copy)]
enum At {
    /// The handout's addition: add at n=500, 4 workers.
    TheAddition,
    /// The headline product: matmul at n=500, 4 workers.
    TheProduct,
    /// `--lab`'s 1,024 connections of io.
    ManyWaits,
}

impl At {
    fn holds(self, s: ScenarioKey) -> bool {
        let headline =
            |work| s.work == work && s.n == ScenarioKey::DEFAULT.n && s.workers == ScenarioKey::DEFAULT.workers;
        match self {
            Self::TheAddition => headline(WorkKind::Add),
            Self::TheProduct => headline(WorkKind::Matmul),
            Self::ManyWaits => s == ScenarioKey::MANY_WAITS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::TheAddition => "add, n=500, 4 workers",
            Self::TheProduct => "matmul, n=500, 4 workers",
            Self::ManyWaits => "many waits",
        }
    }
}

/// The data that decides a claim.
#[derive(Debug, Clone, Copy)]
enum Ask {
    /// One request at a time on a server, 1 worker over 2 ([`one_request`]), with `impl`.
    OneRequest(&'static str, &'static str),
    /// A server's io req/s at 4 workers over 1 ([`workers`]).
    IoFromOneToFour(&'static str),
    /// Two servers' figure, the first over the second ([`servers`]).
    Servers((&'static str, &'static str), (Figure, Trials), At),
}

/// Every claim: what it says, its seed, which way its ratio must lie, and what decides it.
const CLAIMS: [(&str, Source, Expect, Ask); 17] = [
    (
        "Python threads do not speed up CPU-bound work (numpy's product)",
        Source::Gil,
        Expect::NotAbove,
        Ask::OneRequest("py-threads", "numpy"),
    ),
    (
        "Python threads do not speed up CPU-bound work (a pure-Python product)",
        Source::Gil,
        Expect::NotAbove,
        Ask::OneRequest("py-threads", "python"),
    ),
    (
        "Python processes speed up CPU-bound work (numpy's product)",
        Source::SeparateInterpreters,
        Expect::Above,
        Ask::OneRequest("py-processes", "numpy"),
    ),
    (
        "Python processes speed up CPU-bound work (a pure-Python product)",
        Source::SeparateInterpreters,
        Expect::Above,
        Ask::OneRequest("py-processes", "python"),
    ),
    (
        "Rust threads have no GIL: a second worker speeds up one product",
        Source::Gil,
        Expect::Above,
        Ask::OneRequest("threading", "rust"),
    ),
    (
        "Threads suit IO-bound work (Python threads: io req/s from 1 to 4 workers)",
        Source::ThreadsForIo,
        Expect::Above,
        Ask::IoFromOneToFour("py-threads"),
    ),
    (
        "Threads suit IO-bound work (Rust threads: io req/s from 1 to 4 workers)",
        Source::ThreadsForIo,
        Expect::Above,
        Ask::IoFromOneToFour("threading"),
    ),
    (
        "Multiprocessing gives better performance for the addition (the lab's API in Python)",
        Source::BetterPerformance,
        Expect::Above,
        Ask::Servers(
            ("py-processes", "py-threads"),
            (Figure::Rps, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "Multiprocessing gives better performance for the addition (the handout's own apps)",
        Source::BetterPerformance,
        Expect::Above,
        Ask::Servers(
            ("python-processes-fixed", "python-threads"),
            (Figure::Rps, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "Processes cost more memory (Rust: fork per request against threads)",
        Source::MoreMemory,
        Expect::Above,
        Ask::Servers(
            ("multiprocessing", "threading"),
            (Figure::PeakMemory, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "Processes cost more memory (Python: the handout's processes app against its threads app)",
        Source::MoreMemory,
        Expect::Above,
        Ask::Servers(
            ("python-processes-fixed", "python-threads"),
            (Figure::PeakMemory, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "Processes cost more to start and to talk to (Rust: CPU per request, fork per request against threads)",
        Source::Overhead,
        Expect::Above,
        Ask::Servers(
            ("multiprocessing", "threading"),
            (Figure::CpuPerRequest, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "Processes cost more to start and to talk to (Python: CPU per request, the handout's two apps)",
        Source::Overhead,
        Expect::Above,
        Ask::Servers(
            ("python-processes-fixed", "python-threads"),
            (Figure::CpuPerRequest, Trials::Valid),
            At::TheAddition,
        ),
    ),
    (
        "An event loop serves many waits best (Rust: async against threads, 1,024 connections)",
        Source::Asynchronous,
        Expect::Above,
        Ask::Servers(("async", "threading"), (Figure::Rps, Trials::Every), At::ManyWaits),
    ),
    (
        "An event loop serves many waits best (Python: py-async against py-threads, 1,024 connections)",
        Source::Asynchronous,
        Expect::Above,
        Ask::Servers(("py-async", "py-threads"), (Figure::Rps, Trials::Every), At::ManyWaits),
    ),
    (
        "An event loop stalls on CPU work (Rust: async's p99 over threads' at matmul)",
        Source::Asynchronous,
        Expect::Above,
        Ask::Servers(("async", "threading"), (Figure::P99, Trials::Valid), At::TheProduct),
    ),
    (
        "An event loop stalls on CPU work (Python: py-async's p99 over py-threads' at matmul)",
        Source::Asynchronous,
        Expect::Above,
        Ask::Servers(("py-async", "py-threads"), (Figure::P99, Trials::Valid), At::TheProduct),
    ),
];

/// Every claim, decided by `summary`'s data; none for a run without the Python lab.
pub fn claims(summary: &RunSummary) -> Vec<Claim> {
    if summary.python_processes_seed.is_none() && summary.worker_probes.is_empty() {
        return Vec::new();
    }
    (CLAIMS.iter())
        .map(|&(claim, source, expect, ask)| {
            let evidence = match ask {
                Ask::OneRequest(server, implementation) => one_request(summary, server, implementation),
                Ask::IoFromOneToFour(server) => workers(summary, server, WorkKind::Io, (1, 4), Figure::Rps),
                Ask::Servers(pair, figure, at) => servers(summary, pair, figure, |s| at.holds(s), at.name()),
            };
            decide(claim, source.quote(), expect, evidence)
        })
        .collect()
}

#[cfg(test)]
mod tests;
