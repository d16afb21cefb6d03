//! Pitfall B13 (`docs/multiprocessing.md`): a child process the server starts for some other reason is still its own
//! to wait for while the pool supervises its workers. `Command::status()` gets the right exit
//! code through worker deaths and respawns, which proves the supervisor reaps by pid (never
//! `waitpid(-1)`) and leaves SIGCHLD alone (ignoring it would auto-reap every child).
//!
//! Not a libtest test: the pool must start while the process has one thread, as in the server,
//! and libtest runs tests on threads of its own. This `main` starts the pool first, then runs
//! the checks. It answers cargo-nextest's `--list` itself (one test, [`TEST`]); libtest-mimic
//! would do that too, but it also runs tests on worker threads.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use app_multiprocessing::prefork::worker::WORKER_FLAG;
use app_multiprocessing::{ChildFault, Cli, Pool, PoolConfig};
use app_multiprocessing::{PreforkPool, SlotWorkspace};
use clap::Parser;

use matrix_service::matrix::{generate_into, reference_add};
use matrix_service::testing::{children_of, eventually};
use matrix_service::trace::Trace;
use matrix_service::{Computed, Engine, Shapes, Task, Work, WorkError, Workspace};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid};

const TEST: &str = "commands_started_beside_the_pool_get_their_own_exit_status";
const N: usize = 100;
const WORKERS: usize = 2;

fn main() {
    // The pool re-executes this binary to replace a worker that died.
    if std::env::args().nth(1).as_deref() == Some(WORKER_FLAG) {
        let code = app_multiprocessing::run(Cli::parse()).expect("a pool worker runs");
        std::process::exit(code);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        if !args.iter().any(|arg| arg == "--ignored") {
            println!("{TEST}: test");
        }
        return;
    }
    let pool = Pool::start(PoolConfig {
        workers: WORKERS,
        slots: 1,
        slot_elements: 3 * N * N,
        resident_elements: 0,
        resident_slots: 1,
        fault: ChildFault::None,
    })
    .expect("the pool starts while this process has one thread");

    let stop = AtomicBool::new(false);
    let additions = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Jobs all the while, so the pool is busy and its workers' deaths are noticed.
        scope.spawn(|| {
            let engine = PreforkPool::new(pool.clone(), Duration::from_secs(30));
            let mut work = engine.workspace(Shapes::sum(N, N)).expect("one request at a time");
            while !stop.load(Ordering::Relaxed) {
                // A job on a worker killed below fails; the next one goes to its replacement.
                if add_seeded(&engine, &mut work, 1).is_ok() {
                    additions.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for round in 0..60 {
            let code = round % 7 + 1;
            let status = Command::new("sh")
                .args(["-c", &format!("sleep 0.0{}; exit {code}", round % 5)])
                .status()
                .unwrap_or_else(|e| panic!("round {round}: waiting for sh failed: {e}"));
            assert_eq!(status.code(), Some(code), "round {round}: {status}");
            if round % 10 == 5 {
                kill_a_worker();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let done = additions.load(Ordering::Relaxed);
    assert!(done > 0, "the pool added nothing while the commands ran");
    check_the_pool_still_adds(&pool);
    pool.shutdown(Duration::from_secs(5));
    println!("{TEST}: 60 commands exited with their own codes; 6 workers killed and replaced; {done} additions");
}

/// SIGKILLs one pool worker (a child of ours that is not `sh`) and waits for its replacement.
fn kill_a_worker() {
    let workers = || -> Vec<i32> {
        children_of(getpid().as_raw())
            .into_iter()
            .filter(|(pid, state)| *state != 'Z' && command_name(*pid).is_some_and(|name| name != "sh"))
            .map(|(pid, _)| pid)
            .collect()
    };
    let before = workers();
    let victim = *before.first().expect("the pool has workers");
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("the worker is our child");
    assert!(
        eventually(Duration::from_secs(10), || {
            let now = workers();
            !now.contains(&victim) && now.len() == WORKERS
        }),
        "worker {victim} was not replaced: {:?}",
        workers()
    );
}

fn command_name(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|name| name.trim().to_owned())
}

/// Generates the seed's matrices into `work` and adds them on the pool.
fn add_seeded(engine: &PreforkPool, work: &mut SlotWorkspace, seed: u64) -> Result<Computed, WorkError> {
    let shapes = work.shapes();
    let (a, b) = work.inputs_mut();
    generate_into(Some(seed), a, b);
    let task = Task::prepare(Work::Add, shapes, a, b);
    engine.compute_now(work, WORKERS, task, Trace::OFF)
}

fn check_the_pool_still_adds(pool: &Arc<Pool>) {
    let engine = PreforkPool::new(pool.clone(), Duration::from_secs(30));
    let mut work = engine.workspace(Shapes::sum(N, N)).expect("one request at a time");
    add_seeded(&engine, &mut work, 5).expect("the replaced workers add");
    let expected = {
        let (a, b) = matrix_service::matrix::generate_pair(N, Some(5));
        reference_add(&a, &b).expect("no overflow")
    };
    assert!(
        work.result() == expected.as_slice().expect("standard layout"),
        "the replaced workers' sum is wrong"
    );
}
