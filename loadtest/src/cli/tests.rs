//! The flags, checked together into a plan.
use super::*;
use loadtest_model::catalogue::Catalogue;
use loadtest_run::plan::TrialLoad;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    try_parse_from(
        &Catalogue::lab(),
        std::iter::once("loadtest").chain(args.iter().copied()),
    )
}

fn plan(args: &[&str]) -> anyhow::Result<Plan> {
    parse(args)?.plan(&Catalogue::lab(), "2026-01-01T00-00-00Z")
}

#[test]
fn the_cli_definition_is_consistent() {
    command(&Catalogue::lab()).debug_assert();
}

#[test]
fn no_arguments_is_the_measured_run() {
    let plan = plan(&[]).unwrap();
    assert_eq!(plan.mode, Mode::Measured);
    assert_eq!(
        (plan.trials, plan.trial_load),
        (5, TrialLoad::Duration(Duration::from_secs(5)))
    );
    assert_eq!(
        plan.base,
        ScenarioKey {
            work: matrix_service::WorkKind::Add,
            wait_ms: None,
            concurrency: 20,
            n: 500,
            workers: 4,
            offered_rps: None,
        },
        "the lab's defaults, each written once (ScenarioKey::DEFAULT)"
    );
    assert_eq!(plan.warmup, Some(Duration::from_secs(2)));
    assert_eq!(plan.out_dir, PathBuf::from("results/2026-01-01T00-00-00Z"));
    assert!(plan.sweep.is_none());
}

#[test]
fn quick_is_the_design_cards_load_once() {
    let plan = plan(&["--quick"]).unwrap();
    assert_eq!(
        (plan.mode, plan.trials, plan.trial_load),
        (Mode::Quick, 1, TrialLoad::Requests(200))
    );
    assert_eq!((plan.base.concurrency, plan.warmup), (20, None));
}

#[test]
fn a_list_sweeps_that_variable() {
    let plan = plan(&["--workers", "1,2,4,4,8"]).unwrap();
    assert_eq!(
        plan.sweep,
        Some(Sweep {
            kind: SweepKind::Workers,
            values: vec![1, 2, 4, 8]
        })
    );
    let scenarios = plan.scenarios();
    assert_eq!(scenarios.len(), 4);
    assert_eq!(
        scenarios[3],
        ScenarioKey {
            work: matrix_service::WorkKind::Add,
            wait_ms: None,
            concurrency: 20,
            n: 500,
            workers: 8,
            offered_rps: None,
        }
    );
}

#[test]
fn work_kinds_are_swept_together_with_the_workers() {
    let swept = plan(&["--work", "add,io,matmul,io", "--workers", "1,2", "--wait-ms", "40"]).unwrap();
    let got: Vec<(WorkKind, u32, Option<u32>)> = swept
        .scenarios()
        .iter()
        .map(|s| (s.work, s.workers, s.wait_ms))
        .collect();
    assert_eq!(
        got,
        [
            (WorkKind::Add, 1, None),
            (WorkKind::Add, 2, None),
            (WorkKind::Io, 1, Some(40)),
            (WorkKind::Io, 2, Some(40)),
            (WorkKind::Matmul, 1, None),
            (WorkKind::Matmul, 2, None),
        ]
    );
    assert!(!swept.lab_grid);
    let at_default = |key: ScenarioKey| swept.extra_targets_join(ScenarioKey { workers: 4, ..key });
    assert!(at_default(swept.scenarios()[0]));
    assert!(!at_default(swept.scenarios()[2]), "a --target is sent add's URL only");
    assert!(plan(&["--work", "sleep"]).is_err());
}

