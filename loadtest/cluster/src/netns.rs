//! The emulated network, built with iproute2's `ip`: a bridge with no address in the root
//! namespace (so no packet between the namespaces goes anywhere else) and, per namespace, a veth
//! pair with its root end on the bridge and its other end, `eth0`, inside the namespace.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, bail};

/// The prefix every address of a run is in: 198.18.0.0/15 is set aside for benchmarking
/// (RFC 2544), so no real network uses it. A run's bridge is its own segment, so two runs at
/// once use the same addresses without meeting.
pub const PREFIX_LEN: u8 = 16;
pub const CLIENT_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const BALANCER_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

/// Host `i`'s address (from 1): 198.18.1.i.
pub fn host_address(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, u8::try_from(i).expect("at most 64 hosts"))
}

/// Runs `ip ARGS`, failing with what it printed.
pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2; apt-get install iproute2)")?;
    if !output.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn add_bridge(name: &str) -> anyhow::Result<()> {
    ip(&["link", "add", name, "type", "bridge"])?;
    ip(&["link", "set", name, "up"])?;
    Ok(())
}

pub fn add_namespace(name: &str) -> anyhow::Result<()> {
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Links namespace `ns` to `bridge` through a veth pair whose root end is called `link`, and
/// gives its `eth0` `address`.
pub fn connect(bridge: &str, ns: &str, link: &str, address: Ipv4Addr) -> anyhow::Result<()> {
    ip(&["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns])?;
    ip(&["link", "set", link, "master", bridge, "up"])?;
    ip(&[
        "-n",
        ns,
        "addr",
        "add",
        &format!("{address}/{PREFIX_LEN}"),
        "dev",
        "eth0",
    ])?;
    ip(&["-n", ns, "link", "set", "eth0", "up"])?;
    Ok(())
}

/// Sets the root end of a namespace's link up or down: down cuts the namespace off.
pub fn set_link(link: &str, up: bool) -> anyhow::Result<()> {
    ip(&["link", "set", link, if up { "up" } else { "down" }]).map(drop)
}

pub fn delete_namespace(name: &str) -> anyhow::Result<()> {
    ip(&["netns", "delete", name]).map(drop)
}

pub fn delete_link(name: &str) -> anyhow::Result<()> {
    ip(&["link", "delete", name]).map(drop)
}

/// Every named network namespace.
pub fn namespaces() -> anyhow::Result<Vec<String>> {
    // `ip netns list` prints `NAME` or `NAME (id: N)`.
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Every interface of the root namespace.
pub fn links() -> anyhow::Result<Vec<String>> {
    // `ip -o link show` prints `N: NAME: <FLAGS> ...`, or `N: NAME@PEER: ...` for a veth.
    Ok(ip(&["-o", "link", "show"])?
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect())
}

/// The processes in namespace `ns`.
pub fn namespace_pids(ns: &str) -> anyhow::Result<Vec<i32>> {
    Ok(ip(&["netns", "pids", ns])?
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect())
}

/// The command prefix that runs a program inside namespace `ns` (`ip` execs the program, so its
/// pid is the program's).
pub fn exec_in(ns: &str) -> Vec<String> {
    ["ip", "netns", "exec", ns].map(String::from).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_in_the_benchmarking_range() {
        let range = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        let in_range = |a: Ipv4Addr| u32::from(a) & !((1 << 17) - 1) == range;
        for address in [CLIENT_ADDRESS, BALANCER_ADDRESS, host_address(1), host_address(64)] {
            assert!(in_range(address), "{address}");
        }
        assert_ne!(host_address(1), host_address(2));
    }
}
