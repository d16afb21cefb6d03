//! What the processes server calls its endpoint, and how its page describes each strategy.

use matrix_service::Endpoint;

const NAME: &str = "multiprocessing";
const METHOD: &str = "Multiprocessing";

/// `/multiprocessing` computed by [`ForkPerRequest`](crate::ForkPerRequest) (`--strategy fork`).
pub const FORK_PER_REQUEST: Endpoint = Endpoint {
    name: NAME,
    method: METHOD,
    title: "Matrix addition with processes",
    description: "Each request generates two random n x n integer matrices and forks <code>workers</code> child \
        processes (by default through a small fork server, so the busy server does not fork itself; the children \
        are still its own); each child inherits the inputs (in memory shared with it), adds its band of rows, and \
        sends the result back through its own pipe as raw bytes. The answer lists the children's pids, all of \
        them already reaped.",
};

/// `/multiprocessing` computed by [`PreforkPool`](crate::PreforkPool) (`--strategy prefork`).
pub const PREFORK_POOL: Endpoint = Endpoint {
    name: NAME,
    method: METHOD,
    title: "Matrix addition with a pool of processes",
    description: "Each request generates two random n x n integer matrices straight into memory this server \
        shares with a pool of worker processes started once, at start-up. Its <code>workers</code> bands of rows \
        become jobs; each idle worker process takes the next one, adds its band in the shared memory and says it \
        is done through a pipe. The answer lists the pid that computed each band.",
};
