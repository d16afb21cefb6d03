//! The report's conclusions and warnings, computed from the data: who served more requests per
//! second and by how much (only beyond the noise band), why (CPU per request, the servers' own
//! timings, the CPU ceiling that implies), what the tails and memory did, and what a sweep shows.
//! No sentence is written in advance of the numbers it states.
//!
//! Each kind of finding has its file: `throughput` (who served more), `costs` (why: CPU,
//! the servers' own timings, memory), `tails` (p99 against p50), `sweeps` (what a sweep
//! shows, and how CPU scales with n), `workloads` (a sweep of workers for each kind of work),
//! `waits` (many waits at once), `open_loop` (latency at a fixed offered rate) and `warnings`. This file holds the entry point and the
//! look-ups and phrases they share.

mod bottlenecks;
mod costs;
mod open_loop;
mod sweeps;
mod tails;
mod throughput;
mod waits;
mod warnings;
mod workloads;

pub use tails::TAIL_TARGET;
pub use warnings::warnings;

use loadtest_model::catalogue::{Catalogue, LabServer};
use loadtest_model::stats::Ratio;
use loadtest_model::summary::{Probe, RunSummary, ScenarioKey, ScenarioResult, SweepKind};

/// The verdict, in at most three plain sentences: who served the most at the run's main scenario
/// (its base, or the first that ran), by how much, and at what cost; under an open loop, who
/// answered fastest at the offered rate. A sweep of several kinds of work names the fastest of
/// each kind instead of the cost.
pub fn verdict(summary: &RunSummary) -> Vec<String> {
    let scenarios = scenario_order(&summary.results);
    let Some(main) = main_scenario(summary, &scenarios) else {
        return vec!["No valid measured trial: no verdict. See the warnings.".into()];
    };
    if main.offered_rps.is_some() {
        return open_loop::ranking_of(summary, main).into_iter().collect();
    }
    let mut out = throughput::verdict(summary, main);
    if summary.design.works.len() > 1 && out.len() > 1 {
        out.truncate(2);
        out.extend(fastest_by_kind(summary, &scenarios));
    }
    out
}

/// "At 4 workers, the most req/s by kind of work: add thread-pool (1559), ...", each kind at the
/// design's workers and its own base scenario, a tie within noise said as one.
fn fastest_by_kind(summary: &RunSummary, scenarios: &[ScenarioKey]) -> Option<String> {
    let workers = summary.design.workers;
    let kinds: Vec<String> = (summary.design.works.iter())
        .filter_map(|&work| {
            let scenario =
                (scenarios.iter()).find(|s| s.work == work && s.workers == workers && s.offered_rps.is_none())?;
            let mut ranked: Vec<(&str, f64)> = servers_in(summary, *scenario)
                .filter_map(|r| r.rps_median.map(|rps| (r.server.as_str(), rps)))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let (top, top_rps) = *ranked.first()?;
            let tied: Vec<String> = (ranked[1..].iter())
                .filter(|(name, _)| {
                    rps_ratio(summary, name, top, *scenario).is_some_and(|r| {
                        loadtest_model::stats::Verdict::of(&r) == loadtest_model::stats::Verdict::WithinNoise
                    })
                })
                .map(|(name, _)| (*name).to_owned())
                .collect();
            let tie = if tied.is_empty() {
                String::new()
            } else {
                format!(", within noise of {}", and_list(&tied))
            };
            Some(format!("{} {top} ({top_rps:.0}{tie})", work.name()))
        })
        .collect();
    (kinds.len() > 1).then(|| {
        format!(
            "At {workers} workers, the most req/s by kind of work: {}.",
            and_list(&kinds)
        )
    })
}

