//! A request's life as Chrome trace events (`GET /debug/trace?ms=N`): while a trace runs, the
//! server records complete events (`"ph": "X"`) on the thread or process where they happened,
//! timed on `CLOCK_MONOTONIC` in microseconds, and answers them in the trace-event format that
//! Perfetto UI and `chrome://tracing` open: `{"traceEvents": [...], "otherData": {...}}`.
//!
//! - **Where.** Work on a thread (generating, a band, serializing) is an event of that thread. A
//!   forked child's or a pool worker's band is an event of its process, emitted by the server
//!   from the timestamps the process sent back (a forked child must not allocate, so it only
//!   writes numbers). The part of a request that awaits (the handler's span, admission, the
//!   wait for a blocking thread) runs on an async worker thread that interleaves many requests,
//!   and the format wants a thread's events to nest, so it goes on a *request lane*: a track of
//!   its own (`tid` from [`LANE_TID_BASE`]), taken by the request when it arrives and given
//!   back when it is answered, so there are as many lanes as requests at once.
//! - **Cost.** When no trace runs, a request's whole cost is one relaxed load of a flag: nothing
//!   is timed, allocated or locked, and every [`Trace`] it carries is [`Trace::OFF`].
//! - **Bound.** A trace keeps at most `--trace-max-events` events; the rest are counted in
//!   `otherData.dropped`, never kept.

mod chrome;
pub mod event_loop;
pub mod phase;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use chrome::ChromeTrace;
pub use phase::Phase;

/// The shortest and longest trace, in ms.
pub const TRACE_MS: std::ops::RangeInclusive<u64> = 10..=5000;

/// Events kept per trace by default (`--trace-max-events`).
pub const DEFAULT_MAX_EVENTS: usize = 100_000;

/// Events a trace makes room for when it starts, at most (about 10 MB).
const RESERVED_EVENTS: usize = 1 << 17;

/// The `tid` of request lane 0; lane k is `LANE_TID_BASE + k`. Above any real thread id
/// (`pid_max` is at most 2^22), so a lane never shares a track with a thread.
pub const LANE_TID_BASE: u32 = 1 << 30;

/// Microseconds on `CLOCK_MONOTONIC`, the clock every event of every process of a server shares.
pub fn now_us() -> u64 {
    clock_us(nix::time::ClockId::CLOCK_MONOTONIC)
}

/// Microseconds of CPU this thread has used (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_us() -> u64 {
    clock_us(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_us(clock: nix::time::ClockId) -> u64 {
    // clock_gettime(2) on these clocks cannot fail on Linux.
    let now = nix::time::clock_gettime(clock).unwrap_or(nix::sys::time::TimeSpec::new(0, 0));
    u64::try_from(now.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(now.tv_nsec()).unwrap_or(0) / 1000
}

/// One complete event, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub phase: Phase,
    pub ts_us: u64,
    pub dur_us: u64,
    pub pid: u32,
    pub tid: u32,
    pub request: u64,
    /// The band (0-based, in row order), for a band's events.
    pub band: Option<u32>,
    /// CPU the band used, on its thread's or process's own clock.
    pub cpu_us: Option<u64>,
    /// A child's user and system CPU as `wait4` reported it at reaping (its exit included).
    pub rusage_cpu_us: Option<u64>,
    /// A child's minor page faults as `wait4` reported them.
    pub minor_faults: Option<u64>,
}

/// Where an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The calling thread.
    Here,
    /// The request's lane (see the module's documentation).
    Lane,
    /// Another process, with one thread, named `name` (a forked child, a pool worker).
    Process { pid: i32, name: &'static str },
}

/// When a span began, on the wall clock and on its thread's CPU clock ([`Trace::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    pub wall_us: u64,
    pub cpu_us: u64,
}

impl Since {
    /// Now, on both clocks.
    pub fn now() -> Self {
        Self {
            wall_us: now_us(),
            cpu_us: thread_cpu_us(),
        }
    }
}

/// What to record: `phase` from `from_us` to `to_us`, and what a band adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub phase: Phase,
    pub from_us: u64,
    pub to_us: u64,
    pub band: Option<usize>,
    pub cpu_us: Option<u64>,
    pub rusage_cpu_us: Option<u64>,
    pub minor_faults: Option<u64>,
}

impl Mark {
    pub fn new(phase: Phase, from_us: u64, to_us: u64) -> Self {
        Self {
            phase,
            from_us,
            to_us,
            band: None,
            cpu_us: None,
            rusage_cpu_us: None,
            minor_faults: None,
        }
    }

    /// `phase` from `from_us` until now.
    pub fn until_now(phase: Phase, from_us: u64) -> Self {
        Self::new(phase, from_us, now_us())
    }

    /// `phase` from `since` until now, with the CPU this thread used meanwhile.
    pub fn since(phase: Phase, since: Since) -> Self {
        Self::until_now(phase, since.wall_us).cpu_us(thread_cpu_us().saturating_sub(since.cpu_us))
    }

