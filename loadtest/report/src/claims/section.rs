//! The report's "The seeds' claims, measured": each claim with its verdict, the seed's words and
//! the figure that decided it, then the one-request probes behind the GIL's claims.

use std::fmt::Write;

use loadtest_model::claims::ClaimVerdict;
use loadtest_model::summary::RunSummary;

/// The section, or nothing for a run without claims.
pub fn section(summary: &RunSummary) -> String {
    let mut md = String::new();
    if summary.claims.is_empty() {
        return md;
    }
    let count = |verdict: ClaimVerdict| summary.claims.iter().filter(|c| c.verdict == verdict).count();
    let _ = writeln!(md, "## The seeds' claims, measured\n");
    let _ = writeln!(
        md,
        "What the lab's seed documents claim about threads and processes, each decided by this run's data: a ratio \
         with its 95% bootstrap interval against the ±5% noise band. {} supported, {} refuted, {} within noise, \
         {} not measured.\n",
        count(ClaimVerdict::Supported),
        count(ClaimVerdict::Refuted),
        count(ClaimVerdict::WithinNoise),
        count(ClaimVerdict::NotMeasured),
    );
    let _ = writeln!(md, "| claim | verdict | figure | from | the seed's words |");
    let _ = writeln!(md, "|---|---|---:|---|---|");
    for claim in &summary.claims {
        let figure = claim.figure.map_or_else(|| "-".to_owned(), |f| format!("{f:.2}x"));
        let verdict = match claim.verdict {
            ClaimVerdict::Refuted => "**refuted**".to_owned(),
            other => other.to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {verdict} | {figure} | {} | {} |",
            claim.claim, claim.from, claim.source
        );
    }
    md.push('\n');
    if !summary.worker_probes.is_empty() {
        let _ = writeln!(
            md,
            "One request at a time, with no other load, alternately at 1 worker and 2 (the answer's \
             `execution_time_sec`, the bands' part): where the GIL would show.\n"
        );
        for probe in &summary.worker_probes {
            let _ = writeln!(md, "- {}", probe.describe());
        }
        md.push('\n');
    }
    md
}
