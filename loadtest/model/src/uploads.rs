//! What `loadtest uploads` writes in `uploads.json`: each wave of slow uploads against one server,
//! how each upload ended, and how the server's `/healthz` answered meanwhile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything `uploads.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadsRun {
    /// When the file was written, RFC 3339.
    pub date: String,
    /// The arguments given to each server after its own (`--server-args`).
    #[serde(default)]
    pub server_args: Vec<String>,
    pub results: Vec<UploadsResult>,
}

/// What one server did with one wave of uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadsResult {
    pub server: String,
    pub clients: u32,
    pub body_bytes: usize,
    pub n: usize,
    #[serde(flatten)]
    pub pace: Pace,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u32>,
    pub resets: u32,
    pub closed: u32,
    pub hangs: u32,
    pub not_connected: u32,
    /// Seconds from the first connection to the last upload's end.
    pub wall_secs: f64,
    /// Seconds after which the first and last uploads ended.
    pub first_end_secs: f64,
    pub last_end_secs: f64,
    /// Peak PSS of the server's process tree, if it was sampled.
    pub peak_pss_bytes: Option<u64>,
    pub pss_before_bytes: Option<u64>,
    pub health: HealthFigures,
    /// The status of one plain upload of the same body made afterwards, or how it ended.
    pub after: Outcome,
}

/// `/healthz` latency while the uploads ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthFigures {
    pub probes: u32,
    /// Probes that got no 200 within 5 s.
    pub failed: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// When (seconds into the wave) probes took longer than 100 ms or failed, and how long.
    pub slow: Vec<(f64, Option<f64>)>,
}

impl UploadsResult {
    /// Uploads that ended in anything but a whole answer.
    pub fn broken(&self) -> u32 {
        self.resets + self.closed + self.hangs + self.not_connected
    }
}

/// How one upload's body is held back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "pace", rename_all = "snake_case")]
pub enum Pace {
    /// All but the last byte at once, then a pause, then the last byte.
    HoldLastByte { hold_secs: f64 },
    /// One byte, then a pause, and so on.
    Trickle { every_secs: f64 },
}

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A whole answer (head and `Content-Length` bytes of body) with this status.
    Answered(u16),
    /// The connection was reset before a whole answer arrived.
    Reset,
    /// The server closed the connection before a whole answer arrived.
    Closed,
    /// No whole answer within the plan's `give_up_after`.
    Hang,
    /// The server did not accept the connection.
    NotConnected,
}
