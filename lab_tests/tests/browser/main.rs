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
fn the_html_report_opens_from_disk_with_its_verdict_and_every_chart() {
    let summary: RunSummary = serde_json::from_slice(&std::fs::read(LAB_RUN).unwrap()).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let files = loadtest_report::write_reports(&summary, &Catalogue::lab(), dir).unwrap();
    let charts: Vec<&String> = files.iter().filter(|f| f.ends_with(".svg")).collect();
    assert!(charts.len() >= 10, "the lab run draws ten charts: {files:?}");

    let chromium = Chromium::start();
    let page = chromium.open(&format!("file://{}", dir.join("report.html").display()));
    assert_no_problems(&page, "report.html");

    // The verdict comes first and can be read.
    assert_eq!(page.eval("document.querySelector('section').id"), "conclusions");
    let verdict = page.eval("document.querySelector('#conclusions li strong').innerText");
    assert!(
        verdict.as_str().is_some_and(|v| v.starts_with("Fastest: ")),
        "the verdict: {verdict}"
    );
    assert_eq!(
        page.eval("document.querySelector('#conclusions').getBoundingClientRect().top < 900"),
        true
    );

    // Every chart is in the page as an <svg> element, drawn at a real size.
    let drawn = page.eval(
        "[...document.querySelectorAll('svg[data-file]')].map(svg => { \
           const box = svg.getBoundingClientRect(); \
           return [svg.dataset.file, box.width > 300 && box.height > 150]; })",
    );
    let drawn: Vec<(String, bool)> = serde_json::from_value(drawn).unwrap();
    let names: Vec<&String> = drawn.iter().map(|(file, _)| file).collect();
    assert_eq!(names, charts, "every chart written, once, in order");
    assert!(drawn.iter().all(|(_, sized)| *sized), "{drawn:?}");

    // The rest of the report, and nothing fetched from anywhere.
    for section in ["results", "charts", "warnings", "how-this-was-measured", "every-trial"] {
        assert_eq!(
            page.eval(&format!("!!document.getElementById('{section}')")),
            true,
            "section {section}"
        );
    }
    let trials = page.eval("document.querySelectorAll('#every-trial tbody tr').length");
    assert_eq!(trials.as_u64(), Some(summary.trials.len() as u64));
    assert_eq!(page.eval("performance.getEntriesByType('resource').length"), 0);

    let shot = page.screenshot(&screenshot_dir(), "report");
    assert_png(&shot);
    page.eval("document.getElementById('charts').scrollIntoView()");
    assert_png(&page.screenshot(&screenshot_dir(), "report-charts"));
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
