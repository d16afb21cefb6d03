//! End to end: `loadtest --python`, the original Python lab beside a Rust server. Needs oha (as
//! `quick_run` does), Python 3 with venv, and PyPI (or a mirror) for the pinned packages; CI has
//! them and runs it with --run-ignored.

use std::process::Command;

use serde_json::Value;

/// Live processes whose command line runs one of the lab's Python apps (gunicorn's or
/// uvicorn's), or a multiprocessing helper (a forkserver, a pool's process).
fn python_lab_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let app = (cmdline.contains("gunicorn") || cmdline.contains("uvicorn"))
                && (cmdline.contains("app_") || cmdline.contains("py_"))
                && cmdline.contains(":app");
            if app || cmdline.contains("python-lab/venv/bin/python3 -c from multiprocessing") {
                found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
#[ignore = "needs oha, python3 with venv and PyPI; run by .ci/run with --run-ignored"]
fn python_measures_its_apps_probes_the_seed_s_and_stops_everything() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--python", "--quick", "--servers", "threading", "--out"])
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed: {}\n{stderr}", output.status);

    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let results = summary["results"].as_array().unwrap();
    let servers: Vec<&str> = results.iter().filter_map(|r| r["server"].as_str()).collect();
    assert_eq!(
        servers,
        [
            "threading",
            "python-threads",
            "python-processes-fixed",
            "py-threads",
            "py-processes",
            "py-async"
        ]
    );
    for result in results {
        assert_eq!(result["requests"], 200, "{result}");
        assert!(
            result["cpu_ms_per_request"].as_f64().is_some_and(|cpu| cpu > 0.0),
            "sampled: {result}"
        );
        assert!(
            result["peak_memory_bytes"].as_u64().is_some_and(|bytes| bytes > 0),
            "sampled: {result}"
        );
    }

    // The handout's own app: one request, and what it did, from the figures.
    let seed = &summary["python_processes_seed"];
    assert!(seed["seconds"].as_f64().is_some(), "{seed}");
    assert_eq!(seed["left_after_stop"], 0, "{seed}");
    assert!(
        seed["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("python-processes-seed")),
        "{seed}"
    );
    // Its deadlock is the point: no 200 within gunicorn's 30 s worker timeout.
    assert_ne!(seed["status"], 200, "{seed}");
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("## The handout's own processes app"), "{report}");
    for log in [
        "python-threads.log",
        "python-processes-fixed.log",
        "python-processes-seed.log",
        "py-threads.log",
        "py-processes.log",
        "py-async.log",
    ] {
        assert!(out.path().join("logs").join(log).exists(), "{log}");
    }

    // A pool's processes end with the group's SIGTERM, and its worker with them.
    let warnings = summary["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("ignored SIGTERM"))),
        "{warnings:?}"
    );
    let left = python_lab_processes();
    assert!(left.is_empty(), "gunicorn processes left behind: {left:#?}");
}
