//! End to end: `loadtest cluster` with real namespaces, cgroups, HAProxy and oha. Every test
//! needs root, iproute2, haproxy and oha; `.ci/run` installs them and runs the ignored tests.
//! Each checks that the run left nothing behind: no namespace, link, cgroup or process named
//! for it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One short scaling trial a host count and 5 s fault trials, then `--out` (its folder next).
const SHORT_TRIALS: [&str; 9] = [
    "--trials",
    "1",
    "--duration",
    "2",
    "--warmup",
    "0.5",
    "--fault-duration",
    "5",
    "--out",
];

fn loadtest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadtest"))
}

/// The prefix of every name run `pid` makes.
fn prefix(pid: u32) -> String {
    format!("ltc{pid:x}-")
}

fn lines_of(program: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(program).args(args).output().expect("runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every namespace, link and cgroup named for run `pid`.
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = prefix(pid);
    let mut found: Vec<String> = lines_of("ip", &["netns", "list"])
        .into_iter()
        .filter(|l| l.starts_with(&prefix))
        .collect();
    found.extend(
        lines_of("ip", &["-o", "link", "show"])
            .into_iter()
            .filter(|l| l.contains(&format!(": {prefix}"))),
    );
    for root in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup"] {
        if let Ok(entries) = std::fs::read_dir(root) {
            found.extend(
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&prefix))
                    .map(|n| format!("{root}/{n}")),
            );
        }
    }
    found
}

/// The processes in run `pid`'s first host's cgroup, once its server runs.
fn wait_for_host_processes(pid: u32, child: &mut Child) -> Vec<i32> {
    let procs = [
        format!("/sys/fs/cgroup/cpu/{}h1/cgroup.procs", prefix(pid)),
        format!("/sys/fs/cgroup/{}h1/cgroup.procs", prefix(pid)),
    ];
    // The run builds the servers first: in a fresh clone, beside the other tests' builds, that
    // takes minutes.
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its hosts were up"
        );
        let pids: Vec<i32> = procs
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<_>>())
            .collect();
        if !pids.is_empty() {
            return pids;
        }
        assert!(Instant::now() < deadline, "no server started on host 1 within 900 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the run did not end within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie has exited; only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// A run the test started; if the test fails before the run ends, dropping it interrupts the
/// run (SIGINT, so it removes what it made) and waits for it.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = self.0.wait();
        }
    }
}

/// A long run, once its first host's server runs: the run, its pid, and that host's processes.
fn run_with_hosts_up(out: &std::path::Path) -> (Run, u32, Vec<i32>) {
    let mut run = start_long_run(out);
    let pid = run.0.id();
    let servers = wait_for_host_processes(pid, &mut run.0);
    assert!(!leftovers(pid).is_empty(), "the run made its hosts");
    (run, pid, servers)
}

/// Nothing named for run `pid` is left, and none of `servers` runs.
fn assert_gone(pid: u32, servers: &[i32], when: &str) {
    assert_eq!(leftovers(pid), Vec::<String>::new(), "left behind {when}");
    for &server in servers {
        assert!(!alive(server), "server process {server} still runs {when}");
    }
}

