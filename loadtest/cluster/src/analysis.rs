//! What a fault cost, computed from the balancer's request log and its view of the failed
//! host, polled while the trial ran.

use std::collections::BTreeMap;

use super::log::{LogRecord, timeline};
pub use loadtest_model::cluster::SLOT_MS;
use loadtest_model::cluster::Slot;
/// The window over which throughput counts as recovered: 5 slots, 500 ms.
const RECOVERY_WINDOW_SLOTS: usize = 5;
/// Recovered means back to this share of the remaining hosts' capacity.
const RECOVERED_SHARE: f64 = 0.9;
/// Answers under this share of the pace before the fault are a stall.
const STALLED_SHARE: f64 = 0.1;
/// A recovery counts only if it starts at least this long before the heal.
const RECOVERY_MUST_LAST_MS: u64 = 2000;
/// `rps_after` is counted from this share of the trial after the heal (the healed host back
/// in) to [`AFTER_ENDS`] of it, clear of the client's last requests.
const AFTER_SETTLES: f64 = 0.1;
const AFTER_ENDS: f64 = 0.9;

/// The failed host's status in the balancer, as polled from its stats socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePoll {
    /// Unix time in ms.
    pub at_ms: u64,
    /// `UP`, `DOWN`, or a transition such as `UP 1/2`.
    pub status: String,
}

/// One fault trial's raw facts.
#[derive(Debug, Clone)]
pub struct FaultTrial<'a> {
    pub records: &'a [LogRecord],
    pub polls: &'a [StatePoll],
    /// The failed host's name in the balancer.
    pub victim: &'a str,
    pub hosts: u32,
    /// Unix ms: load started, fault injected, fault healed, load ended.
    pub start_ms: u64,
    pub fault_ms: u64,
    pub heal_ms: u64,
    pub end_ms: u64,
}

/// What the fault cost.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultCost {
    pub requests: u64,
    pub ok: u64,
    pub lost: u64,
    pub lost_by: BTreeMap<String, u64>,
    /// Requests the client ended itself (oha's deadline), left out of `requests`.
    pub client_aborted: u64,
    pub in_flight: u64,
    pub detect_s: Option<f64>,
    pub recover_s: Option<f64>,
    pub back_up_s: Option<f64>,
    pub rps_before: f64,
    pub rps_during: Option<f64>,
    pub rps_after: Option<f64>,
    pub rps_worst_500ms: Option<f64>,
    pub stall_s: Option<f64>,
    pub victim_share_during: Option<f64>,
    pub victim_p50_ms_during: Option<f64>,
    pub others_p50_ms_during: Option<f64>,
    pub timeline: Vec<Slot>,
}

/// Whether the client ended the session (HAProxy's termination state starts with `C`): oha's
/// deadline cut at the end of a trial, since no request of the lab's loads times out at the
/// client before it.
fn client_aborted(record: &LogRecord) -> bool {
    record.termination.starts_with('C') && record.status.is_none()
}

