//! Typed view of what `oha --output-format json` prints (oha 1.15 and later; fixtures from 1.16.0).
//!
//! It owns the harness's reading of oha's result: which answers count as good (2xx only), which
//! failures are the load generator's own deadline aborts rather than server faults, and which
//! latency figures describe the good answers. oha's headline numbers do not mean what their names
//! suggest (see `docs/methodology.md`, "Reading oha"), so the harness derives its own:
//!
//! - oha counts *any* HTTP response as a "success", a 503 included, and its `successRate` and
//!   `requestsPerSec` count failures too (hatoo/oha#645). [`OhaReport::rps_2xx`] counts 2xx only.
//! - Its latency statistics cover every response whatever the status, unless the run used
//!   `--stats-success-breakdown`; then [`OhaReport::latency_ms`] reads the 2xx-only percentiles.
//!
//! Only what the harness uses is modelled, and unknown keys are ignored, so a newer oha that adds
//! keys still parses. Every float that can be NaN or infinite (with no responses, `fastest` is +inf
//! and the percentiles are NaN) is an `Option<f64>`, because serde_json writes those as `null`.
//! All oha times are seconds; the accessors convert to milliseconds where their name says `_ms`.
//! Source of truth: oha 1.16.0 `src/printer.rs` `print_json`, not `schema.json`, which misspells
//! the breakdown keys as `latencyPercentileSuccessful` / `latencyPercentileNotSuccessful`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The text oha records in `errorDistribution` for a request still in flight when a `-z` run
/// ends (oha 1.16.0 `src/client.rs`, `ClientError::Deadline`). It is the load generator stopping,
/// not the server failing, so the harness keeps it apart from transport errors.
pub const DEADLINE_ABORT_MESSAGE: &str = "aborted due to deadline";

/// Latency percentiles as oha prints them: key `"p10"` ... `"p99.99"`, value in seconds, `None`
/// when oha had no sample to take it from (NaN, printed as `null`).
pub type PercentilesSecs = BTreeMap<String, Option<f64>>;

/// One oha run's JSON output (`oha --no-tui --output-format json`), the parts a harness needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OhaReport {
    /// Totals and the all-responses latency summary.
    pub summary: Summary,
    /// oha's own digest, printed since 1.15 (hatoo/oha#882); absent from older output.
    pub metrics: Option<Metrics>,
    /// Latency percentiles over every response, whatever its status.
    pub latency_percentiles: PercentilesSecs,
    /// Time to first byte percentiles (since oha 1.13).
    pub first_byte_percentiles: Option<PercentilesSecs>,
    /// With `--stats-success-breakdown`: latency histogram of the 2xx responses, bucket lower
    /// bound in seconds (a float printed as a string) to count. Its largest bucket key is the
    /// slowest 2xx response, because oha spaces 11 buckets from the minimum to the maximum
    /// (oha 1.16.0 `src/histogram.rs`).
    pub response_time_histogram_successful: Option<BTreeMap<String, u64>>,
    /// With `--stats-success-breakdown`: latency percentiles over the 2xx responses only.
    ///
    /// "Successful" here is `hyper::StatusCode::is_success()`, a status in 200..=299 (oha 1.16.0
    /// `src/result_data.rs` line 178, `duration_successful_statistics`); transport errors never
    /// have a latency sample at all. Elsewhere oha calls any response a success (its
    /// `successRate`), which is why this breakdown is the one the harness reports.
    pub latency_percentiles_successful: Option<PercentilesSecs>,
    /// With `--stats-success-breakdown`: latency percentiles over the non-2xx responses
    /// (`!is_success()`, oha 1.16.0 `src/result_data.rs` line 189).
    pub latency_percentiles_not_successful: Option<PercentilesSecs>,
    /// Throughput over ~10 ms windows of completion times; noisy on short runs.
    pub rps: Option<RpsStats>,
    /// HTTP status (`"200"`, `"503"`) to number of responses with it.
    pub status_code_distribution: BTreeMap<String, u64>,
    /// Failure message (opaque text from oha's client libraries) to number of requests that
    /// ended with it. Includes [`DEADLINE_ABORT_MESSAGE`] for `-z` runs.
    pub error_distribution: BTreeMap<String, u64>,
}

