//! The servers under test: starting the lab servers (built first, in the harness's own profile),
//! or using ones already running, and knowing how to address each.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use matrix_service::launch::LaunchedServer;

use crate::http::Client;
use crate::plan::{Api, LabTarget, Plan};
use loadtest_model::catalogue::LabServer;
use loadtest_model::summary::{ScenarioKey, ServerInfo};

/// How long a server may take to print its address and answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// One server under test.
pub struct Target {
    pub name: String,
    /// The endpoint URL without a query, such as `http://127.0.0.1:40123/threading`.
    pub endpoint: String,
    /// What it understands of the lab's protocol.
    pub api: Api,
    /// The process, if this harness started it.
    pub managed: Option<LaunchedServer>,
    /// The root of the process tree of a server the harness did not start, to sample (`--pid`).
    pub given_pid: Option<i32>,
}

impl Target {
    /// The URL the load for `scenario` goes to.
    pub fn url_for(&self, scenario: ScenarioKey) -> String {
        if self.api.takes_query() {
            format!("{}{}", self.endpoint, scenario.lab_query())
        } else {
            self.endpoint.clone()
        }
    }

    /// The root of the process tree to sample, if any: the harness's own child, or `--pid`'s.
    pub fn pid(&self) -> Option<i32> {
        self.managed.as_ref().map(LaunchedServer::pid).or(self.given_pid)
    }

    pub fn info(&self) -> ServerInfo {
        ServerInfo {
            name: self.name.clone(),
            url: self.endpoint.clone(),
            managed: self.managed.is_some(),
            pid: self.pid(),
            command: self.managed.as_ref().map(|s| s.command().to_vec()).unwrap_or_default(),
            pool_size: None,
        }
    }

    /// Fails if a managed server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.managed.as_mut().and_then(LaunchedServer::exit_status) {
            bail!("the {} server exited during the run ({status}); see its log", self.name);
        }
        Ok(())
    }
}

/// The workspace this harness was built from, if it is still there (to build the servers).
pub fn workspace_root() -> Option<PathBuf> {
    // This crate is `loadtest/run` in the workspace.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.parent()?.to_path_buf();
    root.join("Cargo.toml").exists().then_some(root)
}

/// The directory the harness binary lives in: the servers are built beside it. A test that runs
/// the harness through the library runs from the profile's `deps/`, one level down.
pub fn binary_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the loadtest binary's own path")?;
    let dir = exe.parent().context("the loadtest binary has no parent directory")?;
    Ok(match dir.parent() {
        Some(profile) if dir.ends_with("deps") => profile.to_path_buf(),
        _ => dir.to_path_buf(),
    })
}

/// Builds `binaries` in the harness's profile (a no-op when they are up to date, so the servers
/// measured are always the current source), then returns their directory.
pub fn build_servers(binaries: &[&str], say: &dyn Fn(&str)) -> anyhow::Result<PathBuf> {
    let dir = binary_dir()?;
    let Some(root) = workspace_root() else {
        // Installed without the source: use the binaries beside the harness if present.
        return Ok(dir);
    };
    let profile = if cfg!(debug_assertions) { "dev" } else { "release" };
    say(&format!("building the servers (cargo build --profile {profile}) ..."));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--profile", profile])
        .args(binaries.iter().flat_map(|binary| ["-p", binary]))
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} build", cargo.to_string_lossy()))?;
    if !status.success() {
        bail!("building the servers failed ({status}); the compiler's messages are above");
    }
    Ok(dir)
}

