//! Running oha once: its exact command line, its output, and how long and how much CPU it took.
//!
//! oha exits 0 even when every request failed, so the caller judges a run by its JSON
//! ([`crate::oha::OhaReport`]); this module only guarantees that a run ends. Two things could stop
//! it ending: a request that never answers (hence `-t` on every run) and a pipe nobody reads (oha
//! blocks writing stderr while the harness waits on stdout). So stderr is drained on its own thread,
//! as ripgrep's `CommandReader` does (`crates/cli/src/process.rs`), while this thread polls stdout
//! every [`POLL_INTERVAL`] and checks the wall-clock limit and the cancel flag between polls.
//! oha gets its own process group, so a terminal's Ctrl-C reaches the harness only and the harness
//! decides: it sets the cancel flag and SIGKILLs the group, anything oha started included.
//!
//! oha's CPU time is measured too: a load generator near 100% of its CPU caps the throughput it
//! can observe, which the report must flag ("client-bound", see `docs/methodology.md`).

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, killpg};
use nix::sys::time::TimeVal;
use nix::unistd::Pid;

/// How often the wall-clock limit and the cancel flag are checked while oha runs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long to wait for oha's stderr to close after oha has exited or been killed. Only a process
/// oha started and that left its group could hold it open longer; the run is not held up for it.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// How much load one oha run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// A fixed number of requests (`-n N`).
    Requests(u64),
    /// Requests for a fixed time (`-z`); requests in flight at the end are aborted and counted as
    /// [`crate::oha::model::DEADLINE_ABORT_MESSAGE`].
    Duration(Duration),
}

/// What one oha run does: a load of `concurrency` connections against `url`, closed-loop, or
/// open-loop at `rate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OhaArgs {
    /// Target URL, e.g. `http://127.0.0.1:8001/threading`.
    pub url: String,
    /// Number of requests or duration.
    pub load: Load,
    /// Connections kept busy at once (`-c`).
    pub concurrency: u32,
    /// Per-request limit (`-t`); without one oha waits forever on a request that never answers.
    pub request_timeout: Duration,
    /// Open loop: requests per second, sent on schedule whatever the answers (`-q`), with each
    /// latency counted from when its request was due (`--latency-correction`), so time spent
    /// queued behind a slow server is counted rather than omitted.
    pub rate: Option<u32>,
}

impl OhaArgs {
    /// oha's arguments (program name excluded), e.g. `["--no-tui", "--output-format", "json",
    /// "--stats-success-breakdown", "-n", "200", "-c", "20", "-t", "30s", url]`.
    ///
    /// `--stats-success-breakdown` makes oha print latency over 2xx answers alone, which is what
    /// the harness reports; `--no-tui` because stdout is a pipe anyway and the TUI must never start.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["--no-tui", "--output-format", "json", "--stats-success-breakdown"]
            .map(String::from)
            .to_vec();
        match self.load {
            Load::Requests(count) => args.extend(["-n".to_owned(), count.to_string()]),
            Load::Duration(duration) => args.extend(["-z".to_owned(), humantime_arg(duration)]),
        }
        args.extend(["-c".to_owned(), self.concurrency.to_string()]);
        if let Some(rate) = self.rate {
            args.extend(["-q".to_owned(), rate.to_string(), "--latency-correction".to_owned()]);
        }
        args.extend(["-t".to_owned(), humantime_arg(self.request_timeout), self.url.clone()]);
        args
    }
}

/// A duration as oha's `-z`/`-t` parser (the humantime crate) reads it. humantime takes no
/// fractions ("1.5s"), so a duration that is not whole seconds is written in a smaller unit.
fn humantime_arg(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}ns", duration.as_nanos())
    }
}

/// One finished oha run, before its output is interpreted.
#[derive(Debug, Clone)]
pub struct OhaRun {
    /// Program and arguments exactly as run, for the results file and error messages.
    pub command: Vec<String>,
    /// oha's exit status; `None` if a signal (not the harness) ended it.
    pub exit_code: Option<i32>,
    /// Everything oha wrote to stdout: its JSON report, saved verbatim as the trial's raw file.
    pub stdout: Vec<u8>,
    /// Everything oha wrote to stderr (lossily decoded).
    pub stderr: String,
    /// From start to reaping oha.
    pub wall: Duration,
    /// oha's user + system CPU time; `None` if the kernel would not say.
    pub cpu: Option<Duration>,
}

