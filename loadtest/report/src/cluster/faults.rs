//! What each fault cost and why, from its own trials: the requests lost, the throughput kept
//! from the fault to the heal, how long answers stalled, where the balancer sent the load and
//! how long the failed host's requests took, beside the balancer's timeouts as its
//! configuration had them. A slow host's remedy (least connections) is set against round robin.

use loadtest_model::cluster::fault::Fault;
use loadtest_model::cluster::summary::{BalancerSettings, ClusterSummary, FaultEntry, spoken_ms};
use loadtest_model::cluster::{Balance, LoadLoop};
use loadtest_model::stats::median;

/// One sentence a fault and a way of offering the load, in the order the run made them; a
/// slow host's remedy after its fault's.
pub fn conclusions(cluster: &ClusterSummary) -> Vec<String> {
    let mut out = Vec::new();
    for (fault, load_loop) in kinds(&cluster.faults) {
        let of = |balance: Balance, retries: Option<bool>| -> Vec<&FaultEntry> {
            (cluster.faults.iter())
                .filter(|e| e.fault == fault && e.load_loop == load_loop && e.balance == balance)
                .filter(|e| retries.is_none_or(|r| e.retries == r))
                .collect()
        };
        let round = of(Balance::Roundrobin, None);
        if !round.is_empty() {
            out.push(cost(fault, load_loop, &round, &cluster.balancer));
        }
        let least = of(Balance::Leastconn, None);
        if !least.is_empty() {
            out.push(remedy(load_loop, &least, &of(Balance::Roundrobin, Some(true))));
        }
    }
    out
}

/// Each fault and loop the trials hold, in their order.
fn kinds(entries: &[FaultEntry]) -> Vec<(Fault, LoadLoop)> {
    let mut kinds = Vec::new();
    for entry in entries {
        let kind = (entry.fault, entry.load_loop);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}

/// The throughput kept from the fault to the heal, as a share of what the trial's load could
/// get ([`kept_of_what`]): in a closed loop the remaining hosts' capacity (req/s before x
/// (hosts - 1) / hosts), in an open loop the rate offered (its rate before the fault is what
/// was offered, not what the hosts could do).
pub fn kept(entry: &FaultEntry) -> Option<f64> {
    let against = match entry.load_loop {
        LoadLoop::Closed => entry.rps_before * f64::from(entry.hosts - 1) / f64::from(entry.hosts),
        LoadLoop::Open => entry.offered_rps?,
    };
    (against > 0.0).then_some(entry.rps_during? / against)
}

/// What [`kept`] is a share of, in words.
pub fn kept_of_what(load_loop: LoadLoop) -> &'static str {
    match load_loop {
        LoadLoop::Closed => "the remaining hosts' capacity",
        LoadLoop::Open => "the rate offered",
    }
}

