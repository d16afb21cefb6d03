//! A `loadtest cluster` run's report: its conclusions, `report.md` and `report.html`, the charts
//! and the tables printed at the end, all drawn from its `summary.json` ([`ClusterRun`]).
//!
//! [`ClusterRun`]: loadtest_model::cluster::ClusterRun

pub mod charts;
pub mod conclusions;
pub mod faults;
pub mod report;
pub mod terminal;
