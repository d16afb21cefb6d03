//! The verdict: who served the most requests per second, and by how much, in at most three
//! sentences. It ranks every server: who is fastest, who ties with it within noise, who is slower
//! and by how much, and what an answer cost each in CPU. It names a winner only when the ratio's
//! whole interval lies beyond the noise band, and never from a single trial. Every pair of
//! servers, with its interval, is the comparisons table's: no sentence repeats it.

use super::{and_list, describe, result, rps_ratio, servers_in};
use loadtest_model::stats::{Ratio, Verdict};
use loadtest_model::summary::{RunSummary, ScenarioKey};

/// The verdict on `scenario` in at most three sentences: the fastest server and those within
/// noise of it; its req/s and each slower server's ratio to it; and, when the run sampled the
/// servers, what an answer cost each of them in CPU. With a single trial on any side nothing is
/// declared: the servers are listed by req/s, and the verdict says why there is no winner. The
/// ratios' intervals, and every other pair, are in the comparisons table.
pub(super) fn verdict(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let mut ranked: Vec<(&str, f64)> = servers_in(summary, scenario)
        .filter_map(|r| r.rps_median.map(|rps| (r.server.as_str(), rps)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let Some((&(top, top_rps), rest)) = ranked.split_first() else {
        return Vec::new();
    };
    let listed: Vec<String> = ranked.iter().map(|(name, rps)| format!("{name} {rps:.0}")).collect();
    if rest.is_empty() {
        return vec![format!(
            "Only {top} was measured at {}: {top_rps:.0} req/s (median).",
            describe(scenario)
        )];
    }
    let against_top: Vec<(&str, Option<Ratio>)> = (rest.iter())
        .map(|(name, _)| (*name, rps_ratio(summary, name, top, scenario)))
        .collect();
    let undecided =
        (against_top.iter()).any(|(_, ratio)| ratio.is_none_or(|r| Verdict::of(&r) == Verdict::TooFewTrials));
    if undecided {
        return vec![
            "No winner declared: one trial per server cannot separate them.".to_owned(),
            format!(
                "Ranked by req/s at {} (one trial each): {}.",
                describe(scenario),
                listed.join(", ")
            ),
            "Run with more trials (the default is 5) for a verdict.".to_owned(),
        ];
    }
    let (tied, slower): (Vec<_>, Vec<_>) =
        (against_top.iter()).partition(|(_, ratio)| ratio.is_some_and(|r| Verdict::of(&r) == Verdict::WithinNoise));
    let tied: Vec<String> = tied.iter().map(|(name, _)| (*name).to_owned()).collect();
    let mut out = vec![if tied.is_empty() {
        format!("Fastest: {top}.")
    } else {
        format!("Fastest: {top}, within noise of {}.", and_list(&tied))
    }];
    let slower: Vec<String> = (slower.iter())
        .filter_map(|(name, ratio)| ratio.map(|r| format!("{name} {:.2}x", r.value)))
        .collect();
    let slower = if slower.is_empty() {
        String::new()
    } else {
        format!("; slower, by req/s over {top}'s: {}", and_list(&slower))
    };
    out.push(format!(
        "At {}, {top} answered {} req/s (median){slower}.",
        describe(scenario),
        top_rps.round()
    ));
    let cpu: Vec<String> = (ranked.iter())
        .filter_map(|(name, _)| {
            let ms = result(summary, name, scenario)?.cpu_ms_per_request?;
            Some(format!("{name} {ms:.2} ms"))
        })
        .collect();
    if cpu.len() == ranked.len() {
        out.push(format!(
            "Each answer cost in CPU (the whole process tree): {}.",
            and_list(&cpu)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, three_servers, with_trials};

    #[test]
    fn the_verdict_ranks_every_server_in_three_sentences_and_leaves_the_pairs_to_the_table() {
        let lines = verdict(&three_servers(), KEY);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(lines[0], "Fastest: threading.");
        assert_eq!(
            lines[1],
            "At n=500, workers=4, 20 connections, threading answered 805 req/s (median); slower, by req/s over \
             threading's: prefork 0.50x, multiprocessing 0.25x and python 0.12x."
        );
        assert!(
            lines[2].starts_with("Each answer cost in CPU (the whole process tree): threading 1.99 ms, prefork"),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("served more than") && !l.contains("interval"))
        );
    }

    #[test]
    fn servers_within_noise_of_the_fastest_tie_with_it() {
        let summary = with_trials(&[
            ("threading", &[800.0, 820.0, 780.0, 810.0]),
            ("multiprocessing", &[200.0, 210.0, 190.0, 205.0]),
            ("prefork", &[790.0, 805.0, 795.0, 812.0]),
        ]);
        let lines = verdict(&summary, KEY);
        assert_eq!(lines[0], "Fastest: threading, within noise of prefork.");
        assert!(
            lines[1].ends_with("slower, by req/s over threading's: multiprocessing 0.25x."),
            "{lines:#?}"
        );
    }

    #[test]
    fn one_trial_each_declares_no_winner() {
        let summary = with_trials(&[
            ("threading", &[800.0]),
            ("multiprocessing", &[200.0]),
            ("prefork", &[400.0]),
        ]);
        let lines = verdict(&summary, KEY);
        assert_eq!(
            lines,
            [
                "No winner declared: one trial per server cannot separate them.",
                "Ranked by req/s at n=500, workers=4, 20 connections (one trial each): threading 800, prefork 400, \
                 multiprocessing 200.",
                "Run with more trials (the default is 5) for a verdict."
            ]
        );
    }
}
