//! Hand-made records for the report and aggregation tests.

use crate::catalogue::Catalogue;
use crate::summary::{
    Design, Machine, Mode, Phase, Probe, RunSummary, ScenarioKey, ServerInfo, SweepKind, TrialRecord, WorkCost,
};

/// The lab's default scenario: 20 connections, n=500, 4 workers.
pub const KEY: ScenarioKey = ScenarioKey::DEFAULT;

/// A trial of 1000 answers at `rps` (or, if not `valid`, with 5 failures).
pub fn trial(server: &str, scenario: ScenarioKey, phase: Phase, index: u32, rps: f64, valid: bool) -> TrialRecord {
    TrialRecord {
        server: server.into(),
        scenario,
        phase,
        index,
        oha_command: vec!["oha".into(), "-z".into(), "5s".into()],
        raw_file: format!("raw/{server}_{phase}{index}.json"),
        oha_exit_code: Some(0),
        wall_secs: 5.0,
        load_secs: Some(1000.0 / rps),
        responses_2xx: 1000,
        responses_non_2xx: if valid { 0 } else { 5 },
        responses_503: 0,
        transport_errors: 0,
        deadline_aborts: 3,
        rps_2xx: Some(rps),
        latency_p50_ms: Some(20_000.0 / rps),
        latency_p90_ms: Some(24_000.0 / rps),
        latency_p99_ms: Some(30_000.0 / rps),
        latency_max_ms: Some(40_000.0 / rps),
        // Both CPUs at 80%: CPU per request times rate is 1.6 CPU-seconds a second.
        server_cpu_secs: Some(1000.0 * 1.6 / rps),
        cpu_ms_per_request: Some(1600.0 / rps),
        memory_before_bytes: Some(20 << 20),
        peak_memory_bytes: Some(if server == "threading" { 40 << 20 } else { 60 << 20 }),
        memory_after_bytes: Some(22 << 20),
        peak_threads: Some(if server == "threading" { 40 } else { 8 }),
        oha_cpu_secs: Some(0.5),
        oha_cpu_share: Some(0.05),
        client_bound: false,
        machine_cpu: None,
        valid,
        invalid_reasons: if valid {
            vec![]
        } else {
            vec!["5 answers were not 2xx".into()]
        },
        outlier: false,
        server_answers: None,
    }
}

/// A whole run: threads at about 800 req/s against processes at about 200 (one threads trial
/// invalid), with probes, aggregated by the real code.
pub fn summary() -> RunSummary {
    let key = KEY;
    let mut trials = vec![
        trial("threading", key, Phase::Warmup, 1, 500.0, true),
        trial("multiprocessing", key, Phase::Warmup, 1, 150.0, true),
    ];
    for (i, (t, p)) in [(800.0, 200.0), (820.0, 210.0), (780.0, 190.0), (10.0, 205.0)]
        .into_iter()
        .enumerate()
    {
        let index = i as u32 + 1;
        trials.push(trial("threading", key, Phase::Measured, index, t, index != 4));
        trials.push(trial("multiprocessing", key, Phase::Measured, index, p, true));
    }
    let servers = vec![managed("threading", 40001, 101), managed("multiprocessing", 40002, 102)];
    let probes = vec![probe("threading", 0.9), probe("multiprocessing", 2.4)];
    measured(begun(servers, probes, design(4, None)), trials)
}

/// The three lab servers and a `--target` sampled through `--pid`, four valid trials each:
/// threads at about 800 req/s, the pre-forked pool at about 400, a fork per request at about 200,
/// and the other server at about 100, with a tail (p99) 4.5 times its p50.
pub fn three_servers() -> RunSummary {
    with_trials(&[
        ("threading", &[800.0, 820.0, 780.0, 810.0]),
        ("multiprocessing", &[200.0, 210.0, 190.0, 205.0]),
        ("prefork", &[400.0, 390.0, 410.0, 405.0]),
        ("python", &[100.0, 104.0, 98.0, 101.0]),
    ])
}