/// Why an oha run produced no result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// oha could not be started.
    #[error("could not start oha at {path}: {source}. Check the path, or pass --oha PATH")]
    Spawn {
        /// The program that was tried.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// oha ran past the wall-clock limit and was killed.
    #[error(
        "oha was still running after {limit_secs:.1} s and was killed: `{command}`. Its -n/-z load \
         and -t should end well before that; is the server answering? oha's stderr: {stderr}"
    )]
    TimedOut {
        /// The command line, joined with spaces.
        command: String,
        /// The limit it exceeded.
        limit_secs: f64,
        /// What oha wrote to stderr before it was killed.
        stderr: String,
    },
    /// The cancel flag was raised (Ctrl-C) and oha was killed.
    #[error("oha was stopped on request (cancelled) after {elapsed_secs:.1} s: `{command}`")]
    Cancelled {
        /// The command line, joined with spaces.
        command: String,
        /// How long it had run.
        elapsed_secs: f64,
    },
    /// Reading oha's output or waiting for it failed.
    #[error("I/O error while {doing} oha (`{command}`): {source}")]
    Io {
        /// What the harness was doing: "reading stdout of", "waiting for", ...
        doing: &'static str,
        /// The command line, joined with spaces.
        command: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// Runs oha to completion, capturing stdout and stderr concurrently (stderr on its own thread, as ripgrep's
/// CommandReader does, so neither pipe can fill and block).
/// Kills it (SIGKILL) and returns an error if it runs past `wall_limit`, or as soon as `cancel` becomes true
/// (checked every [`POLL_INTERVAL`]).
pub fn run(oha: &Path, args: &OhaArgs, wall_limit: Duration, cancel: &AtomicBool) -> Result<OhaRun, RunError> {
    run_via(&[], oha, args, wall_limit, cancel)
}

/// [`run`], with oha started through `launcher`, a command that runs the rest of its arguments
/// in another context and becomes it (`ip netns exec NS`: oha in a network namespace). The
/// launcher must exec oha rather than fork it, so that oha's CPU time is still the harness's
/// child's.
pub fn run_via(
    launcher: &[String],
    oha: &Path,
    args: &OhaArgs,
    wall_limit: Duration,
    cancel: &AtomicBool,
) -> Result<OhaRun, RunError> {
    let mut command_line = launcher.to_vec();
    command_line.push(oha.to_string_lossy().into_owned());
    command_line.extend(args.to_args());
    let shown = command_line.join(" ");

    // RUSAGE_CHILDREN sums every child this process has reaped, so the delta is oha's alone only
    // if the harness reaps no other child while oha runs (a server it started that exits and is
    // reaped mid-run would be counted here too).
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut child = Command::new(&command_line[0])
        .args(&command_line[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| RunError::Spawn {
            path: oha.display().to_string(),
            source,
        })?;

    let stderr_rx = drain_stderr(&mut child);
    let stdout = child.stdout.take().expect("stdout was piped at spawn");
    let deadline = started + wall_limit;
    let outcome = watch(&mut child, stdout, deadline, cancel);
    let wall = started.elapsed();
    let stderr = stderr_rx
        .recv_timeout(STDERR_GRACE)
        .unwrap_or_else(|_| "<stderr still open after oha ended; a process it started holds it>".to_owned());

    match outcome {
        Watched::Exited { status, stdout } => Ok(OhaRun {
            command: command_line,
            exit_code: status.code(),
            stdout,
            stderr,
            wall,
            cpu: cpu_before
                .zip(children_cpu())
                .map(|(before, after)| after.saturating_sub(before)),
        }),
        Watched::TimedOut => Err(RunError::TimedOut {
            command: shown,
            limit_secs: wall_limit.as_secs_f64(),
            stderr: stderr.trim().to_owned(),
        }),
        Watched::Cancelled => Err(RunError::Cancelled {
            command: shown,
            elapsed_secs: wall.as_secs_f64(),
        }),
        Watched::Failed { doing, source } => Err(RunError::Io {
            doing,
            command: shown,
            source,
        }),
    }
}

/// How watching the child ended. Every variant means the child has been reaped.
enum Watched {
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
    },
    TimedOut,
    Cancelled,
    Failed {
        doing: &'static str,
        source: std::io::Error,
    },
}

/// Reads stdout and reaps the child, killing it on the deadline, on cancel, or on an I/O error.
fn watch(child: &mut Child, mut stdout: ChildStdout, deadline: Instant, cancel: &AtomicBool) -> Watched {
    let mut collected = Vec::new();
    let mut stdout_open = true;
    loop {
        if cancel.load(Ordering::Relaxed) {
            kill_and_reap(child);
            return Watched::Cancelled;
        }
        if Instant::now() >= deadline {
            kill_and_reap(child);
            return Watched::TimedOut;
        }
        if stdout_open {
            match read_available(&mut stdout, &mut collected) {
                Ok(open) => stdout_open = open,
                Err(source) => {
                    kill_and_reap(child);
                    return Watched::Failed {
                        doing: "reading stdout of",
                        source,
                    };
                }
            }
        } else {
            std::thread::sleep(POLL_INTERVAL);
        }
        // Reap only after stdout is closed, so no output written just before exit is lost.
        if !stdout_open {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Watched::Exited {
                        status,
                        stdout: collected,
                    };
                }
                Ok(None) => {}
                Err(source) => {
                    kill_and_reap(child);
                    return Watched::Failed {
                        doing: "waiting for",
                        source,
                    };
                }
            }
        }
    }
}

