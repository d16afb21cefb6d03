//! What the threads server calls its endpoint, and how its page describes it.

use matrix_service::Endpoint;

/// `/threading`, its bands run by threads started for the request (`--strategy scoped`).
pub const SCOPED_THREADS: Endpoint = Endpoint {
    name: "threading",
    method: "Multithreading",
    title: "Matrix addition with threads",
    description: "Each request generates two random n x n integer matrices and adds them with \
        <code>workers</code> scoped threads in this one process; every thread owns a band of rows of the result, \
        sharing the inputs' memory without locks or copies.",
};

/// `/threading`, its bands run on a pool of threads started once (`--strategy pool`).
pub const THREAD_POOL: Endpoint = Endpoint {
    title: "Matrix addition with a pool of threads",
    description: "Each request generates two random n x n integer matrices; its <code>workers</code> bands of rows \
        become jobs on a pool of threads started once, at start-up, so a request starts no thread. Every job \
        owns its band of the result and shares the inputs' memory without locks or copies. A pool thread that \
        waits (<code>work=io</code>) holds up the jobs queued behind it.",
    ..SCOPED_THREADS
};

/// `/threading`, each request a task on the event loops (`--strategy async`).
pub const EVENT_LOOP: Endpoint = Endpoint {
    method: "Async",
    title: "Matrix addition with tasks on an event loop",
    description: "Each request is a task on one of the server's event loops; its <code>workers</code> bands of rows \
        are futures joined in that task. With <code>work=io</code> a band awaits a timer, so a waiting request \
        holds no thread; the computing runs on the loop itself, one band at a time, and holds up the loop's other \
        requests while it runs, as CPU work in an asyncio handler does.",
    ..SCOPED_THREADS
};
