//! What a reader must know before trusting the numbers: a quick look is not a measurement,
//! trials left out or flagged, servers not sampled, requests cut at deadlines, and the shared
//! machine.

use super::describe;
use loadtest_model::stats::Verdict;
use loadtest_model::summary::{Mode, Phase, RunSummary, ScenarioKey, TrialRecord};

/// What a reader must know before trusting the numbers.
pub fn warnings(summary: &RunSummary) -> Vec<String> {
    let mut out = Vec::new();
    if summary.design.mode == Mode::Quick {
        out.push(
            "Quick look: one `oha -n 200 -c 20` trial per server is a smoke test, not a measurement (no warm-up, \
             no spread, p99 is the 2nd-slowest of 200 answers). Run without --quick for trials and intervals."
                .into(),
        );
    }
    let measured: Vec<&TrialRecord> = summary.trials.iter().filter(|t| t.phase == Phase::Measured).collect();
    for trial in measured.iter().filter(|t| !t.valid) {
        out.push(format!(
            "Invalid trial left out of the aggregates: {} trial {} at {} ({}).",
            trial.server,
            trial.index,
            describe(trial.scenario),
            trial.invalid_reasons.join("; ")
        ));
    }
    out.extend(outliers(&measured));
    for result in &summary.results {
        if let Some(share) = result.overloaded_share {
            out.push(format!(
                "Overloaded: at {} the {} server answered 503 (its admission full) to {:.1}% of requests; its \
                 req/s counts the 2xx answers alone, and its trials stay valid.",
                describe(result.scenario),
                result.server,
                share * 100.0
            ));
        }
    }
    out.extend(
        summary
            .cpu_speed
            .as_ref()
            .and_then(loadtest_model::cpu_speed::CpuSpeed::warning),
    );
    out.extend(summary.noise.as_ref().and_then(loadtest_model::noise::Noise::warning));
    out.extend(super::client_heavy_ranking(summary));
    let client_bound = measured.iter().filter(|t| t.client_bound).count();
    if client_bound > 0 {
        out.push(format!(
            "{client_bound} trial(s) were client-bound: oha used at least as much CPU as the server, on the same \
             CPUs, so those servers may be faster than measured."
        ));
    }
    for server in summary.servers.iter().filter(|s| s.pid.is_none()) {
        out.push(format!(
            "The {0} server was not started by the harness, so its CPU and memory were not sampled; \
             `--pid {0}=PID` samples the process tree of PID.",
            server.name
        ));
    }
    out.extend(count_mismatches(summary));
    let aborted: u64 = measured.iter().map(|t| t.deadline_aborts).sum();
    if aborted > 0 {
        out.push(format!(
            "{aborted} requests were still in flight at -z deadlines and aborted by oha; they are not failures \
             and are left out of every figure."
        ));
    }
    out.push(how_the_load_ran(summary));
    out
}

/// A trial whose server counted its answers further from oha's count than its connections
/// explain.
fn count_mismatches(summary: &RunSummary) -> Vec<String> {
    let mut out = Vec::new();
    for trial in &summary.trials {
        let client = trial.responses_2xx + trial.responses_non_2xx;
        if let Some(server) = trial.server_answers
            && counts_disagree(server, client, trial.scenario.concurrency)
        {
            out.push(format!(
                "The {} server counted {server} answers on its /metrics during {} trial {} at {}, and oha {client}: further \
                 apart than its {} connections explain. Another client may have sent it requests, or answers were lost.",
                trial.server,
                trial.phase,
                trial.index,
                describe(trial.scenario),
                trial.scenario.concurrency
            ));
        }
    }
    out
}

/// Where oha ran and how it sent the load: closed loop, open loop, or both.
fn how_the_load_ran(summary: &RunSummary) -> String {
    let open = summary.results.iter().any(|r| r.scenario.offered_rps.is_some());
    let closed = summary.results.iter().any(|r| r.scenario.offered_rps.is_none());
    let how = match (closed, open) {
        (true, false) => {
            "closed loop (each connection waits for its answer): throughput is at the stated \
                          concurrency, and latency includes the server's queueing but not a client's wait to send"
        }
        (false, true) => {
            "open loop (oha sent a fixed rate whatever the answers, latency counted from when each \
                          request was due)"
        }
        _ => "closed loop, then open loop where a scenario says open R/s",
    };
    format!(
        "oha ran on the same {} CPUs as the servers, {how}.",
        summary.machine.cpus
    )
}

