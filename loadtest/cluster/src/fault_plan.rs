//! Which fault trials a server kind gets, and how each is set up: every fault with the
//! balancer's retries on and off in round robin; the slow fault also with the least
//! connections, its remedy; and, when `--rate` or `--rate-fraction` asks, all of them again
//! open-loop.

use super::args::{ClusterPlan, OpenRate};
use loadtest_model::cluster::fault::Fault;
use loadtest_model::cluster::summary::ScalingEntry;
use loadtest_model::cluster::{Balance, BalancerSettings, LoadLoop};

/// What one fault trial does: the fault, on the last of how many hosts, the balancer's settings
/// and how the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSetup {
    pub fault: Fault,
    pub hosts: u32,
    pub retries: bool,
    pub balance: Balance,
    /// An open loop's offered rate (req/s) and connections; `None` for a closed loop at the
    /// plan's connections.
    pub open: Option<OpenLoop>,
}

/// An open loop: requests due at `rate` a second over `connections`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoop {
    pub rate: u32,
    pub connections: u32,
}

impl FaultSetup {
    /// The trial's name in file names and logs: `threading-slow-retries-on`, with
    /// `-leastconn` and `-open` where they apply.
    pub fn name(&self, server: &str) -> String {
        let mut name = format!(
            "{server}-{}-retries-{}",
            self.fault,
            if self.retries { "on" } else { "off" }
        );
        if self.balance != Balance::Roundrobin {
            name.push_str(&format!("-{}", self.balance));
        }
        if self.open.is_some() {
            name.push_str("-open");
        }
        name
    }

    /// The trial as the run's progress lines say it: `threading slow on 1 of 4 hosts, retries
    /// on, leastconn, open loop at 400 req/s`.
    pub fn describe(&self, server: &str) -> String {
        let mut text = format!(
            "{server} {} on 1 of {} hosts, retries {}",
            self.fault,
            self.hosts,
            if self.retries { "on" } else { "off" }
        );
        if self.balance != Balance::Roundrobin {
            text.push_str(&format!(", {}", self.balance));
        }
        if let Some(open) = self.open {
            text.push_str(&format!(", open loop at {} req/s", open.rate));
        }
        text
    }

    pub fn load_loop(&self) -> LoadLoop {
        if self.open.is_some() {
            LoadLoop::Open
        } else {
            LoadLoop::Closed
        }
    }
}

/// Every fault trial of one server kind, in order: each fault with the retries on and off in
/// round robin, the slow one also with the least connections (retries on); then the same
/// open-loop, if the plan asks for it, at its rate for this kind (from its closed-loop req/s at
/// the faults' host count in `scaling`).
pub fn fault_setups(plan: &ClusterPlan, scaling: &[ScalingEntry], server: &str) -> Vec<FaultSetup> {
    let hosts = plan.fault_hosts();
    let closed_rps = (scaling.iter())
        .find(|e| e.server == server && e.hosts == hosts)
        .map(|e| e.rps_median);
    let open = plan
        .open_rate
        .and_then(|rate| open_loop(rate, closed_rps, hosts, &super::haproxy::SETTINGS));
    let mut setups = Vec::new();
    for open in std::iter::once(None).chain(open.map(Some)) {
        for &fault in &plan.faults {
            let setup = |retries, balance| FaultSetup {
                fault,
                hosts,
                retries,
                balance,
                open,
            };
            setups.extend([setup(true, Balance::Roundrobin), setup(false, Balance::Roundrobin)]);
            if fault == Fault::Slow {
                setups.push(setup(true, Balance::Leastconn));
            }
        }
    }
    setups
}

