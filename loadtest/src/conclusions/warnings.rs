//! What a reader must know before trusting the numbers: a quick look is not a measurement,
//! trials left out or flagged, servers not sampled, requests cut at deadlines, and the shared
//! machine.

use super::describe;
use crate::summary::{RunSummary, TrialRecord};

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
    for server in summary.servers.iter().filter(|s| s.pid.is_none()) {
        out.push(format!(
            "The {0} server was not started by the harness, so its CPU and memory were not sampled; \
             `--pid {0}=PID` samples the process tree of PID.",
            server.name
        ));
    }
    for trial in &summary.trials {
        let client = trial.responses_2xx + trial.responses_non_2xx;
        if let Some(server) = trial.server_answers
            && crate::server_metrics::counts_disagree(server, client, trial.scenario.concurrency)
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
    fn warnings_list_invalid_trials_and_the_shared_machine() {
        let s = summary();
        let text = warnings(&s).join("\n");
        assert!(text.contains("Invalid trial left out"), "{text}");
        assert!(text.contains("oha ran on the same 2 CPUs"), "{text}");
        assert!(!text.contains("Quick look"), "{text}");
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
}