#[test]
fn the_lab_is_every_kind_at_every_worker_count_with_io_at_its_own_size() {
    let lab = plan(&["--lab"]).unwrap();
    let scenarios = lab.scenarios();
    assert_eq!(scenarios.len(), 3 * 7 + 2);
    assert_eq!(
        scenarios[3 * 7..],
        [ScenarioKey::MANY_WAITS, ScenarioKey::LONG_WAITS],
        "the many waits after the grid"
    );
    // Many waits on every lab server; long waits on the one held to their threads target.
    for server in ["threading", "thread-pool", "multiprocessing", "prefork", "async"] {
        assert!(lab.lab_server_runs(ScenarioKey::MANY_WAITS, server), "{server}");
        assert!(lab.lab_server_runs(ScenarioKey::DEFAULT, server), "{server}");
        assert_eq!(lab.lab_server_runs(ScenarioKey::LONG_WAITS, server), server == "async");
    }
    let scenarios = &scenarios[..3 * 7];
    assert!(lab.lab_grid && lab.trials == 3 && lab.warmup == Some(Duration::from_secs(1)));
    assert_eq!(
        lab.trial_load,
        loadtest_run::plan::TrialLoad::Duration(Duration::from_secs(2))
    );
    let io: Vec<_> = scenarios.iter().filter(|s| s.work == WorkKind::Io).collect();
    assert_eq!(io.len(), 7);
    assert!(
        io.iter()
            .all(|s| (s.n, s.concurrency, s.wait_ms) == (100, 64, Some(100)))
    );
    let matmul = scenarios.iter().filter(|s| s.work == WorkKind::Matmul);
    let workers: Vec<u32> = matmul.clone().map(|s| s.workers).collect();
    assert_eq!(workers, [1, 2, 4, 8, 16, 32, 64]);
    assert!(matmul.clone().all(|s| (s.n, s.concurrency) == (500, 20)));
    assert_eq!(lab.lab.len(), 5, "every lab server");
    for clash in [
        &["--lab", "--workers", "2"][..],
        &["--lab", "--trials", "5"],
        &["--lab", "--quick"],
    ] {
        assert!(plan(clash).is_err(), "{clash:?}");
    }
}

