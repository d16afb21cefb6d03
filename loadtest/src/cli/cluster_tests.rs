//! `loadtest cluster`'s flags, parsed as the command line parses them.

use std::path::PathBuf;

use loadtest_cluster::args::{ClusterArgs, ClusterPlan, HostSource};
use loadtest_model::catalogue::Catalogue;
use loadtest_model::cluster::fault::{ALL_FAULTS, Fault};

fn parse(args: &[&str]) -> Result<ClusterArgs, String> {
    let cli = crate::cli::try_parse_from(&Catalogue::lab(), ["loadtest", "cluster"].iter().chain(args))
        .map_err(|e| e.to_string())?;
    match cli.command {
        Some(crate::cli::Command::Cluster(args)) => Ok(args),
        other => panic!("not the cluster command: {other:?}"),
    }
}

fn plan(args: &[&str]) -> Result<ClusterPlan, String> {
    parse(args)?.plan(&Catalogue::lab(), "t").map_err(|e| format!("{e:#}"))
}

#[test]
fn the_default_run_is_every_server_and_fault_on_1_2_and_4_emulated_hosts() {
    let plan = plan(&[]).unwrap();
    assert_eq!(plan.hosts, [1, 2, 4]);
    assert_eq!(plan.faults, ALL_FAULTS);
    assert_eq!(plan.servers.len(), 5);
    assert_eq!(plan.source, HostSource::Emulated { host_cpus: 0.25 });
    assert_eq!(plan.fault_hosts(), 4);
    assert_eq!(plan.out, PathBuf::from("results/cluster-t"));
    assert_eq!(plan.concurrency, 20);
    // Short enough that the default run (five servers, 45 fault trials) takes under 15 minutes.
    assert_eq!((plan.duration, plan.fault_duration, plan.trials), (3.0, 15.0, 3));
}

#[test]
fn open_loop_fault_trials_are_asked_by_rate_or_by_share() {
    use loadtest_cluster::args::OpenRate;
    assert_eq!(plan(&[]).unwrap().open_rate, None);
    assert_eq!(plan(&["--rate", "400"]).unwrap().open_rate, Some(OpenRate::Fixed(400)));
    assert_eq!(
        plan(&["--rate-fraction", "0.8"]).unwrap().open_rate,
        Some(OpenRate::Fraction(0.8))
    );
}

#[test]
fn lists_are_sorted_and_deduplicated_and_none_means_no_faults() {
    let plan = plan(&["--hosts", "4,2,2", "--faults", "slow,crash,slow"]).unwrap();
    assert_eq!((plan.hosts, plan.faults), (vec![2, 4], vec![Fault::Slow, Fault::Crash]));
    assert!(
        self::plan(&["--faults", "none", "--hosts", "1"])
            .unwrap()
            .faults
            .is_empty()
    );
}

#[test]
fn bad_flags_are_refused_with_what_is_allowed() {
    for (args, expected) in [
        (
            &["--faults", "flood"][..],
            "the faults are crash, hang, partition, slow, or none",
        ),
        (&["--faults", "none,crash"], "none cannot be listed with faults"),
        (&["--hosts", "1"], "faults need at least 2 hosts"),
        (&["--hosts", "0"], "0 is not in 1..=64"),
        (&["--hosts", "65"], "65 is not in 1..=64"),
        (&["--host-cpus", "0"], "from 0.01 to"),
        (
            &["--servers", "nginx"],
            "[possible values: threading, thread-pool, multiprocessing, prefork, async]",
        ),
        (&["--host-url", "10.0.0.5:8001"], "must start with http://"),
        (
            &["--host-url", "http://h.example:8001"],
            "must name an IP address and port",
        ),
        (&["--host-url", "http://10.0.0.5:8001/threading"], "no path"),
        (&["--host-url", "http://10.0.0.5:8001"], "--servers names the one kind"),
        (
            &[
                "--host-url",
                "http://10.0.0.5:8001",
                "--servers",
                "prefork",
                "--faults",
                "crash",
            ],
            "--host-url injects no faults",
        ),
        (
            &["--host-url", "http://10.0.0.5:8001", "--servers", "prefork"],
            "--hosts goes up to 4, but 1 --host-url is given",
        ),
        (&["--cleanup", "--hosts", "2"], "cannot be used with"),
        (&["--rate", "400", "--rate-fraction", "0.8"], "cannot be used with"),
        (&["--rate", "0"], "0 is not in 1..=20000"),
        (&["--rate-fraction", "3"], "from 0.05 to 2, such as 0.8"),
        (
            &["--rate", "400", "--faults", "none"],
            "--rate and --rate-fraction set the open-loop fault trials' load, and this run has no fault trials",
        ),
    ] {
        let err = plan(args).unwrap_err();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn host_urls_are_the_hosts_and_inject_no_fault() {
    let plan = plan(&[
        "--servers",
        "thread-pool",
        "--hosts",
        "1,2",
        "--host-url",
        "http://10.0.0.5:8001/",
        "--host-url",
        "http://10.0.0.6:8001",
    ])
    .unwrap();
    assert_eq!(
        plan.source,
        HostSource::Urls(vec!["10.0.0.5:8001".parse().unwrap(), "10.0.0.6:8001".parse().unwrap()])
    );
    assert!(plan.faults.is_empty());
    assert_eq!(plan.servers[0].name, "thread-pool");
}