/// oha's `summary` object. Latencies cover every response, whatever its status.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    /// Responses / (responses + errors other than deadline aborts); a 4xx or 5xx is a "success"
    /// here. `None` when there was nothing to divide.
    #[serde(rename = "successRate")]
    pub success_rate: Option<f64>,
    /// Wall time of the whole run, connection set-up included.
    #[serde(rename = "total")]
    pub total_secs: Option<f64>,
    /// Slowest response; `None` with no responses.
    #[serde(rename = "slowest")]
    pub slowest_secs: Option<f64>,
    /// Fastest response; `None` with no responses.
    #[serde(rename = "fastest")]
    pub fastest_secs: Option<f64>,
    /// Mean response time; `None` with no responses.
    #[serde(rename = "average")]
    pub average_secs: Option<f64>,
    /// (Responses + errors) / total time: failures inflate it (hatoo/oha#645).
    #[serde(rename = "requestsPerSec")]
    pub requests_per_sec: Option<f64>,
}

/// oha's `metrics` object (since 1.15): its own digest, latencies in milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct Metrics {
    /// Same as [`Summary::success_rate`].
    pub success_rate: Option<f64>,
    /// Same as [`Summary::requests_per_sec`].
    pub requests_per_sec: Option<f64>,
    /// Latency over every response, in milliseconds.
    pub latency_ms: MetricsLatencyMs,
}

/// `metrics.latency_ms`: latency over every response, whatever its status.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsLatencyMs {
    /// Fastest response.
    #[serde(rename = "min")]
    pub min_ms: Option<f64>,
    /// Mean response time.
    #[serde(rename = "mean")]
    pub mean_ms: Option<f64>,
    /// Median.
    #[serde(rename = "p50")]
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    #[serde(rename = "p95")]
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    #[serde(rename = "p99")]
    pub p99_ms: Option<f64>,
    /// Slowest response.
    #[serde(rename = "max")]
    pub max_ms: Option<f64>,
}

/// oha's `rps` object: requests completed per second, measured over ~10 ms windows.
#[derive(Debug, Clone, Deserialize)]
pub struct RpsStats {
    /// Mean of the windows' rates.
    #[serde(rename = "mean")]
    pub mean_per_sec: Option<f64>,
    /// Sample standard deviation; `None` with fewer than two windows.
    #[serde(rename = "stddev")]
    pub stddev_per_sec: Option<f64>,
    /// Fastest window.
    #[serde(rename = "max")]
    pub max_per_sec: Option<f64>,
    /// Slowest window.
    #[serde(rename = "min")]
    pub min_per_sec: Option<f64>,
    /// Percentiles of the windows' rates, keyed like the latency percentiles.
    #[serde(rename = "percentiles")]
    pub percentiles_per_sec: BTreeMap<String, Option<f64>>,
}

/// The bytes given to [`OhaReport::parse`] are not oha's JSON output.
#[derive(Debug, thiserror::Error)]
pub enum OhaParseError {
    /// serde_json could not read the bytes as oha's report.
    #[error(
        "this is not oha's JSON output ({serde_message}); run oha 1.15 or later with \
         `--no-tui --output-format json` and pass its stdout unchanged"
    )]
    NotOhaJson {
        /// serde_json's description, with line and column.
        serde_message: String,
    },
}

impl OhaReport {
    /// Reads oha's JSON output (its stdout, or a saved raw file).
    pub fn parse(json: &[u8]) -> Result<Self, OhaParseError> {
        serde_json::from_slice(json).map_err(|e| OhaParseError::NotOhaJson {
            serde_message: e.to_string(),
        })
    }

    /// Responses with a status in 200..=299.
    pub fn responses_2xx(&self) -> u64 {
        self.status_code_distribution
            .iter()
            .filter(|(status, _)| is_2xx(status))
            .map(|(_, count)| count)
            .sum()
    }

    /// Responses with any other status (1xx, 3xx, 4xx, 5xx, or a key that is not a number).
    pub fn responses_non_2xx(&self) -> u64 {
        self.status_code_distribution
            .iter()
            .filter(|(status, _)| !is_2xx(status))
            .map(|(_, count)| count)
            .sum()
    }

    /// 503 answers: the server refusing work it has no room for.
    pub fn responses_503(&self) -> u64 {
        self.status_code_distribution.get("503").copied().unwrap_or(0)
    }

    /// Requests cut off by the end of a `-z` run: oha stopping, not the server failing.
    pub fn deadline_aborts(&self) -> u64 {
        self.error_distribution
            .get(DEADLINE_ABORT_MESSAGE)
            .copied()
            .unwrap_or(0)
    }

    /// Requests that got no HTTP response (refused, reset, timed out, ...), deadline aborts
    /// excluded.
    pub fn transport_errors(&self) -> u64 {
        self.error_distribution
            .iter()
            .filter(|(message, _)| message.as_str() != DEADLINE_ABORT_MESSAGE)
            .map(|(_, count)| count)
            .sum()
    }

