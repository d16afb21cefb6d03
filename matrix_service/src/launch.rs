//! Running a server binary as a child process: start it, learn its address from its
//! `listening on http://HOST:PORT` line, and stop it. Used by the load-test harness and by the
//! servers' own integration tests, so both find and stop servers the same way.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The line a server prints on stdout once it accepts connections.
pub const LISTENING_PREFIX: &str = "listening on ";

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} exited before it was listening ({status}); its stderr says why")]
    ExitedEarly { program: String, status: ExitStatus },
    #[error("{program} did not print `{LISTENING_PREFIX}http://...` within {waited:?}")]
    Silent { program: String, waited: Duration },
}

/// A running server this process started. Dropping it stops the server (SIGTERM, then SIGKILL
/// if it has not exited within [`DROP_GRACE`]).
#[derive(Debug)]
pub struct LaunchedServer {
    child: Child,
    url: String,
    command: Vec<String>,
    stdout: Arc<Mutex<Stdout>>,
}

/// Everything the server has printed on stdout so far.
#[derive(Debug, Default)]
struct Stdout {
    lines: Vec<String>,
    /// Set once every writer has closed it (the server and any child it left behind).
    closed: bool,
}

/// How long dropping a [`LaunchedServer`] waits after SIGTERM before SIGKILL.
pub const DROP_GRACE: Duration = Duration::from_secs(3);

impl LaunchedServer {
    /// Runs `command` (which should ask for `--port 0` or a known port), with stdout captured,
    /// and waits up to `timeout` for its `listening on` line. stdout keeps being read in the
    /// background, so the server can never block on a full pipe.
    pub fn start(mut command: Command, timeout: Duration) -> Result<Self, LaunchError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let described: Vec<String> = std::iter::once(program.clone())
            .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
            .collect();
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                program: program.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("stdout was just piped");
        let (lines, listening) = mpsc::channel();
        let printed = Arc::new(Mutex::new(Stdout::default()));
        let record = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line.clone());
                record.lock().unwrap_or_else(PoisonError::into_inner).lines.push(line);
            }
            record.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        });
        let deadline = Instant::now() + timeout;
        let mut server = Self {
            child,
            url: String::new(),
            command: described,
            stdout: printed,
        };
        loop {
            if let Ok(line) = listening.recv_timeout(Duration::from_millis(20))
                && let Some(url) = line.strip_prefix(LISTENING_PREFIX)
            {
                server.url = url.trim().to_owned();
                return Ok(server);
            }
            if let Some(status) = server.exit_status() {
                return Err(LaunchError::ExitedEarly { program, status });
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::Silent {
                    program,
                    waited: timeout,
                });
            }
        }
    }

    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The program and arguments it was started with.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// The lines it has printed on stdout so far (a last line without a newline included once
    /// stdout is closed), and whether stdout is closed: the server and every process that
    /// inherited its stdout have exited.
    pub fn stdout(&self) -> (Vec<String>, bool) {
        let printed = self.stdout.lock().unwrap_or_else(PoisonError::into_inner);
        (printed.lines.clone(), printed.closed)
    }

    /// How it exited, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        kill(Pid::from_raw(self.pid()), signal)
    }

    /// Sends SIGTERM and waits up to `grace` for the server to exit; then SIGKILL. Returns how it
    /// exited.
    pub fn stop(mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        self.stop_in_place(grace)
    }

    fn stop_in_place(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let _ = self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for LaunchedServer {
    fn drop(&mut self) {
        let _ = self.stop_in_place(DROP_GRACE);
    }
}