/// Conclusions, as plain sentences; `catalogue` says which servers are weighed against which.
/// The verdict is apart ([`verdict`]), and so are the pairs of servers: the comparisons table
/// has each with its interval.
pub fn conclusions(summary: &RunSummary, catalogue: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    let scenarios = scenario_order(&summary.results);
    let main_scenario = main_scenario(summary, &scenarios);
    // Under an open loop every server is sent the same rate: latency, not req/s, decides.
    out.extend(open_loop::findings(summary, &scenarios, main_scenario));
    if let Some(scenario) = main_scenario.filter(|s| s.offered_rps.is_none()) {
        let open = out.split_off(0);
        out.extend(costs::why(summary, catalogue, scenario));
        out.extend(bottlenecks::held_back(summary, scenario));
        out.extend(tails::tails(summary, scenario));
        out.extend(costs::memory(summary, scenario));
        out.extend(open);
    }
    if let Some(sweep) = summary.design.sweep {
        // The one-variable findings are about the headline's kind of work; a sweep of several
        // kinds gets its findings per kind.
        let headline: Vec<ScenarioKey> = scenarios
            .iter()
            .copied()
            .filter(|s| s.work == summary.design.work)
            .collect();
        out.extend(sweeps::findings(summary, catalogue, sweep, &headline));
        if sweep == SweepKind::Workers && summary.design.works.len() > 1 {
            out.extend(workloads::findings(summary, catalogue, &scenarios));
        }
    }
    out.extend(waits::many_waits(summary));
    if out.is_empty() {
        out.push("No valid measured trial: nothing can be concluded. See the warnings.".into());
    }
    if let Some(probe) = &summary.python_processes_seed {
        out.push(probe.verdict.clone());
    }
    out
}

/// The ranking's warning when oha took more than half of the CPU time while it loaded a ranked
/// server, said with the verdict and among the warnings.
pub fn client_heavy_ranking(summary: &RunSummary) -> Option<String> {
    let ranked = main_scenario(summary, &scenario_order(&summary.results))?;
    bottlenecks::client_heavy_ranking(summary, ranked)
}

/// The scenarios of `results`, in order.
fn scenario_order(results: &[ScenarioResult]) -> Vec<ScenarioKey> {
    let mut seen = Vec::new();
    for result in results {
        if !seen.contains(&result.scenario) {
            seen.push(result.scenario);
        }
    }
    seen
}

/// The scenario the headline is about: the design's base scenario if it ran, else the first.
fn main_scenario(summary: &RunSummary, scenarios: &[ScenarioKey]) -> Option<ScenarioKey> {
    let base = summary.design.base();
    scenarios
        .iter()
        .copied()
        .find(|s| *s == base)
        .or_else(|| scenarios.first().copied())
}

fn result<'a>(summary: &'a RunSummary, server: &str, scenario: ScenarioKey) -> Option<&'a ScenarioResult> {
    summary.result(server, scenario)
}

/// The catalogue's comparisons whose two servers both have a result in `scenario`.
fn compared<'a>(
    summary: &RunSummary,
    catalogue: &'a Catalogue,
    scenario: ScenarioKey,
) -> Vec<(&'a LabServer, &'a LabServer)> {
    (catalogue.comparisons().into_iter())
        .filter(|(a, b)| result(summary, &a.name, scenario).is_some() && result(summary, &b.name, scenario).is_some())
        .collect()
}

/// The lab's own question: two servers that start their workers per request, one of threads
/// and one of processes (threads against a fork per request).
fn crosses_families(a: &LabServer, b: &LabServer) -> bool {
    use loadtest_model::catalogue::Family::{Processes, Threads};
    matches!((a.family, b.family), (Threads, Processes) | (Processes, Threads)) && a.per_request() && b.per_request()
}

/// `a`'s req/s over `b`'s in `scenario`, whichever way round the comparison was computed.
fn rps_ratio(summary: &RunSummary, a: &str, b: &str, scenario: ScenarioKey) -> Option<Ratio> {
    summary
        .comparisons
        .iter()
        .filter(|c| c.scenario == scenario)
        .find_map(|c| {
            if (c.a.as_str(), c.b.as_str()) == (a, b) {
                c.rps_ratio
            } else if (c.a.as_str(), c.b.as_str()) == (b, a) {
                c.rps_ratio.map(Ratio::inverse)
            } else {
                None
            }
        })
}

