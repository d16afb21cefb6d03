//! The lab servers' own count of their answers, read from their `GET /metrics` around each
//! trial: a check on oha's count from the other side of the connection.
//!
//! Only one series is read, `lab_http_requests_total`, whose lines the servers write as
//! `lab_http_requests_total{path="/threading",status="200",work="add"} 1234` (Prometheus' text
//! format; `promtool` checks it in the servers' tests).

use crate::http::Client;

const SERIES: &str = "lab_http_requests_total{";

/// Answers on `path` (any status, any work) in a `/metrics` text.
pub fn endpoint_answers(text: &str, path: &str) -> u64 {
    let label = format!("path=\"{path}\"");
    text.lines()
        .filter_map(|line| line.strip_prefix(SERIES))
        .filter_map(|rest| rest.split_once("} "))
        .filter(|(labels, _)| labels.split(',').any(|l| l == label))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// The server's count of answers on its endpoint now, from its `/metrics`, or `None` if it has
/// no such page (a server of another make, or an older build).
pub fn scrape(client: &Client, endpoint: &str) -> Option<u64> {
    let (text, path) = metrics_text(client, endpoint)?;
    (text.contains("lab_http_requests_total")).then(|| endpoint_answers(&text, &path))
}

/// The size of the server's pool (threads, or worker processes alive), from its `/metrics`;
/// `None` for a server without one.
pub fn pool_size(client: &Client, endpoint: &str) -> Option<u32> {
    pool_size_in(&metrics_text(client, endpoint)?.0)
}

/// The gauges the two pools write: `lab_pool_threads 2`, `lab_pool_workers_alive 4`.
fn pool_size_in(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let value =
            (line.strip_prefix("lab_pool_threads ")).or_else(|| line.strip_prefix("lab_pool_workers_alive "))?;
        Some(value.trim().parse::<f64>().ok()? as u32)
    })
}

/// `GET /metrics` beside `endpoint`, and the endpoint's path.
fn metrics_text(client: &Client, endpoint: &str) -> Option<(String, String)> {
    let scheme_end = endpoint.find("://")? + 3;
    let path_start = scheme_end + endpoint[scheme_end..].find('/')?;
    let (base, path) = endpoint.split_at(path_start);
    match client.get_text(&format!("{base}/metrics")) {
        Ok((200, text)) => Some((text, path.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP lab_http_requests_total Requests answered.\n\
        # TYPE lab_http_requests_total counter\n\
        lab_http_requests_total{path=\"/threading\",status=\"200\",work=\"add\"} 1200\n\
        lab_http_requests_total{path=\"/threading\",status=\"503\",work=\"add\"} 3\n\
        lab_http_requests_total{path=\"/threading\",status=\"400\",work=\"none\"} 1\n\
        lab_http_requests_total{path=\"/metrics\",status=\"200\",work=\"none\"} 7\n\
        lab_http_request_duration_seconds_count{path=\"/threading\"} 1204\n";

    #[test]
    fn a_pool_s_size_is_read_from_either_gauge() {
        let threads = "# TYPE lab_pool_threads gauge\nlab_pool_threads 2\n";
        let workers = "# HELP lab_pool_workers_alive Pool worker processes alive now.\nlab_pool_workers_alive 4\n";
        assert_eq!(pool_size_in(threads), Some(2));
        assert_eq!(pool_size_in(workers), Some(4));
        assert_eq!(pool_size_in(TEXT), None);
    }

    #[test]
    fn every_answer_on_the_endpoint_is_counted_whatever_its_status() {
        assert_eq!(endpoint_answers(TEXT, "/threading"), 1204);
        assert_eq!(endpoint_answers(TEXT, "/metrics"), 7);
        assert_eq!(endpoint_answers(TEXT, "/multiprocessing"), 0);
        assert_eq!(endpoint_answers("", "/threading"), 0);
    }
}
