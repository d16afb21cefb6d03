use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match app_threading::run(app_threading::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("app_threading: {error:#}");
            ExitCode::FAILURE
        }
    }
}
