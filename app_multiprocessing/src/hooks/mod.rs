//! Test hooks, behind hidden flags: faults a child or pool worker acts out
//! (`--debug-child-fault`), and a storm of interrupting signals (`--debug-signal-storm`). They
//! let the tests prove what the server does when a child or worker goes wrong.

pub mod fault;
pub mod signal_storm;
