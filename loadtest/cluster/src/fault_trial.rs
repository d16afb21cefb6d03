//! One fault trial: a load through the balancer, a host failed at 30% of it and healed at 60%,
//! the balancer's view of that host polled throughout, and the cost read back.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::analysis::{FaultTrial, StatePoll, analyse};
use super::args::ClusterPlan;
use super::balancer::Balancer;
use super::fault_plan::FaultSetup;
use super::fleet::Fleet;
use super::log::{ParsedLog, parse_log};
use super::site::Site;
use loadtest_model::cluster::summary::FaultEntry;
use loadtest_run::oha::model::{DEADLINE_ABORT_MESSAGE, OhaReport};
use loadtest_run::oha::runner::Load;

/// `lost_by`'s key for an open loop's due requests the client never sent.
pub const UNSENT: &str = "unsent";

/// How often the balancer's view of the failed host is read.
const POLL_EVERY: Duration = Duration::from_millis(loadtest_model::cluster::STATE_POLL_MS);
pub use loadtest_model::cluster::{FAULT_AT, HEAL_AT};

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When a fault trial's load started, the fault struck and it was healed, Unix time in ms.
struct Times {
    start_ms: u64,
    fault_ms: u64,
    heal_ms: u64,
}

/// Runs one fault trial as `setup` says.
pub fn run(site: &Site, fleet: &mut Fleet, setup: FaultSetup, plan: &ClusterPlan) -> anyhow::Result<FaultEntry> {
    let FaultSetup {
        fault,
        hosts,
        retries,
        balance,
        open,
    } = setup;
    let kind = fleet.kind();
    let name = setup.name(&kind.name);
    let balancer = site.balancer(hosts, retries, balance, &name)?;
    let victim = format!("h{hosts}");
    let (report, polls, times) = drive(site, fleet, &balancer, (setup, &victim), plan, &name)?;
    let end_ms = unix_ms();
    let stats = balancer.show_stat()?;
    let log = balancer.stop()?;
    let ParsedLog { records, unreadable } = parse_log(&log);
    if let Some(first) = unreadable.first() {
        eprintln!(
            "warning: {} line(s) of the balancer's log of {name} could not be read and are left out of its timeline; the first: {first}",
            unreadable.len()
        );
    }
    let cost = analyse(&FaultTrial {
        records: &records,
        polls: &polls,
        victim: &victim,
        hosts,
        start_ms: times.start_ms,
        fault_ms: times.fault_ms,
        heal_ms: times.heal_ms,
        end_ms,
    });
    let backend = stats.iter().find(|s| s.server == "BACKEND");
    let ok = report.responses_2xx();
    let mut lost_by = lost_by(&report);
    let sent = ok + report.responses_non_2xx() + report.transport_errors() + report.deadline_aborts();
    // An open loop's due requests that the client never sent are lost too.
    let due = open.map(|o| (f64::from(o.rate) * plan.fault_duration).round() as u64);
    if let Some(unsent) = due.map(|due| due.saturating_sub(sent)).filter(|&n| n > 0) {
        lost_by.insert(UNSENT.to_owned(), unsent);
    }
    let lost = lost_by.values().sum::<u64>();
    let since_start = |ms: u64| ms.saturating_sub(times.start_ms) as f64 / 1000.0;
    Ok(FaultEntry {
        server: kind.name.to_owned(),
        fault,
        hosts,
        retries,
        requests: ok + lost,
        ok,
        lost,
        lost_by,
        logged_requests: Some(cost.requests),
        logged_lost: Some(cost.lost),
        log_unreadable: unreadable.len() as u64,
        in_flight: cost.in_flight,
        aborted_at_deadline: report.deadline_aborts(),
        retried: backend.and_then(|b| b.retries).unwrap_or(0),
        redispatched: backend.and_then(|b| b.redispatches).unwrap_or(0),
        detect_s: cost.detect_s,
        recover_s: cost.recover_s,
        back_up_s: cost.back_up_s,
        fault_at_s: since_start(times.fault_ms),
        heal_at_s: since_start(times.heal_ms),
        rps_before: cost.rps_before,
        rps_during: cost.rps_during,
        rps_after: cost.rps_after,
        rps_worst_500ms: cost.rps_worst_500ms,
        stall_s: cost.stall_s,
        victim_share_during: cost.victim_share_during,
        victim_p50_ms_during: cost.victim_p50_ms_during,
        others_p50_ms_during: cost.others_p50_ms_during,
        balance,
        load_loop: setup.load_loop(),
        offered_rps: open.map(|o| f64::from(o.rate)),
        due,
        timeline: cost.timeline,
    })
}

