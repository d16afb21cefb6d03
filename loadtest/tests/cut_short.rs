//! A run killed after its first scenario keeps what it measured: `summary.json` holds that
//! scenario and says `"complete": false`, and `loadtest report` on the folder says the run was
//! cut short. Needs oha, as `quick_run.rs` does; `.ci/run` runs it with `--run-ignored`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadtest_model::summary::RunSummary;
use matrix_service::testing::descendants_of;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
#[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
fn a_run_killed_after_its_first_scenario_keeps_it_and_says_it_is_not_complete() {
    let out = tempfile::tempdir().unwrap();
    // Two scenarios (--sizes: n=50, then n=100) of one 3 s trial each, on one server: the first is saved
    // while the second runs.
    let mut run = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--servers",
            "threading",
            "--sizes",
            "50,100",
            "--trials",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--duration", "3", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("loadtest starts");
    let path = out.path().join("summary.json");
    let waited = Instant::now();
    while !path.exists() {
        assert!(
            run.try_wait().unwrap().is_none(),
            "loadtest ended before writing summary.json"
        );
        assert!(
            waited.elapsed() < Duration::from_secs(600),
            "no summary.json after 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let below = descendants_of(run.id() as i32);
    run.kill().unwrap();
    run.wait().unwrap();
    // The servers and oha it started, killed with it, so nothing outlives the test.
    for pid in below {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }

    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["complete"], serde_json::json!(false), "{text}");
    let summary: RunSummary = serde_json::from_str(&text).unwrap();
    assert!(!summary.complete);
    let sizes: Vec<u32> = summary.trials.iter().map(|t| t.scenario.n).collect();
    assert_eq!(sizes, [50], "the first scenario's one trial, and nothing of the second");
    assert_eq!(summary.results.len(), 1);
    assert_eq!(
        (summary.results[0].server.as_str(), summary.results[0].scenario.n),
        ("threading", 50)
    );

    let redrawn = tempfile::tempdir().unwrap();
    let report = report_of(out.path(), redrawn.path());
    assert!(
        report.contains("This run was cut short (stopped or killed): its summary holds the 1 scenario(s) it finished."),
        "{report}"
    );
    let markdown = std::fs::read_to_string(redrawn.path().join("report.md")).unwrap();
    assert!(markdown.contains("**This run was cut short**"), "{markdown}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "report leaves summary.json as it was"
    );
}

/// `loadtest report DIR --out OUT`'s output.
fn report_of(dir: &Path, out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("report")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