    /// Wall time of the run (`summary.total`), if oha printed a usable one.
    pub fn load_secs(&self) -> Option<f64> {
        self.summary.total_secs.filter(|secs| secs.is_finite() && *secs > 0.0)
    }

    /// Goodput: 2xx responses per second of the run.
    pub fn rps_2xx(&self) -> Option<f64> {
        // u64 -> f64 is exact below 2^53 responses, far beyond any run.
        self.load_secs().map(|secs| self.responses_2xx() as f64 / secs)
    }

    /// Latency in ms at percentile key ("p50","p90","p99","p99.9"), over 2xx answers when the
    /// success breakdown is present, else over all answers; None if absent/null.
    pub fn latency_ms(&self, key: &str) -> Option<f64> {
        let percentiles = self
            .latency_percentiles_successful
            .as_ref()
            .unwrap_or(&self.latency_percentiles);
        percentiles.get(key).copied().flatten().map(secs_to_ms)
    }

    /// Slowest answer in ms: the slowest 2xx answer when the success breakdown is present (then
    /// `None` if there was no 2xx answer, like [`OhaReport::latency_ms`]), else `summary.slowest`.
    pub fn latency_max_ms(&self) -> Option<f64> {
        match &self.latency_percentiles_successful {
            Some(percentiles) => self.slowest_2xx_secs(percentiles).map(secs_to_ms),
            None => self.summary.slowest_secs.map(secs_to_ms),
        }
    }

    /// oha prints no maximum for the 2xx breakdown. Its histogram's top bucket key is that maximum
    /// (up to float rounding), and `p99.99` is a real sample that equals it below 10,000 answers,
    /// so the larger of the two is the best figure the JSON holds.
    fn slowest_2xx_secs(&self, percentiles: &PercentilesSecs) -> Option<f64> {
        let top_bucket = self
            .response_time_histogram_successful
            .iter()
            .flatten()
            .filter(|(_, count)| **count > 0)
            // Keys are floats as strings; with no samples oha prints one key, "NaN".
            .filter_map(|(key, _)| key.parse::<f64>().ok())
            .filter(|secs| secs.is_finite());
        let p99_99 = percentiles.get("p99.99").copied().flatten();
        top_bucket.chain(p99_99).reduce(f64::max)
    }
}

fn is_2xx(status: &str) -> bool {
    status.parse::<u16>().is_ok_and(|code| (200..300).contains(&code))
}