/// Waits up to [`POLL_INTERVAL`] for stdout to be readable and appends what is there. Returns
/// whether stdout is still open.
fn read_available(stdout: &mut ChildStdout, collected: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
    let poll_ms = u16::try_from(POLL_INTERVAL.as_millis()).expect("poll interval fits in u16 ms");
    match poll(&mut fds, poll_ms) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(true),
        Ok(_) => {}
        Err(errno) => return Err(errno.into()),
    }
    // poll said readable (data, EOF or error), so this read does not block.
    let mut buf = [0u8; 64 * 1024];
    match stdout.read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            collected.extend_from_slice(&buf[..n]);
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Ok(true),
        Err(error) => Err(error),
    }
}

/// Reads the child's stderr to EOF on its own thread and sends it back once.
fn drain_stderr(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let mut stderr = child.stderr.take().expect("stderr was piped at spawn");
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error mid-way still leaves what was read; stderr is for people, not parsing.
        let _ = stderr.read_to_end(&mut bytes);
        // The receiver may have given up after STDERR_GRACE; nothing is left to tell then.
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// SIGKILLs oha's whole process group (it leads its own, see `process_group(0)`), then reaps oha.
fn kill_and_reap(child: &mut Child) {
    let Ok(raw_pid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // ESRCH (already gone) is fine: the wait below reaps it either way. A failed wait leaves
    // nothing to do: the child is SIGKILLed and the run is already being reported as failed.
    let _ = killpg(Pid::from_raw(raw_pid), Signal::SIGKILL);
    let _ = child.wait();
}

/// User + system CPU of all reaped children of this process so far.
fn children_cpu() -> Option<Duration> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    Some(timeval_duration(usage.user_time())? + timeval_duration(usage.system_time())?)
}

fn timeval_duration(time: TimeVal) -> Option<Duration> {
    let secs = u64::try_from(time.tv_sec()).ok()?;
    let micros = u64::try_from(time.tv_usec()).ok()?;
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oha::test_support::write_script;

    fn args(load: Load) -> OhaArgs {
        OhaArgs {
            url: "http://127.0.0.1:8001/threading".to_owned(),
            load,
            concurrency: 20,
            request_timeout: Duration::from_secs(30),
            rate: None,
        }
    }

    #[test]
    fn an_open_loop_sets_the_rate_and_corrects_the_latency() {
        let open = OhaArgs {
            rate: Some(700),
            ..args(Load::Duration(Duration::from_secs(5)))
        };
        let open = open.to_args();
        assert_eq!(open[6..11], ["-c", "20", "-q", "700", "--latency-correction"]);
        assert_eq!(open[11..13], ["-t", "30s"]);
    }

    #[test]
    fn request_count_load_builds_the_design_card_command() {
        assert_eq!(
            args(Load::Requests(200)).to_args(),
            [
                "--no-tui",
                "--output-format",
                "json",
                "--stats-success-breakdown",
                "-n",
                "200",
                "-c",
                "20",
                "-t",
                "30s",
                "http://127.0.0.1:8001/threading"
            ]
        );
    }

    #[test]
    fn duration_load_uses_z_in_a_unit_humantime_reads() {
        let whole = args(Load::Duration(Duration::from_secs(10))).to_args();
        assert_eq!(whole[4..6], ["-z", "10s"]);
        let fractional = OhaArgs {
            request_timeout: Duration::from_millis(1500),
            ..args(Load::Duration(Duration::from_millis(2500)))
        };
        let fractional = fractional.to_args();
        assert_eq!(fractional[4..6], ["-z", "2500ms"]);
        assert_eq!(fractional[8..10], ["-t", "1500ms"]);
        assert_eq!(humantime_arg(Duration::from_nanos(1_000_001)), "1000001ns");
    }

    #[test]
    fn finished_run_captures_stdout_stderr_exit_code_and_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = write_script(
            dir.path(),
            "oha",
            r#"echo '{"summary":{}}'; echo "args: $*" >&2; exit 0"#,
        );
        let run = run(
            &fake,
            &args(Load::Requests(200)),
            Duration::from_secs(10),
            &AtomicBool::new(false),
        )
        .expect("fake oha runs");
        assert_eq!(run.exit_code, Some(0));
        assert_eq!(run.stdout, b"{\"summary\":{}}\n");
        assert!(
            run.stderr.contains("args: --no-tui --output-format json"),
            "{}",
            run.stderr
        );
        assert_eq!(run.command[0], fake.to_string_lossy());
        assert_eq!(run.command[1..], args(Load::Requests(200)).to_args());
        assert!(run.cpu.is_some());
    }

    #[test]
    fn large_output_on_both_pipes_does_not_deadlock() {
        let dir = tempfile::tempdir().expect("temp dir");
        // 1 MiB on each pipe, far beyond the 64 KiB a pipe buffers, stderr first.
        let script = "head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero; exit 7";
        let fake = write_script(dir.path(), "oha", script);
        let run = run(
            &fake,
            &args(Load::Requests(1)),
            Duration::from_secs(20),
            &AtomicBool::new(false),
        )
        .expect("both pipes drained");
        assert_eq!(run.stdout.len(), 1 << 20);
        assert_eq!(run.stderr.len(), 1 << 20);
        assert_eq!(run.exit_code, Some(7));
    }

    #[test]
    fn run_past_the_wall_limit_is_killed_quickly_with_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Not `exec`: the sleep is a grandchild holding both pipes, killed with the process group.
        let fake = write_script(dir.path(), "oha", "echo started >&2; sleep 30");
        let started = Instant::now();
        let error = run(
            &fake,
            &args(Load::Requests(1)),
            Duration::from_millis(300),
            &AtomicBool::new(false),
        )
        .expect_err("must time out");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        let RunError::TimedOut { stderr, .. } = &error else {
            panic!("expected TimedOut, got {error}")
        };
        assert_eq!(stderr, "started");
        assert!(error.to_string().contains("killed"), "{error}");
    }

    #[test]
    fn raised_cancel_flag_kills_the_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = write_script(dir.path(), "oha", "sleep 30");
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        let error = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                cancel.store(true, Ordering::Relaxed);
            });
            run(&fake, &args(Load::Requests(1)), Duration::from_secs(60), &cancel).expect_err("cancelled")
        });
        assert!(matches!(error, RunError::Cancelled { .. }), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
    }

    /// A keep-alive HTTP/1.1 server that answers every GET with 200; enough for oha.
    fn serve_ok_forever() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let url = format!("http://{}/", listener.local_addr().expect("bound address"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer_ok(stream));
            }
        });
        url
    }

    fn answer_ok(mut stream: std::net::TcpStream) {
        use std::io::Write;
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            pending.extend_from_slice(&buf[..n]);
            // GETs carry no body, so each blank line ends one request.
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                pending.drain(..end + 4);
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if stream.write_all(reply).is_err() {
                    return;
                }
            }
        }
    }

    /// Needs oha 1.15+ ($OHA, on PATH, or the one a harness run installed in target/tools);
    /// `.ci/run` installs it and runs the ignored tests.
    #[test]
    #[ignore = "needs oha ($OHA, PATH or target/tools); run by .ci/run with --run-ignored"]
    fn real_oha_output_parses_into_a_report() {
        let tools = crate::oha::provision::default_tools_root();
        let oha = crate::oha::provision::find_existing(&tools)
            .unwrap_or_else(|| panic!("no oha 1.15+ in $OHA, on PATH or in {}", tools.display()));
        let args = OhaArgs {
            url: serve_ok_forever(),
            load: Load::Requests(40),
            concurrency: 4,
            ..args(Load::Requests(0))
        };
        let run = run(&oha.path, &args, Duration::from_secs(30), &AtomicBool::new(false)).expect("oha runs");
        assert_eq!(run.exit_code, Some(0), "stderr: {}", run.stderr);
        let report = crate::oha::OhaReport::parse(&run.stdout).expect("oha's stdout is its JSON report");
        assert_eq!(report.responses_2xx(), 40);
        assert_eq!(report.transport_errors() + report.responses_non_2xx(), 0);
        assert!(
            report.latency_percentiles_successful.is_some(),
            "--stats-success-breakdown took effect"
        );
        assert!(report.latency_ms("p99").is_some());
    }

    #[test]
    fn missing_program_is_a_spawn_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("no-oha");
        let error = run(
            &missing,
            &args(Load::Requests(1)),
            Duration::from_secs(5),
            &AtomicBool::new(false),
        )
        .expect_err("no such program");
        assert!(matches!(error, RunError::Spawn { .. }), "{error}");
        assert!(error.to_string().contains("no-oha"), "{error}");
    }
}
