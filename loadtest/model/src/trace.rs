//! A lab server's trace read back (`GET /debug/trace`, `trace_<server>_<work>.json`): its
//! complete events typed by [`Phase`], grouped by request, and the checks every trace must
//! pass to be read as a request's life: known names and categories, each request's events
//! inside its handler's span, and each thread's or process's events nested, as the
//! trace-event format requires of complete events on one track.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail};
use matrix_service::WorkKind;
use matrix_service::trace::Phase;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One traced window a run kept (`summary.json`'s `traces`), or a server it did not trace and
/// why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedWindow {
    pub server: String,
    /// The kind of work loaded during the window (its headline scenario); `None` for a server
    /// not traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkKind>,
    /// The file in the results folder: `trace_<server>_<work>.json`, or `.json.gz` when the
    /// trace was over 2 MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Requests whose whole life the window holds (handler spans).
    #[serde(default)]
    pub requests: u64,
    /// Complete events kept.
    #[serde(default)]
    pub events: u64,
    /// Events past the server's `--trace-max-events`, counted, not kept.
    #[serde(default)]
    pub dropped: u64,
    /// Why there is no file, or what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The timeline drawn from it: `timeline_<server>_<work>.svg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<String>,
}

/// One complete event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    pub phase: Phase,
    pub ts_us: u64,
    pub dur_us: u64,
    pub pid: u64,
    pub tid: u64,
    pub request: u64,
    pub band: Option<u64>,
    pub cpu_us: Option<u64>,
    /// A forked child's CPU as `wait4` reported it at reaping.
    pub rusage_cpu_us: Option<u64>,
    /// A forked child's minor page faults as `wait4` reported them.
    pub minor_faults: Option<u64>,
}

impl TraceEvent {
    pub fn end_us(&self) -> u64 {
        self.ts_us + self.dur_us
    }

    /// Whether `other` lies within this event's span.
    pub fn contains(&self, other: &TraceEvent) -> bool {
        self.ts_us <= other.ts_us && other.end_us() <= self.end_us()
    }
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
    /// Each process's name, by pid.
    pub processes: BTreeMap<u64, String>,
    /// Each thread's or lane's name, by (pid, tid).
    pub threads: BTreeMap<(u64, u64), String>,
    /// `otherData.dropped`: events that did not fit.
    pub dropped: u64,
    /// `otherData.window_ms`.
    pub window_ms: u64,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "traceEvents")]
    events: Vec<Value>,
    #[serde(rename = "otherData")]
    other: Value,
}

impl Trace {
    /// Reads a trace's JSON; an error says which event is malformed and how.
    pub fn parse(json: &Value) -> anyhow::Result<Trace> {
        let raw = Raw::deserialize(json).context("a trace is {\"traceEvents\": [...], \"otherData\": {...}}")?;
        let mut trace = Trace {
            events: Vec::new(),
            processes: BTreeMap::new(),
            threads: BTreeMap::new(),
            dropped: number(&raw.other, "dropped")?,
            window_ms: number(&raw.other, "window_ms")?,
        };
        for event in &raw.events {
            read_event(event, &mut trace).with_context(|| format!("event {event}"))?;
        }
        Ok(trace)
    }

    /// Each request's events, by request id, in order of their start.
    pub fn by_request(&self) -> BTreeMap<u64, Vec<TraceEvent>> {
        let mut requests: BTreeMap<u64, Vec<TraceEvent>> = BTreeMap::new();
        for event in &self.events {
            requests.entry(event.request).or_default().push(*event);
        }
        for events in requests.values_mut() {
            events.sort_by_key(|e| (e.ts_us, std::cmp::Reverse(e.dur_us)));
        }
        requests
    }

    /// What makes this trace unreadable as requests' lives, if anything: an event on a track
    /// with no name, an event outside its request's handler span, or two events on one track
    /// that overlap without one holding the other. Requests whose handler span the window cut
    /// off (begun in it, answered after it) have no span and are not checked.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for event in &self.events {
            if !self.processes.contains_key(&event.pid) || !self.threads.contains_key(&(event.pid, event.tid)) {
                problems.push(format!("{event:?} is on a track without a process or thread name"));
            }
        }
        for (request, events) in self.by_request() {
            let Some(span) = events.iter().find(|e| e.phase == Phase::Request) else {
                continue;
            };
            for event in events.iter().filter(|e| !span.contains(e)) {
                problems.push(format!(
                    "request {request}: {event:?} lies outside its handler span {span:?}"
                ));
            }
        }
        let mut tracks: BTreeMap<(u64, u64), Vec<TraceEvent>> = BTreeMap::new();
        for event in &self.events {
            tracks.entry((event.pid, event.tid)).or_default().push(*event);
        }
        for (track, mut events) in tracks {
            events.sort_by_key(|e| (e.ts_us, std::cmp::Reverse(e.dur_us)));
            let mut open: Vec<TraceEvent> = Vec::new();
            for event in events {
                while open.last().is_some_and(|last| last.end_us() <= event.ts_us) {
                    open.pop();
                }
                if let Some(holder) = open.last().filter(|holder| !holder.contains(&event)) {
                    problems.push(format!(
                        "track {track:?}: {event:?} overlaps {holder:?} without nesting"
                    ));
                }
                open.push(event);
            }
        }
        problems
    }

    /// The requests whose handler span the trace holds.
    pub fn whole_requests(&self) -> BTreeSet<u64> {
        (self.events.iter())
            .filter(|e| e.phase == Phase::Request)
            .map(|e| e.request)
            .collect()
    }
}