pub fn analyse(trial: &FaultTrial) -> FaultCost {
    let (aborted, counted): (Vec<&LogRecord>, Vec<&LogRecord>) = trial.records.iter().partition(|r| client_aborted(r));
    let ok = counted.iter().filter(|r| r.ok()).count() as u64;
    let mut lost_by = BTreeMap::new();
    for record in counted.iter().filter(|r| !r.ok()) {
        let key = match record.status {
            Some(status) => status.to_string(),
            None => format!("no answer ({})", record.termination),
        };
        *lost_by.entry(key).or_insert(0) += 1;
    }
    // A request the balancer tried again is logged with the host that answered last, so one
    // in flight to the failed host and then retried elsewhere shows only as retried.
    let in_flight = trial
        .records
        .iter()
        .filter(|r| r.accepted_ms < trial.fault_ms && (r.host.as_deref() == Some(trial.victim) || r.retries > 0))
        .filter(|r| r.total_ms < 0 || r.accepted_ms + r.total_ms as u64 > trial.fault_ms)
        .count() as u64;

    let slots = trial.end_ms.saturating_sub(trial.start_ms).div_ceil(SLOT_MS) as usize;
    let owned: Vec<LogRecord> = counted.iter().map(|r| (*r).clone()).collect();
    let line = timeline(&owned, trial.start_ms, SLOT_MS, slots);
    let length = trial.end_ms.saturating_sub(trial.start_ms) as f64;
    let slot_at = |fraction: f64| (((length * fraction) / SLOT_MS as f64) as usize).min(slots);
    let rps_before = rps_over(&line[slot_at(0.1)..slot_at(0.3)]);
    let fault_slot = ((trial.fault_ms.saturating_sub(trial.start_ms) / SLOT_MS) as usize).min(slots);
    let heal_slot = ((trial.heal_ms.saturating_sub(trial.start_ms) / SLOT_MS) as usize).clamp(fault_slot, slots);
    let during = &line[fault_slot..heal_slot];
    let remaining = rps_before * f64::from(trial.hosts - 1) / f64::from(trial.hosts);
    let recover_s = lasting_recovery(during, RECOVERED_SHARE * remaining).map(|s| {
        let at = trial.start_ms + (fault_slot + s) as u64 * SLOT_MS;
        at.saturating_sub(trial.fault_ms) as f64 / 1000.0
    });
    let spread = spread(&counted, trial);
    let heal_fraction = trial.heal_ms.saturating_sub(trial.start_ms) as f64 / length.max(1.0);
    let after = &line[slot_at(heal_fraction + AFTER_SETTLES).min(slot_at(AFTER_ENDS))..slot_at(AFTER_ENDS)];
    let down_at = trial
        .polls
        .iter()
        .find(|p| p.at_ms >= trial.fault_ms && p.status.starts_with("DOWN"))
        .map(|p| p.at_ms);
    let back_up_s = down_at.and_then(|_| {
        trial
            .polls
            .iter()
            .find(|p| p.at_ms >= trial.heal_ms && p.status == "UP")
            .map(|p| (p.at_ms - trial.heal_ms) as f64 / 1000.0)
    });
    FaultCost {
        requests: counted.len() as u64,
        ok,
        lost: counted.len() as u64 - ok,
        lost_by,
        client_aborted: aborted.len() as u64,
        in_flight,
        detect_s: down_at.map(|at| (at - trial.fault_ms) as f64 / 1000.0),
        recover_s,
        back_up_s,
        rps_before,
        rps_during: (!during.is_empty()).then(|| rps_over(during)),
        rps_after: (!after.is_empty()).then(|| rps_over(after)),
        rps_worst_500ms: (during.windows(RECOVERY_WINDOW_SLOTS))
            .map(rps_over)
            .min_by(f64::total_cmp),
        stall_s: (!during.is_empty()).then(|| longest_stall(during, rps_before)),
        victim_share_during: spread.share,
        victim_p50_ms_during: spread.victim_p50_ms,
        others_p50_ms_during: spread.others_p50_ms,
        timeline: line,
    }
}

