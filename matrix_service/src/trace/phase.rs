//! The names of a request's events: one vocabulary for every lab server, the trace it answers,
//! and the harness that reads traces back.

use serde::{Deserialize, Serialize};

/// What a request was doing during one event. Its [`name`](Phase::name) is the event's `name`
/// in the trace and its [`category`](Phase::category) the event's `cat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The handler's span: from the request's arrival at the handler to its answer ready.
    Request,
    /// Waiting for the request-memory budget and for admission (`--max-inflight-bands`).
    Admission,
    /// Waiting for a thread of actix's blocking pool to start the request's work (GET).
    BlockingPool,
    /// Waiting for the lower-priority thread that makes a posted answer to start (POST).
    BackgroundThread,
    /// Receiving and parsing a posted body.
    Parse,
    /// Generating the two matrices.
    Generate,
    /// The engine's whole computation: hand-off, bands and the way back.
    Compute,
    /// Starting a band's thread (scoped threads).
    ThreadStart,
    /// A band waiting in a pool's queue for a free thread or worker process (the thread pool,
    /// the pre-forked pool): from the request's first band queued to this band's start.
    Queue,
    /// Asking the fork server to fork a request's children, until it answers.
    ForkRequest,
    /// On a child's lane: from asking for its fork to the child ready to run its band.
    Fork,
    /// A band's run, on the thread or process that ran it: its io wait, if any, and its rows.
    /// On an event loop, its rows alone: its wait is [`Phase::Await`].
    Band,
    /// On a task's lane (the event loop): its bands awaiting their timers, none of them ready.
    Await,
    /// On a task's lane: a band ready to run (its timer fired) while the loop ran something
    /// else, other tasks' work or a timer's tick (tokio's timers fire on the millisecond).
    LoopQueue,
    /// Waiting for the other bands' threads, and joining them.
    Join,
    /// Reading the children's results from their pipes.
    PipeRead,
    /// Waiting for the children to exit (`wait4`).
    Reap,
    /// A pool worker's answer travelling back: from the last band's end to the request's
    /// thread knowing every band done.
    DoneMessage,
    /// Serializing the JSON answer.
    Serialise,
}

impl Phase {
    /// Every phase, in the order a request meets them.
    pub const ALL: [Phase; 19] = [
        Phase::Request,
        Phase::Admission,
        Phase::BlockingPool,
        Phase::BackgroundThread,
        Phase::Parse,
        Phase::Generate,
        Phase::Compute,
        Phase::ThreadStart,
        Phase::Queue,
        Phase::ForkRequest,
        Phase::Fork,
        Phase::Band,
        Phase::Await,
        Phase::LoopQueue,
        Phase::Join,
        Phase::PipeRead,
        Phase::Reap,
        Phase::DoneMessage,
        Phase::Serialise,
    ];

    /// The event's `name`.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Admission => "admission",
            Phase::BlockingPool => "blocking pool",
            Phase::BackgroundThread => "background thread",
            Phase::Parse => "parse",
            Phase::Generate => "generate",
            Phase::Compute => "compute",
            Phase::ThreadStart => "thread start",
            Phase::Queue => "queue",
            Phase::ForkRequest => "fork request",
            Phase::Fork => "fork",
            Phase::Band => "band",
            Phase::Await => "awaiting",
            Phase::LoopQueue => "queued on the loop",
            Phase::Join => "join",
            Phase::PipeRead => "pipe read",
            Phase::Reap => "reap",
            Phase::DoneMessage => "done message",
            Phase::Serialise => "serialise",
        }
    }

    /// The event's `cat`: `http` (the handler), `wait` (before the work, or for the loop),
    /// `work` (generating, computing, serializing), `handoff` (giving bands to threads or
    /// processes), `band` (a band's run or its await) or `wayback` (the bands' results coming
    /// back).
    pub const fn category(self) -> &'static str {
        match self {
            Phase::Request => "http",
            Phase::Admission | Phase::BlockingPool | Phase::BackgroundThread | Phase::LoopQueue => "wait",
            Phase::Parse | Phase::Generate | Phase::Compute | Phase::Serialise => "work",
            Phase::ThreadStart | Phase::Queue | Phase::ForkRequest | Phase::Fork => "handoff",
            Phase::Band | Phase::Await => "band",
            Phase::Join | Phase::PipeRead | Phase::Reap | Phase::DoneMessage => "wayback",
        }
    }

    /// The phase an event's `name` stands for.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|phase| phase.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_has_its_own_name_and_reads_back_from_it() {
        let mut names: Vec<&str> = Phase::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Phase::ALL.len());
        for phase in Phase::ALL {
            assert_eq!(Phase::from_name(phase.name()), Some(phase));
        }
        assert_eq!(Phase::from_name("nap"), None);
    }
}
