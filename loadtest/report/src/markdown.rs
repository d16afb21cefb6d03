//! `report.md`: what a person reads, pictures first. The verdict in at most three sentences with
//! the charts that show it (throughput and CPU per request; for a sweep, throughput against
//! workers for each kind of work), then the targets, the tables, the rest of the conclusions,
//! the other charts, the warnings, how it was measured, and every trial.

use std::fmt::Write;

use crate::table::{number, scenario_label as scenario};
use loadtest_model::scaling::{FROM_N, MAX_CUT_SHARE, Scaling, TOLERANCE};
use loadtest_model::summary::{RunSummary, TargetCheck};

/// Renders the report; `charts` are the chart files written beside it.
pub fn render(summary: &RunSummary, charts: &[String]) -> String {
    let mut md = String::new();
    let lead = lead_charts(charts);
    heading(&mut md, summary);
    verdict(&mut md, summary, &lead);
    targets_and_results(&mut md, summary);
    md.push_str(&crate::claims::section(summary));
    comparisons(&mut md, summary);
    md.push_str(&crate::ledger::section(summary));
    md.push_str(&crate::floors::section(summary));
    probes(&mut md, summary);
    work_itself(&mut md, summary);
    cpu_speed(&mut md, summary);
    seed_app(&mut md, summary);
    conclusions(&mut md, summary);
    let rest: Vec<&String> = charts.iter().filter(|c| !lead.contains(c)).collect();
    self::charts(&mut md, &rest);
    section(&mut md, "Warnings");
    bullets(&mut md, &summary.warnings);
    traces(&mut md, summary);

    section(&mut md, "How this was measured");
    method(&mut md, summary);

    section(&mut md, "Every trial");
    trials_table(&mut md, summary);
    md
}

/// When the run was, how long it took, and its design.
fn heading(md: &mut String, summary: &RunSummary) {
    let design = &summary.design;
    let _ = writeln!(md, "# Threads or processes: load-test report\n");
    let _ = writeln!(
        md,
        "Started {}; the measurement took {:.0} s, after {:.0} s of set-up (finding or installing oha, building \
         and starting the servers). Mode: {} (`oha {} -c {}`, {} measured trial(s) per server and scenario{}).\n",
        summary.started_utc,
        summary.wall_secs,
        summary.setup_secs,
        design.mode,
        design.load,
        design.concurrency,
        design.measured_trials,
        if design.warmup_trials > 0 {
            ", after a discarded warm-up"
        } else {
            ""
        },
    );
    if !summary.complete {
        let _ = writeln!(
            md,
            "**This run was cut short** (stopped or killed): it holds the {} scenario(s) it finished, and \
             what follows is drawn from them alone.\n",
            loadtest_model::aggregate::scenarios(&summary.trials).len()
        );
    }
}

/// The conclusions, the first (the verdict) in bold.
fn conclusions(md: &mut String, summary: &RunSummary) {
    if summary.conclusions.is_empty() {
        return;
    }
    section(md, "Conclusions");
    bullets(md, &summary.conclusions);
}

/// The charts the report opens with: throughput against workers for each kind of work in a
/// sweep of several; a sweep's throughput and the scenario's; else the scenario's throughput and
/// CPU per request.
fn lead_charts(charts: &[String]) -> Vec<&String> {
    let by_kind: Vec<&String> = (charts.iter())
        .filter(|c| c.starts_with("sweep_") && c.ends_with("_rps.svg") && c.as_str() != "sweep_rps.svg")
        .collect();
    if !by_kind.is_empty() {
        return by_kind;
    }
    // Throughput, then where a request's time goes when the run traced it, else what a request
    // cost in CPU.
    let second = if charts.iter().any(|c| c == "phases.svg") {
        "phases.svg"
    } else {
        "cpu_per_request.svg"
    };
    let wanted: &[&str] = if charts.iter().any(|c| c == "sweep_rps.svg") {
        &["sweep_rps.svg", "throughput.svg"]
    } else {
        &["throughput.svg", second]
    };
    (wanted.iter()).filter_map(|w| charts.iter().find(|c| c == w)).collect()
}

