//! Scaling out: one server kind measured behind the balancer at each host count.

use std::time::Duration;

use super::args::ClusterPlan;
use super::site::Site;
use super::summary::{HostUse, ScalingEntry};
use crate::lab_servers::LabServer;
use crate::oha::runner::Load;

/// Measures `kind` (already running on every host of `site`) at each of the plan's host counts.
pub fn measure(
    site: &Site,
    kind: &LabServer,
    plan: &ClusterPlan,
    say: &dyn Fn(&str),
) -> anyhow::Result<Vec<ScalingEntry>> {
    let path = format!("{}?n={}", kind.path, plan.n);
    let mut entries: Vec<ScalingEntry> = Vec::new();
    for &hosts in &plan.hosts {
        let balancer = site.balancer(hosts, true, &format!("{}-scale-{hosts}", kind.name))?;
        site.load(
            &path,
            Load::Duration(Duration::from_secs_f64(plan.warmup)),
            plan.concurrency,
            None,
        )?;

        let stats_before = balancer.show_stat()?;
        let counters_before: Vec<_> = (1..=hosts).map(|i| site.host_counters(i)).collect();
        let balancer_before = site.balancer_cpu();
        let (mut rps, mut p50, mut p99, mut failed, mut client_cpu) = (vec![], vec![], vec![], 0, Duration::ZERO);
        for trial in 1..=plan.trials {
            let (run, report) = site.load(
                &path,
                Load::Duration(Duration::from_secs_f64(plan.duration)),
                plan.concurrency,
                Some(&format!("{}-scale-{hosts}-trial-{trial}", kind.name)),
            )?;
            rps.push(report.rps_2xx().unwrap_or(0.0));
            p50.extend(report.latency_ms("p50"));
            p99.extend(report.latency_ms("p99"));
            failed += report.responses_non_2xx() + report.transport_errors();
            client_cpu += run.cpu.unwrap_or_default();
        }
        let secs = plan.duration * f64::from(plan.trials);
        let stats_after = balancer.show_stat()?;
        let sessions = |stats: &[super::stats::ServerStats], host: &str| {
            stats
                .iter()
                .find(|s| s.is_host() && s.server == host)
                .map_or(0, |s| s.sessions)
        };
        let host_use: Vec<HostUse> = (1..=hosts)
            .map(|i| {
                let name = format!("h{i}");
                let after = site.host_counters(i);
                let (cpus, throttled_share) = match (counters_before[i as usize - 1], after) {
                    (Some((cpu0, t0)), Some((cpu1, t1))) => {
                        let periods = t1.periods.saturating_sub(t0.periods);
                        (
                            Some((cpu1.saturating_sub(cpu0)).as_secs_f64() / secs),
                            (periods > 0).then(|| t1.throttled.saturating_sub(t0.throttled) as f64 / periods as f64),
                        )
                    }
                    _ => (None, None),
                };
                HostUse {
                    requests: sessions(&stats_after, &name).saturating_sub(sessions(&stats_before, &name)),
                    host: name,
                    cpus,
                    throttled_share,
                }
            })
            .collect();
        balancer.stop()?;
        let one_host = entries.iter().find(|e| e.hosts == 1).map(|e| e.rps_median);
        let rps_median = crate::stats::median(&rps).unwrap_or(0.0);
        let entry = ScalingEntry {
            server: kind.name.to_owned(),
            hosts,
            rps_median,
            latency_p50_ms: crate::stats::median(&p50),
            latency_p99_ms: crate::stats::median(&p99),
            efficiency: one_host
                .filter(|r| *r > 0.0)
                .map(|r| rps_median / (f64::from(hosts) * r)),
            host_cpu_ms_per_request: cpu_per_request(&host_use, secs),
            rps_trials: rps,
            failed,
            host_use,
            balancer_cpus: balancer_before
                .zip(site.balancer_cpu())
                .map(|(b, a)| a.saturating_sub(b).as_secs_f64() / secs),
            client_cpus: Some(client_cpu.as_secs_f64() / secs),
        };
        say(&format!(
            "{} on {hosts} host{}: {:.0} req/s (p50 {} ms, p99 {} ms){}",
            kind.name,
            if hosts == 1 { "" } else { "s" },
            entry.rps_median,
            shown(entry.latency_p50_ms),
            shown(entry.latency_p99_ms),
            entry
                .efficiency
                .map(|e| format!(", {:.0}% of {hosts} x 1 host", e * 100.0))
                .unwrap_or_default()
        ));
        entries.push(entry);
    }
    Ok(entries)
}

fn shown(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"))
}

/// The hosts' CPU time per request sent to them, in ms, if every host's CPU use is known.
fn cpu_per_request(hosts: &[HostUse], secs: f64) -> Option<f64> {
    let cpu_secs: f64 = hosts.iter().map(|h| h.cpus.map(|c| c * secs)).sum::<Option<f64>>()?;
    let requests: u64 = hosts.iter().map(|h| h.requests).sum();
    (requests > 0).then(|| 1000.0 * cpu_secs / requests as f64)
}
