//! compare.md, compare.svg and compare.html from comparisons of the model's fixtures.

use loadtest_model::compare::{CompareRun, compare};
use loadtest_model::scenario::ScenarioKey;
use loadtest_model::testdata::with_trials;

use super::{chart, markdown};

fn three_a_side() -> CompareRun {
    let base = with_trials(&[
        ("threading", &[800.0, 820.0, 780.0]),
        ("prefork", &[400.0, 410.0, 390.0]),
    ]);
    let new = with_trials(&[
        ("threading", &[600.0, 610.0, 590.0]),
        ("prefork", &[401.0, 409.0, 392.0]),
    ]);
    compare(("runs/a", &base), ("runs/b", &new), Some(10.0)).unwrap()
}

#[test]
fn the_report_leads_with_the_verdict_then_what_differs_then_every_figure() {
    let md = markdown::render(&three_a_side());
    let at = |part: &str| md.find(part).unwrap_or_else(|| panic!("{part} missing:\n{md}"));
    assert!(at("## Verdict") < at("## What differs") && at("## What differs") < at("## Every figure"));
    assert!(
        md.contains("Of 8 figures, NEW against BASE: 0 faster and 4 slower"),
        "{md}"
    );
    assert!(
        md.contains("Slower: threading req/s 0.75x, threading p50 ms 1.33x"),
        "one scenario: named by server"
    );
    assert!(md.contains("Regressions beyond 10%: threading req/s 25% worse"));
    assert!(md.contains("Nothing: the same machine, versions, commit, design and servers."));
    assert!(md.contains("| threading | c=20 n=500 w=4 | req/s | 800 | 600 | 0.750x |"));
    assert!(
        md.contains("With 3 trials in BASE and 3 in NEW the U test cannot give less than 0.10"),
        "the p-value's floor is said: {md}"
    );
    assert!(md.contains("![NEW over BASE, each figure with its 95% interval](compare.svg)"));
}

#[test]
fn every_file_is_written_and_the_page_holds_its_chart() {
    let dir = tempfile::tempdir().unwrap();
    let files = super::write(&three_a_side(), dir.path()).unwrap();
    assert_eq!(files, ["compare.json", "compare.md", "compare.html", "compare.svg"]);
    let html = std::fs::read_to_string(dir.path().join("compare.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("<section id=\"verdict\">"),
        "{html}"
    );
    let svg = std::fs::read_to_string(dir.path().join("compare.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 8, "a dot a figure");
    assert!(svg.contains("threading req/s · c=20 n=500 w=4"));
}

#[test]
fn a_long_comparison_draws_req_s_alone_and_names_a_dozen_figures() {
    // 25 scenarios of two servers: 200 figures.
    let mut run = three_a_side();
    let first: Vec<_> = run.comparisons.clone();
    for connections in 21..45 {
        run.comparisons.extend(first.iter().cloned().map(|mut c| {
            c.scenario = ScenarioKey {
                concurrency: connections,
                ..c.scenario
            };
            c
        }));
    }
    assert_eq!(run.comparisons.len(), 200);
    let svg = chart::draw(&run).unwrap();
    assert_eq!(svg.matches("<circle").count(), 50, "req/s alone");
    assert!(svg.contains("req/s alone (50 of 200 figures; the table has all)"));
    let md = markdown::render(&run);
    assert!(
        md.contains("threading req/s at c=21 n=500 w=4 0.75x"),
        "several scenarios: each named"
    );
    assert!(md.contains(", and 88 more (every figure is in the table)."), "{md}");
}