/// The trials flagged as outliers, per server and scenario, described by what they show: one
/// trial apart from the rest, or two groups of trials (bimodal), faster or slower.
fn outliers(measured: &[&TrialRecord]) -> Vec<String> {
    let mut groups: Vec<(&str, ScenarioKey)> = Vec::new();
    for t in measured.iter().filter(|t| t.outlier) {
        if !groups.contains(&(t.server.as_str(), t.scenario)) {
            groups.push((t.server.as_str(), t.scenario));
        }
    }
    let mut out = Vec::new();
    for (server, scenario) in groups {
        let of = |flagged: bool| -> Vec<&TrialRecord> {
            (measured.iter().copied())
                .filter(|t| t.server == server && t.scenario == scenario && t.valid && t.outlier == flagged)
                .collect()
        };
        let (flagged, rest) = (of(true), of(false));
        let rps = |trials: &[&TrialRecord]| -> Vec<f64> { trials.iter().filter_map(|t| t.rps_2xx).collect() };
        let Some(rest_stats) = loadtest_model::stats::stats(&rps(&rest)) else {
            continue;
        };
        // Flagged trials above and below the rest are two findings, not one group.
        let (above, below): (Vec<&TrialRecord>, Vec<&TrialRecord>) =
            (flagged.iter()).partition(|t| t.rps_2xx.is_some_and(|r| r > rest_stats.median));
        for (verdict, apart) in [(Verdict::Higher, above), (Verdict::Lower, below)] {
            let Some(apart_stats) = loadtest_model::stats::stats(&rps(&apart)) else {
                continue;
            };
            let indices: Vec<String> = apart.iter().map(|t| t.index.to_string()).collect();
            let what = if apart.len() == 1 {
                format!(
                    "trial {} served {:.0} req/s against {:.0} to {:.0} for the other {}",
                    indices[0],
                    apart_stats.median,
                    rest_stats.min,
                    rest_stats.max,
                    rest.len()
                )
            } else {
                format!(
                    "trials {} served {:.0} to {:.0} req/s and the other {} {:.0} to {:.0}: the trials fall in two \
                     groups (bimodal), and the median and range mix them",
                    super::and_list(&indices),
                    apart_stats.min,
                    apart_stats.max,
                    rest.len(),
                    rest_stats.min,
                    rest_stats.max
                )
            };
            let side = if verdict == Verdict::Lower { "slower" } else { "faster" };
            out.push(format!(
                "Outliers kept in the data ({side}, modified Z-score over {}): {server} at {}: {what}. {}",
                loadtest_model::stats::OUTLIER_Z,
                describe(scenario),
                others_then(&apart, &rest, verdict)
            ));
        }
    }
    out
}

/// A busier machine beyond this share of its CPU time, taken by others during the trials that
/// stand apart against the rest, is named as their cause.
const BUSIER: f64 = 0.05;

/// What else took the machine during the trials that stand apart (`apart`) and during the rest,
/// from each trial's reading of the machine: named as the cause when the slower trials had it
/// busier by [`BUSIER`] of its CPU time or more (or the faster ones quieter), said not to be
/// when it was not; without readings (runs from before them), the possible causes.
fn others_then(apart: &[&TrialRecord], rest: &[&TrialRecord], verdict: Verdict) -> String {
    let taken = |trials: &[&TrialRecord]| {
        loadtest_model::cpu_split::cpu_shares(trials.iter().copied()).map(|s| s.others + s.steal)
    };
    let (Some(then), Some(otherwise)) = (taken(apart), taken(rest)) else {
        return match verdict {
            Verdict::Lower => "Possible causes: something else on the machine may have taken CPU then.".to_owned(),
            _ => "Possible causes: a machine busy during the others, or a server that sometimes runs faster (CPU \
                  placement, caches)."
                .to_owned(),
        };
    };
    let shares = format!(
        "other processes and the hypervisor took {:.1}% of the CPU time during {} and {:.1}% during the others",
        then * 100.0,
        if apart.len() == 1 { "it" } else { "them" },
        otherwise * 100.0
    );
    let busier = match verdict {
        Verdict::Lower => then - otherwise >= BUSIER,
        _ => otherwise - then >= BUSIER,
    };
    if busier {
        format!("The machine was busier when the server was slower: {shares}.")
    } else {
        format!("Not the rest of the machine: {shares}.")
    }
}