    pub fn band(self, band: usize) -> Self {
        Self {
            band: Some(band),
            ..self
        }
    }

    pub fn cpu_us(self, cpu_us: u64) -> Self {
        Self {
            cpu_us: Some(cpu_us),
            ..self
        }
    }

    pub fn rusage_cpu_us(self, rusage_cpu_us: u64) -> Self {
        Self {
            rusage_cpu_us: Some(rusage_cpu_us),
            ..self
        }
    }

    pub fn minor_faults(self, minor_faults: u64) -> Self {
        Self {
            minor_faults: Some(minor_faults),
            ..self
        }
    }
}

/// A traced request, as its handler carries it across awaits and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    request: u64,
    lane: u32,
    started_us: u64,
    /// Which trace it began in: a lane is given back only to the trace that lent it.
    trace: u64,
}

/// The recorder a server's handlers share.
#[derive(Debug)]
pub struct Tracer {
    on: AtomicBool,
    /// The number of the trace running or last run, counted from 1: a request records only
    /// into the trace it began in.
    current: AtomicU64,
    max_events: usize,
    next_request: AtomicU64,
    dropped: AtomicU64,
    recording: Mutex<Recording>,
}

/// What one trace has recorded so far.
#[derive(Debug, Default)]
struct Recording {
    events: Vec<Event>,
    /// Each thread and lane seen, by (pid, tid), with its name.
    threads: BTreeMap<(u32, u32), String>,
    /// Each other process seen, by pid, with its name.
    processes: BTreeMap<u32, &'static str>,
    /// Which request lanes are taken.
    lanes: Vec<bool>,
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
            current: AtomicU64::new(0),
            max_events,
            next_request: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            recording: Mutex::new(Recording::default()),
        }
    }

    /// Whether a trace is running: the one check a request makes when none is.
    ///
    /// Built with `--cfg lab_trace_off`, never, and the compiler removes the recording: the
    /// baseline `scripts/bench_trace_off.sh` measures the check against.
    #[inline]
    pub fn is_on(&self) -> bool {
        !cfg!(lab_trace_off) && self.on.load(Ordering::Relaxed)
    }

    /// A request arriving: its id and lane if a trace is running, else `None` (and nothing done).
    #[inline]
    pub fn begin(&self) -> Option<RequestId> {
        if !self.is_on() {
            return None;
        }
        let request = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        let mut recording = self.lock();
        let lane = match recording.lanes.iter().position(|taken| !taken) {
            Some(free) => free,
            None => {
                recording.lanes.push(false);
                recording.lanes.len() - 1
            }
        };
        recording.lanes[lane] = true;
        // Timed once the lane is taken: the request that gave it back timed its end before, so
        // the lane's spans never overlap.
        let started_us = now_us();
        let lane = u32::try_from(lane).unwrap_or(u32::MAX - LANE_TID_BASE);
        let pid = std::process::id();
        (recording.threads)
            .entry((pid, LANE_TID_BASE + lane))
            .or_insert_with(|| format!("requests, lane {lane}"));
        Some(RequestId {
            request,
            lane,
            started_us,
            trace: self.current.load(Ordering::Relaxed),
        })
    }

    /// The request `id` (from [`begin`](Self::begin)) for recording its events.
    pub fn request(&self, id: Option<RequestId>) -> Trace<'_> {
        Trace {
            on: id.map(|id| (self, id)),
        }
    }

    /// The request `id` answered: records its handler's span and gives its lane back.
    pub fn end(&self, id: Option<RequestId>) {
        let Some(id) = id else { return };
        self.request(Some(id))
            .record(Mark::until_now(Phase::Request, id.started_us), Place::Lane);
        let mut recording = self.lock();
        if self.current.load(Ordering::Relaxed) == id.trace
            && let Some(taken) = recording.lanes.get_mut(id.lane as usize)
        {
            *taken = false;
        }
    }

    /// Starts a trace, with an empty buffer; [`TraceBusy`] if one runs.
    pub fn start(&self) -> Result<(), TraceBusy> {
        let mut recording = self.lock();
        if self.on.swap(true, Ordering::SeqCst) {
            return Err(TraceBusy);
        }
        *recording = Recording::default();
        // Room for the events up front (up to RESERVED_EVENTS): growing the buffer later
        // copies it whole under the lock every request records through.
        recording.events.reserve(self.max_events.min(RESERVED_EVENTS));
        self.current.fetch_add(1, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Ends the trace and answers it: its events, the names of its processes, threads and lanes
    /// as metadata events, and `otherData` (`process`, `clock`, `window_ms`, `max_events`,
    /// `dropped`, `requests`).
    pub fn finish(&self, process: &str, window_ms: u64) -> ChromeTrace {
        let recording = {
            let mut recording = self.lock();
            self.on.store(false, Ordering::SeqCst);
            std::mem::take(&mut *recording)
        };
        chrome::render(
            recording,
            chrome::About {
                process: process.to_owned(),
                clock: "CLOCK_MONOTONIC, microseconds",
                window_ms,
                max_events: self.max_events,
                dropped: self.dropped.load(Ordering::Relaxed),
                requests: 0,
            },
        )
    }

    /// Keeps `event`, and the name of its thread (`thread_name`, asked only the first time the
    /// thread is seen, so a trace allocates no name per event) and process.
    fn keep(&self, event: Event, thread_name: Option<&dyn Fn() -> String>, process_name: Option<&'static str>) {
        let mut recording = self.lock();
        if recording.events.len() >= self.max_events {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        recording.events.push(event);
        if let Some(name) = thread_name {
            recording.threads.entry((event.pid, event.tid)).or_insert_with(name);
        }
        if let Some(name) = process_name {
            recording.processes.entry(event.pid).or_insert(name);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recording> {
        self.recording.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request as the tracer sees it: where its events go, or nowhere ([`Trace::OFF`]).
/// Small and `Copy`, so a request hands it to every thread that works for it.
#[derive(Debug, Clone, Copy)]
pub struct Trace<'a> {
    on: Option<(&'a Tracer, RequestId)>,
}

impl Trace<'_> {
    /// A request that is not traced: every call does nothing.
    pub const OFF: Trace<'static> = Trace { on: None };

    /// Whether this request is being traced (and the trace it began in still runs).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on
            .is_some_and(|(tracer, id)| tracer.is_on() && tracer.current.load(Ordering::Relaxed) == id.trace)
    }

    /// Now, if this request is traced: the start of an event to [`record`](Self::record) later.
    #[inline]
    pub fn now(&self) -> Option<u64> {
        self.is_on().then(now_us)
    }

    /// Now on the wall clock and this thread's CPU clock, if this request is traced: the start
    /// of a span of this thread to record with [`here`](Self::here).
    #[inline]
    pub fn start(&self) -> Option<Since> {
        self.is_on().then(Since::now)
    }

    /// Records `phase` from `since` until now on this thread, with the CPU it used meanwhile;
    /// returns that now, where a phase that follows at once begins.
    #[inline]
    pub fn here(&self, phase: Phase, since: Option<Since>) -> Option<Since> {
        let since = since?;
        let now = Since::now();
        let mark = Mark::new(phase, since.wall_us, now.wall_us).cpu_us(now.cpu_us.saturating_sub(since.cpu_us));
        self.record(mark, Place::Here);
        Some(now)
    }

    /// Records `phase` from `since` until now on the request's lane (a span that awaited, so
    /// its thread's CPU clock means nothing); returns that now, as [`here`](Self::here) does.
    #[inline]
    pub fn on_lane_until_now(&self, phase: Phase, since: Option<Since>) -> Option<Since> {
        let since = since?;
        let now = Since::now();
        self.record(Mark::new(phase, since.wall_us, now.wall_us), Place::Lane);
        Some(now)
    }

    /// Records `phase` from `since` until now on the request's lane.
    #[inline]
    pub fn on_lane(&self, phase: Phase, since: Option<u64>) {
        if let Some(since) = since {
            self.record(Mark::until_now(phase, since), Place::Lane);
        }
    }

    /// Records band `band`'s run on this thread from `started` ([`start`](Self::start)), with
    /// its CPU time.
    #[inline]
    pub fn band_here(&self, band: usize, started: Option<Since>) {
        if let Some(since) = started {
            self.record(Mark::since(Phase::Band, since).band(band), Place::Here);
        }
    }

    /// Records `mark` at `place`, if this request is traced.
    pub fn record(&self, mark: Mark, place: Place) {
        let Some((tracer, id)) = self.on.filter(|_| self.is_on()) else {
            return;
        };
        let pid = std::process::id();
        let this_thread = || std::thread::current().name().unwrap_or("thread").to_owned();
        let (pid, tid, process_name) = match place {
            Place::Here => (pid, nix::unistd::gettid().as_raw().unsigned_abs(), None),
            Place::Lane => (pid, LANE_TID_BASE + id.lane, None),
            Place::Process { pid, name } => (pid.unsigned_abs(), pid.unsigned_abs(), Some(name)),
        };
        let process_thread = || process_name.unwrap_or_default().to_owned();
        let thread_name: Option<&dyn Fn() -> String> = match place {
            Place::Here => Some(&this_thread),
            Place::Lane => None,
            Place::Process { .. } => Some(&process_thread),
        };
        let event = Event {
            phase: mark.phase,
            ts_us: mark.from_us,
            dur_us: mark.to_us.saturating_sub(mark.from_us),
            pid,
            tid,
            request: id.request,
            band: mark.band.map(|band| u32::try_from(band).unwrap_or(u32::MAX)),
            cpu_us: mark.cpu_us,
            rusage_cpu_us: mark.rusage_cpu_us,
            minor_faults: mark.minor_faults,
        };
        tracer.keep(event, thread_name, process_name);
    }
}

#[cfg(test)]
mod tests;
