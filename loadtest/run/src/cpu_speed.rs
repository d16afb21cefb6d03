//! Checks how fast each CPU runs the same one-thread work, before and after the trials; the
//! figures and what they mean are `loadtest_model::cpu_speed`'s.
//!
//! Wall time, not CPU time: a CPU slowed by its host still counts its time as the thread's own.

use std::hint::black_box;
use std::time::Instant;

use loadtest_model::cpu_speed::{CpuTimes, REFERENCE_N, SpeedCheck};
use loadtest_model::stats::median;
use matrix_service::matrix::generate_encoded;
use matrix_service::{Shapes, Task, Work};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// Timed products per CPU and check, after one untimed one.
const ROUNDS: usize = 12;

/// Times the reference product on every CPU this process may use, `ROUNDS` times each,
/// interleaved. Runs on a thread of its own, so no other thread's affinity changes.
pub fn check(when: &str) -> anyhow::Result<SpeedCheck> {
    let allowed = sched_getaffinity(Pid::from_raw(0))?;
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .collect();
    let times = std::thread::scope(|scope| scope.spawn(|| time_each(&cpus)).join())
        .map_err(|_| anyhow::anyhow!("the CPU speed check's thread panicked"))??;
    let cpus = (cpus.iter().zip(times))
        .map(|(&cpu, ms)| CpuTimes {
            cpu,
            min_ms: ms.iter().copied().fold(f64::INFINITY, f64::min),
            median_ms: median(&ms).expect("ROUNDS > 0"),
            max_ms: ms.iter().copied().fold(0.0, f64::max),
            runs: ms.len() as u32,
        })
        .collect();
    Ok(SpeedCheck {
        when: when.into(),
        cpus,
    })
}

/// Each CPU's times in ms, in `cpus`' order.
fn time_each(cpus: &[usize]) -> anyhow::Result<Vec<Vec<f64>>> {
    let shapes = Shapes::square(Work::Matmul, REFERENCE_N);
    let task = Task::generated(Work::Matmul, shapes);
    let (mut a, mut b, mut out) = (
        vec![0i64; shapes.a_len()],
        vec![0i64; shapes.b_len()],
        vec![0i64; shapes.out_len()],
    );
    generate_encoded(Some(1), &mut a, &mut b, task.encoding());
    let mut times = vec![Vec::with_capacity(ROUNDS); cpus.len()];
    for round in 0..=ROUNDS {
        for (&cpu, ms) in cpus.iter().zip(&mut times) {
            let mut only = CpuSet::new();
            only.set(cpu)?;
            sched_setaffinity(Pid::from_raw(0), &only)?;
            let started = Instant::now();
            black_box(task.kernel.run(&a, &b, &mut out));
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            if round > 0 {
                ms.push(elapsed);
            }
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_cpu_is_timed_and_the_caller_keeps_its_affinity() {
        let allowed =
            |set: CpuSet| -> Vec<usize> { (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap()).collect() };
        let before = allowed(sched_getaffinity(Pid::from_raw(0)).unwrap());
        let check = check("before the trials").unwrap();
        assert_eq!(
            check.cpus.iter().map(|t| t.cpu).collect::<Vec<_>>(),
            before,
            "{check:?}"
        );
        for t in &check.cpus {
            assert!(
                t.runs == ROUNDS as u32 && 0.0 < t.min_ms && t.min_ms <= t.median_ms && t.median_ms <= t.max_ms,
                "{t:?}"
            );
        }
        // The pinning happened on a thread of its own.
        assert_eq!(allowed(sched_getaffinity(Pid::from_raw(0)).unwrap()), before);
    }
}
