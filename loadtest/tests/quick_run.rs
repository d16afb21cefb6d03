//! End to end: `loadtest --quick` against the real servers (built and started by the harness)
//! and the real oha. Needs oha 1.15+: $OHA, on PATH, or the one a harness run installed in
//! target/tools (the harness finds it the same way). `.ci/run` installs it and runs ignored tests.

use std::process::Command;

use loadtest_model::catalogue::{Catalogue, LabServer, PALETTE};
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
    assert_eq!(servers, Catalogue::lab().names());
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
    assert_eq!(
        trials.len(),
        Catalogue::lab().names().len(),
        "one trial per server, no warm-up"
    );
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
    // --quick traces nothing: its one trial is all the time it asks for.
    assert!(summary.get("traces").is_none(), "{}", summary["traces"]);
    let traces = (std::fs::read_dir(out.path()).unwrap().flatten())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("trace_"))
        .count();
    assert_eq!(traces, 0, "no trace file in a --quick run");
    let verdict = summary["verdict"]
        .as_array()
        .expect("the verdict is a list of sentences");
    assert!((1..=3).contains(&verdict.len()), "{verdict:?}");

    // A server's log is kept if it wrote something (warnings only, at RUST_LOG=warn), and only
    // the lab servers write one.
    for log in std::fs::read_dir(out.path().join("logs")).unwrap().flatten() {
        let name = log.file_name().to_string_lossy().into_owned();
        assert!(
            Catalogue::lab().iter().any(|s| name == format!("{}.log", s.name)),
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
    let at = |section: &str| {
        report
            .find(section)
            .unwrap_or_else(|| panic!("report.md lacks {section:?}"))
    };
    assert!(
        at("## Verdict") < at("## Results") && at("## Results") < at("## Conclusions"),
        "the verdict first, then the tables, then the conclusions"
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

/// A lab server added through the library's entry point, with no other file changed: the CLI
/// takes its name, and the run, the report, the conclusions, the targets, the CSV and the charts
/// carry it.
#[test]
#[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
fn a_server_added_to_the_catalogue_takes_part_in_every_part_of_a_run() {
    let lab = Catalogue::lab();
    let test_pool = LabServer {
        name: "test-pool".into(),
        description: "a pool of one thread".into(),
        args: ["--strategy", "pool", "--pool-threads", "1"].map(String::from).to_vec(),
        colour: PALETTE[4],
        ..lab.get("thread-pool").expect("the lab has a thread pool").clone()
    };
    let catalogue = lab.with(test_pool);
    let out = tempfile::tempdir().unwrap();
    let args = ["loadtest", "--quick", "--servers", "threading,test-pool", "--out"];
    let cli = loadtest::cli::try_parse_from(
        &catalogue,
        args.iter().map(std::ffi::OsString::from).chain([out.path().into()]),
    )
    .expect("the CLI takes the added server's name");
    loadtest::run(cli, &catalogue).expect("the quick run succeeds");

    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let servers: Vec<&str> = (summary["results"].as_array().unwrap().iter())
        .filter_map(|r| r["server"].as_str())
        .collect();
    assert_eq!(servers, ["threading", "test-pool"]);
    let pool_size = (summary["servers"].as_array().unwrap().iter())
        .find(|s| s["name"] == "test-pool")
        .map(|s| s["pool_size"].clone());
    assert_eq!(pool_size, Some(Value::from(1)), "its size read from its own gauge");
    let conclusions: Vec<&str> = (summary["conclusions"].as_array().unwrap().iter())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        conclusions
            .iter()
            .any(|c| c.starts_with("The test-pool server (a pool of one thread) spent")),
        "weighed against threads started per request, as its facts say: {conclusions:#?}"
    );
    let targets: Vec<(&str, &str)> = (summary["targets"].as_array().unwrap().iter())
        .filter_map(|t| Some((t["server"].as_str()?, t["target"].as_str()?)))
        .collect();
    assert!(
        targets.contains(&("test-pool", "tail at 20 connections: p99 over p50")),
        "{targets:?}"
    );

    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let column = (csv.lines().next().unwrap().split(','))
        .position(|c| c == "server")
        .unwrap();
    let rows: Vec<&str> = (csv.lines().skip(1))
        .filter_map(|line| line.split(',').nth(column))
        .collect();
    assert_eq!(rows, ["threading", "test-pool"], "{csv}");
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.contains("The test-pool server (a pool of one thread)"),
        "{report}"
    );
    let [r, g, b] = PALETTE[4];
    let colour = format!("#{r:02X}{g:02X}{b:02X}");
    for chart in ["throughput.svg", "cpu_per_request.svg"] {
        let svg = std::fs::read_to_string(out.path().join(chart)).unwrap();
        assert!(
            svg.contains("test-pool") && svg.contains(&colour),
            "{chart} draws it in its colour"
        );
    }
}
