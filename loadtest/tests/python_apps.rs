//! The Python lab's apps of the lab's API (`py-threads`, `py-processes`, `py-async`) against a
//! Rust lab server, request by request; and what is left after an app that crashes. Needs
//! Python 3 with venv and PyPI (or a mirror) for the pinned packages; CI has them and runs these
//! with --run-ignored.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use loadtest_run::http::Client;
use loadtest_run::python_lab::app_server::{AppServer, Launcher};
use loadtest_run::python_lab::venv::Venv;
use matrix_service::launch::LaunchedServer;
use serde_json::Value;

/// The app folder and the harness's own environment, made if it is not there yet.
fn python_lab() -> (PathBuf, Venv) {
    let root = loadtest_run::servers::workspace_root().expect("run from the workspace");
    let app_dir = root.join("python_lab");
    let venv = Venv::ensure(
        &loadtest_run::python_lab::venv_dir(&root),
        &app_dir.join("requirements.txt"),
        &|message| eprintln!("{message}"),
    )
    .expect("the Python lab's environment");
    (app_dir, venv)
}

/// A Rust threads server, built in the tests' profile.
fn rust_server() -> LaunchedServer {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "-p", "app_threading"])
        .status()
        .unwrap();
    assert!(built.success());
    let binary = Path::new(env!("CARGO_BIN_EXE_loadtest")).with_file_name("app_threading");
    let mut command = Command::new(binary);
    command.args(["--port", "0"]).stderr(Stdio::null());
    LaunchedServer::start(command, Duration::from_secs(30)).unwrap()
}

fn get(client: &Client, url: &str) -> (u16, Value) {
    client.get_json(url).unwrap_or_else(|e| panic!("{url}: {e:#}"))
}

#[test]
#[ignore = "needs python3 with venv and PyPI; run by .ci/run with --run-ignored"]
fn each_python_model_answers_the_rust_servers_sum_for_a_seed_and_their_errors() {
    let (app_dir, venv) = python_lab();
    let logs = tempfile::tempdir().unwrap();
    let rust = rust_server();
    let rust_url = format!("{}/threading", rust.url().trim_end_matches('/'));
    let client = Client::new(Duration::from_secs(60));
    let apps = [
        (
            "py_threads",
            Launcher::Gunicorn(&["-w", "1", "--threads", "4"]),
            "/threading",
        ),
        ("py_processes", Launcher::Gunicorn(&["-w", "1"]), "/multiprocessing"),
        ("py_async", Launcher::Uvicorn, "/async"),
    ];
    for (app, launcher, path) in apps {
        let log = logs.path().join(format!("{app}.log"));
        let server = AppServer::start(&venv, &app_dir, launcher, &[], app, &log).unwrap();
        let url = format!("{}{path}", server.base_url);
        for seed in [1_u64, 7, 20_261_122] {
            for (query, method_too) in [
                ("n=500&workers=4&work=add", true),
                ("n=60&workers=3&work=matmul", true),
                ("n=40&workers=2&work=io&wait_ms=4", true),
                ("n=7&workers=64&work=add", true),
            ] {
                let query = format!("{query}&seed={seed}");
                let (status, python) = get(&client, &format!("{url}?{query}"));
                assert_eq!(status, 200, "{app} {query}: {python}");
                let (_, rust) = get(&client, &format!("{rust_url}?{query}"));
                for key in ["checksum", "sample", "n", "workers", "work", "seed", "wait_ms"] {
                    assert_eq!(
                        python[key], rust[key],
                        "{app} {query}: {key} in {python} against {rust}"
                    );
                }
                assert!(method_too && python["method"].is_string(), "{python}");
                assert_eq!(python["impl"], "numpy", "{python}");
            }
            // The pure-Python control computes the same sum with Python loops.
            for work in ["add", "matmul"] {
                let query = format!("n=24&workers=2&work={work}&seed={seed}");
                let (_, numpy) = get(&client, &format!("{url}?{query}"));
                let (status, loops) = get(&client, &format!("{url}?{query}&impl=python"));
                assert_eq!(status, 200, "{app} {query}&impl=python: {loops}");
                assert_eq!(
                    (loops["checksum"].clone(), loops["impl"].clone()),
                    (numpy["checksum"].clone(), "python".into())
                );
            }
        }
        // Bad input: a 400 in the Rust servers' own words, and the app still serves.
        for query in ["n=0", "n=2001", "workers=65", "work=sort", "wait_ms=10001", "seed=-1"] {
            let (status, python) = get(&client, &format!("{url}?{query}"));
            let (_, rust) = get(&client, &format!("{rust_url}?{query}"));
            assert_eq!(status, 400, "{app} {query}: {python}");
            assert_eq!(python, rust, "{app} {query}");
        }
        for (query, says) in [
            ("impl=rust", "impl must be one of numpy, python; got \"rust\""),
            ("impl=python&n=257", "n must be a whole number from 1 to 256"),
            ("size=3", "unknown query parameter \"size\""),
        ] {
            let (status, python) = get(&client, &format!("{url}?{query}"));
            assert_eq!(status, 400, "{app} {query}: {python}");
            assert!(
                python["error"].as_str().is_some_and(|e| e.contains(says)),
                "{app} {query}: {python}"
            );
        }
        let (status, _) = get(&client, &format!("{url}?n=10"));
        assert_eq!(status, 200, "{app} serves on after bad requests");
        drop(server);
    }
    rust.stop(Duration::from_secs(5)).unwrap();
}

/// Live processes of process group `group`.
fn group_alive(group: i32) -> Vec<i32> {
    (procfs::process::all_processes().unwrap().flatten())
        .filter_map(|process| process.stat().ok())
        .filter(|stat| stat.pgrp == group && stat.state != 'Z')
        .map(|stat| stat.pid)
        .collect()
}

#[test]
#[ignore = "needs python3 with venv and PyPI; run by .ci/run with --run-ignored"]
fn an_app_that_crashes_at_start_is_an_error_and_leaves_nothing_running() {
    let (_, venv) = python_lab();
    let dir = tempfile::tempdir().unwrap();
    // An app whose import starts a child process, as a pool would, then fails: gunicorn's
    // worker cannot boot and its master gives up, while the child would sleep on.
    std::fs::write(
        dir.path().join("crashing.py"),
        "import os, subprocess\n\
         open('child.pid', 'w').write(str(subprocess.Popen(['sleep', '300']).pid))\n\
         raise RuntimeError('this app crashes at import')\n",
    )
    .unwrap();
    let log = dir.path().join("crashing.log");
    let error = AppServer::start(
        &venv,
        dir.path(),
        Launcher::Gunicorn(&["-w", "1"]),
        &[],
        "crashing",
        &log,
    )
    .err()
    .expect("an app that crashes at import does not start");
    let message = format!("{error:#}");
    assert!(
        message.contains(&log.display().to_string()),
        "the error points at the log: {message}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("this app crashes at import"), "{text}");
    let child: i32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .parse()
        .unwrap();
    let group = procfs::process::Process::new(child)
        .ok()
        .and_then(|p| p.stat().ok())
        .map(|s| s.pgrp);
    assert!(
        group.is_none_or(|group| group_alive(group).is_empty()),
        "the crashed app's child {child} is still running"
    );
}
