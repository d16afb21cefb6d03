//! What people open in a browser, opened in a real one (headless Chromium): a run's
//! `report.html`, and each lab server's `GET /` page. Ignored unless Chromium is there;
//! `.ci/run` installs Debian's `chromium` and runs them. Each test leaves screenshots in
//! `target/<profile>/screenshots/`.

use std::path::Path;

mod chromium;

use chromium::{Chromium, Page, screenshot_dir};
use lab_tests::start;
use loadtest_model::catalogue::Catalogue;
use loadtest_model::summary::RunSummary;
use serde_json::Value;

/// A committed run with every kind of chart: the whole lab (three work kinds, workers 1 to 64).
const LAB_RUN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/runs/2026-12-06-lab/summary.json");

/// A committed default run: the four lab servers at the default scenario, with its targets.
const DEFAULT_RUN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/runs/2026-12-06-default-targets/summary.json"
);

fn assert_no_problems(page: &Page, what: &str) {
    let problems = page.problems();
    assert!(problems.is_empty(), "{what}: {problems:#?}");
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
}

/// Presses the page's button and waits for its status line to start with `expected`.
fn press_compute_and_expect(page: &Page, expected: &str, server: &str) {
    page.click("button");
    let status = "document.getElementById('status').innerText";
    assert!(
        page.wait_for(&format!("{status}.startsWith('{expected}')")),
        "{server}: {}",
        page.eval(status)
    );
}

#[test]
#[ignore = "needs Chromium (apt-get install chromium); run by .ci/run with --run-ignored"]
fn a_runs_report_leads_with_its_verdict_and_two_charts_and_fits_the_page() {
    let drawn = report_of(DEFAULT_RUN, "report-default");
    assert_eq!(
        drawn[..2],
        ["throughput.svg", "cpu_per_request.svg"],
        "the scenario's throughput and CPU per request lead: {drawn:?}"
    );
}

#[test]
#[ignore = "needs Chromium (apt-get install chromium); run by .ci/run with --run-ignored"]
fn the_lab_runs_report_leads_with_throughput_by_workers_for_each_kind_of_work() {
    let drawn = report_of(LAB_RUN, "report-lab");
    assert!(drawn.len() >= 10, "the lab run draws ten charts: {drawn:?}");
    assert_eq!(
        drawn[..3],
        ["sweep_add_rps.svg", "sweep_matmul_rps.svg", "sweep_io_rps.svg"],
        "{drawn:?}"
    );
}

/// The committed run `summary`'s report, drawn again and opened from disk in a 1280 x 800
/// window: the verdict (at most three sentences) and at least two charts whole on the first
/// screen, no table wider than its column, every chart once, every section, nothing fetched.
/// Returns the charts in the page's order; leaves screenshots named `shot`.
fn report_of(summary: &str, shot: &str) -> Vec<String> {
    let summary: RunSummary = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let files = loadtest_report::write_reports(&summary, &Catalogue::lab(), dir).unwrap();
    let mut charts: Vec<&String> = files.iter().filter(|f| f.ends_with(".svg")).collect();

    let chromium = Chromium::start();
    let page = chromium.open(&format!("file://{}", dir.join("report.html").display()));
    assert_no_problems(&page, "report.html");
    assert_eq!(
        page.eval("[window.innerWidth, window.innerHeight]"),
        serde_json::json!([1280, 800])
    );

    // The verdict comes first, whole on the first screen, in at most three sentences.
    assert_eq!(page.eval("document.querySelector('section').id"), "verdict");
    let verdict = page.eval("document.querySelector('#verdict p').innerText");
    let verdict = verdict.as_str().unwrap_or_default();
    assert!(verdict.starts_with("Fastest: "), "the verdict: {verdict}");
    let sentences = verdict.trim_end().split_terminator(". ").count();
    assert!((1..=3).contains(&sentences), "at most three sentences: {verdict}");
    assert_eq!(
        page.eval("document.querySelector('#verdict p').getBoundingClientRect().bottom <= 800"),
        true
    );

    // At least two charts whole above the fold, each at a readable size.
    let above = page.eval(
        "[...document.querySelectorAll('svg[data-file]')].filter(svg => { \
           const box = svg.getBoundingClientRect(); \
           return box.bottom <= 800 && box.width > 300 && box.height > 150; }).length",
    );
    assert!(above.as_u64().is_some_and(|n| n >= 2), "charts above the fold: {above}");

    // No table runs past its column.
    let wide = page.eval(
        "[...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.parentElement.clientWidth) \
           .map(t => [t.closest('section').id, t.scrollWidth, t.parentElement.clientWidth])",
    );
    assert_eq!(wide, serde_json::json!([]), "tables wider than their column");

    // Every chart is in the page as an <svg> element, drawn at a real size, once.
    let drawn = page.eval(
        "[...document.querySelectorAll('svg[data-file]')].map(svg => { \
           const box = svg.getBoundingClientRect(); \
           return [svg.dataset.file, box.width > 300 && box.height > 150]; })",
    );
    let drawn: Vec<(String, bool)> = serde_json::from_value(drawn).unwrap();
    assert!(drawn.iter().all(|(_, sized)| *sized), "{drawn:?}");
    let mut names: Vec<&String> = drawn.iter().map(|(file, _)| file).collect();
    names.sort();
    charts.sort();
    assert_eq!(names, charts, "every chart written, once");

    // The rest of the report, and nothing fetched from anywhere.
    for section in [
        "targets",
        "results",
        "comparisons",
        "conclusions",
        "charts",
        "warnings",
        "how-this-was-measured",
        "every-trial",
    ] {
        if section == "targets" && summary.targets.is_empty() {
            continue;
        }
        assert_eq!(
            page.eval(&format!("!!document.getElementById('{section}')")),
            true,
            "section {section}"
        );
    }
    let trials = page.eval("document.querySelectorAll('#every-trial tbody tr').length");
    assert_eq!(trials.as_u64(), Some(summary.trials.len() as u64));
    assert_eq!(page.eval("performance.getEntriesByType('resource').length"), 0);

    assert_png(&page.screenshot(&screenshot_dir(), shot));
    page.eval("document.getElementById('charts').scrollIntoView()");
    assert_png(&page.screenshot(&screenshot_dir(), &format!("{shot}-charts")));
    drawn.into_iter().map(|(file, _)| file).collect()
}

