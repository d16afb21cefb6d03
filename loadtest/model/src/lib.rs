//! The lab's result model and its catalogue: what a run measured, as `summary.json` holds it, and
//! which lab servers there are, with their facts.
//!
//! This crate is the seam between measuring (`loadtest_run`, `loadtest_cluster`) and reporting
//! (`loadtest_report`): the measuring crates fill these types, the reporting crate reads them,
//! and `summary.json` is them serialized. It imports nothing that measures, so a report can be
//! drawn again from a folder years later.
//!
//! - [`catalogue`]: the lab servers and their facts; [`scenario`] and [`vocabulary`]: the words a
//!   run is planned and reported in.
//! - [`summary`]: a main run ([`summary::RunSummary`]); [`cluster`]: a `loadtest cluster` run;
//!   [`uploads`]: a `loadtest uploads` run; [`cpu_speed`] and [`python`]: what a run checked
//!   beside its trials.
//! - [`aggregate`], [`stats`] and [`scaling`]: the figures computed from the trials.

pub mod aggregate;
pub mod bottleneck;
pub mod catalogue;
pub mod claims;
pub mod cluster;
pub mod compare;
pub mod compare_setup;
pub mod cpu_speed;
pub mod cpu_split;
pub mod files;
pub mod floors;
pub mod ledger;
pub mod noise;
pub mod python;
pub mod rank_test;
pub mod scaling;
pub mod scenario;
pub mod stats;
pub mod summary;
pub mod trace;
pub mod trace_cost;
pub mod uploads;
pub mod vocabulary;

/// Small runs to draw reports and conclusions from, for the tests of every harness crate.
#[cfg(any(test, feature = "testing"))]
pub mod testdata;