/// The verdict, its first sentence in bold, and the charts that show it side by side.
fn verdict(md: &mut String, summary: &RunSummary, lead: &[&String]) {
    section(md, "Verdict");
    if let Some((first, rest)) = summary.verdict.split_first() {
        let _ = writeln!(md, "**{first}** {}\n", rest.join(" "));
    }
    if let Some(note) = crate::conclusions::client_heavy_ranking(summary) {
        let _ = writeln!(md, "*{note}*\n");
    }
    if !lead.is_empty() {
        let images: Vec<String> = lead.iter().map(|chart| image(chart)).collect();
        let _ = writeln!(md, "{}\n", images.join(" "));
    }
}

/// A chart as a Markdown image, its alt text its name in words.
fn image(chart: &str) -> String {
    format!("![{}]({chart})", chart.trim_end_matches(".svg").replace('_', " "))
}

/// The targets (if the run covers any), the results and, for a size sweep, how each server
/// scaled with n.
fn targets_and_results(md: &mut String, summary: &RunSummary) {
    if !summary.targets.is_empty() {
        section(md, "Targets");
        targets_table(md, &summary.targets);
    }

    section(md, "Results");
    results_table(md, summary);

    let scaling = loadtest_model::scaling::scaling(summary);
    if !scaling.is_empty() {
        section(md, "Scaling with n");
        scaling_table(md, &scaling);
    }
}

/// Every pair of servers compared, per scenario.
fn comparisons(md: &mut String, summary: &RunSummary) {
    if summary.comparisons.is_empty() {
        return;
    }
    section(md, "Comparisons");
    let _ = writeln!(
        md,
        "Ratios of medians, A over B, with 95% bootstrap intervals; a difference counts only when the whole \
         interval is more than {:.0}% from 1.\n",
        loadtest_model::stats::NOISE_BAND * 100.0
    );
    let _ = writeln!(
        md,
        "| scenario | A / B | req/s ratio | 95% interval | CPU/request ratio | peak memory ratio | verdict |"
    );
    let _ = writeln!(md, "|---|---|---:|---|---:|---:|---|");
    for c in &summary.comparisons {
        let (ratio, interval) = c.rps_ratio.map_or(("-".into(), "-".into()), |r| {
            (
                format!("{:.2}", r.value),
                format!("{:.2} to {:.2}", r.ci_low, r.ci_high),
            )
        });
        let _ = writeln!(
            md,
            "| {} | {} / {} | {ratio} | {interval} | {} | {} | {} |",
            scenario(c.scenario),
            c.a,
            c.b,
            number(c.cpu_ratio.map(|r| r.value), 2),
            number(c.memory_ratio, 2),
            c.verdict
        );
    }
    md.push('\n');
}

/// What the servers' own answers say their work costs.
fn probes(md: &mut String, summary: &RunSummary) {
    if summary.probes.is_empty() {
        return;
    }
    section(md, "What the servers' answers say");
    let _ = writeln!(
        md,
        "Medians of the timings in the servers' own answers, over sequential requests with no other load.\n"
    );
    let _ = writeln!(
        md,
        "| server | scenario | requests | generation ms | addition ms | total ms |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|");
    for p in &summary.probes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            p.server,
            scenario(p.scenario),
            p.requests,
            number(p.generation_ms, 2),
            number(p.execution_ms, 2),
            number(p.total_ms, 2)
        );
    }
    md.push('\n');
}

/// The work's in-process cost and a thread's start.
fn work_itself(md: &mut String, summary: &RunSummary) {
    if summary.work_costs.is_empty() {
        return;
    }
    section(md, "The work itself");
    let _ = writeln!(
        md,
        "CPU time of one request's work in the harness's own process: generating two n x n matrices and \
         adding them on one thread, with the servers' code and reused buffers (median of timed rounds).\n"
    );
    let _ = writeln!(md, "| n | CPU ms | rounds |");
    let _ = writeln!(md, "|---:|---:|---:|");
    for cost in &summary.work_costs {
        let _ = writeln!(md, "| {} | {:.3} | {} |", cost.n, cost.cpu_ms, cost.iterations);
    }
    md.push('\n');
    if let Some(us) = summary.thread_start_cpu_us {
        let _ = writeln!(
            md,
            "Starting and joining one thread, as the scoped threads server does for each band beyond the \
             first: {us:.1} µs of CPU (cheapest of 3 rounds of 600, the lower of before and after the trials).\n"
        );
    }
}

