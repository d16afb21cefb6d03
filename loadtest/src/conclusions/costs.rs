//! Why the servers performed as they did: CPU per answered request (whole process tree) and the
//! ceiling it implies on this machine, the cost against the work itself, the servers' own timings
//! of generation and addition, and peak memory.

use super::{POOL, PROCESSES, THREAD_POOL, THREADS, and_list, counted, mib, probe, result, servers_in};
use crate::summary::{RunSummary, ScenarioKey};

/// Why: CPU per answered request, the ceiling it implies on this machine, and the servers'
/// own timings of generation and addition.
pub(super) fn why(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut out = Vec::new();
    let cpus = f64::from(summary.machine.cpus.max(1));
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    if let (Some(threads), Some(processes)) = (cpu(THREADS), cpu(PROCESSES)) {
        let extra = processes - threads;
        out.push(format!(
            "Why: each answered request cost the multiprocessing server (a fork per request) {processes:.2} ms of \
             CPU (whole process tree, reaped children included) against {threads:.2} ms for the threading server \
             ({:.1}x). {} With {} CPUs, CPU alone caps the multiprocessing server near {:.0} req/s and the \
             threading server near {:.0} req/s, and the load generator shares those CPUs.",
            processes / threads,
            if extra > 0.0 {
                format!(
                    "The {extra:.2} ms difference is what a request pays for its processes: forks (each child's \
                     copy of the forking process's page tables), copy-on-write faults, moving the sum through \
                     pipes, and reaping."
                )
            } else {
                "Forking cost no extra CPU here.".to_owned()
            },
            cpus,
            cpus * 1000.0 / processes,
            cpus * 1000.0 / threads,
        ));
    }
    out.extend(pool(summary, scenario));
    out.extend(thread_pool(summary, scenario));
    if let Some(work) = summary.work_costs.iter().find(|c| c.n == scenario.n) {
        let parts: Vec<String> = servers_in(summary, scenario)
            .filter_map(|r| r.cpu_vs_work.map(|x| format!("the {} server {x:.1}x", r.server)))
            .collect();
        if !parts.is_empty() {
            out.push(format!(
                "Against the work itself ({:.2} ms of CPU to generate and add the matrices on one thread, measured \
                 in the same run, the lower of before and after the trials), each answer cost {}.",
                work.cpu_ms,
                and_list(&parts)
            ));
        }
    }
    if let (Some(t), Some(p)) = (probe(summary, THREADS, scenario), probe(summary, PROCESSES, scenario))
        && let (Some(te), Some(pe), Some(tg), Some(pg)) =
            (t.execution_ms, p.execution_ms, t.generation_ms, p.generation_ms)
    {
        let relation = if pe > te * (1.0 + crate::stats::NOISE_BAND) {
            format!("{:.1}x as long with processes", pe / te)
        } else if te > pe * (1.0 + crate::stats::NOISE_BAND) {
            format!("{:.1}x as long with threads", te / pe)
        } else {
            "about as long either way".to_owned()
        };
        out.push(format!(
            "The servers' own timings, with no other load (median of {} requests each): generating the two \
             matrices took {tg:.2} ms (threading) and {pg:.2} ms (multiprocessing); the parallel addition \
             took {te:.2} ms with {} and {pe:.2} ms with {}, {relation}.",
            t.requests.min(p.requests),
            counted(scenario.workers, "thread", "threads"),
            counted(scenario.workers, "child process", "child processes"),
        ));
    }
    if let Some(p) = probe(summary, POOL, scenario)
        && let Some(execution) = p.execution_ms
    {
        out.push(format!(
            "With the pre-forked pool, the parallel addition took {execution:.2} ms (its own timing, median of {} \
             requests with no other load).",
            p.requests
        ));
    }
    out
}

/// What a pool of processes forked once saves over a fork per request, and what it still costs
/// over threads, in CPU per answered request.
fn pool(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    let pool = cpu(POOL)?;
    let mut sentence = format!(
        "The pre-forked pool (worker processes forked once, at start-up) spent {pool:.2} ms of CPU per answered \
         request; CPU alone caps it near {:.0} req/s.",
        f64::from(summary.machine.cpus.max(1)) * 1000.0 / pool
    );
    if let Some(processes) = cpu(PROCESSES) {
        sentence.push_str(&if processes > pool {
            format!(
                " That is {:.2} ms less than forking per request: about what a request's forks, page-table copies \
                 and reaping cost.",
                processes - pool
            )
        } else {
            format!(" Forking per request cost no more ({processes:.2} ms).")
        });
    }
    if let Some(threads) = cpu(THREADS) {
        sentence.push_str(&if pool > threads {
            format!(
                " It is {:.2} ms more than threads: handing the bands to other processes and collecting their sums.",
                pool - threads
            )
        } else {
            format!(" Threads cost no less ({threads:.2} ms).")
        });
    }
    Some(sentence)
}

