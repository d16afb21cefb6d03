//! The distributed lab (`loadtest cluster`, in progress): the lab servers on several hosts
//! behind HAProxy, measured as they scale out and as hosts fail.
//!
//! Built so far: the balancer's configuration ([`haproxy`]), the reading of its request log into
//! a fault's timeline ([`log`]), and of its counters ([`stats`]). Hosts as network namespaces with CPU quotas, the fault
//! injection and the subcommand come next (docs/cluster.md says what is there and what is not).

pub mod haproxy;
pub mod log;
pub mod stats;
