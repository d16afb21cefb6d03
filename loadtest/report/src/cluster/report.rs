//! A cluster run's `report.md` and `report.html`, with its charts.

use std::fmt::Write as _;
use std::path::Path;

use loadtest_model::catalogue::Catalogue;
use loadtest_model::cluster::summary::{ClusterSummary, FaultEntry, spoken_ms};
use loadtest_model::cluster::{Balance, ClusterRun, LoadLoop};

/// Writes the charts, `report.md` and `report.html` of a cluster run into `dir`; returns the files
/// written. `summary.json` and `haproxy.cfg` are the run's to write.
pub fn write(run: &ClusterRun, catalogue: &Catalogue, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = super::charts::write(&run.cluster, catalogue, dir)?;
    let report = markdown(run, &files);
    crate::write(dir, "report.md", report.as_bytes())?;
    files.push("report.md".to_owned());
    crate::write(dir, "report.html", crate::html::render(&report, dir)?.as_bytes())?;
    files.push("report.html".to_owned());
    Ok(files)
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn scaling_table(cluster: &ClusterSummary) -> String {
    let mut out = String::from(
        "| server | hosts | req/s (median) | p50 ms | p99 ms | efficiency | host CPU ms per request | CPU per host | throttled | requests per host |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in &cluster.scaling {
        let cpus: Vec<String> = e.host_use.iter().map(|h| secs_or(h.cpus, 2)).collect();
        let throttled: Vec<String> = e
            .host_use
            .iter()
            .map(|h| {
                h.throttled_share
                    .map_or_else(|| "-".into(), |t| format!("{:.0}%", t * 100.0))
            })
            .collect();
        let requests: Vec<String> = e.host_use.iter().map(|h| h.requests.to_string()).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            e.server,
            e.hosts,
            e.rps_median,
            ms(e.latency_p50_ms),
            ms(e.latency_p99_ms),
            e.efficiency
                .map_or_else(|| "-".into(), |v| format!("{:.0}%", v * 100.0)),
            secs_or(e.host_cpu_ms_per_request, 2),
            cpus.join(" / "),
            throttled.join(" / "),
            requests.join(" / ")
        );
    }
    out
}

fn secs_or(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn fault_table(faults: &[FaultEntry]) -> String {
    let mut out = String::from(
        "| server | fault | retries | requests | ok | lost | lost as | in flight at fault | retried | redispatched | down after s | up again after s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in faults {
        let lost_as: Vec<String> = e.lost_by.iter().map(|(k, v)| format!("{v} x {k}")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.server,
            trial_kind(e),
            if e.retries { "on" } else { "off" },
            e.requests,
            e.ok,
            e.lost,
            if lost_as.is_empty() {
                "-".into()
            } else {
                lost_as.join(", ")
            },
            e.in_flight,
            e.retried,
            e.redispatched,
            secs(e.detect_s),
            secs(e.back_up_s)
        );
    }
    out
}

/// A fault as its tables name it: `slow`, with `leastconn` and `open loop at R/s` where they
/// apply.
pub(crate) fn trial_kind(e: &FaultEntry) -> String {
    let mut kind = e.fault.name().to_owned();
    if e.balance != Balance::Roundrobin {
        kind.push_str(&format!(", {}", e.balance));
    }
    if e.load_loop == LoadLoop::Open {
        kind.push_str(&format!(", open {:.0}/s", e.offered_rps.unwrap_or(0.0)));
    }
    kind
}

/// Throughput around each fault: before it, from it to the heal (and as a share of the
/// remaining hosts' capacity), its worst 500 ms and longest stall, after the heal, the lasting
/// recovery, and where the load went meanwhile.
fn throughput_table(faults: &[FaultEntry]) -> String {
    let mut out = String::from(
        "| server | fault | retries | req/s before | during | kept | worst 500 ms | stall s | after | recovered after s | failed host's share | its p50 ms (others') |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let whole = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}"));
    for e in faults {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
            e.server,
            trial_kind(e),
            if e.retries { "on" } else { "off" },
            e.rps_before,
            whole(e.rps_during),
            crate::cluster::faults::kept(e).map_or_else(|| "-".into(), |k| format!("{:.0}%", k * 100.0)),
            whole(e.rps_worst_500ms),
            secs(e.stall_s),
            whole(e.rps_after),
            e.recover_s
                .map_or_else(|| "not before the heal".into(), |s| format!("{s:.1}")),
            e.victim_share_during
                .map_or_else(|| "-".into(), |s| format!("{:.0}%", s * 100.0)),
            whole(e.victim_p50_ms_during),
            whole(e.others_p50_ms_during),
        );
    }
    out
}

