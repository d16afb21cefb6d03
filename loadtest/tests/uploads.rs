//! Hostile uploads at a scaled-down size, against all four lab servers (built and started by
//! `loadtest uploads`): the servers' memory stays within their budget, every client gets a whole
//! answer, `/healthz` keeps answering, and a plain upload is accepted afterwards. The full-size
//! runs (40 and 400 uploads of 60 MB) are in docs/results.md.

use std::process::Command;

use serde_json::Value;

const MIB: u64 = 1 << 20;

/// Runs `loadtest uploads` with `args` and returns uploads.json's `results`.
fn uploads(args: &[&str]) -> Vec<Value> {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("uploads")
        .args(args)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "loadtest uploads failed: {}\n{stderr}",
        output.status
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("uploads.json")).unwrap()).unwrap();
    let results = summary["results"].as_array().expect("results").clone();
    let servers: Vec<&str> = results.iter().filter_map(|r| r["server"].as_str()).collect();
    assert_eq!(
        servers,
        ["threading", "thread-pool", "multiprocessing", "prefork", "async"],
        "{stderr}"
    );
    results
}

fn count(result: &Value, status: &str) -> u64 {
    result["statuses"][status].as_u64().unwrap_or(0)
}

fn assert_whole_answers_and_healthy(result: &Value) {
    for broken in ["resets", "closed", "hangs", "not_connected"] {
        assert_eq!(result[broken], 0, "{broken}: {result:#}");
    }
    assert_eq!(result["health"]["failed"], 0, "{result:#}");
    assert!(result["health"]["probes"].as_u64() > Some(10), "{result:#}");
    assert_eq!(
        result["after"]["answered"], 200,
        "a plain upload afterwards: {result:#}"
    );
}

#[test]
fn uploads_held_at_the_last_byte_stay_within_the_memory_budget() {
    // 40 bodies of 8 MB, each charged 8 MB plus three 600 x 600 matrices (16.6 MB), against a
    // 64 MiB budget: at most three are read at once. Without the budget the server held them
    // all, several hundred MB.
    let budget = 64 * MIB;
    let results = uploads(&[
        "--clients=40",
        "--body-bytes=8000000",
        "--n=600",
        "--hold=2",
        &format!("--server-arg=--max-body-memory={budget}"),
        "--server-arg=--queue-timeout=5",
    ]);
    for result in &results {
        assert_whole_answers_and_healthy(result);
        let (ok, busy) = (count(result, "200"), count(result, "503"));
        assert!(ok > 0, "some uploads are served: {result:#}");
        assert_eq!(ok + busy, 40, "every answer is 200 or 503: {result:#}");
        let peak = result["peak_pss_bytes"].as_u64().expect("the server was sampled");
        let before = result["pss_before_bytes"].as_u64().unwrap();
        assert!(
            peak <= before + budget + 32 * MIB,
            "peak {} MiB, {} MiB before: {result:#}",
            peak / MIB,
            before / MIB
        );
    }
}

#[test]
fn trickled_bodies_are_answered_408_at_the_body_timeout_and_their_charges_freed() {
    // A small body holds only its length while it arrives: 30 bodies of 100 kB fit an 8 MB
    // budget, where charging each the 700 kB its matrices could need would let 11 in and
    // answer the other 19 with 503 after the 1 s --queue-timeout.
    let results = uploads(&[
        "--clients=30",
        "--body-bytes=100000",
        "--n=50",
        "--trickle=0.5",
        "--server-arg=--body-timeout=3",
        "--server-arg=--queue-timeout=1",
        "--server-arg=--max-body-bytes=1000000",
        "--server-arg=--max-body-memory=8000000",
        "--give-up-after=20",
    ]);
    for result in &results {
        assert_whole_answers_and_healthy(result);
        assert_eq!(count(result, "408"), 30, "{result:#}");
        let (first, last) = (
            result["first_end_secs"].as_f64().unwrap(),
            result["last_end_secs"].as_f64().unwrap(),
        );
        assert!(first >= 2.9, "no answer before the body timeout: {result:#}");
        assert!(last < 10.0, "every answer soon after it: {result:#}");
    }
}