#[test]
fn contradictions_are_refused_with_the_flags_named() {
    let err = plan(&["--workers", "1,2", "--sizes", "100,200"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--workers, --sizes"), "{err}");
    assert!(plan(&["--quick", "--concurrency", "1,2"]).is_err());
    let err = plan(&["--target", "threading=http://x/threading"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("is taken"), "{err}");
    assert!(plan(&["--target", "nameonly"]).is_err());
    assert!(plan(&["--target", "a=ftp://x"]).is_err());
    assert!(plan(&["--concurrency", "0"]).is_err());
    assert!(plan(&["--duration", "0"]).is_err());
}

fn lab_names(plan: &Plan) -> Vec<&str> {
    plan.lab.iter().map(|l| l.server.name.as_str()).collect()
}

#[test]
fn every_lab_server_takes_part_by_default_and_the_harness_starts_them() {
    let plan = plan(&[]).unwrap();
    assert_eq!(
        lab_names(&plan),
        ["threading", "thread-pool", "multiprocessing", "prefork", "async"]
    );
    assert!(plan.lab.iter().all(|l| l.url.is_none()));
    let pool = &plan.lab[1].server;
    assert_eq!(
        (pool.binary.as_str(), pool.path.as_str(), pool.args.join(" ")),
        ("app_threading", "/threading", "--strategy pool".to_owned())
    );
    let prefork = &plan.lab[3].server;
    assert_eq!(
        (prefork.binary.as_str(), prefork.path.as_str(), prefork.args.join(" ")),
        (
            "app_multiprocessing",
            "/multiprocessing",
            "--strategy prefork".to_owned()
        )
    );
}

#[test]
fn servers_chooses_some_in_the_tables_order() {
    let plan = plan(&["--servers", "prefork,threading,threading"]).unwrap();
    assert_eq!(lab_names(&plan), ["threading", "prefork"]);
    let err = plan_err(&["--servers", "threading,forking"]);
    assert!(err.contains("invalid value 'forking' for '--servers"), "{err}");
    assert!(
        err.contains("[possible values: threading, thread-pool, multiprocessing, prefork, async]"),
        "{err}"
    );
    // --help lists every lab server with what it is.
    let command = command(&Catalogue::lab());
    let servers = command.get_arguments().find(|a| a.get_id() == "servers").unwrap();
    let help = servers.get_help().unwrap().to_string();
    for server in Catalogue::lab().iter() {
        assert!(
            help.contains(&format!("{} ({})", server.name, server.description)),
            "{help}"
        );
    }
}

#[test]
fn a_url_makes_that_server_one_already_running() {
    for args in [
        &["--url", "prefork=http://127.0.0.1:9/"][..],
        &["--prefork-url", "http://127.0.0.1:9/"],
    ] {
        let plan = plan(args).unwrap();
        let urls: Vec<Option<&str>> = plan.lab.iter().map(|l| l.url.as_deref()).collect();
        assert_eq!(urls, [None, None, None, Some("http://127.0.0.1:9/"), None], "{args:?}");
    }
    let plan = plan(&["--url", "threading=http://h:1", "--thread-pool-url", "http://h:2"]).unwrap();
    let urls: Vec<Option<&str>> = plan.lab.iter().map(|l| l.url.as_deref()).collect();
    assert_eq!(urls, [Some("http://h:1"), Some("http://h:2"), None, None, None]);
    for (args, expected) in [
        (
            &["--servers", "threading", "--prefork-url", "http://127.0.0.1:9"][..],
            "--url prefork= is given, but prefork is not in --servers",
        ),
        (
            &["--url", "nginx=http://h:1"],
            "\"nginx\" is not a lab server; the lab servers are threading",
        ),
        (
            &["--url", "prefork=http://h:1", "--prefork-url", "http://h:2"],
            "--url prefork= is given twice",
        ),
    ] {
        let err = plan_err(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let err = parse(&["--url", "prefork"]).unwrap_err().to_string();
    assert!(err.contains("must be NAME=URL"), "{err}");
}

#[test]
fn target_names_cannot_clash_with_any_lab_server() {
    for name in ["threading", "multiprocessing", "prefork"] {
        let err = plan_err(&["--target", &format!("{name}=http://x/y")]);
        assert!(err.contains("is taken"), "{err}");
    }
    let err = plan_err(&["--target", "py=http://x/a", "--target", "py=http://x/b"]);
    assert!(err.contains("is taken"), "{err}");
}

#[test]
fn a_pid_is_given_to_the_server_it_names() {
    let me = std::process::id().to_string();
    let plan = plan(&[
        "--target",
        "python=http://127.0.0.1:9001/threading",
        "--threading-url",
        "http://127.0.0.1:8001",
        "--pid",
        &format!("python={me}"),
        "--pid",
        &format!("threading={me}"),
    ])
    .unwrap();
    let me: i32 = me.parse().unwrap();
    assert_eq!(plan.extra_targets[0].pid, Some(me));
    let pids: Vec<Option<i32>> = plan.lab.iter().map(|l| l.pid).collect();
    assert_eq!(pids, [Some(me), None, None, None, None]);
}

#[test]
fn a_pid_must_be_a_positive_number_after_a_name() {
    for bad in ["python", "python=", "python=abc", "python=0", "python=-4", "=42"] {
        let err = parse(&["--pid", bad]).unwrap_err().to_string();
        assert!(err.contains("NAME=PID"), "{bad}: {err}");
    }
}

#[test]
fn a_pid_for_no_such_server_a_started_one_a_dead_one_or_twice_is_refused() {
    let me = format!("{}", std::process::id());
    let target = ["--target", "python=http://127.0.0.1:9001/threading"];
    let with = |extra: &[&str]| plan_err(&[&target[..], extra].concat());

    let err = with(&["--pid", &format!("ruby={me}")]);
    assert!(
        err.contains("no server given by URL is called \"ruby\"; --pid names one of: python"),
        "{err}"
    );
    let err = with(&["--pid", &format!("prefork={me}")]);
    assert!(err.contains("the harness starts the prefork server itself"), "{err}");
    assert!(err.contains("--url prefork=URL"), "{err}");
    // Above PID_MAX_LIMIT (2^22): no process can have it.
    let err = with(&["--pid", "python=999999999"]);
    assert!(err.contains("no process 999999999 is running"), "{err}");
    let err = with(&["--pid", &format!("python={me}"), "--pid", &format!("python={me}")]);
    assert!(err.contains("given twice"), "{err}");
}

fn plan_err(args: &[&str]) -> String {
    plan(args).unwrap_err().to_string()
}

#[test]
fn a_rate_makes_every_scenario_open_loop_and_a_fraction_adds_the_open_loop_after() {
    let open = plan(&["--rate", "500", "--workers", "1,4"]).unwrap();
    assert_eq!(open.open_loop, Some(loadtest_run::open_loop::OpenLoop::Rate(500)));
    let rates: Vec<Option<u32>> = open.scenarios().iter().map(|s| s.offered_rps).collect();
    assert_eq!(rates, [Some(500), Some(500)]);

    let fraction = plan(&["--rate-fraction", "0.7"]).unwrap();
    assert_eq!(
        fraction.open_loop,
        Some(loadtest_run::open_loop::OpenLoop::Fraction(0.7))
    );
    assert_eq!(
        fraction.scenarios()[0].offered_rps,
        None,
        "the closed loop is measured first"
    );

    assert!(
        plan_err(&["--rate", "0"]).contains("0"),
        "{}",
        plan_err(&["--rate", "0"])
    );
    assert!(plan_err(&["--rate-fraction", "9"]).contains("more than 0 and at most 4"));
    assert!(plan_err(&["--rate", "5", "--rate-fraction", "0.5"]).contains("cannot be used with"));
    assert!(plan_err(&["--lab", "--rate", "5"]).contains("cannot be used with"));
}

#[test]
fn each_binary_is_built_once_and_only_for_servers_the_harness_starts() {
    assert_eq!(
        loadtest_run::servers::binaries_to_build(&plan(&[]).unwrap()),
        ["app_multiprocessing", "app_threading"]
    );
    assert_eq!(
        loadtest_run::servers::binaries_to_build(&plan(&["--multiprocessing-url", "http://h:1"]).unwrap()),
        ["app_multiprocessing", "app_threading"],
        "prefork still needs app_multiprocessing"
    );
    assert_eq!(
        loadtest_run::servers::binaries_to_build(
            &plan(&["--servers", "threading,prefork", "--prefork-url", "http://h:1"]).unwrap()
        ),
        ["app_threading"]
    );
    assert!(
        loadtest_run::servers::binaries_to_build(
            &plan(&["--servers", "prefork", "--url", "prefork=http://h:1"]).unwrap()
        )
        .is_empty()
    );
}

#[test]
fn the_python_lab_s_api_apps_take_their_own_sweep_with_two_trials() {
    use loadtest_run::plan::{Api, PYTHON_TRIALS, PYTHON_WORKERS};
    let swept = plan(&["--python", "--work", "add,io", "--workers", "1,2"]).unwrap();
    assert!(swept.python_sweep);
    let own = swept.lab_query_scenarios();
    let got: Vec<(WorkKind, u32)> = own.iter().map(|s| (s.work, s.workers)).collect();
    let want: Vec<(WorkKind, u32)> = [WorkKind::Add, WorkKind::Io]
        .into_iter()
        .flat_map(|work| PYTHON_WORKERS.map(|workers| (work, workers)))
        .collect();
    assert_eq!(got, want);
    // Every scenario runs once: the Rust servers' 1 and 2 workers, then the Python apps' 4 and 8.
    let all = swept.all_scenarios();
    assert_eq!(all.len(), 8, "{all:?}");
    assert!(own.iter().all(|s| all.contains(s)));
    let at_eight = own.iter().find(|s| s.workers == 8).copied().unwrap();
    assert!(swept.joins(Api::LabQuery, "py-threads", at_eight));
    assert!(
        !swept.joins(Api::Lab, "threading", at_eight),
        "the Rust servers keep their sweep"
    );
    assert!(!swept.joins(Api::AsGiven, "python-threads", at_eight));
    assert_eq!(
        (swept.trials_for(Api::LabQuery), swept.trials_for(Api::Lab)),
        (PYTHON_TRIALS, 5)
    );
    // Under --lab, the many waits too.
    let lab = plan(&["--lab", "--python"]).unwrap();
    assert!(lab.lab_query_scenarios().contains(&ScenarioKey::MANY_WAITS));
    assert!(!lab.lab_query_scenarios().contains(&ScenarioKey::LONG_WAITS));
    // Without a sweep flag, they join what a --target joins, with the run's trials.
    let plain = plan(&["--python"]).unwrap();
    assert!(!plain.python_sweep);
    assert_eq!(plain.lab_query_scenarios(), [ScenarioKey::DEFAULT]);
    assert_eq!(plain.trials_for(Api::LabQuery), 5);
}
