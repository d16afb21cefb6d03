//! The cluster's conclusions, computed from its summary: how each model scales out and what
//! stops it, then what each fault cost and why ([`super::faults`]).

use loadtest_model::cluster::summary::{ClusterSummary, ScalingEntry};

/// A host counts as held at its quota when it used at least this share of it.
const AT_QUOTA: f64 = 0.9;
/// Efficiency further than this from 1 is explained.
const OFF_IDEAL: f64 = 0.05;
/// The machine counts as full when hosts, balancer and client together use this share of its CPUs.
const MACHINE_FULL: f64 = 0.85;

pub fn conclusions(cluster: &ClusterSummary, machine_cpus: u32) -> Vec<String> {
    let mut out = scaling(cluster, machine_cpus);
    out.extend(super::faults::conclusions(cluster));
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

/// How each server scaled out, and which served the most at the most hosts.
fn scaling(cluster: &ClusterSummary, machine_cpus: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut at_most: Vec<&ScalingEntry> = Vec::new();
    for server in servers_in(cluster.scaling.iter().map(|e| e.server.as_str())) {
        let entries: Vec<&ScalingEntry> = cluster.scaling.iter().filter(|e| e.server == server).collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            continue;
        };
        at_most.push(last);
        if last.hosts != first.hosts {
            out.push(scaled(server, first, last, cluster.host_cpus, machine_cpus));
        }
    }
    if at_most.len() > 1 {
        out.push(the_most(&at_most));
    }
    out
}