/// Whether two counts of one trial's answers are further apart than its connections explain:
/// each connection can have one request the server answered after oha stopped counting (oha's
/// deadline), or one oha counted whose answer the server had yet to count.
pub fn counts_disagree(server: u64, client: u64, connections: u32) -> bool {
    server.abs_diff(client) > u64::from(connections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::summary;

    #[test]
    fn warnings_list_invalid_trials_and_the_shared_machine() {
        let s = summary();
        let text = warnings(&s).join("\n");
        assert!(text.contains("Invalid trial left out"), "{text}");
        assert!(text.contains("oha ran on the same 2 CPUs"), "{text}");
        assert!(!text.contains("Quick look"), "{text}");
    }

    #[test]
    fn an_overloaded_server_is_named_with_its_share_of_503s() {
        let mut summary = crate::testdata::summary();
        assert!(!warnings(&summary).iter().any(|w| w.starts_with("Overloaded")));
        summary.results[0].overloaded_share = Some(0.125);
        let server = summary.results[0].server.clone();
        let said = warnings(&summary);
        let line = said.iter().find(|w| w.starts_with("Overloaded")).expect("a warning");
        assert!(
            line.contains(&format!(
                "the {server} server answered 503 (its admission full) to 12.5%"
            )),
            "{line}"
        );
    }

    #[test]
    fn outliers_say_whether_one_trial_stands_apart_or_the_trials_form_two_groups() {
        use crate::testdata::{KEY, trial};
        let mut trials: Vec<TrialRecord> = [1500.0, 1480.0, 1510.0, 1900.0, 1950.0]
            .iter()
            .enumerate()
            .map(|(i, rps)| trial("prefork", KEY, Phase::Measured, i as u32 + 1, *rps, true))
            .collect();
        trials[3].outlier = true;
        trials[4].outlier = true;
        let measured: Vec<&TrialRecord> = trials.iter().collect();
        let text = outliers(&measured).join("\n");
        assert!(
            text.contains(
                "(faster, modified Z-score over 3.5): prefork at n=500, workers=4, 20 connections: trials 4 and 5 \
                 served 1900 to 1950 req/s and the other 3 1480 to 1510: the trials fall in two groups (bimodal)"
            ),
            "{text}"
        );
        assert!(!text.contains("the machine may have been busy"), "{text}");

        // One trial above the rest and one below are two findings, not a group.
        trials[3].rps_2xx = Some(1000.0);
        let measured: Vec<&TrialRecord> = trials.iter().collect();
        let findings = outliers(&measured);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        assert!(
            findings[0].contains("(faster, ") && findings[0].contains("trial 5 served 1950 req/s"),
            "{findings:#?}"
        );
        assert!(
            findings[1].contains("(slower, ") && findings[1].contains("trial 4 served 1000 req/s"),
            "{findings:#?}"
        );
        assert!(!findings.join(" ").contains("bimodal"), "{findings:#?}");

        trials[3].outlier = false;
        trials[3].rps_2xx = Some(1900.0);
        trials[4].rps_2xx = Some(900.0);
        let measured: Vec<&TrialRecord> = trials.iter().collect();
        let text = outliers(&measured).join("\n");
        assert!(
            text.contains(
                "(slower, modified Z-score over 3.5): prefork at n=500, workers=4, 20 connections: trial 5 \
                           served 900 req/s against 1480 to 1900 for the other 4. Possible causes: something else"
            ),
            "{text}"
        );

        // With the machine read around each trial, the cause is measured, not guessed.
        let busy = |t: &mut TrialRecord, others: f64| {
            (t.server_cpu_secs, t.oha_cpu_secs) = (Some(7.0), Some(1.0));
            t.machine_cpu = Some(loadtest_model::noise::MachineCpu {
                busy_secs: 8.0 + others,
                steal_secs: 0.0,
                idle_secs: 2.0 - others,
            });
        };
        for t in &mut trials {
            busy(t, 0.1);
        }
        busy(&mut trials[4], 1.5);
        let measured: Vec<&TrialRecord> = trials.iter().collect();
        let text = outliers(&measured).join("\n");
        assert!(
            text.ends_with(
                "The machine was busier when the server was slower: other processes and the hypervisor took 15.0% \
                 of the CPU time during it and 1.0% during the others."
            ),
            "{text}"
        );
        busy(&mut trials[4], 0.2);
        let measured: Vec<&TrialRecord> = trials.iter().collect();
        let text = outliers(&measured).join("\n");
        assert!(
            text.ends_with("Not the rest of the machine: other processes and the hypervisor took 2.0% of the CPU time during it and 1.0% during the others."),
            "{text}"
        );
    }

    #[test]
    fn a_server_s_own_count_far_from_oha_s_is_a_warning() {
        let mut s = summary();
        let trial = &mut s.trials[0];
        let client = trial.responses_2xx + trial.responses_non_2xx;
        let connections = u64::from(trial.scenario.concurrency);
        trial.server_answers = Some(client + connections);
        assert!(
            !warnings(&s).join("\n").contains("counted"),
            "a request per connection is allowed"
        );
        s.trials[0].server_answers = Some(client + connections + 1);
        let text = warnings(&s).join("\n");
        assert!(
            text.contains(&format!("counted {} answers on its /metrics", client + connections + 1)),
            "{text}"
        );
    }

    #[test]
    fn only_a_server_with_no_pid_is_unsampled_and_the_warning_says_how_to_sample_it() {
        let mut s = crate::testdata::three_servers();
        assert!(!warnings(&s).join("\n").contains("not sampled"), "python has a --pid");
        s.servers[3].pid = None;
        let text = warnings(&s).join("\n");
        assert!(
            text.contains("The python server was not started by the harness, so its CPU and memory were not sampled; `--pid python=PID`"),
            "{text}"
        );
        assert_eq!(text.matches("not sampled").count(), 1, "{text}");
    }

    #[test]
    fn counts_may_differ_by_a_request_per_connection() {
        assert!(!counts_disagree(220, 200, 20));
        assert!(!counts_disagree(200, 220, 20));
        assert!(counts_disagree(221, 200, 20));
    }
}
