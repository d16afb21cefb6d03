//! Scaling out: one server kind measured behind the balancer at each host count.
//!
//! A balancer over each host count runs from the start, and the trials alternate between them
//! (1, 2, 4 hosts, then 1, 2, 4 again, ...), as the main job alternates its servers: whatever
//! drifts on the machine during the measurement then lands on every host count alike, instead
//! of on whichever came last.

use std::time::Duration;

use super::args::ClusterPlan;
use super::balancer::Balancer;
use super::cgroup::Throttling;
use super::site::Site;
use super::stats::ServerStats;
use loadtest_model::catalogue::LabServer;
use loadtest_model::cluster::Balance;
use loadtest_model::cluster::summary::{HostUse, ScalingEntry};
use loadtest_model::stats::median;
use loadtest_run::oha::runner::Load;

/// What one host count's trials added up to.
#[derive(Default)]
struct Tally {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    failed: u64,
    client_cpu: Duration,
    balancer_cpu: Option<Duration>,
    /// Per host: CPU time, and throttling, during this count's trials only.
    host_cpu: Vec<Option<Duration>>,
    host_throttling: Vec<Option<Throttling>>,
}

/// Measures `kind` (already running on every host of `site`) at each of the plan's host counts.
pub fn measure(
    site: &Site,
    kind: &LabServer,
    plan: &ClusterPlan,
    say: &dyn Fn(&str),
) -> anyhow::Result<Vec<ScalingEntry>> {
    let path = format!("{}?n={}", kind.path, plan.n);
    let balancers: Vec<(u32, Balancer)> = (plan.hosts.iter())
        .map(|&hosts| {
            Ok((
                hosts,
                site.balancer(
                    hosts,
                    true,
                    Balance::Roundrobin,
                    &format!("{}-scale-{hosts}", kind.name),
                )?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    for (_, balancer) in &balancers {
        let warmup = Load::Duration(Duration::from_secs_f64(plan.warmup));
        site.load(balancer, &path, (warmup, plan.concurrency, None), None)?;
    }
    let stats_before: Vec<Vec<ServerStats>> = (balancers.iter())
        .map(|(_, b)| b.show_stat())
        .collect::<anyhow::Result<_>>()?;
    let mut tallies: Vec<Tally> = balancers.iter().map(|&(hosts, _)| Tally::new(hosts)).collect();
    for trial in 1..=plan.trials {
        for ((hosts, balancer), tally) in balancers.iter().zip(&mut tallies) {
            let label = format!("{}-scale-{hosts}-trial-{trial}", kind.name);
            tally.add_trial(site, balancer, *hosts, &path, plan, &label)?;
        }
    }
    let secs = plan.duration * f64::from(plan.trials);
    let mut entries: Vec<ScalingEntry> = Vec::new();
    for (((hosts, balancer), tally), before) in balancers.into_iter().zip(tallies).zip(stats_before) {
        let after = balancer.show_stat()?;
        balancer.stop()?;
        let one_host = entries.iter().find(|e| e.hosts == 1).map(|e| e.rps_median);
        let entry = tally.entry(kind, hosts, (&before, &after), one_host, secs);
        say(&describe(&entry));
        entries.push(entry);
    }
    Ok(entries)
}

impl Tally {
    /// Nothing yet, over `hosts` hosts: every sum starts known, at zero.
    fn new(hosts: u32) -> Self {
        Self {
            host_cpu: vec![Some(Duration::ZERO); hosts as usize],
            host_throttling: vec![Some(Throttling::default()); hosts as usize],
            balancer_cpu: Some(Duration::ZERO),
            ..Self::default()
        }
    }

    /// One trial of `plan`'s load through `balancer` (over `hosts` hosts), added in.
    fn add_trial(
        &mut self,
        site: &Site,
        balancer: &Balancer,
        hosts: u32,
        path: &str,
        plan: &ClusterPlan,
        label: &str,
    ) -> anyhow::Result<()> {
        let before: Vec<_> = (1..=hosts).map(|i| site.host_counters(i)).collect();
        let balancer_before = site.balancer_cpu();
        let load = Load::Duration(Duration::from_secs_f64(plan.duration));
        let (run, report) = site.load(balancer, path, (load, plan.concurrency, None), Some(label))?;
        self.rps.push(report.rps_2xx().unwrap_or(0.0));
        self.p50.extend(report.latency_ms("p50"));
        self.p99.extend(report.latency_ms("p99"));
        self.failed += report.responses_non_2xx() + report.transport_errors();
        self.client_cpu += run.cpu.unwrap_or_default();
        let balancer_used = balancer_before
            .zip(site.balancer_cpu())
            .map(|(b, a)| a.saturating_sub(b));
        self.balancer_cpu = add(self.balancer_cpu, balancer_used);
        for (i, before) in before.into_iter().enumerate() {
            let delta = before.zip(site.host_counters(i as u32 + 1));
            self.host_cpu[i] = add(self.host_cpu[i], delta.map(|((b, _), (a, _))| a.saturating_sub(b)));
            self.host_throttling[i] = (self.host_throttling[i].zip(delta)).map(|(sum, ((_, b), (_, a)))| Throttling {
                periods: sum.periods + a.periods.saturating_sub(b.periods),
                throttled: sum.throttled + a.throttled.saturating_sub(b.throttled),
            });
        }
        Ok(())
    }

    /// The scaling entry of `kind` on `hosts` hosts, from this tally over `secs` seconds of
    /// trials and the balancer's counters before and after them; `one_host` is the one-host
    /// median, for the efficiency.
    fn entry(
        self,
        kind: &LabServer,
        hosts: u32,
        (before, after): (&[ServerStats], &[ServerStats]),
        one_host: Option<f64>,
        secs: f64,
    ) -> ScalingEntry {
        let host_use: Vec<HostUse> = (0..hosts as usize)
            .map(|i| {
                let name = format!("h{}", i + 1);
                HostUse {
                    requests: sessions(after, &name).saturating_sub(sessions(before, &name)),
                    host: name,
                    cpus: self.host_cpu[i].map(|cpu| cpu.as_secs_f64() / secs),
                    throttled_share: self.host_throttling[i]
                        .filter(|t| t.periods > 0)
                        .map(|t| t.throttled as f64 / t.periods as f64),
                }
            })
            .collect();
        let rps_median = median(&self.rps).unwrap_or(0.0);
        ScalingEntry {
            server: kind.name.to_owned(),
            hosts,
            rps_median,
            latency_p50_ms: median(&self.p50),
            latency_p99_ms: median(&self.p99),
            efficiency: one_host
                .filter(|r| *r > 0.0)
                .map(|r| rps_median / (f64::from(hosts) * r)),
            host_cpu_ms_per_request: cpu_per_request(&host_use, secs),
            rps_trials: self.rps,
            failed: self.failed,
            host_use,
            balancer_cpus: self.balancer_cpu.map(|cpu| cpu.as_secs_f64() / secs),
            client_cpus: Some(self.client_cpu.as_secs_f64() / secs),
        }
    }
}

/// One host count's figures, for the terminal.
fn describe(entry: &ScalingEntry) -> String {
    let hosts = entry.hosts;
    format!(
        "{} on {hosts} host{}: {:.0} req/s (p50 {} ms, p99 {} ms){}",
        entry.server,
        if hosts == 1 { "" } else { "s" },
        entry.rps_median,
        shown(entry.latency_p50_ms),
        shown(entry.latency_p99_ms),
        (entry.efficiency)
            .map(|e| format!(", {:.0}% of {hosts} x 1 host", e * 100.0))
            .unwrap_or_default()
    )
}

/// A sum that stays unknown once one of its terms is.
fn add(sum: Option<Duration>, term: Option<Duration>) -> Option<Duration> {
    sum.zip(term).map(|(s, t)| s + t)
}

/// The requests the balancer sent `host`, from its counters.
fn sessions(stats: &[ServerStats], host: &str) -> u64 {
    stats
        .iter()
        .find(|s| s.is_host() && s.server == host)
        .map_or(0, |s| s.sessions)
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
