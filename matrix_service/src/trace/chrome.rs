//! A finished recording in the Chrome trace-event format: metadata events naming each process,
//! thread and request lane, then one complete event (`"ph": "X"`) per recorded event. Typed, so
//! the answer is written straight from the recording, with no intermediate JSON tree.

use serde::Serialize;

use super::{Phase, Recording};

/// A whole trace, as `GET /debug/trace` answers it.
#[derive(Debug, Serialize)]
pub struct ChromeTrace {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<TraceEvent>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other_data: About,
}

/// What the trace says about itself in `otherData`.
#[derive(Debug, Serialize)]
pub(super) struct About {
    pub process: String,
    pub clock: &'static str,
    pub window_ms: u64,
    pub max_events: usize,
    pub dropped: u64,
    /// Requests whose handler span the trace holds.
    pub requests: usize,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum TraceEvent {
    Metadata {
        ph: &'static str,
        name: &'static str,
        pid: u32,
        tid: u32,
        args: Name,
    },
    Complete {
        ph: &'static str,
        name: &'static str,
        cat: &'static str,
        ts: u64,
        dur: u64,
        pid: u32,
        tid: u32,
        args: Args,
    },
}

#[derive(Debug, Serialize)]
struct Name {
    name: String,
}

#[derive(Debug, Serialize)]
struct Args {
    request: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    band: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rusage_cpu_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minor_faults: Option<u64>,
}

pub(super) fn render(recording: Recording, mut about: About) -> ChromeTrace {
    let server = std::process::id();
    let name = |pid: u32, tid: u32, what: &'static str, name: String| TraceEvent::Metadata {
        ph: "M",
        name: what,
        pid,
        tid,
        args: Name { name },
    };
    let mut events = Vec::with_capacity(recording.events.len() + recording.threads.len() + 1);
    events.push(name(server, 0, "process_name", about.process.clone()));
    events.extend(
        (recording.processes.iter()).map(|(&pid, &process)| name(pid, pid, "process_name", process.to_owned())),
    );
    events.extend((recording.threads.into_iter()).map(|((pid, tid), thread)| name(pid, tid, "thread_name", thread)));
    about.requests = (recording.events.iter())
        .filter(|event| event.phase == Phase::Request)
        .count();
    events.extend(recording.events.into_iter().map(|event| TraceEvent::Complete {
        ph: "X",
        name: event.phase.name(),
        cat: event.phase.category(),
        ts: event.ts_us,
        dur: event.dur_us,
        pid: event.pid,
        tid: event.tid,
        args: Args {
            request: event.request,
            band: event.band,
            cpu_us: event.cpu_us,
            rusage_cpu_us: event.rusage_cpu_us,
            minor_faults: event.minor_faults,
        },
    }));
    ChromeTrace {
        trace_events: events,
        display_time_unit: "ms",
        other_data: about,
    }
}