#[test]
#[ignore = "needs Chromium (apt-get install chromium); run by .ci/run with --run-ignored"]
fn each_servers_page_computes_shows_errors_and_offers_every_work_kind() {
    let chromium = Chromium::start();
    let client = loadtest_run::http::Client::new(std::time::Duration::from_secs(30));
    for server in Catalogue::lab().iter() {
        let process = start(server);
        let base = process.url();
        let page = chromium.open(&format!("{base}/"));
        let name = server.name.as_str();

        // The page links to what the server counts, and the link answers.
        let metrics = page.eval("document.querySelector('a[href=\"/metrics\"]').href");
        assert_eq!(metrics, serde_json::json!(format!("{base}/metrics")), "{name}");
        let (status, text) = client.get_text(&format!("{base}/metrics")).unwrap();
        assert!(
            status == 200 && text.contains("lab_http_requests_total"),
            "{name}: {status}"
        );

        let kinds = page.eval("[...document.querySelectorAll('select[name=work] option')].map(o => o.value)");
        assert_eq!(kinds, serde_json::json!(["add", "matmul", "io"]), "{name}");
        let example = page.eval("document.getElementById('post-example').innerText");
        assert!(
            example
                .as_str()
                .is_some_and(|e| e.starts_with(&format!("curl -s {base}/"))),
            "{name}: {example}"
        );

        // Fill the form as a person would and press the button.
        page.type_into("input[name=n]", "40");
        page.type_into("input[name=seed]", "7");
        page.eval("document.querySelector('select[name=work]').value = 'matmul'");
        press_compute_and_expect(&page, "HTTP 200", name);
        let shown = page.eval("document.getElementById('out').innerText");
        let shown_text = shown.as_str().unwrap_or_default().to_owned();
        let answer: Value = serde_json::from_str(&shown_text).unwrap_or_else(|e| panic!("{name}: {e}: {shown_text}"));
        let (status, direct) = (client.get_json(&format!("{base}{}?n=40&seed=7&work=matmul", server.path))).unwrap();
        assert_eq!(status, 200, "{name}: {direct}");
        assert_eq!(answer["work"], "matmul", "{name}: {shown_text}");
        assert_eq!(
            answer["checksum"], direct["checksum"],
            "{name}: the page shows the server's answer"
        );
        let sample_line = shown_text
            .lines()
            .find(|l| l.contains("\"sample\""))
            .unwrap_or_default();
        assert!(
            sample_line.contains("[") && sample_line.contains(", "),
            "{name}: sample on one line: {shown_text}"
        );
        assert_png(&page.screenshot(&screenshot_dir(), &format!("page-{name}")));
        assert_no_problems(&page, name);

        // A bad value: the server's own error, which names what is allowed, is shown.
        page.type_into("input[name=n]", "0");
        press_compute_and_expect(&page, "HTTP 400", name);
        let error = page.eval("document.getElementById('out').innerText");
        assert!(
            error
                .as_str()
                .is_some_and(|e| e.contains("n must be a whole number from 1 to")),
            "{name}: {error}"
        );
        assert_png(&page.screenshot(&screenshot_dir(), &format!("page-{name}-error")));
        // The browser logs the 400 itself; nothing else may go wrong.
        let problems = page.problems();
        assert!(
            problems.len() == 1 && problems[0].contains("status of 400"),
            "{name}: {problems:#?}"
        );
    }
}
