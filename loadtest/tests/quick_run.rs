//! End to end: `loadtest --quick` against the real servers (built and started by the harness)
//! and the real oha. Needs oha 1.15+: $OHA, on PATH, or the one a harness run installed in
//! target/tools (the harness finds it the same way). `.ci/run` installs it and runs ignored tests.

use std::process::Command;

use loadtest::lab_servers::LAB_SERVERS;
use serde_json::Value;

/// Keys every `results` entry must have (`docs/harness.md`, "What it writes").
const RESULT_KEYS: [&str; 11] = [
    "server",
    "concurrency",
    "n",
    "workers",
    "requests",
    "success_rate",
    "rps_median",
    "latency_p50_ms",
    "latency_p99_ms",
    "cpu_ms_per_request",
    "peak_memory_bytes",
];

#[test]
#[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
fn quick_run_writes_every_file_with_the_contracted_keys() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--quick", "--out"])
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed: {}\n{stderr}", output.status);
    assert!(
        stdout.contains("threading")
            && stdout.contains("thread-pool")
            && stdout.contains("multiprocessing")
            && stdout.contains("prefork"),
        "the table: {stdout}"
    );

    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["oha_version"].as_str().is_some_and(|v| v.starts_with("oha 1.")),
        "{}",
        summary["oha_version"]
    );
    let results = summary["results"].as_array().expect("results is an array");
    let servers: Vec<&str> = results.iter().filter_map(|r| r["server"].as_str()).collect();
    assert_eq!(servers, LAB_SERVERS.iter().map(|s| s.name).collect::<Vec<_>>());
    for result in results {
        for key in RESULT_KEYS {
            assert!(
                result.get(key).is_some_and(|v| !v.is_null()),
                "{key} missing or null in {result}"
            );
        }
        assert_eq!(
            (result["concurrency"].as_u64(), result["requests"].as_u64()),
            (Some(20), Some(200))
        );
        assert_eq!(result["success_rate"].as_f64(), Some(1.0), "{result}");
        assert!(result["rps_median"].as_f64().unwrap() > 0.0);
        assert!(
            result["latency_p99_over_p50"].as_f64().is_some_and(|r| r >= 1.0),
            "{result}"
        );
        assert!(
            result["peak_memory_bytes"].as_u64().unwrap() > 1 << 20,
            "a server uses more than 1 MiB"
        );
    }
    for server in summary["servers"].as_array().unwrap() {
        assert_eq!(server["managed"], true, "the harness started every server: {server}");
        assert!(server["pid"].as_i64().is_some_and(|pid| pid > 0), "{server}");
    }
    let work = &summary["work_costs"][0];
    assert_eq!(work["n"].as_u64(), Some(500), "{work}");
    assert!(work["cpu_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{work}");
    for result in results {
        assert!(result["cpu_vs_work"].as_f64().is_some_and(|x| x > 0.0), "{result}");
    }
    let trials = summary["trials"].as_array().unwrap();
    assert_eq!(trials.len(), LAB_SERVERS.len(), "one trial per server, no warm-up");
    for trial in trials {
        assert_eq!(trial["valid"], true, "{trial}");
        let command: Vec<&str> = trial["oha_command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(command.windows(2).any(|w| w == ["-n", "200"]) && command.windows(2).any(|w| w == ["-c", "20"]));
        let raw = out.path().join(trial["raw_file"].as_str().unwrap());
        let oha: Value = serde_json::from_slice(&std::fs::read(&raw).unwrap()).expect("raw/ holds oha's JSON");
        assert_eq!(oha["statusCodeDistribution"]["200"].as_u64(), Some(200));
        assert_eq!(
            trial["server_answers"].as_u64(),
            Some(200),
            "the server's /metrics counted the 200 answers oha did: {trial}"
        );
    }
    assert!(!summary["conclusions"].as_array().unwrap().is_empty());

    // A server's log is kept if it wrote something (warnings only, at RUST_LOG=warn), and only
    // the lab servers write one.
    for log in std::fs::read_dir(out.path().join("logs")).unwrap().flatten() {
        let name = log.file_name().to_string_lossy().into_owned();
        assert!(
            LAB_SERVERS.iter().any(|s| name == format!("{}.log", s.name)),
            "{name} is no lab server's log"
        );
        assert!(
            log.metadata().unwrap().len() > 0,
            "{name} is empty: an empty log is removed"
        );
    }
    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().expect("results.csv has a header");
    for key in RESULT_KEYS.iter().chain(&["rps.min", "rps.max"]) {
        assert!(header.split(',').any(|column| column == *key), "{key} not in {header}");
    }
    assert_eq!(lines.count(), results.len(), "one row per result:\n{csv}");

    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        !report.contains("not started by the harness"),
        "every server was sampled"
    );
    for section in [
        "## Conclusions",
        "## Results",
        "## Warnings",
        "## How this was measured",
        "Quick look",
    ] {
        assert!(report.contains(section), "report.md lacks {section:?}");
    }
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    for chart in ["throughput.svg", "latency.svg", "cpu_per_request.svg", "memory.svg"] {
        let svg = std::fs::read_to_string(out.path().join(chart)).unwrap_or_else(|e| panic!("{chart}: {e}"));
        assert!(svg.contains("<svg") && svg.contains("threading"), "{chart}");
        assert!(report.contains(&format!("]({chart})")), "report.md links {chart}");
        assert!(
            page.contains(&format!("data-file=\"{chart}\"")),
            "report.html holds {chart} inline"
        );
    }
}
