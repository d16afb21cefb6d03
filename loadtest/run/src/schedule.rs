//! The order trials run in, and running them: for each scenario its warm-ups, then measured
//! trials alternating the servers; with `--rate-fraction`, the closed loop's scenarios and then
//! the open loop's, at rates the closed loop's results decide.
//!
//! It prints nothing: what happens is told to the caller as [`Event`]s, and the caller draws
//! the progress bar and keeps what each finished scenario measured.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loadtest_model::summary::{Mode, Phase, ScenarioKey, TrialRecord};

use crate::http::Client;
use crate::open_loop::{self, OpenLoop};
use crate::plan::{Api, Plan, TrialLoad};
use crate::servers::Target;
use crate::trial::TrialRunner;

/// The pause between trials, so that what one trial left the server computing is done before
/// the next trial (of any server) begins: at least `SETTLE_AT_LEAST`, then until the server's
/// process tree used no CPU over a `SETTLE_STEP` (under one clock tick), `SETTLE` at most.
/// Most trials leave a server nothing to compute (an io wait, a few sums) and settle in 150 ms;
/// 20 matrix products in flight take about 300 ms more.
const SETTLE: Duration = Duration::from_millis(500);
const SETTLE_AT_LEAST: Duration = Duration::from_millis(100);
const SETTLE_STEP: Duration = Duration::from_millis(50);

/// The longest the harness waits for a server to finish the requests a trial left behind.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the schedule tells its caller, in the order it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A leg of `total` trials begins: the closed loop's, or the open loop's after it.
    Leg { total: u64 },
    /// A trial begins.
    Trial {
        server: &'a str,
        scenario: ScenarioKey,
        phase: Phase,
        index: u32,
    },
    /// A trial ended (valid or not).
    Ended(&'a TrialRecord),
    /// Something a person should read: a long drain, an open loop's rate.
    Note(String),
    /// Every trial of `scenario` has run; `trials` holds every trial of the run so far.
    ScenarioDone {
        scenario: ScenarioKey,
        trials: &'a [TrialRecord],
    },
    /// The leg is over.
    LegDone,
}

/// One trial to run: the scenario, its phase and index, and which target.
type Slot = (ScenarioKey, Phase, u32, usize);

