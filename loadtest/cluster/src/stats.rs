//! HAProxy's counters, from its stats socket's `show stat` (CSV): per host, how many requests
//! it was given and answered, how often the balancer retried or redispatched away from it,
//! whether its checks hold it up or down, and since when.

use serde::Deserialize;

/// One host's counters, or the backend's (`server` is `BACKEND`) or the frontend's (`FRONTEND`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerStats {
    /// The proxy: the backend or frontend's name.
    #[serde(rename = "pxname")]
    pub proxy: String,
    /// The host's name (`h1`, ...), or `BACKEND` / `FRONTEND`.
    #[serde(rename = "svname")]
    pub server: String,
    /// Sessions (requests, for the lab's one request a connection to a host) it was given.
    #[serde(rename = "stot")]
    pub sessions: u64,
    /// Connections to it that failed.
    #[serde(rename = "econ")]
    pub connection_errors: Option<u64>,
    /// Times a request to it was tried again.
    #[serde(rename = "wretr")]
    pub retries: Option<u64>,
    /// Times a request to it was sent to another host instead.
    #[serde(rename = "wredis")]
    pub redispatches: Option<u64>,
    /// `UP`, `DOWN`, `OPEN` (a frontend), or a transition such as `UP 1/2`.
    pub status: String,
    /// The last health check's result (`L7OK` once `/healthz` answered 200; empty before the
    /// first check).
    pub check_status: Option<String>,
    /// Times its checks took it from up to down.
    #[serde(rename = "chkdown")]
    pub downs: Option<u64>,
    /// Seconds since its status last changed.
    #[serde(rename = "lastchg")]
    pub since_change_s: Option<u64>,
    /// Seconds it has been down in all.
    #[serde(rename = "downtime")]
    pub downtime_s: Option<u64>,
    /// Answers by class of status.
    #[serde(rename = "hrsp_2xx")]
    pub answers_2xx: Option<u64>,
    #[serde(rename = "hrsp_5xx")]
    pub answers_5xx: Option<u64>,
}

impl ServerStats {
    /// A host's row, not the backend's or frontend's totals.
    pub fn is_host(&self) -> bool {
        self.server != "BACKEND" && self.server != "FRONTEND"
    }
}

/// What was not `show stat`'s answer.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    #[error("HAProxy's answer is not `show stat`'s CSV (it starts {0:?})")]
    NotShowStat(String),
    #[error("reading HAProxy's `show stat`: {0}")]
    Csv(#[from] csv::Error),
}

/// Reads `show stat`'s answer. Its header line starts with `# `, which is not part of the first
/// column's name.
pub fn parse_show_stat(text: &str) -> Result<Vec<ServerStats>, StatError> {
    let Some(csv) = text.strip_prefix("# pxname,") else {
        return Err(StatError::NotShowStat(text.lines().next().unwrap_or("").to_owned()));
    };
    let csv = format!("pxname,{csv}");
    Ok(csv::Reader::from_reader(csv.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `show stat` after the two runs of tests/fixtures/haproxy-crash.log (two hosts, h2 killed
    // mid-run), with HAProxy 2.6.12.
    const RETRIES_ON: &str = include_str!("../../tests/fixtures/haproxy-stat-retries-on.csv");
    const RETRIES_OFF: &str = include_str!("../../tests/fixtures/haproxy-stat-retries-off.csv");

    fn row<'a>(rows: &'a [ServerStats], server: &str) -> &'a ServerStats {
        rows.iter().find(|r| r.server == server).unwrap()
    }

    #[test]
    fn with_retries_the_killed_host_s_requests_were_redispatched() {
        let rows = parse_show_stat(RETRIES_ON).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.server.as_str()).collect();
        assert_eq!(names, ["FRONTEND", "h1", "h2", "BACKEND"]);
        let h2 = row(&rows, "h2");
        assert_eq!(
            (h2.status.as_str(), h2.downs, h2.redispatches),
            ("DOWN", Some(1), Some(1687))
        );
        assert_eq!(row(&rows, "h1").status, "UP");
        assert_eq!(row(&rows, "FRONTEND").answers_5xx, Some(0), "no request was lost");
        // A redispatched request is a session on the host that failed it and on the one that
        // answered; the backend counts it once.
        let hosts = rows.iter().filter(|r| r.is_host());
        let (sessions, redispatches) = hosts.fold((0, 0), |(s, d), r| (s + r.sessions, d + r.redispatches.unwrap()));
        assert_eq!(sessions, row(&rows, "BACKEND").sessions + redispatches);
    }

    #[test]
    fn without_retries_the_lost_requests_are_the_killed_host_s_connection_errors() {
        let rows = parse_show_stat(RETRIES_OFF).unwrap();
        let (h2, front) = (row(&rows, "h2"), row(&rows, "FRONTEND"));
        assert_eq!((h2.status.as_str(), h2.redispatches), ("DOWN", Some(0)));
        assert_eq!(front.answers_5xx, Some(2656), "the 503s of the log");
        assert_eq!(
            h2.connection_errors, front.answers_5xx,
            "each a failed connection to h2"
        );
        assert_eq!(front.status, "OPEN");
    }

    #[test]
    fn an_answer_that_is_not_show_stat_is_an_error() {
        let err = parse_show_stat("Unknown command: 'show stats'\n").unwrap_err();
        assert!(err.to_string().contains("starts \"Unknown command"), "{err}");
    }
}