/// The load through `balancer` for the plan's fault trial, with the setup's fault injected on
/// `victim` (the last of its hosts) at [`FAULT_AT`] of it and healed at [`HEAL_AT`], while another thread
/// polls the balancer's view of `victim`. Returns oha's report, the polls, and the times.
fn drive(
    site: &Site,
    fleet: &mut Fleet,
    balancer: &Balancer,
    (setup, victim): (FaultSetup, &str),
    plan: &ClusterPlan,
    name: &str,
) -> anyhow::Result<(OhaReport, Vec<StatePoll>, Times)> {
    let FaultSetup { fault, hosts, open, .. } = setup;
    let (connections, rate) = open.map_or((plan.concurrency, None), |o| (o.connections, Some(o.rate)));
    let path = format!("{}?n={}", fleet.kind().path, plan.n);
    let length = Duration::from_secs_f64(plan.fault_duration);
    let done = AtomicBool::new(false);
    let polls = Mutex::new(Vec::new());
    let start_ms = unix_ms();
    let started = Instant::now();
    let (outcome, fault_ms, heal_ms) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let load = scope.spawn(|| site.load(balancer, &path, (Load::Duration(length), connections, rate), Some(name)));
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Ok(stats) = balancer.show_stat()
                    && let Some(host) = stats.iter().find(|s| s.is_host() && s.server == victim)
                {
                    polls.lock().expect("no poller panics").push(StatePoll {
                        at_ms: unix_ms(),
                        status: host.status.clone(),
                    });
                }
                std::thread::sleep(POLL_EVERY);
            }
        });
        let result = (|| -> anyhow::Result<(u64, u64)> {
            sleep_until(started + length.mul_f64(FAULT_AT), site.cancel);
            let fault_ms = unix_ms();
            fleet.inject(fault, hosts)?;
            sleep_until(started + length.mul_f64(HEAL_AT), site.cancel);
            let heal_ms = unix_ms();
            fleet.heal(fault, hosts)?;
            Ok((fault_ms, heal_ms))
        })();
        let outcome = load.join().expect("the load thread does not panic");
        done.store(true, Ordering::Relaxed);
        let (fault_ms, heal_ms) = result?;
        Ok((outcome, fault_ms, heal_ms))
    })?;
    let (_run, report) = outcome?;
    let polls = polls.into_inner().expect("no poller panics");
    let times = Times {
        start_ms,
        fault_ms,
        heal_ms,
    };
    Ok((report, polls, times))
}

/// What was lost, by the client's view: oha's counts of answers by status other than 2xx and
/// of failures by message, its deadline cuts apart.
fn lost_by(report: &OhaReport) -> BTreeMap<String, u64> {
    let statuses = (report.status_code_distribution.iter())
        .filter(|(status, _)| !status.starts_with('2'))
        .map(|(status, n)| (status.clone(), *n));
    let failures = (report.error_distribution.iter())
        .filter(|(message, _)| message.as_str() != DEADLINE_ABORT_MESSAGE)
        .map(|(message, n)| (message.clone(), *n));
    statuses.chain(failures).collect()
}

/// Sleeps until `deadline`, waking early if `cancel` is raised.
fn sleep_until(deadline: Instant, cancel: &AtomicBool) {
    while !cancel.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}
