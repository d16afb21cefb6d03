use std::process::ExitCode;

use loadtest::Finished;
use loadtest_model::catalogue::Catalogue;
use loadtest_report::compare::BadInput;

fn main() -> ExitCode {
    let catalogue = Catalogue::lab();
    let cli = loadtest::cli::try_parse_from(&catalogue, std::env::args_os()).unwrap_or_else(|e| e.exit());
    match loadtest::run(cli, &catalogue) {
        Ok(Finished::Done) => ExitCode::SUCCESS,
        // `compare --fail-on-regression`: a figure is worse beyond the limit.
        Ok(Finished::Regressed) => ExitCode::from(3),
        Err(error) => {
            eprintln!("loadtest: {error:#}");
            // Input compare cannot work on exits as a usage error does.
            if error.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
