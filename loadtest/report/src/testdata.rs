//! The model's run fixtures with what the figures say drawn from them ([`crate::analyse`]): the
//! warnings, conclusions and targets the report tests read.

pub use loadtest_model::testdata::*;

use loadtest_model::catalogue::Catalogue;
use loadtest_model::summary::RunSummary;

fn analysed(mut summary: RunSummary) -> RunSummary {
    crate::analyse(&mut summary, &[], &Catalogue::lab());
    summary
}

pub fn summary() -> RunSummary {
    analysed(loadtest_model::testdata::summary())
}

pub fn three_servers() -> RunSummary {
    analysed(loadtest_model::testdata::three_servers())
}

pub fn with_trials(runs: &[(&str, &[f64])]) -> RunSummary {
    analysed(loadtest_model::testdata::with_trials(runs))
}

pub fn size_sweep() -> RunSummary {
    analysed(loadtest_model::testdata::size_sweep())
}

pub fn with_open_loop() -> RunSummary {
    analysed(loadtest_model::testdata::with_open_loop())
}