/// Each CPU's speed, before and after the trials.
fn cpu_speed(md: &mut String, summary: &RunSummary) {
    let Some(speed) = &summary.cpu_speed else {
        return;
    };
    section(md, "CPU speed");
    let _ = writeln!(
        md,
        "Wall time of {} on each CPU in turn, the thread pinned to it, {} times each, interleaved. \
         Work split over the CPUs finishes at the slowest one's pace.\n",
        speed.reference,
        speed.checks.first().and_then(|c| c.cpus.first()).map_or(0, |t| t.runs)
    );
    let _ = writeln!(md, "| check | CPU | min ms | median ms | max ms |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for check in &speed.checks {
        for t in &check.cpus {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {:.2} |",
                check.when, t.cpu, t.min_ms, t.median_ms, t.max_ms
            );
        }
    }
    md.push('\n');
}

/// What one request to the handout's own processes app did (`--python`).
fn seed_app(md: &mut String, summary: &RunSummary) {
    let Some(probe) = &summary.python_processes_seed else {
        return;
    };
    section(md, "The handout's own processes app");
    let _ = writeln!(md, "{}\n", probe.verdict);
    let _ = writeln!(
        md,
        "| command | answer | seconds | gunicorn worker timeout | orphaned children | left after the harness stopped it |"
    );
    let _ = writeln!(md, "|---|---|---:|---|---:|---:|");
    let answer = probe.status.map_or_else(
        || probe.error.clone().unwrap_or_else(|| "none".into()),
        |s| s.to_string(),
    );
    let _ = writeln!(
        md,
        "| `{}` | {answer} | {:.1} | {} | {} | {} |\n",
        probe.command.join(" "),
        probe.seconds,
        if probe.worker_timeout { "yes" } else { "no" },
        probe.orphans,
        probe.left_after_stop
    );
}

/// The charts, one image each.
fn charts(md: &mut String, charts: &[&String]) {
    if charts.is_empty() {
        return;
    }
    section(md, "Charts");
    for chart in charts {
        let _ = writeln!(md, "{}\n", image(chart));
    }
}

fn section(md: &mut String, title: &str) {
    let _ = writeln!(md, "## {title}\n");
}

fn bullets(md: &mut String, lines: &[String]) {
    for line in lines {
        let _ = writeln!(md, "- {line}");
    }
    md.push('\n');
}

fn mib(bytes: Option<u64>) -> String {
    number(bytes.map(|b| b as f64 / (1024.0 * 1024.0)), 1)
}

/// The lab's targets this run measured, one row per target and server (the cluster's report
/// too).
pub(crate) fn targets_table(md: &mut String, targets: &[TargetCheck]) {
    let _ = writeln!(
        md,
        "The lab's targets that this run's scenarios cover, each checked against its own data.\n"
    );
    let _ = writeln!(md, "| target | server | figure | limit | verdict | from |");
    let _ = writeln!(md, "|---|---|---:|---|---|---|");
    for t in targets {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            t.target,
            t.server,
            t.figure_text(),
            t.limit_text(),
            t.verdict(),
            t.from
        );
    }
    md.push('\n');
}

fn results_table(md: &mut String, summary: &RunSummary) {
    let _ = writeln!(
        md,
        "Per server and scenario, over valid measured trials: medians of per-trial figures, the req/s range, \
         the tail against the median (p99/p50; the lab's target is at most 3), CPU per request as a multiple of \
         the in-process work (x work), oha's own CPU per request beside the server's, what held it back (the \
         rule is in the conclusions), peak memory (PSS of the whole process tree). Latencies are closed-loop \
         (each connection sends its next request when answered, so a client's wait to send is never counted) unless the scenario \
         says open R/s: oha sent R requests a second and counted each latency from when it was due.\n"
    );
    let _ = writeln!(
        md,
        "| server | scenario | req/s | req/s min to max | p50 ms | p99 ms | p99/p50 | CPU ms/request | x work | oha CPU ms/request | held back by | peak MiB | after MiB | trials (invalid) | 2xx rate |"
    );
    let _ = writeln!(
        md,
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    );
    for r in &summary.results {
        let range = r
            .rps
            .filter(|s| s.n > 1)
            .map_or_else(|| "-".into(), |s| format!("{:.0} to {:.0}", s.min, s.max));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {range} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {:.1}% |",
            r.server,
            scenario(r.scenario),
            number(r.rps_median, 0),
            number(r.latency_p50_ms, 1),
            number(r.latency_p99_ms, 1),
            number(r.latency_p99_over_p50, 1),
            number(r.cpu_ms_per_request, 2),
            number(r.cpu_vs_work, 1),
            number(r.client_cpu_ms_per_request, 2),
            r.bottleneck.map_or_else(|| "-".to_owned(), |b| b.to_string()),
            mib(r.peak_memory_bytes),
            mib(r.memory_after_bytes),
            r.trials_valid,
            r.trials_invalid,
            r.success_rate * 100.0
        );
    }
    md.push('\n');
}

