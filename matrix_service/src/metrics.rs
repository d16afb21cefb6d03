//! The server's own counters, served on `GET /metrics` in Prometheus' text format (0.0.4), by
//! the Prometheus project's Rust client (`prometheus-client`).
//!
//! Every request is counted by the path it asked for (the endpoint, `/`, `/healthz`,
//! `/metrics`, or `other`, so that a scan of random paths cannot grow the label set), its
//! status and its kind of work, and timed in a histogram by path. Gauges say how many requests
//! are being answered and how many wait for admission. Engines add their own counters (threads
//! started, children forked and reaped, pool workers) through [`crate::Engine::register_metrics`].

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A request's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub path: &'static str,
    pub status: u16,
    /// `add`, `matmul`, `io`, or `none` for a request that named no valid kind (an error, `/`).
    pub work: &'static str,
}

/// A path's label, for the histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabel {
    pub path: &'static str,
}

/// The kind of work an answer computed: the handler puts it in the response's extensions, and
/// the server's counting middleware reads it from there.
#[derive(Debug, Clone, Copy)]
pub struct WorkLabel(pub &'static str);

/// The work label of a request that computed nothing.
pub const NO_WORK: &str = "none";

/// The registry and the request metrics every server has.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<PathLabel, Histogram>,
    in_flight: Gauge,
    waiting: Gauge,
    /// The paths a request is counted under; any other is `other`.
    paths: [&'static str; 4],
}

impl Metrics {
    /// The metrics of a server whose endpoint is `endpoint_path`; `register_engine` adds the
    /// engine's own.
    pub fn new(endpoint_path: &'static str, register_engine: impl FnOnce(&mut Registry)) -> Arc<Self> {
        let mut registry = Registry::with_prefix("lab");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by path, status and kind of work",
            requests.clone(),
        );
        // From 0.5 ms to about 33 s: a healthz answer to a large product queued behind others.
        let latency = Family::<PathLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 17))
        });
        registry.register(
            "http_request_duration_seconds",
            "From the request's arrival to its answer being ready, by path",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "requests_waiting",
            "Requests waiting for admission (for workers to be free) now",
            waiting.clone(),
        );
        register_engine(&mut registry);
        Arc::new(Self {
            registry,
            requests,
            latency,
            in_flight,
            waiting,
            paths: [endpoint_path, "/", "/healthz", "/metrics"],
        })
    }

    /// The label for a request to `path`.
    pub fn path_label(&self, path: &str) -> &'static str {
        self.paths.iter().copied().find(|p| *p == path).unwrap_or("other")
    }

    /// Counts a request that is starting; the guard counts it done when dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts an answered request.
    pub fn answered(&self, path: &'static str, status: u16, work: &'static str, took: Duration) {
        self.requests.get_or_create(&RequestLabels { path, status, work }).inc();
        self.latency
            .get_or_create(&PathLabel { path })
            .observe(took.as_secs_f64());
    }

    /// Counts a request waiting for admission until the guard is dropped.
    pub fn waiting(&self) -> InFlight<'_> {
        self.waiting.inc();
        InFlight(&self.waiting)
    }

    /// Everything, in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Lowers a gauge when dropped.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_path_status_and_work_and_timed() {
        let engine_counter = Counter::<u64>::default();
        let registered = engine_counter.clone();
        let metrics = Metrics::new("/threading", |registry| {
            registry.register("threads_started", "Threads started", registered);
        });
        {
            let _answering = metrics.start();
            let _waiting = metrics.waiting();
            let text = metrics.encode();
            assert!(text.contains("lab_http_requests_in_flight 1\n"), "{text}");
            assert!(text.contains("lab_requests_waiting 1\n"), "{text}");
        }
        metrics.answered("/threading", 200, "matmul", Duration::from_millis(3));
        metrics.answered("/threading", 200, "matmul", Duration::from_millis(5));
        metrics.answered(
            metrics.path_label("/wp-admin"),
            404,
            NO_WORK,
            Duration::from_micros(100),
        );
        engine_counter.inc_by(4);
        let text = metrics.encode();
        for line in [
            "lab_http_requests_total{path=\"/threading\",status=\"200\",work=\"matmul\"} 2\n",
            "lab_http_requests_total{path=\"other\",status=\"404\",work=\"none\"} 1\n",
            "lab_http_request_duration_seconds_count{path=\"/threading\"} 2\n",
            "lab_http_request_duration_seconds_bucket{path=\"/threading\",le=\"0.004\"} 1\n",
            "lab_http_requests_in_flight 0\n",
            "lab_requests_waiting 0\n",
            "lab_threads_started_total 4\n",
            "# TYPE lab_http_requests_total counter\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert_eq!(metrics.path_label("/healthz"), "/healthz");
    }
}