/// `report.md`: the verdict, the tables, the charts, the method.
pub fn markdown(run: &ClusterRun, charts: &[String]) -> String {
    let mut out = String::from("# Cluster\n\n");
    setting(&mut out, run);
    if !run.conclusions.is_empty() {
        out.push_str("## Conclusions\n\n");
        for line in &run.conclusions {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    if !run.targets.is_empty() {
        out.push_str("## Targets\n\n");
        crate::markdown::targets_table(&mut out, &run.targets);
    }
    scaling(&mut out, &run.cluster, charts);
    if !run.cluster.faults.is_empty() {
        faults(&mut out, &run.cluster, charts);
    }
    let _ = writeln!(
        out,
        "## Method\n\nCommand: `{}`. Started {} UTC, took {:.0} s. Each trial's HAProxy configuration is in `haproxy/`, its \
         request log and oha's JSON in `raw/`, each server's log in `logs/`.",
        run.command.join(" "),
        run.started_utc,
        run.elapsed_secs
    );
    out
}

/// The hosts, the balancer as its configuration had it, the load and the machine.
fn setting(out: &mut String, run: &ClusterRun) {
    let c = &run.cluster;
    let hosts = match c.host_cpus {
        Some(cpus) => format!(
            "Hosts are network namespaces on one bridge, each running one lab server under a CPU quota of {cpus} CPU \
             (cgroup {}{}).",
            c.cgroup.as_deref().unwrap_or("-"),
            c.host_cpus_applied.map_or_else(String::new, |applied| format!(
                "; read back from the kernel: {applied} CPU"
            ))
        ),
        None => "Hosts are the servers given by `--host-url`; their CPU use is not measured from here.".to_owned(),
    };
    let _ = writeln!(
        out,
        "{hosts} {} balances them (round robin unless a fault's trial says leastconn, health checks on `/healthz` every {}, down after {} failures); \
         oha sends GET `?n={}` over {} connections. Machine: {} ({} CPUs), commit {}.\n",
        c.haproxy_version,
        spoken_ms(c.balancer.check_interval_ms),
        c.balancer.check_fall,
        c.n,
        c.concurrency,
        run.machine.cpu_model,
        run.machine.cpus,
        run.machine.git_commit.as_deref().unwrap_or("unknown")
    );
}

/// The scaling table and its chart.
fn scaling(out: &mut String, c: &ClusterSummary, charts: &[String]) {
    let _ = writeln!(
        out,
        "## Scaling\n\n{} trials of {} s per server and host count, after a warm-up, the host counts taking turns; efficiency is req/s(hosts) / (hosts x req/s(1 host)). \
         CPU per host is in CPUs; throttled is the share of scheduler periods the quota cut short.\n",
        c.trials, c.trial_secs
    );
    out.push_str(&scaling_table(c));
    if charts.iter().any(|f| f == "cluster_scaling.svg") {
        out.push_str("\n![req/s against hosts](cluster_scaling.svg)\n");
    }
}

/// The fault table, where oha's and HAProxy's counts of lost differ, and the timelines.
fn faults(out: &mut String, c: &ClusterSummary, charts: &[String]) {
    let _ = writeln!(
        out,
        "\n## Faults\n\nEach fault struck the last host {:.0}% into a {} s load and was healed at {:.0}%, once with the balancer's \
         retries on (`retries {}`, `retry-on all-retryable-errors`, `option redispatch 1`) and once with `retries 0`. \
         Requests, ok and lost are the client's: oha's answers by status and its failures, its deadline cuts at the end \
         left out. The timelines are drawn from HAProxy's log of every request, since oha keeps no record of a failure's \
         time; where the two counts of lost differ, the list under the table says so. Down and up again are from HAProxy's stats, \
         polled every 100 ms.\n",
        loadtest_model::cluster::FAULT_AT * 100.0,
        c.fault_trial_secs,
        loadtest_model::cluster::HEAL_AT * 100.0,
        c.balancer.retries
    );
    out.push_str(&fault_table(&c.faults));
    out.push('\n');
    let _ = writeln!(
        out,
        "Throughput around each fault, in 2xx answers a second by when the balancer accepted the request: before it \
         (from 10% to 30% of the trial), from the fault to the heal, and after (from 70% to 90%). Kept is during as a \
         share of the remaining hosts' capacity (before x (hosts - 1) / hosts), or for an open loop of the rate offered; a stall is the longest stretch under a \
         tenth of the pace before; recovered is the earliest time from which every 500 ms window up to the heal held \
         90% of the remaining capacity, if at least 2 s before the heal. The failed host's share is of the requests \
         accepted from the fault to the heal, with the median time they took (the other hosts' in brackets).\n"
    );
    out.push_str(&throughput_table(&c.faults));
    out.push('\n');
    for e in (c.faults.iter()).filter(|e| e.log_unreadable > 0) {
        let _ = writeln!(
            out,
            "- {} {} with retries {}: {} line(s) of the balancer's log could not be read (two written into each other) \
             and are left out of its counts and timeline.",
            e.server,
            trial_kind(e),
            if e.retries { "on" } else { "off" },
            e.log_unreadable
        );
    }
    for e in &c.faults {
        let (Some(logged_lost), Some(logged_requests)) = (e.logged_lost, e.logged_requests) else {
            continue;
        };
        if logged_lost == e.lost {
            continue;
        }
        let _ = writeln!(
            out,
            "- {} {} with retries {}: oha saw {} lost, HAProxy's log {} (of {} it logged, oha's deadline cuts included).",
            e.server,
            e.fault,
            if e.retries { "on" } else { "off" },
            e.lost,
            logged_lost,
            logged_requests
        );
    }
    out.push('\n');
    for chart in (charts.iter()).filter(|f| f.starts_with("cluster_") && f.as_str() != "cluster_scaling.svg") {
        let _ = writeln!(out, "![{chart}]({chart})\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_every_table_chart_and_the_method() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = crate::cluster::conclusions::tests::summary();
        let run = ClusterRun {
            conclusions: crate::cluster::conclusions::conclusions(&cluster, 2),
            targets: crate::targets::cluster::check(&cluster),
            command: vec!["loadtest".into(), "cluster".into()],
            started_utc: "2026-12-06T10:00:00Z".into(),
            elapsed_secs: 540.0,
            machine: crate::testdata::summary().machine,
            cluster,
        };
        let files = write(&run, &loadtest_model::catalogue::Catalogue::lab(), dir.path()).unwrap();
        for file in [
            "report.md",
            "report.html",
            "cluster_scaling.svg",
            "cluster_threading_crash.svg",
            "cluster_threading_slow.svg",
        ] {
            assert!(files.iter().any(|f| f == file), "{file} not in {files:?}");
            assert!(dir.path().join(file).exists(), "{file}");
        }
        let svg = std::fs::read_to_string(dir.path().join("cluster_threading_crash.svg")).unwrap();
        assert!(
            svg.contains("failed, retries off: 59 lost") && svg.contains("2xx, retries on"),
            "{svg}"
        );
        let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        for part in [
            "# Cluster",
            "## Conclusions",
            "| threading | 4 | 620 | 10.0 | 50.0 | 97% | 1.60 | 0.25 / 0.25 / 0.25 / 0.25 | 90% / 90% / 90% / 90% | 100 / 100 / 100 / 100 |",
            "| threading | crash | off | 1000 | 941 | 59 | 59 x 503 | 3 | 0 | 0 | 0.4 | 0.5 |",
            "| threading | slow | on | 1000 | 1000 | 0 | - | 3 | 5 | 40 | - | 0.5 |",
            "| threading | slow | on | 600 | 360 | 80% | 300 | 0.0 | 570 | 1.5 | 25% | 1 (12) |",
            "## Targets",
            "| cluster, slow host, round robin: req/s kept, share of the remaining hosts' capacity | threading | 80% | none |",
            "![req/s against hosts](cluster_scaling.svg)",
            "![cluster_threading_crash.svg](cluster_threading_crash.svg)",
            "- threading crash with retries off: oha saw 59 lost, HAProxy's log 61 (of 1020 it logged, oha's deadline cuts included).",
            "## Method",
        ] {
            assert!(report.contains(part), "{part} missing:\n{report}");
        }
        assert!(!report.contains("crash with retries on: oha saw"), "{report}");
        let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(page.contains("<section id=\"conclusions\">"), "{page}");
        assert!(page.contains("data-file=\"cluster_threading_crash.svg\""), "{page}");
        assert!(
            !dir.path().join("summary.json").exists(),
            "the run writes it, not its report"
        );
        let json = serde_json::to_value(&run).unwrap();
        let back: ClusterRun = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, run, "summary.json reads back to the run");
        for key in [
            "server",
            "fault",
            "hosts",
            "retries",
            "requests",
            "ok",
            "lost",
            "retried",
            "redispatched",
            "detect_s",
            "recover_s",
            "rps_before",
            "rps_during",
            "rps_after",
            "rps_worst_500ms",
            "balance",
            "loop",
        ] {
            assert!(json["cluster"]["faults"][0].get(key).is_some(), "{key}");
        }
        for key in [
            "server",
            "hosts",
            "rps_median",
            "latency_p50_ms",
            "latency_p99_ms",
            "efficiency",
        ] {
            assert!(json["cluster"]["scaling"][0].get(key).is_some(), "{key}");
        }
        assert_eq!(json["cluster"]["host_cpus"], 0.25);
        assert_eq!(json["cluster"]["host_cpus_applied"], 0.25);
        assert_eq!(json["cluster"]["faults"][0]["balance"], "roundrobin");
        assert_eq!(json["cluster"]["faults"][0]["loop"], "closed");
    }
}
