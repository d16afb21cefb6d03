//! `compare.md` (and through it `compare.html`) and the terminal's account of a comparison:
//! the verdict first, then what differs between the runs, then every figure.

use std::fmt::Write as _;

use loadtest_model::compare::{CompareRun, FigureComparison, Metric, Unmatched};
use loadtest_model::stats::Verdict;

use crate::table::scenario_label;

/// `compare.md`.
pub fn render(run: &CompareRun) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} against {}\n", run.new.dir, run.base.dir);
    let _ = writeln!(
        md,
        "- BASE: `{}`, {}{}",
        run.base.dir,
        run.base.started_utc,
        commit(&run.base.git_commit)
    );
    let _ = writeln!(
        md,
        "- NEW: `{}`, {}{}\n",
        run.new.dir,
        run.new.started_utc,
        commit(&run.new.git_commit)
    );
    let _ = writeln!(md, "## Verdict\n");
    for line in verdict(run) {
        let _ = writeln!(md, "{line}\n");
    }
    let _ = writeln!(md, "![NEW over BASE, each figure with its 95% interval](compare.svg)\n");
    let _ = writeln!(md, "## What differs between the runs\n");
    if run.differences.is_empty() {
        let _ = writeln!(md, "Nothing: the same machine, versions, commit, design and servers.\n");
    } else {
        let _ = writeln!(md, "Read these first: any of them can move every figure below.\n");
        let _ = writeln!(md, "| what | BASE | NEW |\n|---|---|---|");
        for d in &run.differences {
            let _ = writeln!(md, "| `{}` | {} | {} |", d.what, cell(&d.base), cell(&d.new));
        }
        md.push('\n');
    }
    if let Some(line) = noise(run) {
        let _ = writeln!(md, "{line}\n");
    }
    let _ = writeln!(md, "## Every figure\n");
    let _ = writeln!(
        md,
        "NEW over BASE, medians over each run's valid measured trials, with the 95% bootstrap interval of the \
         ratio. A figure is faster or slower only when its whole interval lies beyond the ±{:.0}% band, in \
         the direction that is better for it: more req/s, less time, less CPU. p is the two-sided \
         Mann-Whitney U test of the two runs' trials.\n",
        run.noise_band * 100.0
    );
    let _ = writeln!(
        md,
        "| server | scenario | figure | BASE | NEW | NEW/BASE | 95% interval | verdict | p |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---|---|---:|");
    for c in &run.comparisons {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.3}x | {} | {}{} | {} |",
            c.server,
            scenario_label(c.scenario),
            metric_label(c.metric),
            figure(c.base),
            figure(c.new),
            c.ratio,
            interval(c),
            c.verdict,
            if c.regression { " (regression)" } else { "" },
            c.p_value.map_or_else(|| "-".to_owned(), |p| format!("{p:.3}"))
        );
    }
    md.push('\n');
    if let Some(note) = p_floor_note(run) {
        let _ = writeln!(md, "{note}\n");
    }
    unmatched(&mut md, "Only in BASE", &run.only_in_base);
    unmatched(&mut md, "Only in NEW", &run.only_in_new);
    md
}

/// What the terminal prints: the verdict and the figures that moved beyond noise.
pub fn terminal(run: &CompareRun) -> String {
    let mut out = String::new();
    for line in verdict(run) {
        let _ = writeln!(out, "{line}");
    }
    if !run.differences.is_empty() {
        let _ = writeln!(out, "What differs between the runs:");
        for d in &run.differences {
            let _ = writeln!(out, "  {}: {} -> {}", d.what, d.base, d.new);
        }
    }
    out
}