/// [`three_servers`]' servers with these measured trials (req/s each) at [`KEY`].
pub fn with_trials(runs: &[(&str, &[f64])]) -> RunSummary {
    // Alternating the servers trial by trial, as a run does.
    let mut trials = Vec::new();
    let most = runs.iter().map(|(_, rps)| rps.len()).max().unwrap_or(0);
    for index in 0..most {
        for (server, rps) in runs {
            if let Some(rps) = rps.get(index) {
                trials.push(trial(server, KEY, Phase::Measured, index as u32 + 1, *rps, true));
            }
        }
    }
    // The other server's tail is long: p99 is 4.5 times p50.
    for t in trials.iter_mut().filter(|t| t.server == "python") {
        t.latency_p99_ms = t.latency_p50_ms.map(|p50| p50 * 4.5);
    }
    let mut prefork = managed("prefork", 40003, 103);
    prefork.url = "http://127.0.0.1:40003/multiprocessing".into();
    let mut python = managed("python", 9001, 4242);
    (python.url, python.managed, python.command) = ("http://127.0.0.1:9001/threading".into(), false, vec![]);
    let servers = vec![
        managed("threading", 40001, 101),
        managed("multiprocessing", 40002, 102),
        prefork,
        python,
    ];
    let probes = vec![
        probe("threading", 0.9),
        probe("multiprocessing", 2.4),
        probe("prefork", 1.1),
    ];
    measured(begun(servers, probes, design(4, None)), trials)
}

/// An `--sizes 100,500,1000,2000` sweep, two trials per server and size, with CPU per request
/// set to a cost model: threads `0.3 + 8e-6 n²` ms (fixed costs, then like n²), processes with a
/// jump above n=1000 (130 ms at n=2000, where like n² would give about 80).
pub fn size_sweep() -> RunSummary {
    let cpu_ms: [(u32, f64, f64); 4] = [
        (100, 0.38, 3.1),
        (500, 2.3, 8.0),
        (1000, 8.3, 20.0),
        (2000, 32.3, 130.0),
    ];
    let mut trials = Vec::new();
    for (n, threads, processes) in cpu_ms {
        let key = ScenarioKey { n, ..KEY };
        for index in 1..=2 {
            for (server, cpu) in [("threading", threads), ("multiprocessing", processes)] {
                // trial() spends 1.6 CPU-seconds a second: this rate gives `cpu` ms per request.
                trials.push(trial(server, key, Phase::Measured, index, 1600.0 / cpu, true));
            }
        }
    }
    let servers = vec![managed("threading", 40001, 101), managed("multiprocessing", 40002, 102)];
    measured(begun(servers, Vec::new(), design(2, Some(SweepKind::N))), trials)
}

/// A server the harness started.
fn managed(name: &str, port: u16, pid: i32) -> ServerInfo {
    ServerInfo {
        name: name.into(),
        url: format!("http://127.0.0.1:{port}/{name}"),
        managed: true,
        pid: Some(pid),
        command: vec![format!("app_{name}"), "--port".into(), "0".into()],
        pool_size: None,
    }
}

/// A lab server's own timings at the default scenario.
fn probe(name: &str, execution_ms: f64) -> Probe {
    Probe {
        server: name.into(),
        scenario: KEY,
        requests: 15,
        generation_ms: Some(2.3),
        execution_ms: Some(execution_ms),
        total_ms: Some(2.3 + execution_ms + 0.2),
        checksum: Some(24_733_016),
    }
}

/// `-z 5s` at 20 connections, n=500 and 4 workers unless swept, after a warm-up.
fn design(measured_trials: u32, sweep: Option<SweepKind>) -> Design {
    Design {
        work: matrix_service::WorkKind::Add,
        wait_ms: None,
        works: Vec::new(),
        lab: false,
        mode: Mode::Measured,
        load: "-z 5s".into(),
        warmup_trials: 1,
        measured_trials,
        sweep,
        concurrency: 20,
        n: 500,
        workers: 4,
        rate: None,
        rate_fraction: None,
        server_cpuset: None,
        client_cpuset: None,
    }
}

/// `trials` aggregated into `begun`, by the real code (the conclusions are the report's).
fn measured(mut begun: RunSummary, trials: Vec<TrialRecord>) -> RunSummary {
    begun.trials = trials;
    crate::aggregate::recompute(&mut begun);
    begun
}

/// What a run on the lab's 2-CPU machine knows before its trials; the work costs 1.25 ms at
/// n=500.
fn begun(servers: Vec<ServerInfo>, probes: Vec<Probe>, design: Design) -> RunSummary {
    RunSummary {
        tool: "loadtest 0.1.0".into(),
        started_utc: "2026-11-22T03:00:00Z".into(),
        wall_secs: 62.5,
        setup_secs: 4.0,
        machine: Machine {
            kernel: "6.18.44".into(),
            cpu_model: "AMD EPYC".into(),
            cpus: 2,
            memory_bytes: 24 << 30,
            rustc: Some("rustc 1.95.0".into()),
            git_commit: Some("abc1234".into()),
            build_profile: "release".into(),
        },
        oha_version: "oha 1.16.0".into(),
        servers,
        design,
        probes,
        work_costs: vec![WorkCost {
            work: matrix_service::WorkKind::Add,
            n: 500,
            cpu_ms: 1.25,
            iterations: 50,
            generate_ms: Some(0.95),
            kernel_ms: Some(0.3),
        }],
        cpu_speed: Some(steady_cpus()),
        thread_start_cpu_us: Some(26.0),
        floors: Default::default(),
        python_processes_seed: None,
        noise: None,
        worker_probes: Vec::new(),
        claims: Vec::new(),
        results: Vec::new(),
        comparisons: Vec::new(),
        trials: Vec::new(),
        warnings: Vec::new(),
        verdict: Vec::new(),
        conclusions: Vec::new(),
        targets: Vec::new(),
        traces: Vec::new(),
        ledger: Vec::new(),
        trace_cost: Vec::new(),
        complete: true,
    }
}

