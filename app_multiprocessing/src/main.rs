use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match app_multiprocessing::run(app_multiprocessing::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("app_multiprocessing: {error:#}");
            ExitCode::FAILURE
        }
    }
}
