//! What the harness records of the Python lab beyond its trials: the handout's own processes app,
//! probed with one request, since it cannot be load-tested; and one request at a time at 1 and 2
//! workers, where the GIL would show.

use matrix_service::WorkKind;
use serde::{Deserialize, Serialize};

use crate::stats::{Ratio, ratio_of_medians};

/// One request at a time to one server, at 1 worker and at 2 alternately: the parallel part's
/// time (the answer's `execution_time_sec`) of each, with no other load. What decides whether a
/// model's workers speed up one request's work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerProbe {
    pub server: String,
    pub work: WorkKind,
    pub n: u32,
    /// `numpy` or `python` (the pure-Python control) for a Python app, `rust` for a Rust server.
    #[serde(rename = "impl")]
    pub implementation: String,
    pub one_worker_ms: Vec<f64>,
    pub two_workers_ms: Vec<f64>,
}

impl WorkerProbe {
    /// 1 worker's median time over 2 workers': above 1, the second worker sped the request up.
    pub fn speedup(&self) -> Option<Ratio> {
        ratio_of_medians(&self.one_worker_ms, &self.two_workers_ms)
    }

    /// One line: "py-threads, one request at a time, matmul n=64 (python): 1 worker 41.2 ms,
    /// 2 workers 43.0 ms (medians of 10)".
    pub fn describe(&self) -> String {
        let ms = |values: &[f64]| crate::stats::median(values).map_or_else(|| "-".to_owned(), |m| format!("{m:.1} ms"));
        format!(
            "{}, one request at a time, {} n={} ({}): 1 worker {}, 2 workers {} (medians of {})",
            self.server,
            self.work.name(),
            self.n,
            self.implementation,
            ms(&self.one_worker_ms),
            ms(&self.two_workers_ms),
            self.one_worker_ms.len()
        )
    }
}

/// What `GET /multiprocessing` on the handout's processes app did (`python-processes-seed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedProbe {
    /// The gunicorn command line, as the handout gives it.
    pub command: Vec<String>,
    /// The answer's HTTP status, if one came.
    pub status: Option<u16>,
    /// Why no answer came, if none did.
    pub error: Option<String>,
    /// Seconds from the request to its answer or failure.
    pub seconds: f64,
    /// Whether gunicorn logged `WORKER TIMEOUT`: it killed the worker stuck in the request.
    pub worker_timeout: bool,
    /// Processes left in gunicorn's group after the request that are not gunicorn's own: the
    /// killed worker's children, adopted by init.
    pub orphans: u32,
    /// Processes still there after the harness stopped the group (0: nothing leaked).
    pub left_after_stop: u32,
    /// What happened, in one sentence.
    pub verdict: String,
}

/// The probe in one sentence, from its figures.
pub fn verdict(probe: &SeedProbe) -> String {
    let answer = match (probe.status, &probe.error) {
        (Some(200), _) => format!("answered 200 in {:.1} s", probe.seconds),
        (Some(status), _) => format!("answered {status} after {:.1} s", probe.seconds),
        (None, Some(error)) => format!("gave no answer ({error}) within {:.1} s", probe.seconds),
        (None, None) => format!("gave no answer within {:.1} s", probe.seconds),
    };
    let killed = if probe.worker_timeout {
        ", once gunicorn's worker timeout had killed the worker stuck joining its children"
    } else {
        ""
    };
    let orphans = match probe.orphans {
        0 => "it left no process behind".to_owned(),
        1 => "it left 1 child process behind, adopted by init".to_owned(),
        n => format!("it left {n} child processes behind, adopted by init"),
    };
    let cleaned = if probe.left_after_stop == 0 {
        "the harness ended them with gunicorn's process group"
    } else {
        "some survived the harness's SIGKILL to gunicorn's process group"
    };
    // The cause only where the probe saw it: a worker stuck joining its children until
    // gunicorn's timeout killed it.
    let why = match (probe.status, probe.worker_timeout) {
        (Some(200), _) => "It answered, so its bands got through its queue this time: no deadlock was seen.",
        (_, true) => {
            "Its 500x500 bands (500 KB each) cannot pass through the queue's 64 KiB pipe while nobody reads it, \
             which is where its worker was stuck, so no load test of it is possible."
        }
        _ => "Without gunicorn's worker timeout in its log, the probe cannot tell why.",
    };
    format!(
        "python-processes-seed (the handout's processes app, children joined before their queue is read): \
         one GET /multiprocessing {answer}{killed}; {orphans}, and {cleaned}. {why} python-processes-fixed reads \
         the queue first."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(status: Option<u16>, worker_timeout: bool, orphans: u32) -> SeedProbe {
        SeedProbe {
            command: vec![],
            status,
            error: status.is_none().then(|| "timed out".to_owned()),
            seconds: 30.1,
            worker_timeout,
            orphans,
            left_after_stop: 0,
            verdict: String::new(),
        }
    }

    #[test]
    fn the_verdict_says_what_the_figures_say() {
        let deadlock = verdict(&probe(Some(500), true, 4));
        assert!(
            deadlock.contains(
                "one GET /multiprocessing answered 500 after 30.1 s, once gunicorn's worker timeout had killed the \
                 worker stuck joining its children; it left 4 child processes behind, adopted by init, and the \
                 harness ended them"
            ),
            "{deadlock}"
        );
        assert!(deadlock.contains("which is where its worker was stuck"), "{deadlock}");
        let answered = verdict(&probe(Some(200), false, 0));
        assert!(answered.contains("answered 200 in 30.1 s"), "{answered}");
        assert!(
            answered.contains("no deadlock was seen") && !answered.contains("64 KiB"),
            "{answered}"
        );
        let silent = verdict(&probe(None, false, 0));
        assert!(silent.contains("the probe cannot tell why"), "{silent}");
        assert!(
            silent.contains("gave no answer (timed out) within 30.1 s; it left no process behind"),
            "{silent}"
        );
    }
}
