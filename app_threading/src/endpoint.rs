//! What the threads server calls its endpoint, and how its page describes it.

use matrix_service::Endpoint;

/// `/threading`, computed by [`ScopedThreads`](crate::ScopedThreads).
pub const SCOPED_THREADS: Endpoint = Endpoint {
    name: "threading",
    method: "Multithreading",
    title: "Matrix addition with threads",
    description: "Each request generates two random n x n integer matrices and adds them with \
        <code>workers</code> scoped threads in this one process; every thread owns a band of rows of the result, \
        sharing the inputs' memory without locks or copies.",
};