fn secs_to_ms(secs: f64) -> f64 {
    secs * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &[u8] = include_bytes!("../../../tests/fixtures/oha-1.16-clean.json");
    const FAILURES: &[u8] = include_bytes!("../../../tests/fixtures/oha-1.16-failures.json");
    const REFUSED: &[u8] = include_bytes!("../../../tests/fixtures/oha-1.16-refused.json");
    const DEADLINE: &[u8] = include_bytes!("../../../tests/fixtures/oha-1.16-deadline.json");

    fn parse(json: &[u8]) -> OhaReport {
        OhaReport::parse(json).expect("fixture is real oha 1.16 output")
    }

    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("value present");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn clean_run_counts_every_request_as_2xx() {
        let report = parse(CLEAN);
        assert_eq!(report.responses_2xx(), 200);
        assert_eq!(report.responses_non_2xx(), 0);
        assert_eq!(report.transport_errors(), 0);
        assert_eq!(report.deadline_aborts(), 0);
        assert!(report.metrics.is_some());
        assert!(report.rps.is_some());
    }

    #[test]
    fn clean_run_reads_2xx_percentiles_and_goodput() {
        let report = parse(CLEAN);
        for key in ["p50", "p90", "p99", "p99.9"] {
            assert!(report.latency_ms(key).is_some(), "{key} missing");
        }
        assert_close(report.latency_ms("p50"), 34.624227);
        assert_close(report.load_secs(), 0.402864625);
        assert_close(report.rps_2xx(), 200.0 / 0.402864625);
        // At n = 200, p99.9 is the slowest sample, and the top histogram bucket agrees.
        assert_close(report.latency_max_ms(), 77.618191);
        assert_close(report.summary.slowest_secs.map(secs_to_ms), 77.618191);
    }

    #[test]
    fn percentile_missing_from_the_output_is_none() {
        assert_eq!(parse(CLEAN).latency_ms("p42"), None);
    }

    #[test]
    fn mixed_failures_split_into_2xx_non_2xx_and_transport_errors() {
        let report = parse(FAILURES);
        assert_eq!(report.responses_2xx(), 107);
        assert_eq!(report.responses_non_2xx(), 88);
        assert_eq!(report.status_code_distribution.get("503"), Some(&88));
        assert_eq!(report.transport_errors(), 5);
        assert_eq!(report.error_distribution.get("timeout"), Some(&5));
        assert_eq!(report.deadline_aborts(), 0);
    }

    #[test]
    fn mixed_failures_latency_covers_only_2xx_answers() {
        let report = parse(FAILURES);
        assert_close(report.latency_ms("p50"), 309.690353);
        // The all-responses figure differs: it mixes in the 503s.
        let all_p50 = report.latency_percentiles["p50"].expect("p50 over all responses");
        assert!((secs_to_ms(all_p50) - 309.690353).abs() > 1e-6);
        assert_close(report.latency_max_ms(), 350.100894);
        assert_close(report.rps_2xx(), 107.0 / 3.214574487);
    }

    #[test]
    fn all_requests_refused_gives_transport_errors_and_no_latency() {
        let report = parse(REFUSED);
        assert_eq!(report.responses_2xx(), 0);
        assert_eq!(report.responses_non_2xx(), 0);
        assert_eq!(report.transport_errors(), 200);
        assert_eq!(report.deadline_aborts(), 0);
        assert_eq!(report.latency_ms("p50"), None);
        assert_eq!(report.latency_max_ms(), None);
        assert_eq!(report.summary.slowest_secs, None);
        assert_eq!(report.summary.average_secs, None);
        assert_eq!(report.rps_2xx(), Some(0.0));
    }

    #[test]
    fn duration_run_keeps_deadline_aborts_apart_from_errors() {
        let report = parse(DEADLINE);
        assert_eq!(report.responses_2xx(), 17);
        assert_eq!(report.responses_non_2xx(), 0);
        assert_eq!(report.deadline_aborts(), 20);
        assert_eq!(report.transport_errors(), 0);
        assert!(report.latency_ms("p99").is_some());
        assert_close(report.load_secs(), 2.001706215);
    }

    #[test]
    fn null_percentiles_and_absent_optional_keys_parse_to_none() {
        let json = br#"{
            "summary": {"successRate": null, "total": 1.5, "slowest": null, "fastest": null,
                        "average": null, "requestsPerSec": 0.0},
            "latencyPercentiles": {"p50": null, "p99": null},
            "latencyPercentilesSuccessful": {"p50": null, "p99.99": null},
            "responseTimeHistogramSuccessful": {"NaN": 0},
            "statusCodeDistribution": {},
            "errorDistribution": {"aborted due to deadline": 3}
        }"#;
        let report = parse(json);
        assert_eq!(report.latency_ms("p50"), None);
        assert_eq!(report.latency_ms("p99"), None);
        assert_eq!(report.latency_max_ms(), None);
        assert!(report.metrics.is_none());
        assert!(report.rps.is_none());
        assert!(report.first_byte_percentiles.is_none());
        assert_eq!(report.deadline_aborts(), 3);
        assert_eq!(report.transport_errors(), 0);
    }

    #[test]
    fn without_breakdown_latency_reads_all_responses_and_summary_slowest() {
        let json = br#"{
            "summary": {"successRate": 1.0, "total": 2.0, "slowest": 0.25, "fastest": 0.001,
                        "average": 0.01, "requestsPerSec": 100.0},
            "latencyPercentiles": {"p50": 0.004},
            "statusCodeDistribution": {"200": 150, "404": 50},
            "errorDistribution": {}
        }"#;
        let report = parse(json);
        assert_close(report.latency_ms("p50"), 4.0);
        assert_close(report.latency_max_ms(), 250.0);
        assert_close(report.rps_2xx(), 75.0);
        assert_eq!(report.responses_non_2xx(), 50);
    }

    #[test]
    fn zero_total_time_gives_no_goodput() {
        let json = br#"{"summary": {"total": 0.0}, "latencyPercentiles": {},
                        "statusCodeDistribution": {"200": 1}, "errorDistribution": {}}"#;
        let report = parse(json);
        assert_eq!(report.load_secs(), None);
        assert_eq!(report.rps_2xx(), None);
    }

    #[test]
    fn text_output_is_refused_with_serde_message() {
        let error = OhaReport::parse(b"Summary:\n  Success rate:\t100.00%").expect_err("not JSON");
        let message = error.to_string();
        assert!(message.contains("not oha's JSON output"), "{message}");
        assert!(message.contains("line 1 column 1"), "{message}");
        assert!(message.contains("--output-format json"), "{message}");
    }

    #[test]
    fn json_without_summary_is_refused() {
        let error = OhaReport::parse(br#"{"status":"ok"}"#).expect_err("not oha's report");
        assert!(error.to_string().contains("missing field `summary`"), "{error}");
    }
}