/// Starts or addresses every server of `plan`; server logs go to `logs_dir`.
pub fn prepare(plan: &Plan, logs_dir: &Path, client: &Client, say: &dyn Fn(&str)) -> anyhow::Result<Vec<Target>> {
    let binaries = binaries_to_build(plan);
    let bin_dir = if binaries.is_empty() {
        None
    } else {
        Some(build_servers(&binaries, say)?)
    };
    let mut targets = Vec::new();
    let pin = crate::pinning::launcher(plan.server_cpus.as_ref());
    for lab in &plan.lab {
        targets.push(lab_target(lab, bin_dir.as_deref(), logs_dir, &pin)?);
    }
    for extra in &plan.extra_targets {
        targets.push(Target {
            name: extra.name.clone(),
            endpoint: extra.url.clone(),
            api: extra.api,
            managed: None,
            given_pid: extra.pid,
        });
    }
    for target in &mut targets {
        check_sampleable(target)?;
        wait_healthy(target, client)?;
    }
    Ok(targets)
}

/// Samples a `--pid` tree once, so that a process the harness may not read (another user's:
/// `smaps_rollup` needs ptrace access) fails now, before any load, with the flag named.
fn check_sampleable(target: &Target) -> anyhow::Result<()> {
    if let Some(pid) = target.given_pid {
        crate::sampler::snapshot(pid)
            .with_context(|| format!("--pid {}={pid}: its process tree cannot be sampled", target.name))?;
    }
    Ok(())
}

/// The binaries of the lab servers the harness starts, each once.
pub fn binaries_to_build(plan: &Plan) -> Vec<&str> {
    binaries_of(plan.lab.iter().filter(|lab| lab.url.is_none()).map(|lab| &lab.server))
}

/// The binaries that serve `servers`, each once, sorted.
pub fn binaries_of<'a>(servers: impl IntoIterator<Item = &'a LabServer>) -> Vec<&'a str> {
    let mut binaries: Vec<&str> = servers.into_iter().map(|s| s.binary.as_str()).collect();
    binaries.sort_unstable();
    binaries.dedup();
    binaries
}

/// A lab server of the plan: addressed at its URL if given, else started from `bin_dir`.
/// `pin` is the command a started server runs through (`taskset --cpu-list LIST`), or empty.
fn lab_target(lab: &LabTarget, bin_dir: Option<&Path>, logs_dir: &Path, pin: &[String]) -> anyhow::Result<Target> {
    let server = &lab.server;
    match (&lab.url, bin_dir) {
        (Some(url), _) => Ok(Target {
            name: server.name.clone(),
            endpoint: lab_endpoint(url, &server.path)?,
            api: Api::Lab,
            managed: None,
            given_pid: lab.pid,
        }),
        (None, Some(dir)) => start_lab_server(server, dir, logs_dir, pin),
        (None, None) => unreachable!("servers are built when any is not given"),
    }
}

/// A lab server's endpoint from a URL given as a base (`http://host:8001`) or in full.
fn lab_endpoint(url: &str, path: &str) -> anyhow::Result<String> {
    let url = url.trim_end_matches('/');
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        bail!("{url:?} must start with http:// or https://")
    };
    if url.contains('?') {
        bail!("{url:?} must have no query: the harness adds n and workers itself");
    }
    Ok(if rest.contains('/') {
        url.to_owned()
    } else {
        format!("{url}{path}")
    })
}

fn start_lab_server(server: &LabServer, bin_dir: &Path, logs_dir: &Path, pin: &[String]) -> anyhow::Result<Target> {
    let log_path = logs_dir.join(format!("{}.log", server.name));
    let launched = start_lab_server_with(server, bin_dir, &log_path, &[], pin)?;
    let endpoint = format!("{}{}", launched.url(), server.path);
    Ok(Target {
        name: server.name.clone(),
        endpoint,
        api: Api::Lab,
        managed: Some(launched),
        given_pid: None,
    })
}