/// The verdict: how many figures moved which way, which ones, and the regressions.
fn verdict(run: &CompareRun) -> Vec<String> {
    let count = |v: Verdict| run.comparisons.iter().filter(|c| c.verdict == v).count();
    let mut lines = vec![format!(
        "Of {} figures, NEW against BASE: {} faster and {} slower (the whole 95% interval beyond the ±{:.0}% band), \
         {} within noise{}.",
        run.comparisons.len(),
        count(Verdict::Higher),
        count(Verdict::Lower),
        run.noise_band * 100.0,
        count(Verdict::WithinNoise),
        match count(Verdict::TooFewTrials) {
            0 => String::new(),
            n => format!(", {n} without a verdict (one trial a side)"),
        },
    )];
    let named = |c: &FigureComparison| match several_scenarios(run) {
        true => format!(
            "{} {} at {}",
            c.server,
            metric_label(c.metric),
            scenario_label(c.scenario)
        ),
        false => format!("{} {}", c.server, metric_label(c.metric)),
    };
    for (verdict, word) in [(Verdict::Lower, "Slower"), (Verdict::Higher, "Faster")] {
        let moved: Vec<String> = (run.comparisons.iter())
            .filter(|c| c.verdict == verdict)
            .map(|c| format!("{} {:.2}x", named(c), c.ratio))
            .collect();
        if !moved.is_empty() {
            lines.push(format!("{word}: {}.", at_most(&moved)));
        }
    }
    if let Some(pct) = run.fail_on_regression_pct {
        let regressed: Vec<&FigureComparison> = run.comparisons.iter().filter(|c| c.regression).collect();
        lines.push(if regressed.is_empty() {
            format!("No figure is worse by more than {pct}% beyond noise.")
        } else {
            let worse: Vec<String> = (regressed.iter())
                .map(|c| format!("{} {:.0}% worse", named(c), c.worse_by_pct()))
                .collect();
            format!("Regressions beyond {pct}%: {}.", at_most(&worse))
        });
    }
    lines
}

/// The figures named in a verdict's line before the rest are only counted.
const NAMED_AT_MOST: usize = 12;

/// `items` joined, the first [`NAMED_AT_MOST`] of them, then how many more the table holds.
fn at_most(items: &[String]) -> String {
    let shown = items[..items.len().min(NAMED_AT_MOST)].join(", ");
    match items.len().saturating_sub(NAMED_AT_MOST) {
        0 => shown,
        more => format!("{shown}, and {more} more (every figure is in the table)"),
    }
}

/// Whether the figures cover more than one scenario, so that naming a server is not enough.
fn several_scenarios(run: &CompareRun) -> bool {
    (run.comparisons.iter()).any(|c| {
        run.comparisons
            .first()
            .is_some_and(|first| first.scenario != c.scenario)
    })
}

/// When the trials are too few for the U test to reach 0.05, say so: its p-value cannot show
/// a difference, whatever the figures.
fn p_floor_note(run: &CompareRun) -> Option<String> {
    let highest = (run.comparisons.iter()).max_by(|a, b| a.p_value_floor.total_cmp(&b.p_value_floor))?;
    (highest.p_value_floor >= 0.05).then(|| {
        format!(
            "With {} trials in BASE and {} in NEW the U test cannot give less than {:.2}, however far apart the \
             trials are: its p-value cannot show a difference here, and the interval decides.",
            highest.base_trials, highest.new_trials, highest.p_value_floor
        )
    })
}

/// Both machines' noise during the trials, side by side, when both runs read it.
fn noise(run: &CompareRun) -> Option<String> {
    let (base, new) = (run.base.noise.as_ref()?, run.new.noise.as_ref()?);
    let pct = |share: Option<f64>| share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0));
    Some(format!(
        "The machines' noise during the trials: BASE {} of the CPU time stolen and {} taken by other processes; \
         NEW {} and {}.",
        pct(base.steal_share),
        pct(base.others_share),
        pct(new.steal_share),
        pct(new.others_share)
    ))
}

fn unmatched(md: &mut String, title: &str, list: &[Unmatched]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(md, "## {title}\n");
    let _ = writeln!(md, "Listed, not compared: the other run did not measure them.\n");
    for u in list {
        let _ = writeln!(md, "- {} at {}", u.server, scenario_label(u.scenario));
    }
    md.push('\n');
}

pub(super) fn metric_label(metric: Metric) -> &'static str {
    match metric {
        Metric::Rps => "req/s",
        Metric::P50Ms => "p50 ms",
        Metric::P99Ms => "p99 ms",
        Metric::CpuMsPerRequest => "CPU ms/req",
    }
}

fn interval(c: &FigureComparison) -> String {
    c.interval
        .map_or_else(|| "-".to_owned(), |[low, high]| format!("{low:.3} to {high:.3}"))
}

/// Three significant digits: req/s in the thousands and a CPU fraction of a millisecond alike.
fn figure(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

fn commit(commit: &Option<String>) -> String {
    commit.as_ref().map_or_else(String::new, |c| format!(", commit {c}"))
}

/// A value in a table cell: pipes escaped so a command line cannot break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
