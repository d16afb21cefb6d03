//! The distributed lab (`loadtest cluster`): the lab servers on several hosts behind HAProxy,
//! measured as they scale out and as a host fails.
//!
//! A run goes: flags checked ([`args`]) → the machine checked for what the emulation needs
//! ([`preflight`]) → hosts made ([`topology`]: network namespaces on a bridge ([`netns`]), each
//! with a CPU quota ([`cgroup`]), named for the run ([`names`])) → for each server kind, its
//! servers started on every host ([`fleet`]) → for each host count, HAProxy started over that
//! many hosts ([`haproxy`], [`balancer`]) and oha run against it from the client namespace
//! ([`scale_out`]) → at the largest count, each fault ([`Fault`](loadtest_model::cluster::fault::Fault)) injected mid-trial with the
//! balancer's retries on and off ([`fault_trial`]), its cost read from the balancer's log
//! ([`log`]), its counters ([`stats`]) and its view of the host ([`analysis`]) → the
//! `cluster` object of `summary.json` ([`ClusterSummary`](loadtest_model::cluster::ClusterSummary)),
//! the conclusions computed from it, `report.md` and `report.html`, the charts and the tables
//! printed at the end ([`loadtest_report::cluster`]). [`run`](mod@run) drives it
//! all; [`site`] hides whether the hosts are emulated or real (`--host-url`). Everything the
//! run made is removed at the end, on Ctrl-C and on an error; `--cleanup` removes what a
//! killed run left.

pub mod analysis;
pub mod args;
pub mod balancer;
pub mod cgroup;
pub mod fault_plan;
pub mod fault_trial;
pub mod fleet;
pub mod haproxy;
pub mod log;
pub mod names;
pub mod netns;
pub mod preflight;
pub mod run;
pub mod scale_out;
pub mod site;
pub mod stats;
pub mod topology;

pub use args::ClusterArgs;
pub use run::run;
