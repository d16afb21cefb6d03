//! A finished recording in the Chrome trace-event format: metadata events naming each process,
//! thread and request lane, then one complete event (`"ph": "X"`) per recorded event.

use serde_json::{Value, json};

use super::{Phase, Recording};

/// What the trace says about itself in `otherData`.
pub(super) struct About<'a> {
    pub process: &'a str,
    pub window_ms: u64,
    pub max_events: usize,
    pub dropped: u64,
}

pub(super) fn render(recording: &Recording, about: About<'_>) -> Value {
    let server = std::process::id();
    let name = |pid: u32, tid: u32, what: &str, name: &str| json!({ "ph": "M", "name": what, "pid": pid, "tid": tid, "args": { "name": name } });
    let mut events = vec![name(server, 0, "process_name", about.process)];
    events.extend((recording.processes.iter()).map(|(&pid, &process)| name(pid, pid, "process_name", process)));
    events.extend((recording.threads.iter()).map(|(&(pid, tid), thread)| name(pid, tid, "thread_name", thread)));
    events.extend(recording.events.iter().map(|event| {
        let mut args = json!({ "request": event.request });
        for (key, value) in [
            ("band", event.band.map(u64::from)),
            ("cpu_us", event.cpu_us),
            ("rusage_cpu_us", event.rusage_cpu_us),
        ] {
            if let Some(value) = value {
                args[key] = json!(value);
            }
        }
        json!({
            "ph": "X", "name": event.phase.name(), "cat": event.phase.category(),
            "ts": event.ts_us, "dur": event.dur_us, "pid": event.pid, "tid": event.tid, "args": args
        })
    }));
    let requests = (recording.events.iter())
        .filter(|event| event.phase == Phase::Request)
        .count();
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "process": about.process,
            "clock": "CLOCK_MONOTONIC, microseconds",
            "window_ms": about.window_ms,
            "max_events": about.max_events,
            "dropped": about.dropped,
            "requests": requests,
        }
    })
}
