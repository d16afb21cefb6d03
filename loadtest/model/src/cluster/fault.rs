//! The four ways a host fails, and how each is undone.

use std::fmt;

/// A host failure the harness injects mid-trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// Every process of the host SIGKILLed; healed by starting its server again.
    Crash,
    /// Every process of the host SIGSTOPped; healed by SIGCONT. Its connections stay open and
    /// its socket still accepts: the balancer learns only from timeouts.
    Hang,
    /// The host's link taken down; healed by taking it up. Packets vanish, nothing is refused.
    Partition,
    /// The host's CPU quota cut to a tenth; healed by giving it back. A gray failure: the host
    /// still answers its health checks, slowly.
    Slow,
}

pub const ALL_FAULTS: [Fault; 4] = [Fault::Crash, Fault::Hang, Fault::Partition, Fault::Slow];

/// The share of its quota a slow host keeps.
pub const SLOW_SHARE: f64 = 0.1;

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Hang => "hang",
            Fault::Partition => "partition",
            Fault::Slow => "slow",
        }
    }

    /// What was done to the host, for the report.
    pub fn action(self) -> &'static str {
        match self {
            Fault::Crash => "SIGKILL of the host's processes, server restarted at the heal",
            Fault::Hang => "SIGSTOP of the host's processes, SIGCONT at the heal",
            Fault::Partition => "the host's link down, up at the heal",
            Fault::Slow => "the host's CPU quota cut to a tenth, restored at the heal",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
