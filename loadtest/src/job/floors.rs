//! The floors a run measures in its own process, before its trials and again after them: the
//! work's in-process cost per kind and size, a thread's start, one core's memory bandwidth, and
//! each CPU's speed. The better of before and after is kept: a busy or throttled machine only
//! ever makes them worse.

use loadtest_model::cpu_speed::{CpuSpeed, SpeedCheck, reference};
use loadtest_model::summary::WorkCost;
use loadtest_run::plan::Plan;
use loadtest_run::{cpu_speed, thread_start, work_cost};
use matrix_service::WorkKind;

/// One measurement of the floors.
pub struct Floors {
    /// Each kind of work and size the plan's scenarios use, in their order.
    pub work_costs: Vec<WorkCost>,
    pub thread_start_us: f64,
    pub memory_bandwidth_gb_s: f64,
    /// `None` where threads cannot be pinned to a CPU.
    pub speed: Option<SpeedCheck>,
}

impl Floors {
    /// Measures them now; `when` names the moment ("before the trials").
    pub fn measure(plan: &Plan, when: &str) -> anyhow::Result<Self> {
        let mut sizes: Vec<(WorkKind, u32)> = plan.scenarios().iter().map(|s| (s.work, s.n)).collect();
        sizes.dedup();
        let work_costs = (sizes.iter())
            .map(|&(work, n)| work_cost::measure(work, n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for cost in &work_costs {
            eprintln!(
                "in-process {} at n={} {when}: {:.2} ms of CPU (one thread)",
                cost.work.name(),
                cost.n,
                cost.cpu_ms
            );
        }
        let speed = check_cpu_speed(when);
        let thread_start_us = thread_start::measure_us()?;
        eprintln!("a thread start {when}: {thread_start_us:.1} µs of CPU");
        let memory_bandwidth_gb_s = work_cost::memory_bandwidth_gb_s()?;
        eprintln!("one core's memory bandwidth {when}: {memory_bandwidth_gb_s:.1} GB/s (the add, out of cache)");
        Ok(Self {
            work_costs,
            thread_start_us,
            memory_bandwidth_gb_s,
            speed,
        })
    }

    /// The lower of each work cost, before (`self`) and `after`.
    pub fn lower(&self, after: &Self) -> Vec<WorkCost> {
        (self.work_costs.iter().zip(&after.work_costs))
            .map(|(before, after)| before.lower(*after))
            .collect()
    }

    /// The CPU speed checks of this measurement and of `after`, if any was made.
    pub fn cpu_speed(&self, after: Option<&Self>) -> Option<CpuSpeed> {
        let checks: Vec<SpeedCheck> = std::iter::once(self)
            .chain(after)
            .filter_map(|floors| floors.speed.clone())
            .collect();
        (!checks.is_empty()).then(|| CpuSpeed {
            reference: reference(),
            checks,
        })
    }
}

/// One CPU speed check, said on the terminal; a machine where threads cannot be pinned skips it
/// with a note.
fn check_cpu_speed(when: &str) -> Option<SpeedCheck> {
    match cpu_speed::check(when) {
        Ok(check) => {
            let cpus: Vec<String> = (check.cpus.iter())
                .map(|t| format!("CPU {} {:.2} ms", t.cpu, t.median_ms))
                .collect();
            eprintln!("CPU speed {when}, {}: {}", reference(), cpus.join(", "));
            Some(check)
        }
        Err(e) => {
            eprintln!("CPU speed {when}: not checked ({e})");
            None
        }
    }
}