fn read_event(event: &Value, trace: &mut Trace) -> anyhow::Result<()> {
    let (pid, tid) = (number(event, "pid")?, number(event, "tid")?);
    let name = event["name"].as_str().context("no name")?;
    match event["ph"].as_str() {
        Some("M") => {
            let value = event["args"]["name"]
                .as_str()
                .context("metadata without args.name")?
                .to_owned();
            match name {
                "process_name" => _ = trace.processes.insert(pid, value),
                "thread_name" => _ = trace.threads.insert((pid, tid), value),
                _ => {}
            }
        }
        Some("X") => {
            let phase = Phase::from_name(name).with_context(|| format!("{name:?} is not a phase of a request"))?;
            if event["cat"].as_str() != Some(phase.category()) {
                bail!("{name:?} has category {}, not {:?}", event["cat"], phase.category());
            }
            let optional = |key: &str| event["args"][key].as_u64();
            trace.events.push(TraceEvent {
                phase,
                ts_us: number(event, "ts")?,
                dur_us: number(event, "dur")?,
                pid,
                tid,
                request: event["args"]["request"].as_u64().context("no args.request")?,
                band: optional("band"),
                cpu_us: optional("cpu_us"),
                rusage_cpu_us: optional("rusage_cpu_us"),
                minor_faults: optional("minor_faults"),
            });
        }
        other => bail!("ph {other:?}: the servers write complete (X) and metadata (M) events only"),
    }
    Ok(())
}

fn number(value: &Value, key: &str) -> anyhow::Result<u64> {
    value[key]
        .as_u64()
        .with_context(|| format!("{key} is not a whole number: {}", value[key]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::trace_events::{complete, process_name, thread_name, whole};
    use serde_json::json;

    fn event(name: &str, ts: u64, dur: u64, tid: u64, request: u64) -> Value {
        complete(name, (ts, dur), (1, tid), request)
    }

    fn trace(events: Vec<Value>) -> Value {
        let mut all = vec![process_name(1, "lab"), thread_name(1, 7, "t"), thread_name(1, 8, "u")];
        all.extend(events);
        whole(all, 10)
    }

    #[test]
    fn a_well_formed_trace_has_no_problems() {
        let json = trace(vec![
            event("request", 0, 100, 7, 1),
            event("generate", 10, 20, 8, 1),
            event("compute", 30, 50, 8, 1),
            event("band", 35, 10, 8, 1),
            event("serialise", 80, 5, 8, 1),
            // A request the window cut off: no span, not checked.
            event("generate", 500, 5, 8, 2),
        ]);
        let trace = Trace::parse(&json).unwrap();
        assert_eq!(trace.problems(), Vec::<String>::new());
        assert_eq!(trace.whole_requests(), BTreeSet::from([1]));
        assert_eq!(trace.by_request()[&1].len(), 5);
    }

    #[test]
    fn events_outside_their_span_overlapping_on_a_track_or_unnamed_are_problems() {
        let json = trace(vec![
            event("request", 0, 100, 7, 1),
            event("generate", 90, 20, 8, 1),
            event("compute", 100, 50, 8, 3),
            event("band", 5, 5, 9, 3),
        ]);
        let problems = Trace::parse(&json).unwrap().problems();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].contains("without a process or thread name"),
            "{problems:#?}"
        );
        assert!(problems[1].contains("outside its handler span"), "{problems:#?}");
        assert!(problems[2].contains("without nesting"), "{problems:#?}");
    }

    #[test]
    fn unknown_names_wrong_categories_and_missing_fields_are_refused_with_the_event() {
        let mut wrong_cat = event("band", 0, 1, 7, 1);
        wrong_cat["cat"] = json!("work");
        let mut no_request = event("band", 0, 1, 7, 1);
        no_request["args"] = json!({});
        let mut unknown = event("band", 0, 1, 7, 1);
        unknown["name"] = json!("nap");
        for (bad, says) in [
            (unknown, "not a phase"),
            (wrong_cat, "category"),
            (no_request, "args.request"),
        ] {
            let error = format!("{:#}", Trace::parse(&trace(vec![bad])).unwrap_err());
            assert!(error.contains(says), "{error}");
        }
    }
}
