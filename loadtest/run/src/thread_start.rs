//! What starting a thread costs on this machine, measured in the same run as the load: the
//! scoped threads server starts `workers - 1` threads a request, and the thread pool starts none,
//! so this is the most a request can save by moving from one to the other. The lab's servers
//! start their band threads as this does (`std::thread::Builder`, a name, `spawn_scoped`, the
//! default stack), and the figure is CPU time (the whole process's, since a thread's own time
//! moves into the process's when it ends), the same kind of figure as a server's CPU per request.

use std::thread;
use std::time::Duration;

use nix::time::ClockId;

use crate::work_cost::cpu_time;

/// Threads started and joined per round, and rounds; the cheapest round is kept, as a busy
/// machine only ever inflates the figure.
const PER_ROUND: u32 = 600;
const ROUNDS: u32 = 3;

/// CPU microseconds to start, run (an empty closure) and join one scoped thread.
pub fn measure_us() -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let before = process_cpu()?;
        for _ in 0..PER_ROUND {
            thread::scope(|scope| {
                thread::Builder::new()
                    .name("band".into())
                    .spawn_scoped(scope, || std::hint::black_box(0))
                    .map(|handle| handle.join())
            })?
            .map_err(|_| anyhow::anyhow!("an empty thread panicked"))?;
        }
        let per_thread = (process_cpu()? - before).as_secs_f64() * 1e6 / f64::from(PER_ROUND);
        best = best.min(per_thread);
    }
    Ok(best)
}

fn process_cpu() -> anyhow::Result<Duration> {
    cpu_time(ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_thread_start_costs_some_cpu_but_not_a_millisecond() {
        let us = super::measure_us().unwrap();
        assert!(us > 0.0 && us < 1000.0, "{us} µs");
    }
}
