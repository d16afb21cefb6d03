use std::process::ExitCode;

use loadtest_model::catalogue::Catalogue;

fn main() -> ExitCode {
    let catalogue = Catalogue::lab();
    let cli = loadtest::cli::try_parse_from(&catalogue, std::env::args_os()).unwrap_or_else(|e| e.exit());
    match loadtest::run(cli, &catalogue) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadtest: {error:#}");
            ExitCode::FAILURE
        }
    }
}
