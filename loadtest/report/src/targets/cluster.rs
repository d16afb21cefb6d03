//! The distributed lab's targets, checked on every `loadtest cluster` run whose fault trials
//! cover them: a slow host's remedy, and what an open loop shows of a fault's losses.

use loadtest_model::cluster::fault::Fault;
use loadtest_model::cluster::summary::{ClusterSummary, FaultEntry};
use loadtest_model::cluster::{Balance, LoadLoop, STATE_POLL_MS};
use loadtest_model::summary::{Limit, TargetCheck, TargetId, Unit};

use super::checked;
use crate::cluster::faults::kept;

/// With least connections, a slow host leaves the cluster at least this share of the
/// remaining hosts' capacity.
pub const LEASTCONN_KEEPS: f64 = 0.75;

/// Every cluster target the run's fault trials cover, in the order of [`TargetId::CHECKED`].
pub fn check(cluster: &ClusterSummary) -> Vec<TargetCheck> {
    let slow = |balance: Balance| {
        move |e: &&FaultEntry| {
            e.fault == Fault::Slow && e.balance == balance && e.retries && e.load_loop == LoadLoop::Closed
        }
    };
    let mut out: Vec<TargetCheck> = (cluster.faults.iter())
        .filter(slow(Balance::Leastconn))
        .filter_map(|e| slow_kept(e, TargetId::SlowLeastconnKept, Some(Limit::AtLeast(LEASTCONN_KEEPS))))
        .collect();
    out.extend(
        (cluster.faults.iter())
            .filter(slow(Balance::Roundrobin))
            .filter_map(|e| slow_kept(e, TargetId::SlowRoundrobinKept, None)),
    );
    let open = |fault: Fault, retries: bool| {
        move |e: &&FaultEntry| {
            e.fault == fault
                && e.retries == retries
                && e.load_loop == LoadLoop::Open
                && e.balance == Balance::Roundrobin
        }
    };
    out.extend((cluster.faults.iter()).filter(open(Fault::Crash, true)).map(|e| {
        let from = format!(
            "{} of {} requests due at {:.0} req/s (crash, retries on)",
            e.lost,
            e.due.unwrap_or(e.requests),
            e.offered_rps.unwrap_or(0.0)
        );
        checked(
            TargetId::OpenCrashLost,
            &e.server,
            e.lost as f64,
            Unit::Count,
            Some(Limit::AtMost(0.0)),
            from,
        )
    }));
    for fault in [Fault::Hang, Fault::Partition] {
        out.extend(
            (cluster.faults.iter())
                .filter(open(fault, false))
                .filter_map(losses_over_due),
        );
    }
    out
}

fn slow_kept(entry: &FaultEntry, target: TargetId, limit: Option<Limit>) -> Option<TargetCheck> {
    let share = kept(entry)?;
    let from = format!(
        "{:.0} req/s from the fault to the heal, against {:.0} before x {}/{} hosts (retries on)",
        entry.rps_during?,
        entry.rps_before,
        entry.hosts - 1,
        entry.hosts
    );
    Some(checked(target, &entry.server, share, Unit::Share, limit, from))
}

/// An open-loop trial without retries: its losses over the requests due to the failed host
/// (its round-robin share of the offered rate) from the fault until the balancer surely still
/// sent it requests: the last read of its view before the one that saw the host down.
fn losses_over_due(entry: &FaultEntry) -> Option<TargetCheck> {
    let rate = entry.offered_rps?;
    let up_s = (entry.detect_s? - STATE_POLL_MS as f64 / 1000.0).max(0.0);
    let due = rate * up_s / f64::from(entry.hosts);
    let from = format!(
        "{} lost; {rate:.0} req/s x {up_s:.2} s to the last read that saw the host up / {} hosts = {due:.0} due to \
         the host ({}, retries off; marked down {:.2} s after the fault)",
        entry.lost, entry.hosts, entry.fault, entry.detect_s?
    );
    let figure = entry.lost as f64 / due.max(f64::MIN_POSITIVE);
    Some(checked(
        TargetId::OpenLossesOverDue,
        &entry.server,
        figure,
        Unit::Ratio,
        Some(Limit::AtLeast(1.0)),
        from,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::conclusions::tests::{fault, summary};

    #[test]
    fn the_remedy_and_the_open_loop_s_losses_are_checked_from_the_trials() {
        let mut cluster = summary();
        assert!(check(&cluster).iter().all(|c| c.target == TargetId::SlowRoundrobinKept));
        let mut least = fault("threading", Fault::Slow, true, 0, None);
        least.balance = Balance::Leastconn;
        least.rps_during = Some(405.0);
        cluster.faults.push(least);
        let mut crash = fault("threading", Fault::Crash, true, 0, Some(0.3));
        crash.load_loop = LoadLoop::Open;
        crash.offered_rps = Some(400.0);
        crash.due = Some(6000);
        let mut hang = fault("threading", Fault::Hang, false, 150, Some(1.4));
        hang.load_loop = LoadLoop::Open;
        hang.offered_rps = Some(400.0);
        cluster.faults.extend([crash, hang]);
        let checks = check(&cluster);
        let row = |target: TargetId| checks.iter().find(|c| c.target == target).unwrap();
        // 405 of 600 x 3/4 = 450.
        let least = row(TargetId::SlowLeastconnKept);
        assert_eq!((least.figure, least.met), (0.9, Some(true)));
        assert_eq!(
            least.from,
            "405 req/s from the fault to the heal, against 600 before x 3/4 hosts (retries on)"
        );
        let round = row(TargetId::SlowRoundrobinKept);
        assert_eq!((round.figure, round.limit, round.met), (0.8, None, None));
        let crash = row(TargetId::OpenCrashLost);
        assert_eq!((crash.figure, crash.met), (0.0, Some(true)));
        assert_eq!(crash.from, "0 of 6000 requests due at 400 req/s (crash, retries on)");
        // Seen down 1.4 s after the fault, so surely still up at 1.3 s: 400 x 1.3 / 4 = 130
        // due to the hung host; 150 lost.
        let hang = row(TargetId::OpenLossesOverDue);
        assert!((hang.figure - 150.0 / 130.0).abs() < 1e-9, "{hang:?}");
        assert_eq!(hang.met, Some(true));
        assert!(
            hang.from
                .contains("400 req/s x 1.30 s to the last read that saw the host up / 4 hosts = 130 due"),
            "{hang:?}"
        );
    }
}