/// Per server and n: CPU per request, per element (n²), and per element against the reference.
fn scaling_table(md: &mut String, scaling: &[Scaling]) {
    let _ = writeln!(
        md,
        "A request's work grows like n², so CPU per element (CPU per request over n²) stays flat when a server's \
         cost grows like the work. The conclusions call it n² when, from n={FROM_N} up, CPU per element stays \
         within {TOLERANCE}x of the reference, the largest n whose figure is not overstated; below n={FROM_N} the part \
         of a request's CPU that does not grow with n² weighs too much. A figure is overstated when the requests cut at the -z deadline exceed \
         {:.0}% of those answered: the CPU they used is charged to the answered ones.\n",
        MAX_CUT_SHARE * 100.0
    );
    let _ = writeln!(
        md,
        "| server | n | CPU ms/request | CPU ns per n² | against the reference | requests cut / answered |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for server in scaling {
        for p in &server.points {
            let note = if p.n == server.reference.n {
                " (reference)"
            } else if p.overstated() {
                " (overstated)"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {:.2}x{note} | {} |",
                server.server,
                p.n,
                p.cpu_ms_per_request,
                p.ns_per_element,
                p.vs_reference,
                number(Some(p.cut_share * 100.0), 1) + "%"
            );
        }
    }
    md.push('\n');
}

/// The traced windows kept after the trials, and the servers not traced.
fn traces(md: &mut String, summary: &RunSummary) {
    if summary.traces.is_empty() {
        return;
    }
    section(md, "Traces");
    md.push_str(
        "After every trial, each lab server the run started was traced for 1 s while oha loaded it at each kind \
         of work's headline scenario: every request's phases, on the thread or process where they happened \
         (docs/methodology.md). Open a file in Perfetto UI (ui.perfetto.dev) or `chrome://tracing`.\n\n",
    );
    md.push_str(
        "| server | work | file | timeline | requests | events | dropped | note |\n|---|---|---|---|---:|---:|---:|---|\n",
    );
    for window in &summary.traces {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            window.server,
            window.work.map_or("", |work| work.name()),
            window
                .file
                .as_deref()
                .map_or_else(|| "not traced".to_owned(), |file| format!("`{file}`")),
            (window.timeline.as_deref()).map_or_else(String::new, |file| format!("[{file}]({file})")),
            window.requests,
            window.events,
            window.dropped,
            window.note.as_deref().unwrap_or_default()
        );
    }
    md.push('\n');
    if !summary.trace_cost.is_empty() {
        md.push_str("What recording costs, with `--trace-cost`:\n\n");
        let lines: Vec<String> = summary.trace_cost.iter().map(|cost| cost.sentence()).collect();
        bullets(md, &lines);
    }
}