/// "a to b" (or "a" where they agree) of `values` written with `write`; "-" for none.
fn range(values: impl IntoIterator<Item = f64>, write: impl Fn(f64) -> String) -> String {
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    let low = values.iter().copied().reduce(f64::min);
    let high = values.iter().copied().reduce(f64::max);
    match (low, high) {
        (Some(low), Some(high)) if write(low) == write(high) => write(low),
        (Some(low), Some(high)) => format!("{} to {}", write(low), write(high)),
        _ => "-".to_owned(),
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn secs(s: f64) -> String {
    format!("{s:.1} s")
}

fn whole(v: f64) -> String {
    format!("{v:.0}")
}

/// The median over `entries` of `figure`, where they have it.
fn median_of(entries: &[&FaultEntry], figure: impl Fn(&FaultEntry) -> Option<f64>) -> Option<f64> {
    median(&entries.iter().filter_map(|e| figure(e)).collect::<Vec<_>>())
}

/// What `fault` cost in round robin, retries on and off, under `load_loop`, and why.
fn cost(fault: Fault, load_loop: LoadLoop, entries: &[&FaultEntry], balancer: &BalancerSettings) -> String {
    let (with, without): (Vec<&FaultEntry>, Vec<&FaultEntry>) = entries.iter().partition(|e| e.retries);
    let lost = |entries: &[&FaultEntry]| entries.iter().map(|e| e.lost).sum::<u64>();
    let requests = |entries: &[&FaultEntry]| entries.iter().map(|e| e.requests).sum::<u64>();
    let servers = with.len().max(without.len());
    let offered = match load_loop {
        LoadLoop::Closed => String::new(),
        LoadLoop::Open => format!(
            ", open loop at {} req/s",
            range(entries.iter().filter_map(|e| e.offered_rps), whole)
        ),
    };
    let detect: Vec<f64> = entries.iter().filter_map(|e| e.detect_s).collect();
    let detected = if detect.is_empty() {
        "the balancer's health checks never marked the host down".to_owned()
    } else {
        format!("the checks marked the host down after {}", range(detect, secs))
    };
    let recovered: Vec<f64> = with.iter().filter_map(|e| e.recover_s).collect();
    let recovered = match (recovered.len(), with.len()) {
        // An open loop offers less than the hosts' capacity: the recovery's bar says nothing.
        _ if load_loop == LoadLoop::Open => String::new(),
        (_, 0) => String::new(),
        (0, _) => "; with retries no trial recovered for good before the heal".to_owned(),
        (n, all) => format!(
            "; with retries {} recovered for good {} after the fault",
            if n == all {
                "every trial".to_owned()
            } else {
                format!("{n} of {all} trials")
            },
            range(recovered, secs)
        ),
    };
    let kept = format!(
        "kept {} of {}",
        range(entries.iter().filter_map(|e| kept(e)), percent),
        kept_of_what(load_loop)
    );
    format!(
        "{fault} ({servers} servers{offered}): with retries {} of {} requests were lost, without them {} of {}; \
         {detected}. From the fault to the heal the cluster {kept} (worst 500 ms: {} req/s; longest stall {}), and \
         {} of its req/s before after the heal{recovered}. Why: {}.",
        lost(&with),
        requests(&with),
        lost(&without),
        requests(&without),
        range(entries.iter().filter_map(|e| e.rps_worst_500ms), whole),
        range(entries.iter().filter_map(|e| e.stall_s), secs),
        range(
            (entries.iter()).filter_map(|e| Some(e.rps_after? / e.rps_before.max(f64::MIN_POSITIVE))),
            percent
        ),
        why(fault, load_loop, entries, &without, balancer),
    )
}

/// Why `fault` cost what it did, from what its trials measured: where the balancer sent the
/// requests, how long the failed host's took, and the timeouts that bound them.
fn why(
    fault: Fault,
    load_loop: LoadLoop,
    entries: &[&FaultEntry],
    without: &[&FaultEntry],
    balancer: &BalancerSettings,
) -> String {
    let server = spoken_ms(balancer.server_timeout_ms);
    let connect = spoken_ms(balancer.connect_timeout_ms);
    // The log names the host that answered last: with retries on, a request the failed host
    // failed is logged with the host that answered it. So where the load went is read from the
    // trials without retries, where each request's host is the one it was sent to first.
    let sent = if without.is_empty() { entries } else { without };
    let share = range(sent.iter().filter_map(|e| e.victim_share_during), percent);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"));
    let victim = ms(median_of(sent, |e| e.victim_p50_ms_during));
    let others = ms(median_of(sent, |e| e.others_p50_ms_during));
    let lost_as = lost_as(without);
    match fault {
        Fault::Crash => format!(
            "the dead host's requests ended in a median of {victim} (the others' took {others}) and it was sent {share} \
             of the requests from the fault to the heal; HAProxy sends a request a \
             host refused to another host when its retries are on, and without them they were lost{lost_as}"
        ),
        Fault::Hang => format!(
            "the stopped host still took connections and was sent {share} of the requests from the fault to the heal; \
             they took a median of {victim} (the others' {others}), bounded by the balancer's {server} server timeout, \
             after which the retries sent them elsewhere; without retries they were lost{lost_as}"
        ),
        Fault::Partition => format!(
            "the cut-off host answered nothing and was sent {share} of the requests from the fault to the heal; they \
             took a median of {victim} (the others' {others}): new connections wait out the {connect} connect timeout \
             and requests already sent the {server} server timeout, then the retries send them elsewhere; without \
             retries they were lost{lost_as}"
        ),
        Fault::Slow => format!(
            "the starved host went on passing its health checks, so round robin went on sending it {share} of the \
             requests, each answered in a median of {victim} against {others} on the other hosts{}{}",
            match without.iter().map(|e| e.lost).sum::<u64>() {
                0 => format!(", within the {server} server timeout: none failed"),
                lost => format!(
                    "; without retries, {lost} took longer than the {server} server timeout and were lost{lost_as}"
                ),
            },
            match load_loop {
                LoadLoop::Closed =>
                    ": in a closed loop a connection that draws the slow host sends nothing more until \
                                     it answers, so the connections end up waiting on it"
                        .to_owned(),
                LoadLoop::Open =>
                    ": in an open loop the requests due go on being sent, and those it drew waited".to_owned(),
            }
        ),
    }
}

/// " (N x 503, M x ...)" over `entries`' losses, or nothing.
fn lost_as(entries: &[&FaultEntry]) -> String {
    let mut by: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (what, n) in entries.iter().flat_map(|e| e.lost_by.iter()) {
        *by.entry(what.as_str()).or_insert(0) += n;
    }
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by.iter().map(|(what, n)| format!("{n} x {what}")).collect();
    format!(" ({})", parts.join(", "))
}

/// A slow host's remedy, measured: the throughput kept with least connections against round
/// robin, both with retries on, under `load_loop`.
fn remedy(load_loop: LoadLoop, least: &[&FaultEntry], round: &[&FaultEntry]) -> String {
    let share = |entries: &[&FaultEntry]| range(entries.iter().filter_map(|e| e.victim_share_during), percent);
    let kept_of = |entries: &[&FaultEntry]| range(entries.iter().filter_map(|e| kept(e)), percent);
    let each: Vec<String> = (least.iter())
        .filter_map(|e| {
            let round = round.iter().find(|r| r.server == e.server)?;
            Some(format!(
                "{} {} against {}",
                e.server,
                percent(kept(e)?),
                percent(kept(round)?)
            ))
        })
        .collect();
    let offered = match load_loop {
        LoadLoop::Closed => String::new(),
        LoadLoop::Open => format!(
            ", open loop at {} req/s",
            range(least.iter().filter_map(|e| e.offered_rps), whole)
        ),
    };
    format!(
        "A slow host's remedy, measured{offered}: with `balance leastconn` (retries on) the balancer sent the slow \
         host {} of the requests from the fault to the heal, against {} in round robin, and the cluster kept {} of {}, \
         against {} ({}): least connections sends each request to the host with the fewest in flight, and the slow \
         host's requests stay in flight longest.",
        share(least),
        share(round),
        kept_of(least),
        kept_of_what(load_loop),
        kept_of(round),
        each.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::conclusions::tests::{fault, summary};

    fn said(cluster: &ClusterSummary, starts: &str) -> String {
        let lines = conclusions(cluster);
        (lines.iter().find(|l| l.starts_with(starts)))
            .unwrap_or_else(|| panic!("no line starts {starts:?}: {lines:#?}"))
            .clone()
    }

    #[test]
    fn each_fault_is_costed_with_and_without_retries_from_its_trials() {
        let crash = said(&summary(), "crash (");
        for part in [
            "crash (1 servers): with retries 0 of 1000 requests were lost, without them 59 of 1000",
            "the checks marked the host down after 0.4 s",
            // 360 req/s during the fault of 600 x 3/4 before it.
            "the cluster kept 80% of the remaining hosts' capacity (worst 500 ms: 300 req/s; longest stall 0.0 s)",
            "and 95% of its req/s before after the heal",
            "with retries every trial recovered for good 1.5 s after the fault",
            "the dead host's requests ended in a median of 1 ms (the others' took 12 ms) and it was sent 25%",
            "without them they were lost (59 x 503)",
        ] {
            assert!(crash.contains(part), "{part:?} missing: {crash}");
        }
    }

    #[test]
    fn a_slow_host_s_cost_is_told_from_where_the_load_went_and_its_remedy_measured() {
        let mut cluster = summary();
        let mut least = fault("threading", Fault::Slow, true, 0, None);
        least.balance = Balance::Leastconn;
        least.rps_during = Some(405.0);
        least.victim_share_during = Some(0.02);
        cluster.faults.push(least);
        for entry in cluster
            .faults
            .iter_mut()
            .filter(|e| e.fault == Fault::Slow && e.balance == Balance::Roundrobin)
        {
            entry.rps_during = Some(45.0);
            entry.stall_s = Some(1.2);
            entry.victim_p50_ms_during = Some(820.0);
            entry.recover_s = None;
        }
        let slow = said(&cluster, "slow (");
        assert!(slow.contains("within the 2 s server timeout: none failed"), "{slow}");
        let mut lossy = cluster.clone();
        let without = (lossy.faults.iter_mut())
            .find(|e| e.fault == Fault::Slow && !e.retries)
            .unwrap();
        (without.lost, without.lost_by) = (30, [("504".to_owned(), 30)].into());
        let lossy = said(&lossy, "slow (");
        assert!(
            lossy.contains("without retries, 30 took longer than the 2 s server timeout and were lost (30 x 504)"),
            "{lossy}"
        );
        for part in [
            "the balancer's health checks never marked the host down",
            "the cluster kept 10% of the remaining hosts' capacity",
            "longest stall 1.2 s",
            "with retries no trial recovered for good before the heal",
            "went on sending it 25% of the requests, each answered in a median of 820 ms against 12 ms",
            "in a closed loop a connection that draws the slow host sends nothing more",
        ] {
            assert!(slow.contains(part), "{part:?} missing: {slow}");
        }
        let remedy = said(&cluster, "A slow host's remedy");
        for part in [
            "sent the slow host 2% of the requests from the fault to the heal, against 25% in round robin",
            "the cluster kept 90% of the remaining hosts' capacity, against 10% (threading 90% against 10%)",
        ] {
            assert!(remedy.contains(part), "{part:?} missing: {remedy}");
        }
    }

    #[test]
    fn the_timeouts_quoted_are_those_the_configuration_had() {
        let mut cluster = summary();
        for kind in [Fault::Hang, Fault::Partition] {
            cluster.faults.push(fault("threading", kind, true, 0, Some(0.4)));
        }
        let said = conclusions(&cluster).join("\n");
        assert!(said.contains("bounded by the balancer's 2 s server timeout"), "{said}");
        assert!(said.contains("wait out the 500 ms connect timeout"), "{said}");
        cluster.balancer = BalancerSettings {
            server_timeout_ms: 1500,
            connect_timeout_ms: 250,
            ..BalancerSettings::until_recorded()
        };
        let said = conclusions(&cluster).join("\n");
        assert!(
            said.contains("bounded by the balancer's 1.5 s server timeout"),
            "{said}"
        );
        assert!(said.contains("wait out the 250 ms connect timeout"), "{said}");
        assert!(!said.contains("2 s"), "{said}");
    }

    #[test]
    fn an_open_loop_s_remedy_is_told_against_the_rate_offered() {
        let mut cluster = summary();
        cluster.faults.retain(|e| e.fault == Fault::Slow && e.retries);
        let mut least = cluster.faults[0].clone();
        least.balance = Balance::Leastconn;
        cluster.faults.push(least);
        for entry in &mut cluster.faults {
            entry.load_loop = LoadLoop::Open;
            entry.offered_rps = Some(400.0);
            entry.rps_before = 400.0;
            entry.rps_during = Some(if entry.balance == Balance::Leastconn {
                400.0
            } else {
                300.0
            });
        }
        let remedy = said(&cluster, "A slow host's remedy");
        assert!(
            remedy.starts_with("A slow host's remedy, measured, open loop at 400 req/s:")
                && remedy
                    .contains("the cluster kept 100% of the rate offered, against 75% (threading 100% against 75%)"),
            "{remedy}"
        );
    }

    #[test]
    fn open_loop_trials_are_told_apart_with_their_rate() {
        let mut cluster = summary();
        let mut open = fault("threading", Fault::Crash, true, 0, Some(0.3));
        open.load_loop = LoadLoop::Open;
        open.offered_rps = Some(360.0);
        open.rps_during = Some(360.0);
        cluster.faults.push(open);
        let lines = conclusions(&cluster);
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("crash (")).count(),
            2,
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(
                |l| l.starts_with("crash (1 servers, open loop at 360 req/s): with retries 0 of 1000")
                    && l.contains("the cluster kept 100% of the rate offered")
                    && !l.contains("recovered")
            ),
            "{lines:#?}"
        );
    }
}
