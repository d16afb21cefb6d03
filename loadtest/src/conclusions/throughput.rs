//! Who served more requests per second, and by how much.
//!
//! The lab's own question (threads against a fork per request) leads. With more than two servers
//! a ranking follows, so a reader has the whole order in one line, then a sentence per other pair
//! of lab servers (each pair answers a question of its own: threads against a pool of processes,
//! a pool against a fork per request), then one sentence per other server (`--target`) with its
//! ratio to each lab server, then the pairs of other servers. A sentence names a winner only when
//! the ratio's whole interval lies beyond the noise band, and it puts the server that served more
//! first, so its ratio reads "so many times as much".

use super::{PROCESSES, THREADS, describe, ratio_phrase, result, rps_phrase, rps_ratio, servers_in};
use crate::lab_servers::is_lab_name;
use crate::stats::{NOISE_BAND, Verdict};
use crate::summary::{RunSummary, ScenarioKey};

/// The throughput sentences for `scenario`.
pub(super) fn verdicts(summary: &RunSummary, scenario: ScenarioKey) -> Vec<String> {
    let names: Vec<&str> = servers_in(summary, scenario).map(|r| r.server.as_str()).collect();
    let lab: Vec<&str> = names.iter().copied().filter(|n| is_lab_name(n)).collect();
    let others: Vec<&str> = names.iter().copied().filter(|n| !is_lab_name(n)).collect();
    let mut out = Vec::new();
    out.extend(pair(summary, THREADS, PROCESSES, scenario));
    out.extend(ranking(summary, scenario));
    for (a, b) in pairs(&lab) {
        if !is_lab_question(a, b) {
            out.extend(pair(summary, a, b, scenario));
        }
    }
    for other in &others {
        out.extend(against_lab(summary, other, &lab, scenario));
    }
    for (a, b) in pairs(&others) {
        out.extend(pair(summary, a, b, scenario));
    }
    out
}

/// Every pair of `names`, earlier first.
fn pairs<'a>(names: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    names
        .iter()
        .enumerate()
        .flat_map(|(i, a)| names[i + 1..].iter().map(move |b| (*a, *b)))
        .collect()
}

/// Threads against a fork per request: the question the lab was built to answer.
fn is_lab_question(a: &str, b: &str) -> bool {
    (a, b) == (THREADS, PROCESSES) || (a, b) == (PROCESSES, THREADS)
}

/// "Ranked by req/s at ...: threading 800, prefork 400, multiprocessing 202." With two servers
/// the pair's own sentence says it all, so there is no ranking.
fn ranking(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let mut ranked: Vec<(&str, f64)> = servers_in(summary, scenario)
        .filter_map(|r| r.rps_median.map(|rps| (r.server.as_str(), rps)))
        .collect();
    if ranked.len() < 3 {
        return None;
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let list: Vec<String> = ranked.iter().map(|(name, rps)| format!("{name} {rps:.0}")).collect();
    Some(format!(
        "Ranked by req/s at {} (medians of trials): {}.",
        describe(scenario),
        list.join(", ")
    ))
}

/// Who of `a` and `b` served more, by how much; the lab's question gets a bold headline.
fn pair(summary: &RunSummary, a: &str, b: &str, scenario: ScenarioKey) -> Option<String> {
    let ratio = rps_ratio(summary, a, b, scenario)?;
    let rps_a = rps_phrase(result(summary, a, scenario)?)?;
    let rps_b = rps_phrase(result(summary, b, scenario)?)?;
    let headline = is_lab_question(a, b);
    let (winner, loser, rps_w, rps_l, ratio) = match Verdict::of(&ratio) {
        Verdict::Higher => (a, b, rps_a, rps_b, ratio),
        Verdict::Lower => (b, a, rps_b, rps_a, ratio.inverse()),
        Verdict::WithinNoise => {
            return Some(format!(
                "{}At {}: no clear winner between {a} ({rps_a}) and {b} ({rps_b}); the ratio {} reaches into the \
                 ±{:.0}% noise band.",
                if headline { "**No clear winner.** " } else { "" },
                describe(scenario),
                ratio_phrase(ratio),
                NOISE_BAND * 100.0
            ));
        }
    };
    let lead = match (headline, winner == THREADS) {
        (false, _) => "",
        (true, true) => "**Threads win.** ",
        (true, false) => "**Processes win.** ",
    };
    Some(format!(
        "{lead}At {}: the {winner} server served more than the {loser} server; {winner} answered {rps_w} against \
         {rps_l} for {loser}, a ratio of {}.",
        describe(scenario),
        ratio_phrase(ratio)
    ))
}

/// One other server against every lab server, in one sentence: each lab server's req/s over it.
fn against_lab(summary: &RunSummary, other: &str, lab: &[&str], scenario: ScenarioKey) -> Option<String> {
    let rps = rps_phrase(result(summary, other, scenario)?)?;
    let parts: Vec<String> = lab
        .iter()
        .filter_map(|server| {
            let ratio = rps_ratio(summary, server, other, scenario)?;
            let noise = if Verdict::of(&ratio) == Verdict::WithinNoise {
                ", within noise"
            } else {
                ""
            };
            Some(format!("{server} {}{noise}", ratio_phrase(ratio)))
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "The {other} server answered {rps}. Each lab server's req/s over it: {}.",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{KEY, three_servers};

    #[test]
    fn the_lab_question_leads_then_the_ranking_then_each_pair_winner_first() {
        let lines = verdicts(&three_servers(), KEY);
        assert!(lines[0].starts_with("**Threads win.** At n=500"), "{lines:#?}");
        assert!(lines[0].contains("the threading server served more than the multiprocessing server"));
        assert!(
            lines[1].starts_with(
                "Ranked by req/s at n=500, workers=4, 20 connections (medians of trials): threading 805, prefork 40"
            ),
            "{lines:#?}"
        );
        assert!(lines[1].ends_with("multiprocessing 202, python 100."), "{lines:#?}");
        assert!(lines[2].contains("the threading server served more than the prefork server; threading answered 805"));
        // Computed as multiprocessing over prefork, told the other way round.
        assert!(
            lines[3].contains("the prefork server served more than the multiprocessing server; prefork answered 402"),
            "{lines:#?}"
        );
        assert!(lines[3].contains("a ratio of 1.99x"), "{lines:#?}");
        assert_eq!(lines.len(), 5, "{lines:#?}");
    }

    #[test]
    fn another_server_gets_one_sentence_with_each_lab_servers_ratio() {
        let lines = verdicts(&three_servers(), KEY);
        let python = &lines[4];
        assert!(
            python.starts_with("The python server answered 100 req/s (median of 4 trials, 98 to 104)."),
            "{python}"
        );
        for part in [
            "threading 8.01x (95% interval",
            "multiprocessing 2.01x",
            "prefork 4.00x",
        ] {
            assert!(python.contains(part), "{part} in {python}");
        }
    }

    #[test]
    fn two_servers_get_no_ranking() {
        let lines = verdicts(&crate::testdata::summary(), KEY);
        assert_eq!(lines.len(), 1, "{lines:#?}");
    }
}
