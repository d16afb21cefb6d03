//! `fork-floor`: what forking a process of a given size costs here (see
//! `app_multiprocessing::fork_floor`). The harness runs it beside the fork server.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match app_multiprocessing::fork_floor::run(&app_multiprocessing::fork_floor::Cli::parse()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fork-floor: {error:#}");
            ExitCode::FAILURE
        }
    }
}
