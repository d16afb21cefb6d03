//! The emulated machines of one run: a bridge, the client's and the balancer's namespaces, and
//! the hosts, each a namespace with a CPU group; created together and removed together.
//!
//! Removal goes by the run marker, not by a list kept in memory: it finds on the machine every
//! namespace, link, cgroup and runtime folder named for the run and removes them, after killing
//! every process in them. So a run that failed half-way through its set-up is cleaned as well
//! as one that finished, and `loadtest cluster --cleanup` removes a killed run's leftovers with
//! the same code.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::cgroup::{CpuGroup, Hierarchy};
use super::names::{self, Role, RunMarker};
use super::netns;

/// One emulated host.
#[derive(Debug)]
pub struct Host {
    /// From 1; its name in the balancer is `h<index>`.
    pub index: u32,
    /// Its namespace, the root end of its link, and its CPU group are all called this.
    pub name: String,
    pub address: Ipv4Addr,
    pub group: CpuGroup,
}

/// A run's namespaces and groups; removed on drop.
#[derive(Debug)]
pub struct Topology {
    pub marker: RunMarker,
    pub hierarchy: Hierarchy,
    pub hosts: Vec<Host>,
    /// The balancer's group, with no quota: it counts HAProxy's CPU time.
    pub balancer_group: Option<CpuGroup>,
    /// The folder for the balancer's stats socket (a Unix socket's path must be short).
    pub runtime_dir: PathBuf,
    /// The hosts' quota as the kernel holds it, read back after writing it (every host's
    /// agrees with the one asked, or the run stopped); `None` before any host is made.
    pub host_cpus_applied: Option<f64>,
    removed: bool,
}

impl Topology {
    /// Builds the bridge, the client and balancer namespaces, and `hosts` hosts of `host_cpus`
    /// CPUs each. On an error, whatever was made is removed before returning.
    pub fn create(marker: RunMarker, hierarchy: Hierarchy, hosts: u32, host_cpus: f64) -> anyhow::Result<Self> {
        let mut topology = Self {
            marker,
            hierarchy,
            hosts: Vec::new(),
            balancer_group: None,
            runtime_dir: runtime_dir(marker),
            host_cpus_applied: None,
            removed: false,
        };
        // On error `topology` is dropped here, which removes what was made so far.
        topology.build(hosts, host_cpus)?;
        Ok(topology)
    }

    fn build(&mut self, hosts: u32, host_cpus: f64) -> anyhow::Result<()> {
        std::fs::create_dir(&self.runtime_dir).with_context(|| format!("creating {}", self.runtime_dir.display()))?;
        let bridge = self.marker.name(Role::Bridge);
        netns::add_bridge(&bridge)?;
        for (role, address) in [
            (Role::Client, netns::CLIENT_ADDRESS),
            (Role::Balancer, netns::BALANCER_ADDRESS),
        ] {
            let name = self.marker.name(role);
            netns::add_namespace(&name)?;
            netns::connect(&bridge, &name, &name, address)?;
        }
        // No quota: the balancer's group only counts its CPU time.
        self.balancer_group = Some(CpuGroup::create(&self.hierarchy, &self.marker.name(Role::Balancer))?);
        for index in 1..=hosts {
            let name = self.marker.name(Role::Host(index));
            let address = netns::host_address(index);
            netns::add_namespace(&name)?;
            netns::connect(&bridge, &name, &name, address)?;
            let group = CpuGroup::create(&self.hierarchy, &name)?;
            let applied = group.set_quota(Some(host_cpus));
            // Pushed before the quota is checked, so that an error still removes the group.
            self.hosts.push(Host {
                index,
                name,
                address,
                group,
            });
            self.host_cpus_applied = applied?;
        }
        Ok(())
    }

    pub fn namespace(&self, role: Role) -> String {
        self.marker.name(role)
    }

    /// Removes everything of the run now, reporting what could not be removed.
    pub fn remove(&mut self) -> anyhow::Result<Removal> {
        self.removed = true;
        remove_run(self.marker, Some(&self.hierarchy))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if !self.removed
            && let Err(error) = self.remove()
        {
            eprintln!(
                "loadtest cluster: could not remove everything this run made ({error:#}); \
                 `loadtest cluster --cleanup` removes the rest"
            );
        }
    }
}