fn probe<'a>(summary: &'a RunSummary, server: &str, scenario: ScenarioKey) -> Option<&'a Probe> {
    summary
        .probes
        .iter()
        .find(|p| p.server == server && p.scenario == scenario)
}

fn describe(scenario: ScenarioKey) -> String {
    let work = if scenario.work == matrix_service::WorkKind::default() {
        String::new()
    } else {
        format!("{}, ", scenario.work.name())
    };
    let open = (scenario.offered_rps).map_or_else(String::new, |rate| format!(", open loop at {rate} req/s"));
    format!(
        "{work}n={}, workers={}, {} connections{open}",
        scenario.n, scenario.workers, scenario.concurrency
    )
}

fn servers_in(summary: &RunSummary, scenario: ScenarioKey) -> impl Iterator<Item = &ScenarioResult> {
    summary
        .servers
        .iter()
        .filter_map(move |s| result(summary, &s.name, scenario))
}

/// "a", "a and b", "a, b and c".
fn and_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "1 thread", "4 threads".
fn counted(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::summary;

    #[test]
    fn lists_read_as_prose() {
        let list = |items: &[&str]| and_list(&items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a"]), "a");
        assert_eq!(list(&["a", "b"]), "a and b");
        assert_eq!(list(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn conclusions_are_plain_text() {
        // summary.json is read by programs: the report adds its own emphasis.
        for s in [
            summary(),
            crate::testdata::size_sweep(),
            crate::testdata::three_servers(),
        ] {
            for line in conclusions(&s, &Catalogue::lab()) {
                assert!(!line.contains("**") && !line.contains('`'), "markup in {line}");
            }
        }
    }

    #[test]
    fn the_verdict_names_the_winner_and_the_conclusions_say_why_without_the_pairs() {
        let s = summary();
        let verdict = verdict(&s).join(" ");
        assert!(verdict.starts_with("Fastest: threading."), "{verdict}");
        assert!(
            verdict.contains("slower, by req/s over threading's: multiprocessing 0.25x."),
            "{verdict}"
        );
        let text = conclusions(&s, &Catalogue::lab()).join("\n");
        assert!(
            !text.contains("Fastest") && !text.contains("served more than"),
            "{text}"
        );
        assert!(text.contains("of CPU (whole process tree"), "{text}");
        assert!(
            text.contains(
                "took 0.90 ms with 4 threads and 2.40 ms with 4 child processes, 2.7x as long with processes"
            ),
            "{text}"
        );
        assert!(
            text.contains("caps the multiprocessing server near 253 req/s"),
            "{text}"
        );
        assert!(
            text.contains("each answer cost the threading server 1.6x and the multiprocessing server 6.3x"),
            "{text}"
        );
    }

    #[test]
    fn a_sweep_of_every_kind_of_work_names_the_fastest_of_each_in_its_third_sentence() {
        let lab: RunSummary = serde_json::from_str(include_str!(
            "../../../../docs/runs/2026-12-06-lab-targets/summary.json"
        ))
        .unwrap();
        let lines = verdict(&lab);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(lines[0], "Fastest: thread-pool.");
        assert!(lines[1].starts_with("At n=500, workers=4, 20 connections, thread-pool answered 1559 req/s (median)"));
        assert!(
            lines[2].starts_with("At 4 workers, the most req/s by kind of work: add thread-pool (1559), matmul "),
            "{lines:#?}"
        );
        assert!(lines[2].contains(" and io "), "{lines:#?}");
    }

    #[test]
    fn under_an_open_loop_alone_the_verdict_is_who_answered_fastest_at_the_rate() {
        let mut open = crate::testdata::with_open_loop();
        let closed = loadtest_model::summary::ScenarioKey::DEFAULT;
        open.results.retain(|r| r.scenario != closed);
        open.trials.retain(|t| t.scenario != closed);
        let lines = verdict(&open);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].starts_with("Open loop at 300 req/s"), "{lines:#?}");
        let text = conclusions(&open, &Catalogue::lab()).join("\n");
        assert!(
            !text.contains("Open loop at 300 req/s"),
            "the verdict is not repeated: {text}"
        );
    }
}
