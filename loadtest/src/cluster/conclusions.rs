//! The cluster's conclusions, computed from its summary: how each model scales out and what
//! stops it, and what each fault cost with and without the balancer's retries, and why.

use super::fault::Fault;
use super::summary::{ClusterSummary, FaultEntry, ScalingEntry};

/// A host counts as held at its quota when it used at least this share of it.
const AT_QUOTA: f64 = 0.9;
/// The machine counts as full when hosts, balancer and client together use this share of its CPUs.
const MACHINE_FULL: f64 = 0.85;

pub fn conclusions(cluster: &ClusterSummary, machine_cpus: u32) -> Vec<String> {
    let mut out = scaling(cluster, machine_cpus);
    out.extend(faults(cluster));
    out
}

fn servers_in<'a>(entries: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names = Vec::new();
    for name in entries {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn scaling(cluster: &ClusterSummary, machine_cpus: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut at_most: Vec<&ScalingEntry> = Vec::new();
    for server in servers_in(cluster.scaling.iter().map(|e| e.server.as_str())) {
        let entries: Vec<&ScalingEntry> = cluster.scaling.iter().filter(|e| e.server == server).collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            continue;
        };
        at_most.push(last);
        if last.hosts == first.hosts {
            continue;
        }
        let mut sentence = format!(
            "**{server}** on {} hosts serves {:.0} req/s, {:.2}x its {:.0} on {} host{}",
            last.hosts,
            last.rps_median,
            last.rps_median / first.rps_median.max(f64::MIN_POSITIVE),
            first.rps_median,
            first.hosts,
            if first.hosts == 1 { "" } else { "s" }
        );
        if let Some(efficiency) = last.efficiency {
            sentence.push_str(&format!(" ({:.0}% of ideal)", efficiency * 100.0));
        }
        sentence.push_str(". ");
        sentence.push_str(&limit(last, cluster.host_cpus, machine_cpus));
        out.push(sentence);
    }
    if at_most.len() > 1 {
        let best = at_most
            .iter()
            .max_by(|a, b| a.rps_median.total_cmp(&b.rps_median))
            .expect("two or more");
        let others: Vec<String> = at_most
            .iter()
            .filter(|e| e.server != best.server)
            .map(|e| {
                format!(
                    "{} {:.0}%",
                    e.server,
                    100.0 * e.rps_median / best.rps_median.max(f64::MIN_POSITIVE)
                )
            })
            .collect();
        out.push(format!(
            "At {} hosts the most req/s came from {} ({:.0}); the others, as a share of it: {}. One trial set, one machine: \
             differences of a few percent are within this machine's run-to-run noise.",
            best.hosts,
            best.server,
            best.rps_median,
            others.join(", ")
        ));
    }
    out
}

/// Why `entry` scales no further, from its hosts' CPU use.
fn limit(entry: &ScalingEntry, host_cpus: Option<f64>, machine_cpus: u32) -> String {
    let used: Vec<f64> = entry.host_use.iter().filter_map(|h| h.cpus).collect();
    let (Some(quota), false) = (host_cpus, used.is_empty()) else {
        return "The hosts' CPU use is not known here (hosts given by URL).".into();
    };
    let mean = used.iter().sum::<f64>() / used.len() as f64;
    let throttled: Vec<f64> = entry.host_use.iter().filter_map(|h| h.throttled_share).collect();
    let throttled = throttled.iter().sum::<f64>() / throttled.len().max(1) as f64;
    let total = used.iter().sum::<f64>() + entry.balancer_cpus.unwrap_or(0.0) + entry.client_cpus.unwrap_or(0.0);
    if mean >= AT_QUOTA * quota {
        format!(
            "Each host used {mean:.2} of its {quota} CPU and was throttled in {:.0}% of its scheduler periods: \
             the hosts' quotas are the limit, so each added host adds its quota's worth of answers.",
            throttled * 100.0
        )
    } else if total >= MACHINE_FULL * f64::from(machine_cpus) {
        format!(
            "The hosts used {mean:.2} of their {quota} CPU each: the machine itself was full ({total:.2} of its \
             {machine_cpus} CPUs for hosts, HAProxy and oha together), so more emulated hosts cannot add answers here."
        )
    } else {
        format!(
            "The hosts used only {mean:.2} of their {quota} CPU each (HAProxy {:.2}, oha {:.2} CPU): neither quota \
             nor machine was the limit; the {} connections' requests wait in the balancer and the network path instead.",
            entry.balancer_cpus.unwrap_or(0.0),
            entry.client_cpus.unwrap_or(0.0),
            entry.host_use.len()
        )
    }
}

fn faults(cluster: &ClusterSummary) -> Vec<String> {
    let mut out = Vec::new();
    let mut kinds: Vec<Fault> = Vec::new();
    for entry in &cluster.faults {
        if !kinds.contains(&entry.fault) {
            kinds.push(entry.fault);
        }
    }
    for fault in kinds {
        let with: Vec<&FaultEntry> = cluster
            .faults
            .iter()
            .filter(|e| e.fault == fault && e.retries)
            .collect();
        let without: Vec<&FaultEntry> = cluster
            .faults
            .iter()
            .filter(|e| e.fault == fault && !e.retries)
            .collect();
        let lost = |entries: &[&FaultEntry]| entries.iter().map(|e| e.lost).sum::<u64>();
        let requests = |entries: &[&FaultEntry]| entries.iter().map(|e| e.requests).sum::<u64>();
        let detect: Vec<f64> = with.iter().chain(&without).filter_map(|e| e.detect_s).collect();
        let detected = if detect.is_empty() {
            "the balancer's health checks never marked the host down".to_owned()
        } else {
            format!(
                "the checks marked the host down after {:.1} to {:.1} s",
                detect.iter().copied().fold(f64::INFINITY, f64::min),
                detect.iter().copied().fold(0.0, f64::max)
            )
        };
        let why = match fault {
            Fault::Crash => {
                "a dead host refuses connections at once, so HAProxy can send the request to another host (redispatch); \
                 without retries each request routed to it before the checks' verdict is a 503"
            }
            Fault::Hang => {
                "a stopped host still accepts connections but never answers, so requests sent to it wait out the \
                 balancer's 2 s server timeout: with retries they are then sent elsewhere, without they are 504s"
            }
            Fault::Partition => {
                "a cut link answers nothing, so new connections to it wait out the 500 ms connect timeout and requests \
                 already sent wait out the 2 s server timeout; retries send both elsewhere, without them they fail"
            }
            Fault::Slow => {
                "a starved host still answers its health checks, slowly, so the balancer keeps sending it its share; \
                 only answers slower than the 2 s server timeout fail (and are retried when retries are on)"
            }
        };
        out.push(format!(
            "**{fault}** ({} servers): with retries {} of {} requests were lost, without them {} of {}; {detected}. Why: {why}.",
            with.len().max(without.len()),
            lost(&with),
            requests(&with),
            lost(&without),
            requests(&without)
        ));
    }
    out
}
