//! Checks before measuring, as TechEmpower's verify step does: every endpoint must answer 200
//! with JSON, the lab servers with every contracted key, and the lab servers must agree on the
//! sum for a seed. Otherwise no numbers are reported at all: a fast server that answers wrongly
//! is not faster.
//!
//! The same requests probe each lab server's own timings (generation, addition, total) with no
//! other load, which the report uses to explain the throughput it measures.

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::http::Client;
use crate::plan::Api;
use crate::servers::Target;
use loadtest_model::stats::median;
use loadtest_model::summary::{Probe, ScenarioKey};
use matrix_service::WorkKind;

/// Keys every lab answer must have (the answer's fields in `docs/api.md`).
pub const ANSWER_KEYS: [&str; 10] = [
    "status",
    "method",
    "n",
    "workers",
    "seed",
    "execution_time_sec",
    "generation_time_sec",
    "total_time_sec",
    "sample",
    "checksum",
];

/// The seed every server is sent, so their sums must agree.
pub const PROBE_SEED: u64 = 20_261_122;

/// Sequential requests per lab server and scenario.
pub const PROBE_REQUESTS: u32 = 15;

/// Verifies every target for every scenario it takes part in, and returns the probes (one per
/// lab server and scenario, in scenario order).
///
/// The probes are sent in rounds, one request per lab server and scenario a round, so the
/// figures compared with each other (a request's time at 1 worker against 2, one server's
/// against another's) come from the same minutes of the machine's life: on a shared or virtual
/// machine a CPU's speed drifts within minutes (docs/methodology.md, "CPU speed").
pub fn verify(
    targets: &[Target],
    scenarios: &[ScenarioKey],
    joins: impl Fn(&Target, ScenarioKey) -> bool,
    client: &Client,
) -> anyhow::Result<Verified> {
    let mut verified = Verified::default();
    let (mut series, mut checked) = (Vec::new(), Vec::new());
    for &scenario in scenarios {
        for target in targets.iter().filter(|t| joins(t, scenario)) {
            match target.api {
                Api::Lab => series.push(Series::new(target, scenario)),
                Api::LabQuery => checked.push(Series::new(target, scenario)),
                Api::AsGiven if !verified.is_left_out(&target.name) => {
                    if let Err(error) = check_other(target, client) {
                        verified.leave_out(&target.name, format!("{error:#}"));
                    }
                }
                Api::AsGiven => {}
            }
        }
    }
    for _ in 0..PROBE_REQUESTS {
        for one in &mut series {
            one.ask(client)?;
        }
    }
    // An app of the lab's API that is not a lab server (the Python lab's) is checked with one
    // request: its sum is compared, its timings are not probed. One that answers wrongly is
    // left out of the run, not the run stopped.
    for one in &mut checked {
        if !verified.is_left_out(&one.target.name)
            && let Err(error) = one.ask(client)
        {
            verified.leave_out(&one.target.name, format!("{error:#}"));
        }
    }
    let sums = |series: &[Series<'_>]| -> Vec<(String, ScenarioKey, i64)> {
        (series.iter())
            .filter_map(|s| Some((s.target.name.clone(), s.scenario, s.checksum?)))
            .collect()
    };
    let (lab_sums, other_sums) = (sums(&series), sums(&checked));
    verified.probes = series.into_iter().map(Series::probe).collect();
    hold_to_the_lab_servers_sums(scenarios, &lab_sums, &other_sums, &mut verified)?;
    Ok(verified)
}

/// Every lab server's sum for a scenario must be the same (or the run stops); every other
/// server's must be a lab server's for the same kind of work and n (or it is left out).
fn hold_to_the_lab_servers_sums(
    scenarios: &[ScenarioKey],
    lab_sums: &[(String, ScenarioKey, i64)],
    other_sums: &[(String, ScenarioKey, i64)],
    verified: &mut Verified,
) -> anyhow::Result<()> {
    for &scenario in scenarios {
        let at: Vec<(&str, i64)> = (lab_sums.iter())
            .filter(|(_, s, _)| *s == scenario)
            .map(|(server, _, sum)| (server.as_str(), *sum))
            .collect();
        if let Some((first, sum)) = at.first()
            && let Some((other, other_sum)) = at.iter().find(|(_, s)| s != sum)
        {
            bail!(
                "the servers disagree on the sum for seed {PROBE_SEED} (n={}, workers={}): {first} says {sum}, \
                 {other} says {other_sum}; no numbers are reported for servers that answer differently",
                scenario.n,
                scenario.workers
            );
        }
    }
    // A seed's sum depends on the kind of work and n alone (io's is add's), so an app of the
    // lab's API is held to a lab server's sum at any workers and connections.
    let reference = |s: ScenarioKey| {
        (lab_sums.iter())
            .find(|(_, key, _)| key.n == s.n && (key.work == WorkKind::Matmul) == (s.work == WorkKind::Matmul))
            .map(|(server, _, sum)| (server.as_str(), *sum))
    };
    for (name, scenario, sum) in other_sums {
        if let Some((server, expected)) = reference(*scenario)
            && expected != *sum
            && !verified.is_left_out(name)
        {
            verified.leave_out(
                name,
                format!(
                    "it answered {sum} for seed {PROBE_SEED} at {} n={} where {server} answered {expected}",
                    scenario.work.name(),
                    scenario.n
                ),
            );
        }
    }
    Ok(())
}

