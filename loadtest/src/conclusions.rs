//! The report's conclusions and warnings, computed from the data: who served more requests per
//! second and by how much (only beyond the noise band), why (CPU per request, the servers' own
//! timings, the CPU ceiling that implies), what the tails and memory did, and what a sweep shows.
//! No sentence is written in advance of the numbers it states.

use crate::aggregate::key;
use crate::summary::{Comparison, Probe, RunSummary, ScenarioKey, ScenarioResult, TrialRecord};

/// The two lab servers, in the order comparisons use.
const THREADS: &str = "threading";
const PROCESSES: &str = "multiprocessing";

/// Conclusions, as Markdown sentences.
pub fn conclusions(summary: &RunSummary) -> Vec<String> {
    let mut out = Vec::new();
    let scenarios = scenario_order(&summary.results);
    let main_scenario = main_scenario(summary, &scenarios);
    if let Some(scenario) = main_scenario {
        out.extend(throughput_verdicts(summary, scenario));
        out.extend(why(summary, scenario));
        out.extend(tails(summary, scenario));
        out.extend(memory(summary, scenario));
    }
    if let Some(sweep) = &summary.design.sweep {
        out.extend(sweep_findings(summary, sweep, &scenarios));
    }
    if out.is_empty() {
        out.push("No valid measured trial: nothing can be concluded. See the warnings.".into());
    }
    out
}

/// The scenarios of `results`, in order.
fn scenario_order(results: &[ScenarioResult]) -> Vec<ScenarioKey> {
    let mut seen = Vec::new();
    for result in results {
        if !seen.contains(&key(result)) {
            seen.push(key(result));
        }
    }
    seen
}

/// The scenario the headline is about: the design's base scenario if it ran, else the first.
fn main_scenario(summary: &RunSummary, scenarios: &[ScenarioKey]) -> Option<ScenarioKey> {
    let base = ScenarioKey {
        concurrency: summary.design.concurrency,
        n: summary.design.n,
        workers: summary.design.workers,
    };
    scenarios
        .iter()
        .copied()
        .find(|s| *s == base)
        .or_else(|| scenarios.first().copied())
}

fn result<'a>(summary: &'a RunSummary, server: &str, scenario: ScenarioKey) -> Option<&'a ScenarioResult> {
    summary
        .results
        .iter()
        .find(|r| r.server == server && key(r) == scenario)
}

fn comparison<'a>(summary: &'a RunSummary, a: &str, b: &str, scenario: ScenarioKey) -> Option<&'a Comparison> {
    summary
        .comparisons
        .iter()
        .find(|c| c.a == a && c.b == b && c.scenario == scenario)
}

fn probe<'a>(summary: &'a RunSummary, server: &str, scenario: ScenarioKey) -> Option<&'a Probe> {
    summary
        .probes
        .iter()
        .find(|p| p.server == server && p.scenario == scenario)
}

fn describe(scenario: ScenarioKey) -> String {
    format!(
        "n={}, workers={}, {} connections",
        scenario.n, scenario.workers, scenario.concurrency
    )
}

/// "812 req/s (median of 5 trials, 790 to 830)"
fn rps_phrase(result: &ScenarioResult) -> Option<String> {
    let rps = result.rps?;
    Some(if rps.n > 1 {
        format!(
            "{:.0} req/s (median of {} trials, {:.0} to {:.0})",
            rps.median, rps.n, rps.min, rps.max
        )
    } else {
        format!("{:.0} req/s (one trial)", rps.median)
    })
}

fn ratio_phrase(comparison: &Comparison) -> Option<String> {
    let r = comparison.rps_ratio?;
    Some(if r.n_a > 1 && r.n_b > 1 {
        format!("{:.2}x (95% interval {:.2} to {:.2})", r.value, r.ci_low, r.ci_high)
    } else {
        format!("{:.2}x (one trial each: no interval)", r.value)
    })
}

