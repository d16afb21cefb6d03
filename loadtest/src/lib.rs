//! `loadtest`: threads or processes, measured.
//!
//! The harness is five crates, each one responsibility:
//! - `loadtest_model` (`loadtest/model`): what a run measured, as `summary.json` holds it, and
//!   the catalogue of lab servers. It imports nothing that measures: it is the seam.
//! - `loadtest_run` (`loadtest/run`): everything that measures: oha, the servers, the trials and
//!   their sampling, the floors measured beside them.
//! - `loadtest_report` (`loadtest/report`): what a run says, from the model alone: conclusions,
//!   targets, report.md and report.html, the charts, results.csv, the terminal tables.
//! - `loadtest_cluster` (`loadtest/cluster`): the distributed lab behind HAProxy.
//! - this one: the command line ([`cli`]) and the main job's stages ([`job`]), joining them.
//!
//! The methodology is described in `docs/methodology.md`, the layout in `docs/architecture.md`.

pub mod cli;
pub mod job;
pub mod uploads;

pub use cli::Cli;
use loadtest_model::catalogue::Catalogue;

/// What a command's exit code says beyond success: `loadtest compare` found a regression (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Done,
    Regressed,
}

/// Runs the command `cli` asks for, on the lab servers of `catalogue`. An error of type
/// [`loadtest_report::compare::BadInput`] is input `compare` cannot work on (exit code 2).
pub fn run(cli: Cli, catalogue: &Catalogue) -> anyhow::Result<Finished> {
    if let Some(cli::Command::Compare(args)) = &cli.command {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string();
        return Ok(match loadtest_report::compare::run(args, &stamp)? {
            loadtest_report::compare::Outcome::Passed => Finished::Done,
            loadtest_report::compare::Outcome::Regressed => Finished::Regressed,
        });
    }
    let done = match cli.command {
        Some(cli::Command::Uploads(args)) => uploads::run(&args, catalogue),
        Some(cli::Command::Cluster(args)) => loadtest_cluster::run(args, catalogue),
        Some(cli::Command::Report(args)) => loadtest_report::redraw(&args, catalogue),
        Some(cli::Command::Servers) => {
            print!("{}", catalogue.listing());
            Ok(())
        }
        Some(cli::Command::Compare(_)) => unreachable!("compare returned above"),
        None => job::run(cli, catalogue),
    };
    done.map(|()| Finished::Done)
}
