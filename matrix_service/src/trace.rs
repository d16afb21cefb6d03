//! A request's life as Chrome trace events (`GET /debug/trace?ms=N`): while a trace runs, the
//! server records complete events (`"ph": "X"`) on the thread where they happened, timed on
//! `CLOCK_MONOTONIC` in microseconds, and answers them in the trace-event format that Perfetto
//! UI and `chrome://tracing` open: `{"traceEvents": [...], "otherData": {...}}`.
//!
//! When no trace runs, recording is one relaxed load of a flag: nothing is timed, allocated or
//! locked. The buffer holds at most `--trace-max-events` events; what does not fit is counted
//! in `otherData.dropped`, never kept.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

/// The shortest and longest trace, in ms.
pub const TRACE_MS: std::ops::RangeInclusive<u64> = 10..=5000;

/// Events kept per trace by default (`--trace-max-events`).
pub const DEFAULT_MAX_EVENTS: usize = 100_000;

/// Microseconds on `CLOCK_MONOTONIC`, the clock every event of every process of a server shares.
pub fn now_us() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always there");
    u64::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(now.tv_nsec()).unwrap_or(0) / 1000
}

/// One complete event: `name` in category `cat`, from `ts_us` for `dur_us`, on thread `tid`,
/// about request `request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub cat: &'static str,
    pub ts_us: u64,
    pub dur_us: u64,
    pub tid: u32,
    pub request: u64,
}

/// The recorder a server's handlers share.
#[derive(Debug)]
pub struct Tracer {
    on: AtomicBool,
    max_events: usize,
    next_request: AtomicU64,
    dropped: AtomicU64,
    events: Mutex<Vec<Event>>,
    /// Each thread seen in this trace, by id, with its name.
    threads: Mutex<BTreeMap<u32, String>>,
}

/// A trace asked for while another runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a trace is already running; ask again once it has answered")]
pub struct TraceBusy;

impl Tracer {
    /// A recorder that keeps at most `max_events` events a trace.
    pub fn new(max_events: usize) -> Self {
        Self {
            on: AtomicBool::new(false),
            max_events,
            next_request: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            events: Mutex::new(Vec::new()),
            threads: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether a trace is running: the one check a handler makes when none is.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// A new request's id and its start, if a trace is running.
    pub fn begin(&self) -> Option<(u64, u64)> {
        self.is_on()
            .then(|| (self.next_request.fetch_add(1, Ordering::Relaxed) + 1, now_us()))
    }

    /// Records `name` from `started_us` until now for `request`, on this thread.
    pub fn end(&self, name: &'static str, cat: &'static str, request: u64, started_us: u64) {
        if !self.is_on() {
            return;
        }
        let tid = nix::unistd::gettid().as_raw().unsigned_abs();
        self.record(Event {
            name,
            cat,
            ts_us: started_us,
            dur_us: now_us().saturating_sub(started_us),
            tid,
            request,
        });
        let mut threads = self.threads.lock().expect("the trace's thread names");
        threads
            .entry(tid)
            .or_insert_with(|| std::thread::current().name().unwrap_or("thread").to_owned());
    }

    /// Keeps `event` if the buffer has room, else counts it dropped.
    pub fn record(&self, event: Event) {
        let mut events = self.events.lock().expect("the trace's events");
        if events.len() < self.max_events {
            events.push(event);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts a trace, with an empty buffer; [`TraceBusy`] if one runs.
    pub fn start(&self) -> Result<(), TraceBusy> {
        let mut events = self.events.lock().expect("the trace's events");
        if self.on.swap(true, Ordering::SeqCst) {
            return Err(TraceBusy);
        }
        events.clear();
        self.threads.lock().expect("the trace's thread names").clear();
        self.dropped.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the trace and answers it: its events, each thread's and the process's name as
    /// metadata events, and `otherData` (`process`, `window_ms`, `max_events`, `dropped`).
    pub fn finish(&self, process: &str, window_ms: u64) -> Value {
        self.on.store(false, Ordering::SeqCst);
        let events = std::mem::take(&mut *self.events.lock().expect("the trace's events"));
        let threads = std::mem::take(&mut *self.threads.lock().expect("the trace's thread names"));
        let pid = std::process::id();
        let mut trace: Vec<Value> = vec![json!({
            "ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": { "name": process }
        })];
        trace.extend(threads.iter().map(
            |(tid, name)| json!({ "ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": { "name": name } }),
        ));
        trace.extend(events.iter().map(|e| {
            json!({
                "ph": "X", "name": e.name, "cat": e.cat, "ts": e.ts_us, "dur": e.dur_us,
                "pid": pid, "tid": e.tid, "args": { "request": e.request }
            })
        }));
        json!({
            "traceEvents": trace,
            "displayTimeUnit": "ms",
            "otherData": {
                "process": process,
                "clock": "CLOCK_MONOTONIC, microseconds",
                "window_ms": window_ms,
                "max_events": self.max_events,
                "dropped": self.dropped.load(Ordering::Relaxed),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_recorded_when_no_trace_runs() {
        let tracer = Tracer::new(10);
        assert_eq!(tracer.begin(), None);
        tracer.end("request", "http", 1, now_us());
        tracer.start().unwrap();
        let trace = tracer.finish("test", 10);
        assert_eq!(
            trace["traceEvents"].as_array().unwrap().len(),
            1,
            "only the process's name: {trace}"
        );
    }

    #[test]
    fn a_second_trace_waits_for_the_first_and_the_buffer_keeps_its_bound() {
        let tracer = Tracer::new(3);
        tracer.start().unwrap();
        assert_eq!(tracer.start(), Err(TraceBusy));
        for _ in 0..5 {
            let (request, started) = tracer.begin().unwrap();
            tracer.end("request", "http", request, started);
        }
        let trace = tracer.finish("test", 10);
        let events = trace["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 3, "{trace}");
        assert_eq!(trace["otherData"]["dropped"], 2);
        assert_eq!(trace["otherData"]["max_events"], 3);
        for (i, event) in complete.iter().enumerate() {
            assert_eq!(event["args"]["request"], i as u64 + 1);
            assert_eq!(
                (event["name"].as_str(), event["cat"].as_str()),
                (Some("request"), Some("http"))
            );
            assert!(
                event["ts"].as_u64().is_some() && event["dur"].as_u64().is_some(),
                "{event}"
            );
        }
        let names: Vec<&Value> = events.iter().filter(|e| e["name"] == "thread_name").collect();
        assert_eq!(names.len(), 1, "one thread recorded: {trace}");
        // Finished: a new trace may start, empty.
        tracer.start().unwrap();
        let again = tracer.finish("test", 10);
        assert_eq!(
            (
                again["traceEvents"].as_array().unwrap().len(),
                &again["otherData"]["dropped"]
            ),
            (1, &json!(0))
        );
    }
}