/// Who served more: the lab's two servers first, then every other pair involving a lab server.
fn throughput_verdicts(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut out = Vec::new();
    for c in summary.comparisons.iter().filter(|c| c.scenario == scenario) {
        let (Some(a), Some(b)) = (result(summary, &c.a, scenario), result(summary, &c.b, scenario)) else {
            continue;
        };
        let (Some(rps_a), Some(rps_b), Some(ratio)) = (rps_phrase(a), rps_phrase(b), ratio_phrase(c)) else {
            continue;
        };
        let lab_pair = c.a == THREADS && c.b == PROCESSES;
        let sentence = match c.verdict.as_str() {
            "faster" | "slower" => {
                let (winner, loser) = if c.verdict == "faster" {
                    (&c.a, &c.b)
                } else {
                    (&c.b, &c.a)
                };
                let headline = if lab_pair {
                    if winner == THREADS {
                        "**Threads win.** "
                    } else {
                        "**Processes win.** "
                    }
                } else {
                    ""
                };
                format!(
                    "{headline}At {}: the {winner} server served more than the {loser} server; {} answered {rps_a} \
                     against {rps_b} for {}, a ratio of {ratio}.",
                    describe(scenario),
                    c.a,
                    c.b
                )
            }
            _ => format!(
                "{}At {}: no clear winner between {} ({rps_a}) and {} ({rps_b}); the ratio {ratio} reaches into \
                 the ±{:.0}% noise band.",
                if lab_pair { "**No clear winner.** " } else { "" },
                describe(scenario),
                c.a,
                c.b,
                crate::stats::NOISE_BAND * 100.0
            ),
        };
        out.push(sentence);
    }
    out
}

/// Why: CPU per answered request, the ceiling it implies on this machine, and the servers'
/// own timings of generation and addition.
fn why(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut out = Vec::new();
    let cpus = f64::from(summary.machine.cpus.max(1));
    let cpu = |server: &str| result(summary, server, scenario).and_then(|r| r.cpu_ms_per_request);
    if let (Some(threads), Some(processes)) = (cpu(THREADS), cpu(PROCESSES)) {
        let extra = processes - threads;
        out.push(format!(
            "Why: each answered request cost the processes server {processes:.2} ms of CPU (whole process tree, \
             reaped children included) against {threads:.2} ms for the threads server ({:.1}x). {} With {} CPUs, \
             CPU alone caps the processes server near {:.0} req/s and the threads server near {:.0} req/s, and \
             the load generator shares those CPUs.",
            processes / threads,
            if extra > 0.0 {
                format!(
                    "The {extra:.2} ms difference is what a request pays for its processes: fork (copying the \
                     server's page tables), copy-on-write faults, moving the sum through pipes, and reaping."
                )
            } else {
                "Forking cost no extra CPU here.".to_owned()
            },
            cpus,
            cpus * 1000.0 / processes,
            cpus * 1000.0 / threads,
        ));
    }
    if let Some(work) = summary.work_costs.iter().find(|c| c.n == scenario.n) {
        let parts: Vec<String> = servers_in(summary, scenario)
            .filter_map(|r| r.cpu_vs_work.map(|x| format!("the {} server {x:.1}x", r.server)))
            .collect();
        if !parts.is_empty() {
            out.push(format!(
                "Against the work itself ({:.2} ms of CPU to generate and add the matrices on one thread, measured \
                 in the same run), each answer cost {}.",
                work.cpu_ms,
                parts.join(" and ")
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
             matrices took {tg:.2} ms (threads server) and {pg:.2} ms (processes server); the parallel addition \
             took {te:.2} ms with {} and {pe:.2} ms with {}, {relation}.",
            t.requests.min(p.requests),
            counted(scenario.workers, "thread", "threads"),
            counted(scenario.workers, "child process", "child processes"),
        ));
    }
    out
}

fn tails(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut parts = Vec::new();
    for server in servers_in(summary, scenario) {
        if let (Some(p50), Some(p99)) = (server.latency_p50_ms, server.latency_p99_ms) {
            parts.push(format!(
                "{} p50 {p50:.1} ms, p99 {p99:.1} ms (p99/p50 {:.1})",
                server.server,
                if p50 > 0.0 { p99 / p50 } else { f64::NAN }
            ));
        }
    }
    if parts.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "Latency over 2xx answers at {} connections (closed loop, so queueing in the server shows as latency): {}.",
        scenario.concurrency,
        parts.join("; ")
    )]
}

