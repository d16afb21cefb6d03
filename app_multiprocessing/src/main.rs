use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match app_multiprocessing::run(app_multiprocessing::Cli::parse()) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(error) => {
            eprintln!("app_multiprocessing: {error:#}");
            ExitCode::FAILURE
        }
    }
}