/// What verifying found: each lab server's probes, and the other servers left out of the run.
#[derive(Debug, Default)]
pub struct Verified {
    pub probes: Vec<Probe>,
    /// Servers that are not lab servers (the Python lab's apps, `--target`s) which failed their
    /// check, each with why: the run goes on without them.
    pub left_out: Vec<(String, String)>,
}

impl Verified {
    fn is_left_out(&self, name: &str) -> bool {
        self.left_out.iter().any(|(left, _)| left == name)
    }

    fn leave_out(&mut self, name: &str, why: String) {
        if !self.is_left_out(name) {
            self.left_out.push((name.to_owned(), why));
        }
    }

    /// Each server left out, in a sentence for the report's warnings.
    pub fn warnings(&self) -> Vec<String> {
        (self.left_out.iter())
            .map(|(name, why)| format!("{name} was left out of the run: its answers failed the check ({why})."))
            .collect()
    }
}

/// One lab server's seeded requests for one scenario, and what its answers said.
struct Series<'a> {
    target: &'a Target,
    scenario: ScenarioKey,
    url: String,
    generation: Vec<f64>,
    execution: Vec<f64>,
    total: Vec<f64>,
    checksum: Option<i64>,
}

impl<'a> Series<'a> {
    fn new(target: &'a Target, scenario: ScenarioKey) -> Self {
        Self {
            target,
            scenario,
            url: format!("{}&seed={PROBE_SEED}", target.url_for(scenario)),
            generation: Vec::new(),
            execution: Vec::new(),
            total: Vec::new(),
            checksum: None,
        }
    }

    /// Sends one request and checks its answer, which must give the sum the earlier ones gave.
    fn ask(&mut self, client: &Client) -> anyhow::Result<()> {
        let (status, answer) = client
            .get_json(&self.url)
            .with_context(|| format!("verifying the {} server", self.target.name))?;
        check_lab_answer(&self.target.name, &self.url, status, &answer, self.scenario)?;
        let sum = answer["checksum"].as_i64();
        ensure!(
            self.checksum.is_none() || self.checksum == sum,
            "{} gave different sums for one seed: {:?} then {sum:?}",
            self.url,
            self.checksum
        );
        self.checksum = sum;
        let ms = |key: &str| answer[key].as_f64().map(|secs| secs * 1000.0);
        self.generation.extend(ms("generation_time_sec"));
        self.execution.extend(ms("execution_time_sec"));
        self.total.extend(ms("total_time_sec"));
        Ok(())
    }

    fn probe(self) -> Probe {
        Probe {
            server: self.target.name.clone(),
            scenario: self.scenario,
            requests: PROBE_REQUESTS,
            generation_ms: median(&self.generation),
            execution_ms: median(&self.execution),
            total_ms: median(&self.total),
            checksum: self.checksum,
        }
    }
}

/// One lab answer: 200, every contracted key, the parameters echoed, `status` "ok".
pub fn check_lab_answer(
    name: &str,
    url: &str,
    status: u16,
    answer: &Value,
    scenario: ScenarioKey,
) -> anyhow::Result<()> {
    ensure!(
        status == 200,
        "the {name} server answered {url} with {status}, not 200: {answer}"
    );
    let missing: Vec<&str> = ANSWER_KEYS
        .iter()
        .copied()
        .filter(|k| answer.get(k).is_none())
        .collect();
    ensure!(
        missing.is_empty(),
        "the {name} server's answer to {url} lacks {}: {answer}",
        missing.join(", ")
    );
    ensure!(
        answer["status"] == "ok",
        "the {name} server's answer to {url} is not ok: {answer}"
    );
    let echoed = (answer["n"].as_u64(), answer["workers"].as_u64());
    ensure!(
        echoed == (Some(scenario.n.into()), Some(scenario.workers.into())),
        "the {name} server answered n={:?}, workers={:?} to {url}",
        echoed.0,
        echoed.1
    );
    ensure!(
        answer["checksum"].is_i64(),
        "the {name} server's checksum is not an integer: {answer}"
    );
    Ok(())
}