fn memory(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
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

fn servers_in(summary: &RunSummary, scenario: ScenarioKey) -> impl Iterator<Item = &ScenarioResult> {
    summary
        .servers
        .iter()
        .filter_map(move |s| result(summary, &s.name, scenario))
}

/// "1 thread", "4 threads".
fn counted(count: u32, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Per lab server: the best value of the swept variable, and how throughput moved across it.
fn sweep_findings(summary: &RunSummary, sweep: &str, scenarios: &[ScenarioKey]) -> Vec<String> {
    let value = |s: ScenarioKey| match sweep {
        "concurrency" => s.concurrency,
        "workers" => s.workers,
        _ => s.n,
    };
    let mut out = Vec::new();
    for server in [THREADS, PROCESSES] {
        let points: Vec<(u32, f64, Option<f64>)> = scenarios
            .iter()
            .filter_map(|s| {
                result(summary, server, *s).and_then(|r| r.rps_median.map(|rps| (value(*s), rps, r.cpu_ms_per_request)))
            })
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let best = points
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("points is not empty");
        let mut sentence = format!(
            "Across {sweep} = {}: the {server} server peaked at {sweep}={} with {:.0} req/s; from {sweep}={} to {} it \
             went from {:.0} to {:.0} req/s.",
            points.iter().map(|p| p.0.to_string()).collect::<Vec<_>>().join(", "),
            best.0,
            best.1,
            first.0,
            last.0,
            first.1,
            last.1
        );
        if sweep == "n"
            && let (Some(cpu_first), Some(cpu_last)) = (first.2, last.2)
        {
            let area = (f64::from(last.0) / f64::from(first.0)).powi(2);
            sentence.push_str(&format!(
                " CPU per request grew {:.1}x while n² grew {area:.0}x.",
                cpu_last / cpu_first
            ));
        }
        out.push(sentence);
    }
    if sweep == "workers" {
        let ratios: Vec<String> = scenarios
            .iter()
            .filter_map(|s| {
                comparison(summary, THREADS, PROCESSES, *s)
                    .and_then(|c| c.rps_ratio.map(|r| format!("{}: {:.2}x", s.workers, r.value)))
            })
            .collect();
        if !ratios.is_empty() {
            out.push(format!("Threads over processes by workers: {}.", ratios.join(", ")));
        }
    }
    out
}

/// What a reader must know before trusting the numbers.
pub fn warnings(summary: &RunSummary) -> Vec<String> {
    let mut out = Vec::new();
    if summary.design.mode == "quick" {
        out.push(
            "Quick look: one `oha -n 200 -c 20` trial per server is a smoke test, not a measurement (no warm-up, \
             no spread, p99 is the 2nd-slowest of 200 answers). Run without --quick for trials and intervals."
                .into(),
        );
    }
    let measured: Vec<&TrialRecord> = summary.trials.iter().filter(|t| t.phase == "measured").collect();
    for trial in measured.iter().filter(|t| !t.valid) {
        out.push(format!(
            "Invalid trial left out of the aggregates: {} trial {} at {} ({}).",
            trial.server,
            trial.index,
            describe(trial.scenario),
            trial.invalid_reasons.join("; ")
        ));
    }
    for trial in measured.iter().filter(|t| t.outlier) {
        out.push(format!(
            "Outlier kept in the data: {} trial {} at {} served {:.0} req/s, far from its other trials (modified \
             Z-score over {}); the machine may have been busy.",
            trial.server,
            trial.index,
            describe(trial.scenario),
            trial.rps_2xx.unwrap_or(f64::NAN),
            crate::stats::OUTLIER_Z
        ));
    }
    let client_bound = measured.iter().filter(|t| t.client_bound).count();
    if client_bound > 0 {
        out.push(format!(
            "{client_bound} trial(s) were client-bound: oha used at least as much CPU as the server, on the same \
             CPUs, so those servers may be faster than measured."
        ));
    }
    for server in summary.servers.iter().filter(|s| !s.managed) {
        out.push(format!(
            "The {} server was not started by the harness, so its CPU and memory were not sampled.",
            server.name
        ));
    }
    let aborted: u64 = measured.iter().map(|t| t.deadline_aborts).sum();
    if aborted > 0 {
        out.push(format!(
            "{aborted} requests were still in flight at -z deadlines and aborted by oha; they are not failures \
             and are left out of every figure."
        ));
    }
    out.push(format!(
        "oha ran on the same {} CPUs as the servers, closed loop (each connection waits for its answer): \
         throughput is at the stated concurrency, and latency includes queueing.",
        summary.machine.cpus
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::summary;

    #[test]
    fn the_headline_names_the_winner_with_its_ratio_and_interval() {
        let s = summary();
        let text = conclusions(&s).join("\n");
        assert!(text.starts_with("**Threads win.**"), "{text}");
        assert!(text.contains("a ratio of 3.95x (95% interval 3.76 to 4.21)"), "{text}");
        assert!(text.contains("of CPU (whole process tree"), "{text}");
        assert!(
            text.contains(
                "took 0.90 ms with 4 threads and 2.40 ms with 4 child processes, 2.7x as long with processes"
            ),
            "{text}"
        );
        assert!(text.contains("caps the processes server near 253 req/s"), "{text}");
        assert!(
            text.contains("each answer cost the threading server 1.6x and the multiprocessing server 6.3x"),
            "{text}"
        );
    }

    #[test]
    fn warnings_list_invalid_trials_and_the_shared_machine() {
        let s = summary();
        let text = warnings(&s).join("\n");
        assert!(text.contains("Invalid trial left out"), "{text}");
        assert!(text.contains("oha ran on the same 2 CPUs"), "{text}");
        assert!(!text.contains("Quick look"), "{text}");
    }
}
