//! What held each result back, by one rule applied to what its trials measured:
//!
//! 1. `waiting`: it answered at least [`WAITING_SHARE`] of what its waits allow (io's waits, a
//!    pool's size, or an open loop's offered rate: [`waits_ceiling`]); more CPU would not help.
//! 2. else `machine-full`: the server, oha and every other process together kept at least
//!    [`FULL_SHARE`] of the CPUs busy (stolen time counted as taken): the figure is the
//!    machine's as much as the server's.
//! 3. else `server-cpu` or `client-cpu`: whichever of the server's tree and oha took more CPU.
//!
//! The shares are of every CPU's time over the valid measured trials, summed ([`CpuShares`],
//! drawn from the trials by the `cpu_split` module).

use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioKey;

/// A result answering this share of its waits' ceiling is waiting.
pub const WAITING_SHARE: f64 = 0.8;
/// The machine is full when this share of its CPU time was taken.
pub const FULL_SHARE: f64 = 0.9;

/// What held a result back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bottleneck {
    Waiting,
    MachineFull,
    ServerCpu,
    ClientCpu,
}

impl std::fmt::Display for Bottleneck {
    /// As `summary.json` writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Waiting => "waiting",
            Self::MachineFull => "machine-full",
            Self::ServerCpu => "server-cpu",
            Self::ClientCpu => "client-cpu",
        })
    }
}

/// Who took the machine's CPU time over a result's trials, each a share of all of it (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuShares {
    /// The server's process tree.
    pub server: f64,
    /// oha.
    pub client: f64,
    /// Every other process (and the kernel's work for them).
    pub others: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
}

impl CpuShares {
    /// Everything taken: what was not idle.
    pub fn taken(&self) -> f64 {
        self.server + self.client + self.others + self.steal
    }
}

/// The most requests a second a scenario's waits allow: each request waits `wait_ms / workers`
/// (its bands wait at once), so `c` connections complete at most `c x workers x 1000 / wait_ms`;
/// a pool of P threads or processes held by the waits, at most `P x 1000 / wait_ms`; an open
/// loop, at most what it offers. `None` for work that does not wait in a closed loop.
pub fn waits_ceiling(scenario: ScenarioKey, pool_size: Option<u32>) -> Option<f64> {
    let waits = scenario
        .wait_ms
        .filter(|&w| w > 0 && scenario.work.waits())
        .map(|wait| {
            let wait = f64::from(wait);
            let ideal = f64::from(scenario.concurrency) * f64::from(scenario.workers) * 1000.0 / wait;
            pool_size.map_or(ideal, |p| ideal.min(f64::from(p) * 1000.0 / wait))
        });
    let offered = scenario.offered_rps.map(f64::from);
    match (waits, offered) {
        (Some(w), Some(o)) => Some(w.min(o)),
        (w, o) => w.or(o),
    }
}

/// The rule, for a result answering `rps` under `ceiling` with `shares` of the CPUs.
pub fn judge(rps: Option<f64>, ceiling: Option<f64>, shares: Option<CpuShares>) -> Option<Bottleneck> {
    if let (Some(rps), Some(ceiling)) = (rps, ceiling)
        && rps >= WAITING_SHARE * ceiling
    {
        return Some(Bottleneck::Waiting);
    }
    let shares = shares?;
    Some(if shares.taken() >= FULL_SHARE {
        Bottleneck::MachineFull
    } else if shares.client > shares.server {
        Bottleneck::ClientCpu
    } else {
        Bottleneck::ServerCpu
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_service::WorkKind;

    fn shares(server: f64, client: f64, others: f64) -> Option<CpuShares> {
        Some(CpuShares {
            server,
            client,
            others,
            steal: 0.0,
        })
    }

    #[test]
    fn io_waits_set_a_ceiling_a_pool_lowers_it_and_an_open_loop_offers_one() {
        let io = ScenarioKey {
            work: WorkKind::Io,
            concurrency: 64,
            n: 100,
            workers: 4,
            wait_ms: Some(100),
            offered_rps: None,
        };
        assert_eq!(waits_ceiling(io, None), Some(2560.0));
        assert_eq!(waits_ceiling(io, Some(16)), Some(160.0));
        assert_eq!(waits_ceiling(ScenarioKey::DEFAULT, None), None, "add does not wait");
        let open = ScenarioKey {
            offered_rps: Some(500),
            ..ScenarioKey::DEFAULT
        };
        assert_eq!(waits_ceiling(open, None), Some(500.0));
        assert_eq!(
            waits_ceiling(
                ScenarioKey {
                    offered_rps: Some(5000),
                    ..io
                },
                None
            ),
            Some(2560.0)
        );
    }

    #[test]
    fn the_rule_in_order_waiting_then_a_full_machine_then_the_larger_cpu() {
        assert_eq!(
            judge(Some(2100.0), Some(2560.0), shares(0.2, 0.1, 0.0)),
            Some(Bottleneck::Waiting)
        );
        assert_eq!(
            judge(Some(2000.0), Some(2560.0), shares(0.2, 0.1, 0.0)),
            Some(Bottleneck::ServerCpu),
            "78%"
        );
        assert_eq!(
            judge(Some(1500.0), None, shares(0.6, 0.25, 0.05)),
            Some(Bottleneck::MachineFull)
        );
        assert_eq!(
            judge(Some(1500.0), None, shares(0.6, 0.25, 0.04)),
            Some(Bottleneck::ServerCpu)
        );
        assert_eq!(
            judge(Some(1500.0), None, shares(0.3, 0.4, 0.1)),
            Some(Bottleneck::ClientCpu)
        );
        assert_eq!(
            judge(Some(1500.0), None, None),
            None,
            "a run from before the machine was read"
        );
    }
}
