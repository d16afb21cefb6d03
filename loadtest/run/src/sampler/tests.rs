//! The sampler against real process trees: shells that burn CPU, reap children, and hold memory.

use super::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// Spins until its parent is gone, so a burner can never outlive the test that started it,
/// even if the guard's kill were missed. `kill -0` is a dash builtin: no forks while burning.
const BURNER: &str = "while kill -0 $PPID 2>/dev/null; do :; done";

/// A shell script run as the root of a test tree, in its own process group, killed with its
/// whole group when dropped (killing the root alone would orphan its children).
struct Tree {
    child: Child,
}

impl Tree {
    /// Runs `sh -c script`, with `$1` set to [`BURNER`] and stdout piped.
    fn spawn(script: &str) -> Tree {
        let child = Command::new("sh")
            .args(["-c", script, "tree", BURNER])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh should be runnable");
        Tree { child }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }

    /// Blocks until the script prints a line (scripts used with this finish on their own).
    fn read_line(&mut self) -> String {
        let stdout = self.child.stdout.as_mut().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("script stdout should be readable");
        line
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // The group id is the root's pid (process_group(0)).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the tree until `done` holds, failing the test after 3 s. A read that fails is tried
/// again until then: a root that is exec'ing (`exec sleep 30`) shows an empty `smaps_rollup`
/// for a moment (CI saw `Incomplete` once), and it is alive all along.
fn snapshot_when(root: i32, done: impl Fn(&TreeSnapshot) -> bool) -> TreeSnapshot {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let snap = snapshot(root);
        if let Ok(snap) = &snap
            && done(snap)
        {
            return *snap;
        }
        assert!(Instant::now() < deadline, "tree {root} never got there: last {snap:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn snapshot_of_a_parent_counts_its_live_burning_child() {
    let tree = Tree::spawn(r#"sh -c "$1" & wait"#);
    let before = snapshot_when(tree.pid(), |s| s.processes == 2);
    let started = Instant::now();
    thread::sleep(Duration::from_millis(600));
    let after = snapshot(tree.pid()).expect("tree is alive");
    let burn_secs = started.elapsed().as_secs_f64();

    assert_eq!(after.processes, 2);
    let used = after.cpu_secs - before.cpu_secs;
    // The parent shell only waits; nearly all of this is the child's. Loose: the box is shared.
    assert!(
        used > 0.3 * burn_secs,
        "tree used {used:.3} s of CPU over {burn_secs:.3} s of burning"
    );
}

#[test]
fn snapshot_keeps_the_cpu_of_children_the_root_has_reaped() {
    // The burner runs under `timeout`, which the shell waits for, which waits for the burner:
    // its CPU reaches the root's cstime/cutime through two reapings.
    let mut tree = Tree::spawn(r#"timeout 0.5 sh -c "while :; do :; done"; echo reaped; exec sleep 30"#);
    let started = Instant::now();
    assert_eq!(tree.read_line().trim(), "reaped");
    let burn_secs = started.elapsed().as_secs_f64().min(0.5);

    let after = snapshot_when(tree.pid(), |s| s.processes == 1);
    assert!(
        after.cpu_secs > 0.3 * burn_secs,
        "reaped child's CPU missing: tree shows {:.3} s after {burn_secs:.3} s of burning",
        after.cpu_secs
    );
}

/// Each process of the tree at and below `root`, read from /proc by hand.
fn pids_of_tree(root: i32) -> Vec<i32> {
    let mut tree = vec![root];
    tree.extend(matrix_service::testing::descendants_of(root));
    tree
}

/// `pid`'s PSS from the `Pss:` line of its smaps_rollup, in bytes, read by hand.
fn pss_of(pid: i32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let kib: u64 = (rollup.lines())
        .find_map(|line| {
            line.strip_prefix("Pss:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no Pss in {rollup}"));
    kib * 1024
}

#[test]
fn a_trees_pss_is_the_sum_of_its_processes_and_holds_what_a_child_wrote() {
    // The root shell; a child shell holding a 32 MiB string it wrote; that child's sleep.
    const HELD: u64 = 32 << 20;
    let mut tree = Tree::spawn(&format!(
        r#"sh -c 'x=$(head -c {HELD} /dev/zero | tr "\0" a); echo held; sleep 30 & wait' & wait"#
    ));
    assert_eq!(tree.read_line().trim(), "held");
    // Until `sleep` has replaced the copy of the child shell it was forked as, the two share
    // the string's pages, and their PSS moves as it execs.
    let execed = || {
        let pids = pids_of_tree(tree.pid());
        pids.len() == 3
            && (pids.iter())
                .any(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep"))
    };
    let waited = Instant::now();
    while !execed() {
        assert!(waited.elapsed() < Duration::from_secs(10), "sleep never started");
        thread::sleep(Duration::from_millis(10));
    }
    let pids = pids_of_tree(tree.pid());
    assert_eq!(pids.len(), 3, "{pids:?}");
    let read_by_hand = || -> Vec<u64> { pids.iter().map(|&pid| pss_of(pid)).collect() };
    // Every process sleeps, so the figures hold still, but for libraries' shared pages, whose
    // share moves as other processes on the machine map and unmap them (by 315 KiB once in CI,
    // with tests starting servers beside it). So the tree is read by hand just before and just
    // after the snapshot, and the snapshot must lie between the two sums, with 64 KiB of slack.
    let before = read_by_hand();
    let snap = snapshot(tree.pid()).expect("the test tree's root is alive");
    let by_hand = read_by_hand();
    let sums = [before.iter().sum::<u64>(), by_hand.iter().sum::<u64>()];
    let (low, high) = (sums[0].min(sums[1]), sums[0].max(sums[1]));
    assert!(
        (low.saturating_sub(64 << 10)..=high + (64 << 10)).contains(&snap.pss_bytes),
        "tree {} bytes, its processes {before:?} then {by_hand:?}",
        snap.pss_bytes
    );
    assert!(
        by_hand.iter().any(|&pss| pss >= HELD),
        "the child holding {HELD} bytes: {by_hand:?}"
    );
    assert!(snap.pss_bytes >= HELD + by_hand.iter().min().unwrap(), "{snap:?}");
}

#[test]
fn snapshot_counts_every_descendant_and_sums_their_pss() {
    // Root shell, a child shell, its sleeping child (a grandchild), and a sleeping child.
    let tree = Tree::spawn(r#"sh -c "sleep 30 & wait" & sleep 30 & wait"#);
    let snap = snapshot_when(tree.pid(), |s| s.processes >= 4);

    assert_eq!(snap.processes, 4);
    assert!(snap.pss_bytes > 0, "{snap:?}");
}

#[test]
fn snapshot_of_a_missing_root_is_an_error_naming_the_pid() {
    // Above PID_MAX_LIMIT (2^22), so no process can have it.
    let pid = 999_999_999;
    let err = snapshot(pid).expect_err("no such process");

    assert!(
        matches!(err, SamplerError::RootNotFound { pid: p } if p == pid),
        "{err:?}"
    );
    assert!(err.to_string().contains("999999999"), "{err}");
    assert!(matches!(
        Sampler::start(pid, Duration::from_millis(100)),
        Err(SamplerError::RootNotFound { .. })
    ));
}

#[test]
fn sampler_over_a_burning_tree_reports_the_window_and_finishes_promptly() {
    let tree = Tree::spawn(r#"sh -c "$1" & sleep 30 & wait"#);
    snapshot_when(tree.pid(), |s| s.processes == 3);
    let interval = Duration::from_millis(100);

    let sampler = Sampler::start(tree.pid(), interval).expect("tree is alive");
    thread::sleep(Duration::from_millis(600));
    let finish_called = Instant::now();
    let window = sampler.finish().expect("tree is still alive");
    let finish_took = finish_called.elapsed();

    assert!(
        finish_took < interval + Duration::from_millis(100),
        "finish took {finish_took:?}"
    );
    assert!(window.cpu_secs > 0.0, "{window:?}");
    assert!(window.samples >= 2, "{window:?}");
    assert!(window.pss_peak_bytes >= window.pss_before_bytes, "{window:?}");
    assert!(window.pss_peak_bytes >= window.pss_after_bytes, "{window:?}");
    assert!(window.pss_before_bytes > 0, "{window:?}");
    assert_eq!(window.peak_processes, 3);
    assert!(window.wall_secs >= 0.6, "{window:?}");
}

#[test]
fn a_process_exists_until_it_is_reaped() {
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep should be runnable");
    let pid = i32::try_from(child.id()).expect("pids fit in i32");
    assert!(process_exists(pid));
    child.kill().expect("sleep can be killed");
    child.wait().expect("sleep should be waitable");
    // Pids are handed out in increasing order, so this one is not reused this soon.
    assert!(!process_exists(pid), "reaped");
    assert!(!process_exists(999_999_999) && !process_exists(0) && !process_exists(-1));
}

#[test]
fn sampler_whose_root_exits_mid_window_fails_at_finish() {
    let mut root = Command::new("sleep")
        .arg("0.2")
        .spawn()
        .expect("sleep should be runnable");
    let pid = i32::try_from(root.id()).expect("pids fit in i32");
    let sampler = Sampler::start(pid, Duration::from_millis(50)).expect("root is alive");
    root.wait().expect("sleep should be waitable");

    let err = sampler.finish().expect_err("root is gone");
    assert!(
        matches!(err, SamplerError::RootNotFound { pid: p } if p == pid),
        "{err:?}"
    );
}

#[test]
fn window_clamps_a_tree_cpu_that_went_down_to_zero() {
    let start = TreeSnapshot {
        cpu_secs: 5.0,
        pss_bytes: 100,
        processes: 3,
        threads: 9,
    };
    let end = TreeSnapshot {
        cpu_secs: 4.5,
        pss_bytes: 80,
        processes: 1,
        threads: 4,
    };
    let extremes = Extremes {
        pss_peak_bytes: 90,
        peak_processes: 2,
        peak_threads: 12,
        samples: 4,
    };

    let w = window(&start, &end, extremes, 1.0);

    assert_eq!(w.cpu_secs, 0.0);
    assert_eq!(
        (w.pss_before_bytes, w.pss_peak_bytes, w.pss_after_bytes),
        (100, 100, 80)
    );
    assert_eq!((w.peak_processes, w.peak_threads, w.samples), (3, 12, 4));
}
