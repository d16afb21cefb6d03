//! The load-test harness is the next piece of work (see the README); until it lands this binary
//! says so instead of pretending to measure anything.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "loadtest: not built yet. Meanwhile: start the servers (see README.md) and run \
         `oha -n 200 -c 20 http://127.0.0.1:8001/threading` and `.../8002/multiprocessing`."
    );
    ExitCode::FAILURE
}