/// The longest run of slots in `slots` whose 2xx answers ran under [`STALLED_SHARE`] of
/// `rps`' pace, in s.
fn longest_stall(slots: &[Slot], rps: f64) -> f64 {
    let pace = STALLED_SHARE * rps * SLOT_MS as f64 / 1000.0;
    let (mut longest, mut run) = (0, 0);
    for slot in slots {
        run = if f64::from(slot.ok) < pace { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    (longest as u64 * SLOT_MS) as f64 / 1000.0
}

/// Where the requests accepted from the fault to the heal went.
struct Spread {
    share: Option<f64>,
    victim_p50_ms: Option<f64>,
    others_p50_ms: Option<f64>,
}

fn spread(records: &[&LogRecord], trial: &FaultTrial) -> Spread {
    let during: Vec<&&LogRecord> = (records.iter())
        .filter(|r| (trial.fault_ms..trial.heal_ms).contains(&r.accepted_ms))
        .collect();
    let (victim, others): (Vec<&&LogRecord>, Vec<&&LogRecord>) =
        during.iter().partition(|r| r.host.as_deref() == Some(trial.victim));
    // A request with no end logged (-1) took at least until the trial's end.
    let p50 = |records: &[&&LogRecord]| {
        let times: Vec<f64> = (records.iter())
            .map(|r| {
                if r.total_ms >= 0 {
                    r.total_ms as f64
                } else {
                    trial.end_ms.saturating_sub(r.accepted_ms) as f64
                }
            })
            .collect();
        loadtest_model::stats::median(&times)
    };
    Spread {
        share: (!during.is_empty()).then(|| victim.len() as f64 / during.len() as f64),
        victim_p50_ms: p50(&victim),
        others_p50_ms: p50(&others),
    }
}

/// 2xx answers a second over `slots`; 0 over none.
fn rps_over(slots: &[Slot]) -> f64 {
    if slots.is_empty() {
        return 0.0;
    }
    slots.iter().map(|s| f64::from(s.ok)).sum::<f64>() / (slots.len() as f64 * SLOT_MS as f64 / 1000.0)
}

/// The first slot of `during` (the fault to the heal) from which every 500 ms window up to the
/// heal holds at least `rps` 2xx answers a second, if it is at least [`RECOVERY_MUST_LAST_MS`]
/// before the heal: a recovery that lasts, not a burst between two stalls.
fn lasting_recovery(during: &[Slot], rps: f64) -> Option<usize> {
    let must_last = (RECOVERY_MUST_LAST_MS / SLOT_MS) as usize;
    let last_start = during.len().checked_sub(must_last)?;
    let holds = |w: &[Slot]| rps_over(w) >= rps;
    // Windows from each slot to the heal; a slot starts a recovery if its window and every
    // later one hold. Walk back from the heal while they do.
    let windows: Vec<bool> = during.windows(RECOVERY_WINDOW_SLOTS).map(holds).collect();
    let mut first = windows.len();
    while first > 0 && windows[first - 1] {
        first -= 1;
    }
    // A window that starts in a stall and ends in a burst has not recovered at its start.
    let slot_holds = |slot: &Slot| f64::from(slot.ok) >= rps * SLOT_MS as f64 / 1000.0;
    while first < windows.len() && !slot_holds(&during[first]) {
        first += 1;
    }
    (first <= last_start && first < windows.len()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(accepted_ms: u64, status: i32, total_ms: i64, host: &str, termination: &str) -> LogRecord {
        LogRecord::parse(&format!("{accepted_ms} {status} {total_ms} 0 {host} {termination}")).unwrap()
    }

    /// Two hosts, 10 s from t=0: h1 and h2 answer 10 requests each per 100 ms; h2 fails at
    /// 3 s, and its requests fail (503) until it is marked down at 3.6 s; from 3.6 s h1 alone
    /// answers 10 per 100 ms; the heal is at 6 s.
    fn crash_without_retries() -> (Vec<LogRecord>, Vec<StatePoll>) {
        let mut records = Vec::new();
        for slot in 0..100u64 {
            let at = slot * 100;
            for i in 0..10 {
                records.push(record(at + i, 200, 5, "h1", "----"));
                if !(3000..6000).contains(&at) {
                    records.push(record(at + i, 200, 5, "h2", "----"));
                } else if at < 3600 {
                    records.push(record(at + i, 503, 500, "h2", "SC--"));
                }
            }
        }
        // In flight to h2 at the fault: accepted before 3000, ended after; and one tried again
        // on h1.
        records.push(record(2990, 200, 20, "h2", "----"));
        records.push(LogRecord::parse("2995 200 600 +1 h1 ----").unwrap());
        // oha's deadline cut.
        records.push(record(9990, -1, -1, "h1", "CD--"));
        let polls = [
            (2900, "UP"),
            (3300, "UP 1/2"),
            (3600, "DOWN"),
            (6000, "DOWN"),
            (6500, "DOWN 1/2"),
            (6700, "UP"),
        ]
        .map(|(at_ms, status)| StatePoll {
            at_ms,
            status: status.into(),
        })
        .to_vec();
        (records, polls)
    }

    #[test]
    fn a_crash_s_cost_is_counted_from_the_log_and_the_polls() {
        let (records, polls) = crash_without_retries();
        let cost = analyse(&FaultTrial {
            records: &records,
            polls: &polls,
            victim: "h2",
            hosts: 2,
            start_ms: 0,
            fault_ms: 3000,
            heal_ms: 6000,
            end_ms: 10_000,
        });
        assert_eq!(cost.lost, 60, "6 slots of 10 failed requests");
        assert_eq!(cost.lost_by, BTreeMap::from([("503".to_owned(), 60)]));
        assert_eq!(cost.client_aborted, 1);
        assert_eq!(cost.requests, records.len() as u64 - 1);
        // h1 answers 1000, h2 700 (before the fault and after the heal), and the two in flight.
        assert_eq!(cost.ok, 1702);
        assert_eq!(cost.ok + cost.lost, cost.requests);
        assert_eq!(cost.in_flight, 2);
        assert_eq!(cost.detect_s, Some(0.6));
        assert_eq!(cost.back_up_s, Some(0.7));
        // 20 answers per 100 ms from 1 s to 3 s, and the two in flight at the fault.
        assert!((cost.rps_before - 201.0).abs() < 1e-9, "{}", cost.rps_before);
        // 90% of one host's 100/s over 500 ms is 45 answers: reached at once, since h1 goes on
        // answering 50 per 500 ms.
        assert_eq!(cost.recover_s, Some(0.0));
        assert_eq!(cost.timeline.len(), 100);
        assert_eq!(cost.timeline[31], Slot { ok: 10, failed: 10 });
        assert_eq!(cost.timeline[40], Slot { ok: 10, failed: 0 });
        // h1 alone from the fault to the heal, both hosts from 70% to 90% of the trial.
        assert_eq!(cost.rps_during, Some(100.0));
        assert_eq!(cost.rps_worst_500ms, Some(100.0));
        assert_eq!(cost.rps_after, Some(200.0));
        // From the fault to the heal h2 was sent the 60 that failed in 500 ms, h1 300 in 5 ms.
        assert_eq!(cost.victim_share_during, Some(60.0 / 360.0));
        assert_eq!(
            (cost.victim_p50_ms_during, cost.others_p50_ms_during),
            (Some(500.0), Some(5.0))
        );
        assert_eq!(cost.stall_s, Some(0.0));
    }

    /// Two hosts answering 10 requests each per 100 ms for 10 s, except while `stalled`
    /// (ms), when neither answers.
    fn stalls(stalled: std::ops::Range<u64>) -> Vec<LogRecord> {
        let mut records = Vec::new();
        for slot in 0..100u64 {
            let at = slot * 100;
            let per_host = if stalled.contains(&at) { 0 } else { 10 };
            for i in 0..per_host {
                records.push(record(at + i, 200, 5, "h1", "----"));
                records.push(record(at + i, 200, 5, "h2", "----"));
            }
        }
        records
    }

    fn cost_of(records: &[LogRecord], fault_ms: u64, heal_ms: u64) -> FaultCost {
        analyse(&FaultTrial {
            records,
            polls: &[],
            victim: "h2",
            hosts: 2,
            start_ms: 0,
            fault_ms,
            heal_ms,
            end_ms: 10_000,
        })
    }

    #[test]
    fn throughput_that_stalls_recovers_when_answers_come_back_to_stay() {
        // One host of two hangs at 3 s and every client waits on it until 4.5 s.
        let records = stalls(3000..4500);
        let cost = cost_of(&records, 3050, 7000);
        assert_eq!(cost.recover_s, Some(1.45));
        assert_eq!((cost.detect_s, cost.back_up_s, cost.lost), (None, None, 0));
        assert_eq!(cost.rps_worst_500ms, Some(0.0));
        assert_eq!(cost.stall_s, Some(1.5));
        // 25 of the 40 slots from 3.0 s (the fault's) to 7.0 s answer 20 each.
        assert_eq!(cost.rps_during, Some(25.0 * 20.0 / 4.0));
        // The same stall with the heal at 6 s: answers came back 1.5 s before it, short of the
        // 2 s a recovery must last.
        assert_eq!(cost_of(&records, 3050, 6000).recover_s, None);
    }

    #[test]
    fn a_recovery_that_falls_again_is_not_one() {
        // Answers go on for a second after the fault, stop from 4.0 s to 5.5 s, and come back.
        let cost = cost_of(&stalls(4000..5500), 3000, 8000);
        assert_eq!(cost.recover_s, Some(2.5));
        // Back at the fault's slot, then a stall that lasts to the heal: never recovered.
        assert_eq!(cost_of(&stalls(4000..9000), 3000, 8000).recover_s, None);
    }
}
