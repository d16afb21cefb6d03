//! What `loadtest cluster` needs from the machine, checked before anything is made, so a run
//! that cannot work says why at once instead of half-way through its set-up.

use std::process::Command;

use anyhow::{Context, bail};

use super::cgroup::Hierarchy;
use super::netns;

/// How to run the lab without what is missing.
const INSTEAD: &str = "or measure servers already running elsewhere with --host-url http://HOST:PORT (no root needed)";

/// HAProxy's version line, or why it cannot be run.
pub fn haproxy_version() -> anyhow::Result<String> {
    let output = Command::new("haproxy")
        .arg("-v")
        .output()
        .context("haproxy is not installed (apt-get install haproxy); the cluster's load balancer is HAProxy")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .map(|line| line.trim().to_owned())
        .filter(|line| line.starts_with("HAProxy version"))
        .with_context(|| format!("`haproxy -v` printed {text:?}, not HAProxy's version"))
}

/// Checks root, network namespaces and a cgroup cpu controller; returns the hierarchy.
pub fn check_emulation() -> anyhow::Result<Hierarchy> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "emulating hosts needs root (network namespaces, links and cgroups): run it as root, \
             e.g. sudo target/release/loadtest cluster, {INSTEAD}"
        );
    }
    netns::namespaces().with_context(|| format!("network namespaces are not available here ({INSTEAD})"))?;
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        bail!("this kernel has no network namespaces (/proc/self/ns/net is missing); {INSTEAD}");
    }
    Hierarchy::detect().map_err(|e| anyhow::anyhow!("{e:#}; {INSTEAD}"))
}