/// A command that runs `program` inside namespace `ns`, in `group` if given. The process joins
/// the group before it execs anything, so every process it forks is born there.
pub fn command_in(ns: &str, group: Option<&CpuGroup>, program: &Path, args: &[String]) -> Command {
    let mut exec = netns::exec_in(ns);
    exec.push(program.to_string_lossy().into_owned());
    exec.extend(args.iter().cloned());
    let Some(group) = group else {
        let mut command = Command::new(&exec[0]);
        command.args(&exec[1..]);
        return command;
    };
    // `sh -c SCRIPT ARG0 ARGS...`: the script writes the shell's own pid into each cgroup.procs,
    // then becomes `ip netns exec ... program args` with its pid unchanged.
    let joins: String = group
        .procs_files()
        .iter()
        .map(|file| format!("echo $$ > '{}' && ", file.display()))
        .collect();
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("{joins}exec \"$0\" \"$@\"")).args(&exec);
    command
}

/// The folder of run `marker`'s runtime files.
fn runtime_dir(marker: RunMarker) -> PathBuf {
    std::env::temp_dir().join(marker.name(Role::Balancer))
}

/// What removing a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removal {
    pub processes: usize,
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    pub groups: Vec<String>,
}

impl Removal {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub fn describe(&self) -> String {
        format!(
            "{} processes killed; namespaces: {}; links: {}; cgroups: {}",
            self.processes,
            list(&self.namespaces),
            list(&self.links),
            list(&self.groups)
        )
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// How long killed processes get to leave their groups before the groups are removed.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Removes every namespace, link, cgroup and runtime folder named for `marker`, killing every
/// process in those namespaces and groups first. Touches nothing else.
pub fn remove_run(marker: RunMarker, hierarchy: Option<&Hierarchy>) -> anyhow::Result<Removal> {
    let ours = |name: &String| names::parse(name).is_some_and(|(run, _)| run == marker);
    let namespaces: Vec<String> = netns::namespaces()?.into_iter().filter(ours).collect();
    let groups: Vec<CpuGroup> = hierarchy
        .map(|h| {
            h.group_names()
                .into_iter()
                .filter(ours)
                .map(|name| CpuGroup::existing(h, &name))
                .collect()
        })
        .unwrap_or_default();

    let mut pids: Vec<i32> = groups.iter().flat_map(CpuGroup::pids).collect();
    for ns in &namespaces {
        pids.extend(netns::namespace_pids(ns)?);
    }
    pids.sort_unstable();
    pids.dedup();
    for &pid in &pids {
        // A process may have exited since it was listed; that is what we want anyway.
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + EXIT_WAIT;
    while groups.iter().any(|g| !g.pids().is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut removal = Removal {
        processes: pids.len(),
        ..Removal::default()
    };
    let mut errors = Vec::new();
    // The links first: deleting a veth's root end deletes its pair at once, while a deleted
    // namespace's veths go later, in the background.
    for link in netns::links()?.into_iter().filter(ours) {
        match netns::delete_link(&link) {
            Ok(()) => removal.links.push(link),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    for ns in namespaces {
        match netns::delete_namespace(&ns) {
            Ok(()) => removal.namespaces.push(ns),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    for group in groups {
        match group.remove() {
            Ok(()) => removal.groups.push(group.name().to_owned()),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let dir = runtime_dir(marker);
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        errors.push(format!("removing {}: {e}", dir.display()));
    }
    if errors.is_empty() {
        Ok(removal)
    } else {
        anyhow::bail!("{}", errors.join("; "))
    }
}

/// Every run that left something on the machine, for `--cleanup`.
pub fn leftover_runs(hierarchy: Option<&Hierarchy>) -> anyhow::Result<Vec<RunMarker>> {
    let mut names = netns::namespaces()?;
    names.extend(netns::links()?);
    if let Some(h) = hierarchy {
        names.extend(h.group_names());
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        names.extend(entries.flatten().filter_map(|e| e.file_name().into_string().ok()));
    }
    let mut runs: Vec<RunMarker> = names
        .iter()
        .filter_map(|n| names::parse(n))
        .map(|(run, _)| run)
        .collect();
    runs.sort_by_key(|run| run.pid);
    runs.dedup();
    Ok(runs)
}
