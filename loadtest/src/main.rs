use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match loadtest::run(loadtest::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadtest: {error:#}");
            ExitCode::FAILURE
        }
    }
}