fn method(md: &mut String, summary: &RunSummary) {
    let m = &summary.machine;
    let lines = [
        format!(
            "Machine: {} ({} CPUs, {:.0} GiB), Linux {}; {}; servers built with the `{}` profile{}.",
            m.cpu_model,
            m.cpus,
            m.memory_bytes as f64 / f64::from(1u32 << 30),
            m.kernel,
            m.rustc.as_deref().unwrap_or("rustc unknown"),
            m.build_profile,
            m.git_commit
                .as_deref()
                .map_or_else(String::new, |c| format!(" at commit {c}"))
        ),
        format!("Load generator: {}, on the same machine.", summary.oha_version),
        format!(
            "Servers: {}.",
            summary
                .servers
                .iter()
                .map(|s| format!("{} at {} ({})", s.name, s.url, s.origin()))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "Before any load, each server's answer was checked (status, every contracted key) and the lab servers \
         had to agree on the sum for one seed; then each server's own timings were probed."
            .into(),
        "Trials alternate between the servers, so drift affects all of them alike. A trial counts only if oha \
         exited 0 and every answer was 2xx with no failed request (requests aborted at a -z deadline are counted \
         apart). req/s counts 2xx answers only; latency is over 2xx answers."
            .into(),
        "Server CPU is user + system time of the whole process tree over the trial, children that were reaped \
         included (from /proc, 10 ms ticks); memory is PSS summed over the tree, sampled every 200 ms."
            .into(),
        "Across trials: medians, with min and max; outliers flagged by modified Z-score, never dropped; ratios of \
         medians with seeded 95% bootstrap intervals."
            .into(),
        "oha's JSON for every trial is in `raw/`, and `summary.json` holds every figure shown here.".into(),
    ];
    bullets(md, &lines);
}

fn trials_table(md: &mut String, summary: &RunSummary) {
    let _ = writeln!(
        md,
        "| server | scenario | phase | # | valid | req/s | p50 ms | p99 ms | CPU ms/req | peak MiB | oha CPU share | notes |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|");
    for t in &summary.trials {
        let mut notes = t.invalid_reasons.clone();
        if t.outlier {
            notes.push("outlier".into());
        }
        if t.client_bound {
            notes.push("client-bound".into());
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.server,
            scenario(t.scenario),
            t.phase,
            t.index,
            if t.valid { "yes" } else { "no" },
            number(t.rps_2xx, 0),
            number(t.latency_p50_ms, 1),
            number(t.latency_p99_ms, 1),
            number(t.cpu_ms_per_request, 2),
            mib(t.peak_memory_bytes),
            number(t.oha_cpu_share.map(|s| s * 100.0), 0) + if t.oha_cpu_share.is_some() { "%" } else { "" },
            notes.join("; ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charts_that_lead_show_the_verdict_and_each_is_drawn_once() {
        let names = |files: &[&str]| files.iter().map(|f| (*f).to_owned()).collect::<Vec<String>>();
        let plain = names(&["throughput.svg", "latency.svg", "cpu_per_request.svg", "memory.svg"]);
        assert_eq!(lead_charts(&plain), [&plain[0], &plain[2]]);
        // A traced run: where a request's time goes takes the second place.
        let traced = names(&["phases.svg", "throughput.svg", "cpu_per_request.svg"]);
        assert_eq!(lead_charts(&traced), [&traced[1], &traced[0]]);
        let sweep = names(&["throughput.svg", "sweep_rps.svg", "sweep_latency_p99.svg"]);
        assert_eq!(lead_charts(&sweep), [&sweep[1], &sweep[0]]);
        let kinds = names(&[
            "throughput.svg",
            "sweep_add_rps.svg",
            "sweep_add_latency_p50.svg",
            "sweep_io_rps.svg",
        ]);
        assert_eq!(lead_charts(&kinds), [&kinds[1], &kinds[3]]);

        let mut summary = crate::testdata::summary();
        summary.verdict = vec!["Fastest: threading.".into(), "By far.".into()];
        let report = render(&summary, &plain);
        assert!(
            report.contains(
                "## Verdict\n\n**Fastest: threading.** By far.\n\n![throughput](throughput.svg) \
                 ![cpu per request](cpu_per_request.svg)\n"
            ),
            "{report}"
        );
        for chart in &plain {
            assert_eq!(report.matches(&format!("]({chart})")).count(), 1, "{chart}");
        }
        let at = |section: &str| report.find(section).unwrap();
        assert!(at("## Verdict") < at("## Targets") && at("## Targets") < at("## Results"));
        assert!(at("## Comparisons") < at("## Conclusions") && at("## Conclusions") < at("## Charts"));
    }

    #[test]
    fn the_report_of_a_fixed_run() {
        let summary = crate::testdata::summary();
        insta::assert_snapshot!(render(&summary, &["throughput.svg".into(), "latency.svg".into()]));
    }

    #[test]
    fn the_report_of_a_size_sweep() {
        let summary = crate::testdata::size_sweep();
        insta::assert_snapshot!(render(&summary, &[]));
    }

    #[test]
    fn the_report_of_three_lab_servers_and_another() {
        let summary = crate::testdata::three_servers();
        insta::assert_snapshot!(render(&summary, &[]));
    }
}
