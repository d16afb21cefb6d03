//! The run's progress on the terminal, from the schedule's events: a bar per leg of trials, and
//! the lines worth reading above it.

use indicatif::{ProgressBar, ProgressStyle};

use loadtest_model::summary::Phase;
use loadtest_run::schedule::Event;

/// The bar of the leg under way, if one is.
#[derive(Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Shows `event`.
    pub fn show(&mut self, event: &Event<'_>) {
        match event {
            Event::Leg { total } => {
                let bar = ProgressBar::new(*total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} trials, {elapsed} elapsed, about {eta} left  {msg}",
                    )
                    .expect("the template is valid"),
                );
                self.bar = Some(bar);
            }
            Event::Trial {
                server,
                scenario,
                phase,
                index,
            } => {
                let open = (scenario.offered_rps)
                    .map(|rate| format!(" q={rate}"))
                    .unwrap_or_default();
                self.bar().set_message(format!(
                    "{server} c={} n={} w={}{open} {} {index}",
                    scenario.concurrency,
                    scenario.n,
                    scenario.workers,
                    phase.name()
                ));
            }
            Event::Ended(record) => {
                if !record.valid && record.phase == Phase::Measured {
                    self.say(&format!(
                        "invalid trial: {} {}: {}",
                        record.server,
                        record.index,
                        record.invalid_reasons.join("; ")
                    ));
                }
                self.bar().inc(1);
            }
            Event::Note(line) => self.say(line),
            Event::ScenarioDone { .. } => {}
            Event::LegDone => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
        }
    }

    /// The leg's bar (a hidden one outside a leg).
    fn bar(&mut self) -> &ProgressBar {
        self.bar.get_or_insert_with(ProgressBar::hidden)
    }

    /// A line above the bar, printed whether or not the bar is drawn (it is not when the
    /// terminal is not one, as in CI).
    fn say(&mut self, line: &str) {
        self.bar().suspend(|| eprintln!("{line}"));
    }
}

/// `message` wrapped to the terminal's width.
pub fn wrapped(message: &str) -> String {
    textwrap::fill(message, loadtest_report::table::terminal_options())
}
