//! Who served more requests per second, and by how much.
//!
//! The headline ranks every server: who is fastest, who ties with it within noise, who is slower
//! and by how much. Then the lab's own question (threads against a fork per request), then a
//! sentence per other pair of lab servers (each pair answers a question of its own: threads
//! against a pool of processes, a pool against a fork per request), then one sentence per other
//! server (`--target`) with its ratio to each lab server, then the pairs of other servers. A
//! sentence names a winner only when the ratio's whole interval lies beyond the noise band, and
//! never from a single trial; it puts the server that served more first, so its ratio reads "so
//! many times as much".

use super::{and_list, crosses_families, describe, ratio_phrase, result, rps_phrase, rps_ratio, servers_in};
use loadtest_model::catalogue::Catalogue;
use loadtest_model::stats::{NOISE_BAND, Verdict};
use loadtest_model::summary::{RunSummary, ScenarioKey};

/// The throughput sentences for `scenario`.
pub(super) fn verdicts(summary: &RunSummary, catalogue: &Catalogue, scenario: ScenarioKey) -> Vec<String> {
    let names: Vec<&str> = servers_in(summary, scenario).map(|r| r.server.as_str()).collect();
    let lab: Vec<&str> = names.iter().copied().filter(|n| catalogue.contains(n)).collect();
    let others: Vec<&str> = names.iter().copied().filter(|n| !catalogue.contains(n)).collect();
    let mut out = Vec::new();
    out.extend(headline(summary, scenario));
    // The lab's own question first: threads against processes, each started per request.
    let (question, rest): (Vec<_>, Vec<_>) = pairs(&lab).into_iter().partition(|(a, b)| {
        catalogue
            .get(a)
            .zip(catalogue.get(b))
            .is_some_and(|(a, b)| crosses_families(a, b))
    });
    for (a, b) in question.into_iter().chain(rest) {
        out.extend(pair(summary, a, b, scenario));
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

/// The bold first sentence: the fastest server, those within noise of it, and each slower one
/// with its ratio to the fastest. With a single trial on any side nothing is declared: the
/// servers are listed by req/s, and the sentence says why there is no winner.
fn headline(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let mut ranked: Vec<(&str, f64)> = servers_in(summary, scenario)
        .filter_map(|r| r.rps_median.map(|rps| (r.server.as_str(), rps)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (&(top, top_rps), rest) = ranked.split_first()?;
    let listed: Vec<String> = ranked.iter().map(|(name, rps)| format!("{name} {rps:.0}")).collect();
    if rest.is_empty() {
        return None;
    }
    let against_top: Vec<(&str, Option<loadtest_model::stats::Ratio>)> = rest
        .iter()
        .map(|(name, _)| (*name, rps_ratio(summary, name, top, scenario)))
        .collect();
    let undecided = against_top
        .iter()
        .any(|(_, ratio)| ratio.is_none_or(|r| Verdict::of(&r) == Verdict::TooFewTrials));
    if undecided {
        return Some(format!(
            "No winner declared: one trial per server cannot separate them. Ranked by req/s at {} (one trial \
             each): {}. Run with more trials (the default is 5) for a verdict.",
            describe(scenario),
            listed.join(", ")
        ));
    }
    let (tied, slower): (Vec<_>, Vec<_>) = against_top
        .iter()
        .partition(|(_, ratio)| ratio.is_some_and(|r| Verdict::of(&r) == Verdict::WithinNoise));
    let named = |servers: &[(&str, Option<loadtest_model::stats::Ratio>)]| -> Vec<String> {
        servers
            .iter()
            .filter_map(|(name, ratio)| ratio.map(|r| format!("{name} {}", ratio_phrase(r))))
            .collect()
    };
    let tied_names: Vec<String> = tied.iter().map(|(name, _)| (*name).to_owned()).collect();
    let lead = if tied.is_empty() {
        format!("Fastest: {top}.")
    } else {
        format!("Fastest: {top}, within noise of {}.", and_list(&tied_names))
    };
    let mut sentence = format!(
        "{lead} At {}, {top} answered {} req/s (median).",
        describe(scenario),
        top_rps.round()
    );
    if !tied.is_empty() {
        sentence.push_str(&format!(
            " Not told apart from it (the interval of req/s over {top}'s reaches into the ±{:.0}% noise band): {}.",
            NOISE_BAND * 100.0,
            and_list(&named(&tied))
        ));
    }
    if !slower.is_empty() {
        sentence.push_str(&format!(
            " Slower, by req/s over {top}'s: {}.",
            and_list(&named(&slower))
        ));
    }
    sentence.push_str(&format!(" Ranked by req/s (medians of trials): {}.", listed.join(", ")));
    Some(sentence)
}

/// Who of `a` and `b` served more, by how much.
fn pair(summary: &RunSummary, a: &str, b: &str, scenario: ScenarioKey) -> Option<String> {
    let ratio = rps_ratio(summary, a, b, scenario)?;
    let rps_a = rps_phrase(result(summary, a, scenario)?)?;
    let rps_b = rps_phrase(result(summary, b, scenario)?)?;
    let (winner, loser, rps_w, rps_l, ratio) = match Verdict::of(&ratio) {
        Verdict::Higher => (a, b, rps_a, rps_b, ratio),
        Verdict::Lower => (b, a, rps_b, rps_a, ratio.inverse()),
        Verdict::WithinNoise => {
            return Some(format!(
                "At {}: no clear winner between {a} ({rps_a}) and {b} ({rps_b}); the ratio {} reaches into the \
                 ±{:.0}% noise band.",
                describe(scenario),
                ratio_phrase(ratio),
                NOISE_BAND * 100.0
            ));
        }
        Verdict::TooFewTrials => {
            return Some(format!(
                "At {}: {a} ({rps_a}) against {b} ({rps_b}), a ratio of {}; one trial cannot tell them apart.",
                describe(scenario),
                ratio_phrase(ratio)
            ));
        }
    };
    Some(format!(
        "At {}: the {winner} server served more than the {loser} server; {winner} answered {rps_w} against \
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
            let noise = match Verdict::of(&ratio) {
                Verdict::WithinNoise => ", within noise",
                Verdict::TooFewTrials => ", one trial: no verdict",
                Verdict::Higher | Verdict::Lower => "",
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
    use crate::testdata::{KEY, three_servers, with_trials};

    #[test]
    fn the_ranking_leads_then_the_lab_question_then_each_pair_winner_first() {
        let lines = verdicts(&three_servers(), &Catalogue::lab(), KEY);
        assert!(
            lines[0].starts_with("Fastest: threading. At n=500, workers=4, 20 connections, threading answered 805"),
            "{lines:#?}"
        );
        assert!(
            lines[0].contains("Slower, by req/s over threading's: prefork 0.50x"),
            "{lines:#?}"
        );
        assert!(
            lines[0].ends_with(
                "Ranked by req/s (medians of trials): threading 805, prefork 402, multiprocessing 202, python 100."
            ),
            "{lines:#?}"
        );
        assert!(lines[1].contains("the threading server served more than the multiprocessing server"));
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
        let lines = verdicts(&three_servers(), &Catalogue::lab(), KEY);
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
    fn two_servers_get_the_headline_and_their_pair() {
        let lines = verdicts(&crate::testdata::summary(), &Catalogue::lab(), KEY);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("Fastest: threading."), "{lines:#?}");
    }

    #[test]
    fn servers_within_noise_of_the_fastest_tie_with_it() {
        let summary = with_trials(&[
            ("threading", &[800.0, 820.0, 780.0, 810.0]),
            ("multiprocessing", &[200.0, 210.0, 190.0, 205.0]),
            ("prefork", &[790.0, 805.0, 795.0, 812.0]),
        ]);
        let lines = verdicts(&summary, &Catalogue::lab(), KEY);
        assert!(
            lines[0].starts_with("Fastest: threading, within noise of prefork."),
            "{lines:#?}"
        );
        assert!(
            lines[0].contains("Not told apart from it (the interval of req/s over threading's reaches into the ±5% noise band): prefork"),
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
        let lines = verdicts(&summary, &Catalogue::lab(), KEY);
        assert!(
            lines[0].starts_with("No winner declared: one trial per server"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| !l.contains("served more than")), "{lines:#?}");
    }
}