/// How `last` (the most hosts) scaled from `first` (the fewest), as one sentence: its gain,
/// what limits it, and why it is off ideal where the hosts' CPU per answer says.
fn scaled(
    server: &str,
    first: &ScalingEntry,
    last: &ScalingEntry,
    host_cpus: Option<f64>,
    machine_cpus: u32,
) -> String {
    let mut sentence = format!(
        "{server} on {} hosts serves {:.0} req/s, {:.2}x its {:.0} on {} host{}",
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
    sentence.push_str(&limit(last, host_cpus, machine_cpus));
    if let (Some(efficiency), Some(one), Some(many)) = (
        last.efficiency,
        first.host_cpu_ms_per_request,
        last.host_cpu_ms_per_request,
    ) && (efficiency - 1.0).abs() > OFF_IDEAL
    {
        let above = efficiency > 1.0;
        let cheaper = many < one;
        sentence.push_str(&if above == cheaper {
            format!(
                " It is {} ideal because an answer cost the hosts {one:.2} ms of CPU on {} host{} and {many:.2} ms on {}{}.",
                if above { "above" } else { "below" },
                first.hosts,
                if first.hosts == 1 { "" } else { "s" },
                last.hosts,
                if above {
                    ": with the connections spread over more hosts, fewer requests compete in each host's quota at once"
                } else {
                    ""
                }
            )
        } else {
            format!(
                " It is {} ideal, which the hosts' CPU per answer ({one:.2} ms on {} and {many:.2} ms on {}) does not explain: \
                 look at the balancer's and oha's CPU in summary.json.",
                if above { "above" } else { "below" },
                first.hosts,
                last.hosts
            )
        });
    }
    sentence
}

/// Which server served the most at the most hosts, and the others as a share of it.
fn the_most(at_most: &[&ScalingEntry]) -> String {
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
    let costs: Vec<String> = at_most
        .iter()
        .filter_map(|e| e.host_cpu_ms_per_request.map(|ms| format!("{} {ms:.2} ms", e.server)))
        .collect();
    let why = if costs.len() == at_most.len() {
        format!(
            " With every host held at the same quota, req/s follows what one answer costs a host: {}.",
            costs.join(", ")
        )
    } else {
        String::new()
    };
    format!(
        "At {} hosts the most req/s came from {} ({:.0}); the others, as a share of it: {}.{why} One trial set, one \
         machine: differences of a few percent are within this machine's run-to-run noise.",
        best.hosts,
        best.server,
        best.rps_median,
        others.join(", ")
    )
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use loadtest_model::cluster::fault::Fault;
    use loadtest_model::cluster::summary::{BalancerSettings, FaultEntry, HostUse, Slot};
    use loadtest_model::cluster::{Balance, LoadLoop};

    fn scaling(server: &str, hosts: u32, rps: f64, cpu_ms: f64, one_host_rps: f64) -> ScalingEntry {
        ScalingEntry {
            server: server.into(),
            hosts,
            rps_median: rps,
            latency_p50_ms: Some(10.0),
            latency_p99_ms: Some(50.0),
            efficiency: Some(rps / (f64::from(hosts) * one_host_rps)),
            host_cpu_ms_per_request: Some(cpu_ms),
            rps_trials: vec![rps],
            failed: 0,
            host_use: (1..=hosts)
                .map(|i| HostUse {
                    host: format!("h{i}"),
                    requests: 100,
                    cpus: Some(0.25),
                    throttled_share: Some(0.9),
                })
                .collect(),
            balancer_cpus: Some(0.05),
            client_cpus: Some(0.1),
        }
    }

    pub(crate) fn fault(server: &str, fault: Fault, retries: bool, lost: u64, detect_s: Option<f64>) -> FaultEntry {
        FaultEntry {
            server: server.into(),
            fault,
            hosts: 4,
            retries,
            requests: 1000,
            ok: 1000 - lost,
            lost,
            lost_by: [("503".to_owned(), lost)].into_iter().filter(|(_, n)| *n > 0).collect(),
            logged_requests: Some(1020),
            logged_lost: Some(if retries { 0 } else { 61 }),
            log_unreadable: 0,
            in_flight: 3,
            aborted_at_deadline: 20,
            retried: if retries { 5 } else { 0 },
            redispatched: if retries { 40 } else { 0 },
            detect_s,
            recover_s: Some(1.5),
            back_up_s: Some(0.5),
            fault_at_s: 3.0,
            heal_at_s: 6.0,
            rps_before: 600.0,
            rps_during: Some(360.0),
            rps_after: Some(570.0),
            rps_worst_500ms: Some(300.0),
            stall_s: Some(0.0),
            victim_share_during: Some(0.25),
            victim_p50_ms_during: Some(1.0),
            others_p50_ms_during: Some(12.0),
            balance: Balance::Roundrobin,
            load_loop: LoadLoop::Closed,
            offered_rps: None,
            due: None,
            timeline: vec![Slot { ok: 60, failed: 0 }; 100],
        }
    }

    pub(crate) fn summary() -> ClusterSummary {
        ClusterSummary {
            host_cpus: Some(0.25),
            host_cpus_applied: Some(0.25),
            hosts_from: "netns".into(),
            cgroup: Some("v1".into()),
            haproxy_version: "HAProxy version 2.6.12".into(),
            n: 500,
            concurrency: 20,
            trial_secs: 5.0,
            trials: 3,
            fault_trial_secs: 10.0,
            balancer: BalancerSettings::until_recorded(),
            scaling: vec![
                scaling("threading", 1, 160.0, 1.5, 160.0),
                scaling("threading", 4, 620.0, 1.6, 160.0),
                scaling("multiprocessing", 1, 57.0, 4.4, 57.0),
                scaling("multiprocessing", 4, 252.0, 3.8, 57.0),
            ],
            faults: vec![
                fault("threading", Fault::Crash, true, 0, Some(0.4)),
                fault("threading", Fault::Crash, false, 59, Some(0.4)),
                fault("threading", Fault::Slow, true, 0, None),
                fault("threading", Fault::Slow, false, 0, None),
            ],
        }
    }

    #[test]
    fn scaling_is_judged_from_the_figures_and_explained_by_the_cost_of_an_answer() {
        let lines = conclusions(&summary(), 2);
        let threading = lines.iter().find(|l| l.starts_with("threading on")).unwrap();
        assert!(
            threading.contains("3.88x its 160 on 1 host (97% of ideal)"),
            "{threading}"
        );
        assert!(threading.contains("the hosts' quotas are the limit"), "{threading}");
        assert!(
            !threading.contains("ideal because"),
            "within 5% of ideal needs no why: {threading}"
        );
        let forks = lines.iter().find(|l| l.starts_with("multiprocessing on")).unwrap();
        assert!(
            forks.contains("(111% of ideal)")
                && forks
                    .contains("above ideal because an answer cost the hosts 4.40 ms of CPU on 1 host and 3.80 ms on 4"),
            "{forks}"
        );
        let ranking = lines.iter().find(|l| l.starts_with("At 4 hosts")).unwrap();
        assert!(
            ranking.contains("came from threading (620)")
                && ranking.contains("multiprocessing 41%")
                && ranking.contains("threading 1.60 ms, multiprocessing 3.80 ms"),
            "{ranking}"
        );
    }

    #[test]
    fn below_the_quota_the_machine_or_the_load_is_named() {
        let mut summary = summary();
        for entry in &mut summary.scaling {
            for host in &mut entry.host_use {
                host.cpus = Some(0.2);
            }
        }
        let lines = conclusions(&summary, 2);
        assert!(
            lines[0].contains("neither quota nor machine was the limit"),
            "{}",
            lines[0]
        );
        let lines = conclusions(&summary, 1);
        assert!(lines[0].contains("the machine itself was full"), "{}", lines[0]);
    }
}