/// The thread pool against scoped threads, and what the thread starts it avoids are worth on
/// this machine. An empty thread's start is a floor: a band's thread also maps its stack's pages
/// and starts with cold caches, so the pool may save more than the starts alone.
fn thread_pool(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    let (pool, scoped) = (cpu(THREAD_POOL)?, cpu(THREADS)?);
    let mut sentence = format!(
        "The thread pool (threads started once) spent {pool:.2} ms of CPU per answered request against {scoped:.2} \
         ms for scoped threads ({:.2}x).",
        pool / scoped
    );
    if let Some(us) = summary.thread_start_cpu_us
        && scenario.workers > 1
    {
        let starts = scenario.workers - 1;
        let saved = f64::from(starts) * us / 1000.0;
        sentence.push_str(&format!(
            " Starting and joining an empty thread cost {us:.0} µs of CPU here (measured in the same run), so the \
             {} a request that the pool avoids are worth {saved:.2} ms by themselves, {:.0}% of scoped threads' cost",
            counted(starts, "thread start", "thread starts"),
            100.0 * saved / scoped,
        ));
        let pool_saved = scoped - pool;
        sentence.push_str(&if pool_saved > saved * (1.0 + crate::stats::NOISE_BAND) + 0.005 {
            format!(
                "; the pool saved {pool_saved:.2} ms, more than that: a thread that does the work costs more than \
                 an empty one (its stack's first pages, cold caches)."
            )
        } else if pool_saved < saved * (1.0 - crate::stats::NOISE_BAND) - 0.005 {
            format!(
                "; the pool saved {:.2} ms: its own hand-offs (queueing each band, waking a pool thread, waking the \
                 request at the end) and the noise between trials took the rest.",
                pool_saved.max(0.0)
            )
        } else {
            format!("; the pool saved {pool_saved:.2} ms, about that.")
        });
    }
    Some(sentence)
}

/// Peak memory of each server under load.
pub(super) fn memory(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let parts: Vec<String> = servers_in(summary, scenario)
        .filter_map(|r| r.peak_memory_bytes.map(|peak| format!("{} {}", r.server, mib(peak))))
        .collect();
    if parts.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Peak memory under load (PSS summed over the server's process tree): {}. PSS shares each page among \
         the processes that map it, so forked children are not counted twice.",
        parts.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, three_servers};

    #[test]
    fn the_pool_is_placed_between_a_fork_per_request_and_threads() {
        let text = why(&three_servers(), KEY).join("\n");
        assert!(
            text.contains("The pre-forked pool (worker processes forked once, at start-up) spent 3.98 ms of CPU"),
            "{text}"
        );
        assert!(text.contains("caps it near 503 req/s"), "{text}");
        assert!(text.contains("That is 3.93 ms less than forking per request"), "{text}");
        assert!(text.contains("It is 1.99 ms more than threads"), "{text}");
        assert!(
            text.contains("With the pre-forked pool, the parallel addition took 1.10 ms"),
            "{text}"
        );
    }

    /// [`three_servers`] with a thread pool whose CPU per request is `pool_ms` against scoped
    /// threads' 1.00 ms, and thread starts of 26 µs.
    fn with_thread_pool(pool_ms: f64) -> RunSummary {
        let mut summary = three_servers();
        summary.thread_start_cpu_us = Some(26.0);
        let scoped = (summary.results.iter_mut()).find(|r| r.server == THREADS).unwrap();
        scoped.cpu_ms_per_request = Some(1.0);
        let mut pool = scoped.clone();
        (pool.server, pool.cpu_ms_per_request) = (THREAD_POOL.into(), Some(pool_ms));
        summary.results.push(pool);
        summary
    }

    #[test]
    fn the_thread_pool_is_weighed_against_what_thread_starts_cost() {
        let text = thread_pool(&with_thread_pool(0.92), KEY).unwrap();
        assert_eq!(
            text,
            "The thread pool (threads started once) spent 0.92 ms of CPU per answered request against 1.00 ms for \
             scoped threads (0.92x). Starting and joining an empty thread cost 26 µs of CPU here (measured in the \
             same run), so the 3 thread starts a request that the pool avoids are worth 0.08 ms by themselves, 8% \
             of scoped threads' cost; the pool saved 0.08 ms, about that."
        );
        // Saving less than the starts are worth: the pool's own hand-offs and noise are named.
        let text = thread_pool(&with_thread_pool(0.99), KEY).unwrap();
        assert!(
            text.ends_with("the pool saved 0.01 ms: its own hand-offs (queueing each band, waking a pool thread, waking the request at the end) and the noise between trials took the rest."),
            "{text}"
        );
        // Saving more: a thread that works costs more than an empty one.
        let text = thread_pool(&with_thread_pool(0.80), KEY).unwrap();
        assert!(text.contains("the pool saved 0.20 ms, more than that"), "{text}");
        // No thread pool, no sentence.
        assert_eq!(thread_pool(&three_servers(), KEY), None);
    }
}