/// Every trial of `plan`, told to `on` as it goes.
pub fn run_trials(
    plan: &Plan,
    targets: &mut [Target],
    runner: &TrialRunner<'_>,
    on: &mut dyn FnMut(Event<'_>),
) -> anyhow::Result<Vec<TrialRecord>> {
    let mut trials = Vec::new();
    let closed = schedule(plan, targets, &plan.all_scenarios(), true);
    run_schedule(plan, targets, runner, closed, &mut trials, on)?;
    if let Some(OpenLoop::Fraction(fraction)) = plan.open_loop {
        let lab: Vec<&str> = targets
            .iter()
            .filter(|t| t.api == Api::Lab)
            .map(|t| t.name.as_str())
            .collect();
        let offered = open_loop::offered_rates(&trials, &lab, fraction);
        for (scenario, slowest) in &offered {
            on(Event::Note(format!(
                "open loop: {} req/s ({fraction} x the slowest lab server's closed-loop median, {slowest:.0} req/s)",
                scenario.offered_rps.unwrap_or_default()
            )));
        }
        let scenarios: Vec<ScenarioKey> = offered.into_iter().map(|(scenario, _)| scenario).collect();
        // The servers are warm from the closed loop: no second warm-up.
        let open = schedule(plan, targets, &scenarios, false);
        run_schedule(plan, targets, runner, open, &mut trials, on)?;
    }
    Ok(trials)
}

/// For each scenario: its warm-ups (if `warm_up` and the plan has one), then measured trials
/// alternating the servers.
fn schedule(plan: &Plan, targets: &[Target], scenarios: &[ScenarioKey], warm_up: bool) -> Vec<Slot> {
    let mut schedule = Vec::new();
    for &scenario in scenarios {
        let joined: Vec<usize> = (0..targets.len())
            .filter(|&i| plan.joins(targets[i].api, &targets[i].name, scenario))
            .collect();
        if warm_up && plan.warmup.is_some() {
            schedule.extend(joined.iter().map(|&t| (scenario, Phase::Warmup, 1, t)));
        }
        for index in 1..=plan.trials {
            schedule.extend(
                (joined.iter())
                    .filter(|&&t| index <= plan.trials_for(targets[t].api))
                    .map(|&t| (scenario, Phase::Measured, index, t)),
            );
        }
    }
    schedule
}

/// Runs `schedule`, appending to `trials`. Each server's drain (see [`drain`]) runs while the
/// other servers take their trials, and is waited for only before its own next trial.
fn run_schedule(
    plan: &Plan,
    targets: &mut [Target],
    runner: &TrialRunner<'_>,
    schedule: Vec<Slot>,
    trials: &mut Vec<TrialRecord>,
    on: &mut dyn FnMut(Event<'_>),
) -> anyhow::Result<()> {
    on(Event::Leg {
        total: schedule.len() as u64,
    });
    let drainer = Arc::new(Client::new(DRAIN_TIMEOUT));
    let mut draining: Vec<Option<JoinHandle<()>>> = targets.iter().map(|_| None).collect();
    for (i, &(scenario, phase, index, target_index)) in schedule.iter().enumerate() {
        let target = &mut targets[target_index];
        if let Some(drained) = draining[target_index].take() {
            wait_for_drain(&target.name, drained, on);
        }
        on(Event::Trial {
            server: &target.name,
            scenario,
            phase,
            index,
        });
        let load = match (phase, plan.warmup) {
            (Phase::Warmup, Some(warmup)) => TrialLoad::Duration(warmup),
            _ => plan.trial_load,
        };
        trials.push(runner.run(target, scenario, phase, index, load)?);
        on(Event::Ended(trials.last().expect("just pushed")));
        if plan.mode == Mode::Measured {
            settle(target.pid());
            let (client, url) = (Arc::clone(&drainer), target.url_for(scenario));
            draining[target_index] = Some(std::thread::spawn(move || drain(&client, &url)));
        }
        if schedule.get(i + 1).is_none_or(|next| next.0 != scenario) {
            on(Event::ScenarioDone { scenario, trials });
        }
    }
    for drained in draining.into_iter().flatten() {
        let _ = drained.join();
    }
    on(Event::LegDone);
    Ok(())
}

/// Pauses until the server whose process tree is rooted at `pid` has settled (see [`SETTLE`]);
/// one whose tree cannot be read pauses `SETTLE`.
fn settle(pid: Option<i32>) {
    let cpu = || {
        pid.and_then(|pid| crate::sampler::snapshot(pid).ok())
            .map(|s| s.cpu_secs)
    };
    settle_with(cpu, std::thread::sleep);
}

/// [`settle`] with its clock and its reading of the tree's CPU given; returns the time paused.
fn settle_with(mut cpu: impl FnMut() -> Option<f64>, mut sleep: impl FnMut(Duration)) -> Duration {
    sleep(SETTLE_AT_LEAST);
    let mut paused = SETTLE_AT_LEAST;
    let mut last = cpu();
    while paused < SETTLE {
        let step = SETTLE_STEP.min(SETTLE - paused);
        sleep(step);
        paused += step;
        let now = cpu();
        if now.is_some() && now == last {
            break;
        }
        last = now;
    }
    paused
}

/// Waits for `server`'s drain; a wait of more than a second is worth a note.
fn wait_for_drain(server: &str, drained: JoinHandle<()>, on: &mut dyn FnMut(Event<'_>)) {
    let waiting = Instant::now();
    let _ = drained.join();
    if waiting.elapsed() > Duration::from_secs(1) {
        on(Event::Note(format!(
            "{server}: waited {:.1} s for it to finish the requests its last trial left behind",
            waiting.elapsed().as_secs_f64()
        )));
    }
}

/// Returns once the server has finished what the last trial left it. oha ends a trial at its
/// deadline by dropping the requests still in flight, but a server still works through them: a
/// pool whose threads or processes block in `io` waits has a queue of seconds (64 abandoned
/// requests of four 25 ms bands on 2 threads are 3.2 s), and the next trial's requests would
/// wait behind it. One request of the scenario, sent after the trial, is answered once the work
/// queued before it is done, as the servers' queues are first-come-first-served; a server with
/// nothing queued answers it at once. Best effort: a failed or timed-out request only ends the
/// wait.
fn drain(client: &Client, url: &str) {
    let _ = client.get_json(url);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pause [`settle_with`] makes for these readings of the tree's CPU, one per look.
    fn paused(readings: &[Option<f64>]) -> Duration {
        let mut readings = readings.iter().copied();
        settle_with(|| readings.next().flatten(), |_| {})
    }

    #[test]
    fn a_server_settles_once_its_cpu_stops_moving_and_never_pauses_past_the_bound() {
        // Idle at once: the least pause and one step.
        assert_eq!(paused(&[Some(3.0), Some(3.0)]), Duration::from_millis(150));
        // Computing for two steps more.
        assert_eq!(
            paused(&[Some(3.0), Some(3.01), Some(3.02), Some(3.02)]),
            Duration::from_millis(250)
        );
        // Busy throughout, or unreadable: the whole bound.
        let busy: Vec<Option<f64>> = (0..20).map(|i| Some(f64::from(i))).collect();
        assert_eq!(paused(&busy), SETTLE);
        assert_eq!(paused(&[None; 20]), SETTLE);
    }
}
