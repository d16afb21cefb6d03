//! Many waits at once (`--lab`'s [`ScenarioKey::MANY_WAITS`]): which model serves a thousand
//! waiting requests, told from what each server answered, how much of the waits' ceiling that
//! is, its p99, and the threads its process tree held; and, for a pool, the ceiling its size
//! sets when each of its workers is held by one wait.

use loadtest_model::scenario::ScenarioKey;
use loadtest_model::summary::RunSummary;

use super::and_list;

/// One sentence over every server measured at many waits, the most req/s first; `None` when
/// the run did not measure it.
pub fn many_waits(summary: &RunSummary) -> Option<String> {
    let scenario = ScenarioKey::MANY_WAITS;
    let wait_ms = f64::from(scenario.wait_ms.unwrap_or(1));
    let ceiling = f64::from(scenario.concurrency * scenario.workers) * 1000.0 / wait_ms;
    let mut measured: Vec<(&str, f64, String)> = (summary.results.iter())
        .filter(|r| r.scenario == scenario)
        .filter_map(|r| {
            let rps = r.rps_median?;
            let mut said = format!("{} {rps:.0} req/s ({:.0}%", r.server, 100.0 * rps / ceiling);
            if let Some(p99) = r.latency_p99_ms {
                said.push_str(&format!(", p99 {p99:.0} ms"));
            }
            if let Some(threads) = r.peak_threads {
                said.push_str(&format!(", {threads} threads"));
            }
            if let Some(share) = r.overloaded_share.filter(|&s| s > 0.0) {
                said.push_str(&format!(", {:.0}% of answers 503", share * 100.0));
            }
            said.push(')');
            Some((r.server.as_str(), rps, said))
        })
        .collect();
    if measured.is_empty() {
        return None;
    }
    measured.sort_by(|a, b| b.1.total_cmp(&a.1));
    let pools: Vec<String> = (measured.iter())
        .filter_map(|(server, _, _)| {
            let size = summary.servers.iter().find(|s| s.name == *server)?.pool_size?;
            Some(format!(
                "{server}'s {size} allow {:.0}",
                f64::from(size) * 1000.0 / wait_ms
            ))
        })
        .collect();
    let said: Vec<String> = measured.into_iter().map(|(_, _, said)| said).collect();
    let mut sentence = format!(
        "Many waits (io, n=100, one {wait_ms:.0} ms wait a request, {} connections, so the waits allow \
         {ceiling:.0} req/s): {}; threads are the most the server's process tree held at once.",
        scenario.concurrency,
        and_list(&said)
    );
    if !pools.is_empty() {
        sentence.push_str(&format!(
            " A pool whose every worker is held by one wait answers at most its size x 1000 / {wait_ms:.0} \
             req/s: {}.",
            and_list(&pools)
        ));
    }
    Some(sentence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_is_told_with_its_share_of_the_ceiling_its_tail_and_its_threads() {
        let mut summary = loadtest_model::testdata::with_trials(&[("threading", &[800.0])]);
        assert_eq!(many_waits(&summary), None, "not measured, not said");
        let base = summary.results[0].clone();
        let at = |server: &str, rps: f64, p99: f64, threads: u32| {
            let mut r = base.clone();
            (r.server, r.scenario, r.rps_median) = (server.to_owned(), ScenarioKey::MANY_WAITS, Some(rps));
            (r.latency_p99_ms, r.peak_threads) = (Some(p99), Some(threads));
            r
        };
        summary.results = vec![
            at("threading", 2355.0, 452.0, 516),
            at("thread-pool", 19.0, 1942.0, 374),
            at("async", 9104.0, 174.0, 4),
        ];
        summary.servers[0].name = "thread-pool".into();
        summary.servers[0].pool_size = Some(2);
        let said = many_waits(&summary).unwrap();
        assert!(
            said.starts_with(
                "Many waits (io, n=100, one 100 ms wait a request, 1024 connections, so the waits allow 10240 \
                 req/s): async 9104 req/s (89%, p99 174 ms, 4 threads), threading 2355 req/s (23%, p99 452 ms, \
                 516 threads) and thread-pool 19 req/s (0%, p99 1942 ms, 374 threads)"
            ),
            "{said}"
        );
        assert!(
            said.ends_with("x 1000 / 100 req/s: thread-pool's 2 allow 20."),
            "{said}"
        );
    }
}