/// The open loop for `rate`: its requests a second (a share of the remaining hosts'
/// closed-loop req/s, `closed_rps` at `hosts`, for [`OpenRate::Fraction`]) and enough
/// connections that requests stalled for the balancer's whole server and connect timeouts
/// cannot hold the next ones back. `None` for a share without a closed-loop figure.
pub fn open_loop(rate: OpenRate, closed_rps: Option<f64>, hosts: u32, settings: &BalancerSettings) -> Option<OpenLoop> {
    let rate = match rate {
        OpenRate::Fixed(rate) => rate,
        OpenRate::Fraction(share) => {
            let remaining = closed_rps? * f64::from(hosts - 1) / f64::from(hosts);
            ((share * remaining).round() as u32).max(1)
        }
    };
    let stalled_s = (settings.server_timeout_ms + settings.connect_timeout_ms) as f64 / 1000.0;
    Some(OpenLoop {
        rate,
        connections: (f64::from(rate) * stalled_s).ceil() as u32 + OPEN_LOOP_SPARE_CONNECTIONS,
    })
}

/// Connections an open loop keeps beyond those its stalled requests may hold.
const OPEN_LOOP_SPARE_CONNECTIONS: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::HostSource;
    use loadtest_model::cluster::fault::ALL_FAULTS;

    fn plan(open_rate: Option<OpenRate>) -> ClusterPlan {
        ClusterPlan {
            source: HostSource::Emulated { host_cpus: 0.25 },
            hosts: vec![1, 2, 4],
            faults: ALL_FAULTS.to_vec(),
            servers: Vec::new(),
            duration: 5.0,
            fault_duration: 15.0,
            trials: 3,
            warmup: 1.0,
            concurrency: 20,
            n: 500,
            out: "out".into(),
            open_rate,
        }
    }

    fn scaling(server: &str, hosts: u32, rps: f64) -> ScalingEntry {
        ScalingEntry {
            server: server.into(),
            hosts,
            rps_median: rps,
            latency_p50_ms: None,
            latency_p99_ms: None,
            efficiency: None,
            rps_trials: vec![rps],
            failed: 0,
            host_cpu_ms_per_request: None,
            host_use: Vec::new(),
            balancer_cpus: None,
            client_cpus: None,
        }
    }

    #[test]
    fn each_fault_runs_with_retries_on_and_off_and_the_slow_one_also_with_least_connections() {
        let setups = fault_setups(&plan(None), &[], "threading");
        let names: Vec<String> = setups.iter().map(|s| s.name("threading")).collect();
        assert_eq!(
            names,
            [
                "threading-crash-retries-on",
                "threading-crash-retries-off",
                "threading-hang-retries-on",
                "threading-hang-retries-off",
                "threading-partition-retries-on",
                "threading-partition-retries-off",
                "threading-slow-retries-on",
                "threading-slow-retries-off",
                "threading-slow-retries-on-leastconn",
            ]
        );
        assert!(setups.iter().all(|s| s.hosts == 4 && s.load_loop() == LoadLoop::Closed));
    }

    #[test]
    fn an_open_loop_repeats_every_trial_at_its_rate_with_room_for_stalled_requests() {
        // 600 req/s on 4 hosts closed-loop: 450 on the 3 that remain; 80% of it is 360 a
        // second, and 360 x (2 s + 0.5 s) + 20 connections.
        let entries = [scaling("threading", 2, 300.0), scaling("threading", 4, 600.0)];
        let setups = fault_setups(&plan(Some(OpenRate::Fraction(0.8))), &entries, "threading");
        assert_eq!(setups.len(), 18);
        let open: Vec<&FaultSetup> = setups.iter().filter(|s| s.load_loop() == LoadLoop::Open).collect();
        assert_eq!(open.len(), 9);
        assert!(open.iter().all(|s| s.open
            == Some(OpenLoop {
                rate: 360,
                connections: 920
            })));
        assert_eq!(open[8].name("threading"), "threading-slow-retries-on-leastconn-open");
        assert_eq!(
            open[8].describe("threading"),
            "threading slow on 1 of 4 hosts, retries on, leastconn, open loop at 360 req/s"
        );
        // A fixed rate needs no closed-loop figure; a share does.
        let fixed = fault_setups(&plan(Some(OpenRate::Fixed(100))), &[], "threading");
        assert_eq!(fixed[9].open.map(|o| (o.rate, o.connections)), Some((100, 270)));
        assert_eq!(
            fault_setups(&plan(Some(OpenRate::Fraction(0.8))), &[], "threading").len(),
            9
        );
    }
}