/// Another server: it must answer 200, with JSON whose `status` (if any) is "ok".
fn check_other(target: &Target, client: &Client) -> anyhow::Result<()> {
    let (status, answer) = client
        .get_json(&target.endpoint)
        .with_context(|| format!("verifying --target {}", target.name))?;
    ensure!(
        status == 200,
        "--target {} answered {} with {status}, not 200",
        target.name,
        target.endpoint
    );
    ensure!(
        answer.get("status").is_none_or(|s| s == "ok"),
        "--target {} answered {} without status ok: {answer}",
        target.name,
        target.endpoint
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: ScenarioKey = ScenarioKey {
        work: matrix_service::WorkKind::Add,
        wait_ms: None,
        concurrency: 20,
        n: 500,
        workers: 4,
        offered_rps: None,
    };

    fn good() -> Value {
        json!({"status": "ok", "method": "Multithreading", "n": 500, "workers": 4, "seed": 1,
               "execution_time_sec": 0.001, "generation_time_sec": 0.002, "total_time_sec": 0.004,
               "sample": [1, 2], "checksum": 24733016})
    }

    #[test]
    fn a_complete_answer_passes() {
        check_lab_answer("threading", "u", 200, &good(), KEY).unwrap();
    }

    #[test]
    fn each_defect_is_named() {
        let mut missing = good();
        missing.as_object_mut().unwrap().remove("checksum");
        let cases = [
            (503, good(), "with 503, not 200"),
            (200, missing, "lacks checksum"),
            (200, json!({"status": "error", "error": "x"}), "lacks method"),
            (
                200,
                {
                    let mut v = good();
                    v["n"] = json!(100);
                    v
                },
                "answered n=Some(100)",
            ),
            (
                200,
                {
                    let mut v = good();
                    v["checksum"] = json!("x");
                    v
                },
                "not an integer",
            ),
        ];
        for (status, answer, expected) in cases {
            let err = check_lab_answer("threading", "u", status, &answer, KEY)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        }
    }
}

#[cfg(test)]
mod left_out {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;
    use crate::plan::Api;

    /// A server on 127.0.0.1 that answers every request with `status` and `body`, closing
    /// each connection; its endpoint URL.
    fn answering(status: u16, body: String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/threading", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    fn answer(checksum: i64) -> String {
        format!(
            r#"{{"status":"ok","method":"M","n":500,"workers":4,"seed":1,"execution_time_sec":0.001,"generation_time_sec":0.001,"total_time_sec":0.002,"sample":[1],"checksum":{checksum}}}"#
        )
    }

    fn target(name: &str, api: Api, endpoint: String) -> Target {
        Target {
            name: name.to_owned(),
            endpoint,
            api,
            managed: None,
            given_pid: None,
        }
    }

    #[test]
    fn an_app_that_is_not_a_lab_server_and_answers_wrongly_is_left_out_and_the_run_goes_on() {
        let targets = [
            target("threading", Api::Lab, answering(200, answer(7))),
            target("py-threads", Api::LabQuery, answering(200, answer(7))),
            target("py-processes", Api::LabQuery, answering(200, answer(8))),
            target(
                "py-async",
                Api::LabQuery,
                answering(500, r#"{"status":"error"}"#.to_owned()),
            ),
            target("python-threads", Api::AsGiven, answering(500, "{}".to_owned())),
        ];
        let client = Client::new(Duration::from_secs(5));
        let verified = verify(&targets, &[ScenarioKey::DEFAULT], |_, _| true, &client).unwrap();
        assert_eq!(verified.probes.len(), 1, "the lab server is probed");
        let left: Vec<&str> = verified.left_out.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(left, ["python-threads", "py-async", "py-processes"]);
        let warnings = verified.warnings().join("\n");
        assert!(
            warnings
                .contains("py-processes was left out of the run: its answers failed the check (it answered 8 for seed"),
            "{warnings}"
        );
        assert!(warnings.contains("where threading answered 7"), "{warnings}");
        // A lab server that answers wrongly still stops the run.
        let broken = [target("threading", Api::Lab, answering(500, "{}".to_owned()))];
        assert!(verify(&broken, &[ScenarioKey::DEFAULT], |_, _| true, &client).is_err());
    }
}