/// A long run of one server kind, to interrupt.
fn start_long_run(out: &std::path::Path) -> Run {
    Run(loadtest()
        .args([
            "cluster",
            "--servers",
            "threading",
            "--hosts",
            "1,2",
            "--faults",
            "none",
        ])
        .args(["--trials", "5", "--duration", "10", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("loadtest starts"))
}

#[test]
#[ignore = "needs root, haproxy and oha; run by .ci/run with --run-ignored"]
fn two_hosts_scale_and_a_crash_costs_nothing_with_retries_and_leaves_nothing_behind() {
    let out = tempfile::tempdir().unwrap();
    let child = loadtest()
        .args([
            "cluster",
            "--servers",
            "threading",
            "--hosts",
            "1,2",
            "--faults",
            "crash",
        ])
        .args(SHORT_TRIALS)
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loadtest starts");
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    assert_eq!(leftovers(pid), Vec::<String>::new(), "the run left these behind");

    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let cluster = &summary["cluster"];
    assert_eq!(cluster["host_cpus"], 0.25);
    assert_eq!(
        cluster["host_cpus_applied"], 0.25,
        "the quota read back from the kernel"
    );
    let scaling = cluster["scaling"].as_array().expect("scaling");
    assert_eq!(scaling.len(), 2, "{scaling:?}");
    for (entry, hosts) in scaling.iter().zip([1, 2]) {
        assert_eq!(
            (entry["server"].as_str(), entry["hosts"].as_u64()),
            (Some("threading"), Some(hosts))
        );
        assert!(entry["rps_median"].as_f64().unwrap() > 0.0, "{entry}");
        assert!(entry["latency_p50_ms"].as_f64().is_some() && entry["latency_p99_ms"].as_f64().is_some());
        // Each host was given requests and used CPU under its quota.
        for host in entry["host_use"].as_array().unwrap() {
            assert!(host["requests"].as_u64().unwrap() > 0, "{host}");
            let cpus = host["cpus"].as_f64().unwrap();
            assert!(cpus > 0.0 && cpus < 0.3, "a host of 0.25 CPU used {cpus}");
        }
    }
    assert!(scaling[1]["efficiency"].as_f64().is_some());

    let faults = cluster["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 2);
    for fault in faults {
        assert_eq!(
            (fault["fault"].as_str(), fault["hosts"].as_u64()),
            (Some("crash"), Some(2))
        );
        let (requests, ok, lost) = (
            fault["requests"].as_u64().unwrap(),
            fault["ok"].as_u64().unwrap(),
            fault["lost"].as_u64().unwrap(),
        );
        assert_eq!(requests, ok + lost, "{fault}");
        assert!(requests > 100, "{fault}");
        assert!(
            fault["detect_s"].as_f64().is_some_and(|s| s < 3.0),
            "the crash was seen: {fault}"
        );
        assert_eq!(
            (fault["balance"].as_str(), fault["loop"].as_str()),
            (Some("roundrobin"), Some("closed"))
        );
        for key in [
            "rps_before",
            "rps_during",
            "rps_after",
            "rps_worst_500ms",
            "stall_s",
            "victim_share_during",
        ] {
            assert!(fault[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {fault}");
        }
    }
    let with = faults.iter().find(|f| f["retries"] == true).unwrap();
    let without = faults.iter().find(|f| f["retries"] == false).unwrap();
    assert_eq!(with["lost"], 0, "with retries a crash costs no GET: {with}");
    assert!(with["redispatched"].as_u64().unwrap() > 0, "{with}");
    // Without them, what the dead host was sent before its checks failed is the balancer's
    // 503 (connection refused); a request it was answering when killed is a 502 or, once the
    // answer had begun, a connection the balancer closes on the client.
    assert!(without["lost"].as_u64().unwrap() > 0, "{without}");
    let lost_by = without["lost_by"].as_object().unwrap();
    assert!(
        lost_by
            .keys()
            .all(|why| why.starts_with('5') || why.contains("connection closed")),
        "{without}"
    );
    assert!(lost_by.contains_key("503"), "{without}");
    let total: u64 = lost_by.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, without["lost"].as_u64().unwrap(), "{without}");

    for file in [
        "report.md",
        "haproxy.cfg",
        "cluster_scaling.svg",
        "cluster_threading_crash.svg",
    ] {
        assert!(out.path().join(file).exists(), "{file} missing");
    }
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.starts_with("# Cluster") && report.contains("## Faults"),
        "{report}"
    );
}

#[test]
#[ignore = "needs root, haproxy and oha; run by .ci/run with --run-ignored"]
fn a_slow_host_runs_with_its_remedy_and_every_trial_again_open_loop() {
    let out = tempfile::tempdir().unwrap();
    let output = loadtest()
        .args([
            "cluster",
            "--servers",
            "threading",
            "--hosts",
            "2",
            "--faults",
            "slow",
            "--rate",
            "100",
        ])
        .args(SHORT_TRIALS)
        .arg(out.path())
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stderr}", output.status);
    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let faults = summary["cluster"]["faults"].as_array().expect("faults");
    let kinds: Vec<(bool, &str, &str)> = (faults.iter())
        .map(|f| {
            (
                f["retries"] == true,
                f["balance"].as_str().unwrap(),
                f["loop"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (true, "roundrobin", "closed"),
            (false, "roundrobin", "closed"),
            (true, "leastconn", "closed"),
            (true, "roundrobin", "open"),
            (false, "roundrobin", "open"),
            (true, "leastconn", "open"),
        ]
    );
    for open in faults.iter().filter(|f| f["loop"] == "open") {
        // 100 a second for 5 s were due: each was answered, failed, cut at the deadline or
        // counted as unsent.
        assert_eq!(
            (open["offered_rps"].as_f64(), open["due"].as_u64()),
            (Some(100.0), Some(500)),
            "{open}"
        );
        let sent = open["requests"].as_u64().unwrap() + open["aborted_at_deadline"].as_u64().unwrap();
        match open["lost_by"].get("unsent").and_then(Value::as_u64) {
            Some(unsent) => assert_eq!(sent + unsent, 500, "{open}"),
            None => assert!(sent >= 500, "{open}"),
        }
    }
    let targets = summary["targets"].as_array().expect("targets");
    assert!(
        (targets.iter()).any(|t| t["target"]
            .as_str()
            .unwrap()
            .starts_with("cluster, slow host, leastconn")),
        "{targets:?}"
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("A slow host's remedy, measured"), "{report}");
    for file in ["cluster_threading_slow.svg", "cluster_threading_slow_open.svg"] {
        assert!(out.path().join(file).exists(), "{file} missing");
    }
    let config = std::fs::read_to_string(out.path().join("haproxy/threading-slow-retries-on-leastconn.cfg")).unwrap();
    assert!(config.contains("balance leastconn"), "{config}");
}

#[test]
#[ignore = "needs root, haproxy and oha; run by .ci/run with --run-ignored"]
fn ctrl_c_removes_everything_the_run_made() {
    let out = tempfile::tempdir().unwrap();
    let (mut run, pid, servers) = run_with_hosts_up(out.path());
    let child = &mut run.0;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = wait_exit(child, Duration::from_secs(60));
    assert!(!status.success(), "an interrupted run fails");
    assert_gone(pid, &servers, "after Ctrl-C");
}

#[test]
#[ignore = "needs root, haproxy and oha; run by .ci/run with --run-ignored"]
fn cleanup_removes_a_killed_run_s_leftovers_and_nothing_else() {
    let out = tempfile::tempdir().unwrap();
    let (mut run, pid, servers) = run_with_hosts_up(out.path());
    let child = &mut run.0;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!leftovers(pid).is_empty(), "a killed run leaves its hosts");

    // A namespace named for a run that is alive (this test), and one named like no run.
    let live = format!("{}h1", prefix(std::process::id()));
    let other = "ltc-not-a-run".to_owned();
    for ns in [&live, &other] {
        assert!(
            Command::new("ip")
                .args(["netns", "add", ns])
                .status()
                .unwrap()
                .success()
        );
    }
    let cleanup = loadtest().args(["cluster", "--cleanup"]).output().unwrap();
    let namespaces = lines_of("ip", &["netns", "list"]).join("\n");
    for ns in [&live, &other] {
        Command::new("ip").args(["netns", "delete", ns]).status().unwrap();
    }
    let stderr = String::from_utf8_lossy(&cleanup.stderr);
    assert!(cleanup.status.success(), "{stderr}");
    assert_gone(pid, &servers, &format!("after --cleanup ({stderr})"));
    assert!(
        namespaces.contains(&live),
        "--cleanup removed a live run's namespace: {stderr}"
    );
    assert!(
        namespaces.contains(&other),
        "--cleanup removed a namespace that is not a run's: {stderr}"
    );
}

#[test]
#[ignore = "needs haproxy and oha; run by .ci/run with --run-ignored"]
fn host_urls_are_balanced_and_the_configuration_is_kept() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "-p", "app_threading"])
        .status()
        .unwrap();
    assert!(built.success());
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_loadtest")).with_file_name("app_threading");
    let servers: Vec<matrix_service::launch::LaunchedServer> = (0..2)
        .map(|_| {
            let mut command = Command::new(&binary);
            command.args(["--port", "0"]).stderr(Stdio::null());
            matrix_service::launch::LaunchedServer::start(command, Duration::from_secs(30)).unwrap()
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    let mut command = loadtest();
    command.args([
        "cluster",
        "--servers",
        "threading",
        "--hosts",
        "1,2",
        "--trials",
        "1",
        "--duration",
        "1",
    ]);
    for server in &servers {
        command.args(["--host-url", server.url()]);
    }
    let output = command.arg("--out").arg(out.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    let cluster = &summary["cluster"];
    assert_eq!(
        (cluster["hosts_from"].as_str(), cluster["host_cpus"].is_null()),
        (Some("urls"), true)
    );
    assert_eq!(cluster["faults"].as_array().map(Vec::len), Some(0));
    let scaling = cluster["scaling"].as_array().unwrap();
    assert_eq!(scaling.len(), 2);
    let two = &scaling[1];
    let requests: Vec<u64> = two["host_use"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["requests"].as_u64().unwrap())
        .collect();
    assert!(
        requests.len() == 2 && requests.iter().all(|&r| r > 0),
        "both servers got requests: {requests:?}"
    );
    let cfg = std::fs::read_to_string(out.path().join("haproxy.cfg")).unwrap();
    for server in &servers {
        let address = server.url().trim_start_matches("http://");
        assert!(cfg.contains(address), "{address} not in haproxy.cfg:\n{cfg}");
    }
}

#[test]
fn without_root_the_run_refuses_and_says_what_to_do() {
    if nix::unistd::geteuid().is_root() {
        // As root, drop to nobody for this one run, if the machine can.
        let Ok(output) = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_loadtest"))
            .args(["cluster", "--hosts", "1", "--faults", "none"])
            .output()
        else {
            panic!("setpriv (util-linux) is needed to run this test as root");
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("Permission denied") && !stderr.contains("loadtest") {
            panic!("nobody cannot run {}: {stderr}", env!("CARGO_BIN_EXE_loadtest"));
        }
        check_refusal(&output.status, &stderr);
    } else {
        let output = loadtest()
            .args(["cluster", "--hosts", "1", "--faults", "none"])
            .output()
            .unwrap();
        check_refusal(&output.status, &String::from_utf8_lossy(&output.stderr));
    }
}

/// The root check refuses, whether or not haproxy is installed: it comes first.
fn check_refusal(status: &std::process::ExitStatus, stderr: &str) {
    assert!(!status.success());
    assert!(
        stderr.contains("emulating hosts needs root") && stderr.contains("--host-url"),
        "{stderr}"
    );
}
