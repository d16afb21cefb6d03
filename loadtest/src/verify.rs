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
use crate::servers::Target;
use crate::stats::median;
use crate::summary::{Probe, ScenarioKey};

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

/// Verifies every target for every scenario it takes part in, and returns the probes.
pub fn verify(
    targets: &[Target],
    scenarios: &[ScenarioKey],
    extras_join: impl Fn(ScenarioKey) -> bool,
    client: &Client,
) -> anyhow::Result<Vec<Probe>> {
    let mut probes = Vec::new();
    for &scenario in scenarios {
        let mut sums: Vec<(&str, i64)> = Vec::new();
        for target in targets {
            if !target.lab {
                if extras_join(scenario) {
                    check_other(target, client)?;
                }
                continue;
            }
            let probe = probe_lab(target, scenario, client)?;
            sums.push((&target.name, probe.checksum.expect("probe_lab checks the checksum")));
            probes.push(probe);
        }
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

/// Sends [`PROBE_REQUESTS`] seeded requests and checks every answer.
fn probe_lab(target: &Target, scenario: ScenarioKey, client: &Client) -> anyhow::Result<Probe> {
    let url = format!("{}&seed={PROBE_SEED}", target.url_for(scenario));
    let (mut generation, mut execution, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let mut checksum = None;
    for _ in 0..PROBE_REQUESTS {
        let (status, answer) = client
            .get_json(&url)
            .with_context(|| format!("verifying the {} server", target.name))?;
        check_lab_answer(&target.name, &url, status, &answer, scenario)?;
        let sum = answer["checksum"].as_i64();
        ensure!(
            checksum.is_none() || checksum == sum,
            "{url} gave different sums for one seed: {checksum:?} then {sum:?}"
        );
        checksum = sum;
        let ms = |key: &str| answer[key].as_f64().map(|secs| secs * 1000.0);
        generation.extend(ms("generation_time_sec"));
        execution.extend(ms("execution_time_sec"));
        total.extend(ms("total_time_sec"));
    }
    Ok(Probe {
        server: target.name.clone(),
        scenario,
        requests: PROBE_REQUESTS,
        generation_ms: median(&generation),
        execution_ms: median(&execution),
        total_ms: median(&total),
        checksum,
    })
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
        work: crate::workload::WorkKind::Add,
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
