//! End to end: a `--quick` run with the servers and oha pinned apart (`--server-cpus 0
//! --client-cpus 1`) records the pinning, runs every server and oha through `taskset`, and
//! writes the machine's CPU around each trial, the client's share and the bottleneck of each
//! result, and the noise fingerprint. Needs oha and two CPUs; `.ci/run` runs it.

use std::process::Command;

use serde_json::Value;

#[test]
#[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
fn a_pinned_quick_run_records_its_cpus_the_client_s_share_and_the_noise() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--quick",
            "--servers",
            "threading,multiprocessing",
            "--server-cpus",
            "0",
            "--client-cpus",
            "1",
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadtest failed: {}\n{stderr}", output.status);
    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();

    assert_eq!(
        (
            summary["design"]["server_cpuset"].as_str(),
            summary["design"]["client_cpuset"].as_str()
        ),
        (Some("0"), Some("1"))
    );
    let pinned_to = |command: &Value| -> Option<String> {
        let words: Vec<&str> = command.as_array()?.iter().filter_map(Value::as_str).collect();
        (words.get(..2)? == ["taskset", "--cpu-list"]).then(|| words[2].to_owned())
    };
    for server in summary["servers"].as_array().unwrap() {
        assert_eq!(pinned_to(&server["command"]).as_deref(), Some("0"), "{server}");
    }
    let trials = summary["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    for trial in trials {
        assert_eq!(
            pinned_to(&trial["oha_command"]).as_deref(),
            Some("1"),
            "{}",
            trial["oha_command"]
        );
        let machine = &trial["machine_cpu"];
        let total: f64 = ["busy_secs", "steal_secs", "idle_secs"]
            .iter()
            .map(|k| machine[k].as_f64().unwrap())
            .sum();
        let wall = trial["wall_secs"].as_f64().unwrap();
        // Every CPU's time over the trial: about its wall time on each of the machine's CPUs.
        let cpus = summary["machine"]["cpus"].as_f64().unwrap();
        assert!(
            (total - wall * cpus).abs() < 0.25 * wall * cpus + 0.1,
            "{machine} over {wall} s"
        );
    }
    for result in summary["results"].as_array().unwrap() {
        assert!(
            result["client_cpu_ms_per_request"].as_f64().is_some_and(|ms| ms > 0.0),
            "{result}"
        );
        let bottleneck = result["bottleneck"].as_str().unwrap();
        assert!(
            ["waiting", "machine-full", "server-cpu", "client-cpu"].contains(&bottleneck),
            "{bottleneck}"
        );
        let shares = &result["cpu_shares"];
        let taken: f64 = ["server", "client", "others", "steal"]
            .iter()
            .map(|k| shares[k].as_f64().unwrap())
            .sum();
        assert!(taken > 0.0 && taken <= 1.0 + 1e-9, "{shares}");
    }
    let noise = &summary["noise"];
    assert_eq!(noise["trials"], 2, "a quick run's one trial a server: {noise}");
    let share = |key: &str| noise[key].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&share("steal_share")) && (0.0..=1.0).contains(&share("others_share")),
        "{noise}"
    );
    assert_eq!(noise["kernel"], summary["machine"]["kernel"]);
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok();
    assert_eq!(noise["transparent_hugepages"].as_str().is_some(), thp.is_some());
}
