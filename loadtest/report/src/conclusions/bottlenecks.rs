//! What held each server back at the headline scenario, by the rule of
//! [`loadtest_model::bottleneck`], with who took the CPUs; and the warning a ranking needs when
//! oha, which shares the CPUs with the servers, took more than half of them.

use loadtest_model::bottleneck::{Bottleneck, CpuShares};
use loadtest_model::summary::{RunSummary, ScenarioKey};

use super::{and_list, describe};

/// Above this share of the CPUs taken by oha, a ranking measures the client as much as the
/// servers.
pub const CLIENT_HALF: f64 = 0.5;

/// "What held each server back at n=500, workers=4, 20 connections: threading the full machine (the server 71% of
/// the CPUs, oha 24%, others 2%), ...", or nothing in a run without the machine's readings.
pub fn held_back(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let told: Vec<String> = (summary.results.iter())
        .filter(|r| r.scenario == scenario)
        .filter_map(|r| {
            let bottleneck = r.bottleneck?;
            let shares = r
                .cpu_shares
                .map_or_else(String::new, |s| format!(" ({})", shares_text(&s)));
            Some(format!("{} {}{shares}", r.server, words(bottleneck)))
        })
        .collect();
    (!told.is_empty()).then(|| {
        format!(
            "What held each server back at {}: {}. The rule: waiting when req/s reached 80% of what its waits \
             allow, else the full machine when everything together kept 90% of the CPUs busy, else whichever of \
             the server and oha took more CPU.",
            describe(scenario),
            told.join("; ")
        )
    })
}

/// The ranking's warning when oha took more than half of the CPU time while it loaded any of
/// the ranked servers.
pub fn client_heavy_ranking(summary: &RunSummary, scenario: ScenarioKey) -> Option<String> {
    let heavy: Vec<String> = (summary.results.iter())
        .filter(|r| r.scenario == scenario)
        .filter_map(|r| {
            let client = r.cpu_shares?.client;
            (client > CLIENT_HALF).then(|| format!("{} ({:.0}%)", r.server, client * 100.0))
        })
        .collect();
    (!heavy.is_empty()).then(|| {
        format!(
            "The ranking at {} measures oha as much as the servers: the client took more than half of the CPU time \
             while it loaded {}, on the CPUs the servers share. `--client-cpus` and `--server-cpus` keep them apart \
             on a bigger machine.",
            describe(scenario),
            and_list(&heavy)
        )
    })
}

fn words(bottleneck: Bottleneck) -> &'static str {
    match bottleneck {
        Bottleneck::Waiting => "waiting",
        Bottleneck::MachineFull => "the full machine",
        Bottleneck::ServerCpu => "its own CPU",
        Bottleneck::ClientCpu => "oha's CPU",
    }
}

fn shares_text(s: &CpuShares) -> String {
    let mut text = format!(
        "the server {:.0}% of the CPUs, oha {:.0}%, others {:.0}%",
        s.server * 100.0,
        s.client * 100.0,
        s.others * 100.0
    );
    if s.steal >= 0.005 {
        text.push_str(&format!(", stolen {:.0}%", s.steal * 100.0));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadtest_model::noise::MachineCpu;

    /// Three servers whose trials' machine readings say: the server took `server` and oha
    /// `client` of 10 CPU-seconds a trial, others 0.2, the rest idle.
    fn with_shares(server: f64, client: f64) -> RunSummary {
        let mut summary = crate::testdata::three_servers();
        for t in &mut summary.trials {
            (t.server_cpu_secs, t.oha_cpu_secs) = (Some(server), Some(client));
            t.machine_cpu = Some(MachineCpu {
                busy_secs: server + client + 0.2,
                steal_secs: 0.0,
                idle_secs: 10.0 - server - client - 0.2,
            });
        }
        loadtest_model::aggregate::recompute(&mut summary);
        summary
    }

    #[test]
    fn each_server_is_told_with_who_took_the_cpus() {
        let full = with_shares(7.0, 2.0);
        let said = held_back(&full, crate::testdata::KEY).unwrap();
        assert!(
            said.starts_with(
                "What held each server back at n=500, workers=4, 20 connections: threading the full machine (the \
                 server 70% of the CPUs, oha 20%, others 2%); multiprocessing the full machine"
            ),
            "{said}"
        );
        let light = with_shares(3.0, 4.0);
        assert!(
            held_back(&light, crate::testdata::KEY)
                .unwrap()
                .contains("threading oha's CPU (the server 30%")
        );
        assert_eq!(
            client_heavy_ranking(&light, crate::testdata::KEY),
            None,
            "40% is not more than half"
        );
    }

    #[test]
    fn a_ranking_whose_client_took_more_than_half_says_so() {
        let heavy = with_shares(2.0, 6.0);
        let said = client_heavy_ranking(&heavy, crate::testdata::KEY).unwrap();
        assert!(
            said.contains("while it loaded threading (60%), multiprocessing (60%)"),
            "{said}"
        );
        assert_eq!(
            held_back(&crate::testdata::three_servers(), crate::testdata::KEY),
            None,
            "no readings"
        );
    }

    #[test]
    fn the_report_says_it_with_the_verdict_and_among_the_warnings() {
        let mut heavy = with_shares(2.0, 6.0);
        crate::analyse(&mut heavy, &[], &loadtest_model::catalogue::Catalogue::lab());
        let md = crate::markdown::render(&heavy, &[]);
        let at = |part: &str| md.find(part).unwrap_or_else(|| panic!("{part} missing:\n{md}"));
        let note = at("*The ranking at n=500, workers=4, 20 connections measures oha as much as the servers");
        assert!(
            at("## Verdict") < note && note < at("## Results"),
            "said with the verdict"
        );
        let warnings = &md[at("## Warnings")..];
        assert_eq!(
            warnings.matches("- The ranking at n=500").count(),
            1,
            "and among the warnings:\n{warnings}"
        );
        let light = with_shares(3.0, 4.0);
        assert!(!crate::markdown::render(&light, &[]).contains("measures oha as much"));
    }
}