/// Two CPUs that ran the speed check's product at nearly one speed, before and after.
pub fn steady_cpus() -> crate::cpu_speed::CpuSpeed {
    let times = |cpu, median_ms| crate::cpu_speed::CpuTimes {
        cpu,
        min_ms: median_ms - 0.1,
        median_ms,
        max_ms: median_ms + 0.3,
        runs: 12,
    };
    crate::cpu_speed::CpuSpeed {
        reference: crate::cpu_speed::reference(),
        checks: ["before the trials", "after the trials"]
            .into_iter()
            .map(|when| crate::cpu_speed::SpeedCheck {
                when: when.into(),
                cpus: vec![times(0, 2.1), times(1, 2.2)],
            })
            .collect(),
    }
}

/// The fixed run, with an open-loop trial per server at 300 req/s; multiprocessing keeps up
/// with only 200.
pub fn with_open_loop() -> RunSummary {
    let base = summary();
    let open = ScenarioKey {
        offered_rps: Some(300),
        ..KEY
    };
    let mut trials = base.trials.clone();
    for (server, rps) in [("threading", 300.0), ("multiprocessing", 200.0)] {
        for index in 1..=3 {
            let mut t = trial(server, open, Phase::Measured, index, rps, true);
            t.latency_p50_ms = Some(if server == "threading" { 2.0 } else { 40.0 });
            t.latency_p99_ms = Some(if server == "threading" { 6.0 } else { 900.0 });
            trials.push(t);
        }
    }
    let begun = RunSummary {
        design: Design {
            rate_fraction: Some(0.7),
            ..base.design.clone()
        },
        ..base
    };
    measured(begun, trials)
}

/// The lab's server that starts threads per request, by its facts.
pub fn threads_per_request() -> String {
    lab_server_where(|s| s.family == crate::catalogue::Family::Threads && s.per_request())
}

/// The lab's server that forks for each band, by its facts.
pub fn fork_per_band() -> String {
    lab_server_where(|s| s.forks_per_band)
}

fn lab_server_where(hit: impl Fn(&crate::catalogue::LabServer) -> bool) -> String {
    let lab = Catalogue::lab();
    lab.iter()
        .find(|s| hit(s))
        .expect("the lab has such a server")
        .name
        .clone()
}

/// Trace events as a lab server writes them (`GET /debug/trace`), for the tests that read
/// traces back: the trace model's, the ledger's and the timeline's.
pub mod trace_events {
    use matrix_service::trace::Phase;
    use serde_json::{Value, json};

    /// A complete event of `phase` (its name) for `request`, from `ts` for `dur` µs, on thread
    /// `tid` of process `pid`.
    pub fn complete(phase: &str, (ts, dur): (u64, u64), (pid, tid): (u64, u64), request: u64) -> Value {
        let cat = Phase::from_name(phase).expect("a phase's name").category();
        json!({"ph": "X", "name": phase, "cat": cat, "ts": ts, "dur": dur, "pid": pid, "tid": tid, "args": {"request": request}})
    }

    /// `event` with the CPU it took, `args.cpu_us`.
    pub fn with_cpu(mut event: Value, cpu_us: u64) -> Value {
        event["args"]["cpu_us"] = json!(cpu_us);
        event
    }

    /// The metadata event naming thread `tid` of process `pid`.
    pub fn thread_name(pid: u64, tid: u64, name: &str) -> Value {
        json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
    }

    /// The metadata event naming process `pid`.
    pub fn process_name(pid: u64, name: &str) -> Value {
        json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
    }

    /// A whole trace of `events`, over a window of `window_ms`, nothing dropped.
    pub fn whole(events: Vec<Value>, window_ms: u64) -> Value {
        json!({"traceEvents": events, "otherData": {"dropped": 0, "window_ms": window_ms}})
    }
}