/// Starts a lab server from `bin_dir` on a free port with `extra` arguments after its own,
/// logging to `log_path`, through `pin` (`taskset --cpu-list LIST`) unless it is empty.
pub fn start_lab_server_with(
    server: &LabServer,
    bin_dir: &Path,
    log_path: &Path,
    extra: &[String],
    pin: &[String],
) -> anyhow::Result<LaunchedServer> {
    let binary = bin_dir.join(&server.binary);
    if !binary.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release -p {}`",
            binary.display(),
            server.binary
        );
    }
    let name = &server.name;
    let log = File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = crate::pinning::command(pin, &binary);
    // Warnings only: an access-log line per request would cost the server CPU under load.
    command
        .args(["--port", "0"])
        .args(&server.args)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stderr(log);
    LaunchedServer::start(command, STARTUP_TIMEOUT).with_context(|| {
        format!(
            "starting the {name} server (its log: {}; a --servers list without {name} skips it)",
            log_path.display()
        )
    })
}

/// Waits until the target answers (`/healthz` for lab servers, the endpoint itself otherwise).
fn wait_healthy(target: &mut Target, client: &Client) -> anyhow::Result<()> {
    let url = if target.api == Api::Lab {
        health_url(&target.endpoint)
    } else {
        target.endpoint.clone()
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        target.check_alive()?;
        match client.get_json(&url) {
            Ok((200, _)) => return Ok(()),
            Ok((status, _)) if Instant::now() >= deadline => bail!("{url} still answers {status}, not 200"),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("the {} server never answered {url}", target.name));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn health_url(endpoint: &str) -> String {
    let scheme_end = endpoint.find("://").map_or(0, |i| i + 3);
    let host_end = endpoint[scheme_end..]
        .find('/')
        .map_or(endpoint.len(), |i| scheme_end + i);
    format!("{}/healthz", &endpoint[..host_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_completed_from_base_urls() {
        assert_eq!(
            lab_endpoint("http://127.0.0.1:8001", "/threading").unwrap(),
            "http://127.0.0.1:8001/threading"
        );
        assert_eq!(
            lab_endpoint("http://h:1/", "/threading").unwrap(),
            "http://h:1/threading"
        );
        assert_eq!(
            lab_endpoint("http://h:1/custom", "/threading").unwrap(),
            "http://h:1/custom"
        );
        assert!(lab_endpoint("h:1", "/threading").is_err());
        assert!(lab_endpoint("http://h:1/threading?n=5", "/threading").is_err());
    }

    #[test]
    fn a_given_pid_is_the_tree_to_sample_and_must_be_readable() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep should be runnable");
        let pid = i32::try_from(child.id()).expect("pids fit in i32");
        let mut target = Target {
            name: "python".into(),
            endpoint: "http://127.0.0.1:9/threading".into(),
            api: Api::AsGiven,
            managed: None,
            given_pid: Some(pid),
        };
        assert_eq!(target.pid(), Some(pid));
        assert_eq!((target.info().pid, target.info().managed), (Some(pid), false));
        check_sampleable(&target).expect("our own child can be sampled");
        child.kill().expect("sleep can be killed");
        child.wait().expect("sleep should be waitable");
        let err = format!("{:#}", check_sampleable(&target).unwrap_err());
        assert!(
            err.contains(&format!("--pid python={pid}: its process tree cannot be sampled")),
            "{err}"
        );
        target.given_pid = None;
        assert_eq!(target.pid(), None);
    }

    #[test]
    fn health_is_at_the_server_root() {
        assert_eq!(health_url("http://127.0.0.1:5/threading"), "http://127.0.0.1:5/healthz");
        assert_eq!(health_url("http://127.0.0.1:5"), "http://127.0.0.1:5/healthz");
    }

    #[test]
    fn only_lab_servers_get_scenario_parameters() {
        let key = ScenarioKey {
            n: 100,
            workers: 2,
            ..ScenarioKey::DEFAULT
        };
        let lab = Target {
            name: "t".into(),
            endpoint: "http://h/threading".into(),
            api: Api::Lab,
            managed: None,
            given_pid: None,
        };
        assert_eq!(lab.url_for(key), "http://h/threading?n=100&workers=2");
        let other = Target {
            name: "py".into(),
            endpoint: "http://h:9/threading".into(),
            api: Api::AsGiven,
            managed: None,
            given_pid: None,
        };
        assert_eq!(other.url_for(key), "http://h:9/threading");
    }
}
