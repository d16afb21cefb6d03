//! `GET /metrics` on every lab server: Prometheus' text format, counters that move with the
//! requests served, and each engine's own (threads started, children forked and reaped, pool
//! workers); and Prometheus' own checker, `promtool check metrics`, accepting the text.

use std::io::Write;
use std::process::{Command, Stdio};

use lab_tests::start;
use loadtest_model::catalogue::{Catalogue, Family, LabServer};
use matrix_service::testing::client;

/// The value of the sample `series` (its name and labels, as written), if `text` has it.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn scrape(client: &awc::Client, base: &str) -> (String, String) {
    let mut response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.body().await.expect("the metrics' body");
    (String::from_utf8(body.to_vec()).expect("UTF-8"), content_type)
}

/// `GET url`, its answer read whole, whatever its status.
async fn ask(client: &awc::Client, url: &str) {
    let mut response = client.get(url).send().await.expect("the server answers");
    response.body().await.expect("the answer's body");
}

/// For a server that starts its workers per request: the series that counts them, and how much
/// it must have grown for two requests of 4 bands (a process forked for each band; a thread
/// for each but the first, which runs on the request's own).
fn engine_series(lab: &LabServer) -> Option<(&'static str, f64)> {
    let per_request = if lab.forks_per_band { 4.0 } else { 3.0 };
    let counter = lab.family.started_counter()?;
    lab.per_request().then_some((counter, 2.0 * per_request))
}

#[actix_web::test]
async fn every_server_counts_its_answers_and_its_workers() {
    let client = client();
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        let base = server.url().to_owned();
        let (before, content_type) = scrape(&client, &base).await;
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{}: {content_type}",
            lab.name
        );
        for query in ["n=50&workers=4&work=matmul", "n=50&workers=4&work=matmul", "n=abc"] {
            ask(&client, &format!("{base}{}?{query}", lab.path)).await;
        }
        let (after, _) = scrape(&client, &base).await;
        let grew = |series: &str| value(&after, series).unwrap_or(0.0) - value(&before, series).unwrap_or(0.0);
        let ok = format!(
            "lab_http_requests_total{{path=\"{}\",status=\"200\",work=\"matmul\"}}",
            lab.path
        );
        assert_eq!(grew(&ok), 2.0, "{}: {ok}\n{after}", lab.name);
        let bad = format!(
            "lab_http_requests_total{{path=\"{}\",status=\"400\",work=\"none\"}}",
            lab.path
        );
        assert_eq!(grew(&bad), 1.0, "{}: {bad}\n{after}", lab.name);
        let timed = format!("lab_http_request_duration_seconds_count{{path=\"{}\"}}", lab.path);
        assert_eq!(grew(&timed), 3.0, "{}: {timed}\n{after}", lab.name);
        let scraped = "lab_http_requests_total{path=\"/metrics\",status=\"200\",work=\"none\"}";
        assert!(
            value(&after, scraped).is_some_and(|n| n >= 1.0),
            "{}: the first scrape is counted\n{after}",
            lab.name
        );
        assert_eq!(
            value(&after, "lab_http_requests_in_flight"),
            Some(1.0),
            "{}: the scrape itself",
            lab.name
        );
        assert_eq!(value(&after, "lab_requests_waiting"), Some(0.0), "{}", lab.name);
        if let Some((series, at_least)) = engine_series(lab) {
            assert!(
                grew(series) >= at_least,
                "{}: {series} grew by {}\n{after}",
                lab.name,
                grew(series)
            );
        }
        if lab.family == Family::Tasks {
            assert_eq!(
                value(&after, "lab_threads_started_total"),
                None,
                "{}: its bands are futures and start no thread\n{after}",
                lab.name
            );
        }
        if lab.forks_per_band {
            assert_eq!(
                value(&after, "lab_children_reaped_total"),
                value(&after, "lab_children_forked_total"),
                "every child forked is reaped\n{after}"
            );
        }
        if let Some(pool) = &lab.pool {
            assert!(
                value(&after, &pool.gauge).is_some_and(|n| n >= 1.0),
                "{}: {} is its pool's size\n{after}",
                lab.name,
                pool.gauge
            );
        }
    }
}

#[actix_web::test]
#[ignore = "needs promtool (apt-get install prometheus); run by .ci/run with --run-ignored"]
async fn promtool_accepts_every_server_s_metrics() {
    let client = client();
    for lab in Catalogue::lab().iter() {
        let server = start(lab);
        let base = server.url().to_owned();
        ask(&client, &format!("{base}{}?n=20", lab.path)).await;
        let (text, _) = scrape(&client, &base).await;
        let mut promtool = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool is installed (apt-get install prometheus)");
        promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let checked = promtool.wait_with_output().unwrap();
        assert!(
            checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
            "{}: promtool check metrics says ({}): {}{}\n{text}",
            lab.name,
            checked.status,
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}
