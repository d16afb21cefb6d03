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
) -> anyhow::Result<Vec<Probe>> {
    let (mut series, mut checked) = (Vec::new(), Vec::new());
    for &scenario in scenarios {
        for target in targets.iter().filter(|t| joins(t, scenario)) {
            match target.api {
                Api::Lab => series.push(Series::new(target, scenario)),
                Api::LabQuery => checked.push(Series::new(target, scenario)),
                Api::AsGiven => check_other(target, client)?,
            }
        }
    }
    for _ in 0..PROBE_REQUESTS {
        for one in &mut series {
            one.ask(client)?;
        }
    }
    // An app of the lab's API that is not a lab server (the Python lab's) is checked with one
    // request: its sum is compared, its timings are not probed.
    for one in &mut checked {
        one.ask(client)?;
    }
    let sums_of = |series: &[Series<'_>]| -> Vec<(String, ScenarioKey, i64)> {
        (series.iter())
            .map(|s| {
                (
                    s.target.name.clone(),
                    s.scenario,
                    s.checksum.expect("Series::ask checks the checksum"),
                )
            })
            .collect()
    };
    let all_sums = [sums_of(&series), sums_of(&checked)].concat();
    let probes: Vec<Probe> = series.into_iter().map(Series::probe).collect();
    for &scenario in scenarios {
        let sums: Vec<(&str, i64)> = (all_sums.iter())
            .filter(|(_, s, _)| *s == scenario)
            .map(|(server, _, sum)| (server.as_str(), *sum))
            .collect();
        if let Some((first, sum)) = sums.first()
            && let Some((other, other_sum)) = sums.iter().find(|(_, s)| s != sum)
        {
            bail!(
                "the servers disagree on the sum for seed {PROBE_SEED} (n={}, workers={}): {first} says {sum}, \
                 {other} says {other_sum}; no numbers are reported for servers that answer differently",
                scenario.n,
                scenario.workers
            );
        }
    }
    Ok(probes)
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
