//! The load balancer's configuration: HAProxy in HTTP mode, round robin over the hosts (or the
//! least connections, a slow host's remedy), each checked on `/healthz`, with its L7 retries on
//! or off.
//!
//! The settings are the ones a hand-built prototype on this machine showed to matter
//! (`docs/runs/2026-12-06-haproxy-crash`: two servers behind HAProxy, one killed 1.2 s into a
//! 3 s load): with `retries 3`, `retry-on all-retryable-errors` and `option redispatch 1`, the
//! crash cost no request (15,739 answers, all 200); with the retries off, it cost 2,656 answers
//! of 503 (beside 17,690 of 200) and 1 closed connection. Health checks every 300 ms, down after 2
//! failures and up after 2 successes, mark a lost host down within about 0.6 s plus one check's
//! timeout. GETs without a body are the only requests the lab sends through the balancer, and
//! HAProxy replays only those it may (idempotent, bodiless), so the retries never repeat a
//! request's effect.
//!
//! Every request is logged, one line each, with the fields a fault's timeline needs: when it
//! was accepted (Unix time in ms), its status, its total time, its retries, which host served
//! it, and how the session ended. oha's own records keep only its successful requests.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use loadtest_model::cluster::{Balance, BalancerSettings};

/// One host behind the balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name in HAProxy's stats and logs (`h1`, `h2`, ...).
    pub name: String,
    pub address: SocketAddr,
}

/// Everything the balancer's configuration depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerConfig {
    /// Where HAProxy listens for the clients.
    pub listen: SocketAddr,
    /// HAProxy's stats socket (`show stat`, `show servers state`).
    pub stats_socket: PathBuf,
    pub backends: Vec<Backend>,
    /// Whether HAProxy retries and redispatches a request a host failed.
    pub retries: bool,
    /// How it spreads the requests over the hosts.
    pub balance: Balance,
    /// Timeouts, health checks and the retries' count; `summary.json` records them.
    pub settings: BalancerSettings,
}

/// The lab's balancer: a host that takes 500 ms to accept a connection is gone; no answer of
/// the lab's load from a healthy host at its quota takes near 2 s (tens of ms), and a hung
/// host's requests are tried elsewhere within the trial; checks every 300 ms, two in a row to
/// mark a host down or up again.
pub const SETTINGS: BalancerSettings = BalancerSettings {
    connect_timeout_ms: 500,
    server_timeout_ms: 2000,
    check_timeout_ms: 500,
    check_interval_ms: 300,
    check_fall: 2,
    check_rise: 2,
    retries: 3,
};

/// The log line of a request: accepted at (Unix ms), status, total ms, retries, host,
/// termination state, and the connection's idle time before the request (on a kept-alive
/// connection, the accept date is when its previous answer ended). Space-separated, so the
/// `log` module reads it back with no quoting.
pub const LOG_FORMAT: &str = "%Ts%ms %ST %Tt %rc %s %tsc %Ti";

impl BalancerConfig {
    /// The `haproxy.cfg` text. Logs go to standard output, which the harness reads.
    pub fn render(&self) -> String {
        let mut cfg = String::new();
        let settings = &self.settings;
        let retries = if self.retries {
            format!(
                "    retries {}\n    retry-on all-retryable-errors\n    option redispatch 1\n",
                settings.retries
            )
        } else {
            "    # retries off: a request a host fails is the client's failure\n    retries 0\n".to_owned()
        };
        // Writing to a String cannot fail.
        let _ = write!(
            cfg,
            "# Written by `loadtest cluster`.\n\
             global\n    \
                 log stdout format raw local0\n    \
                 # One thread: two threads' log lines to stdout were once written into each other.\n    \
                 nbthread 1\n    \
                 stats socket {stats} mode 600 level admin\n    \
                 maxconn 4096\n\
             \n\
             defaults\n    \
                 mode http\n    \
                 log global\n    \
                 log-format \"{LOG_FORMAT}\"\n    \
                 timeout connect {connect}ms\n    \
                 timeout client {client}ms\n    \
                 timeout server {server}ms\n    \
                 timeout check {check}ms\n\
             {retries}\
             \n\
             frontend lab\n    \
                 bind {listen}\n    \
                 default_backend hosts\n\
             \n\
             backend hosts\n    \
                 balance {balance}\n    \
                 option httpchk GET /healthz\n",
            stats = self.stats_socket.display(),
            connect = settings.connect_timeout_ms,
            client = settings.server_timeout_ms + 1000,
            server = settings.server_timeout_ms,
            check = settings.check_timeout_ms,
            listen = self.listen,
            balance = self.balance,
        );
        for backend in &self.backends {
            let _ = writeln!(
                cfg,
                "    server {} {} check inter {}ms fall {} rise {}",
                backend.name, backend.address, settings.check_interval_ms, settings.check_fall, settings.check_rise
            );
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(retries: bool) -> BalancerConfig {
        BalancerConfig {
            listen: "198.18.0.2:8080".parse().unwrap(),
            stats_socket: PathBuf::from("/tmp/run/haproxy.sock"),
            backends: vec![
                Backend {
                    name: "h1".into(),
                    address: "198.18.0.3:8000".parse().unwrap(),
                },
                Backend {
                    name: "h2".into(),
                    address: "198.18.0.4:8000".parse().unwrap(),
                },
            ],
            retries,
            balance: Balance::Roundrobin,
            settings: BalancerSettings {
                server_timeout_ms: 30_000,
                ..SETTINGS
            },
        }
    }

    #[test]
    fn every_host_is_a_checked_server_in_round_robin() {
        let cfg = config(true).render();
        assert!(cfg.contains("balance roundrobin\n"), "{cfg}");
        assert!(cfg.contains("    nbthread 1\n"), "{cfg}");
        assert!(cfg.contains("option httpchk GET /healthz\n"), "{cfg}");
        assert!(
            cfg.contains("    server h1 198.18.0.3:8000 check inter 300ms fall 2 rise 2\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("    server h2 198.18.0.4:8000 check inter 300ms fall 2 rise 2\n"),
            "{cfg}"
        );
        assert!(cfg.contains("    bind 198.18.0.2:8080\n"), "{cfg}");
        assert!(
            cfg.contains("stats socket /tmp/run/haproxy.sock mode 600 level admin"),
            "{cfg}"
        );
        assert!(cfg.contains("timeout server 30000ms"), "{cfg}");
        assert!(cfg.contains(&format!("log-format \"{LOG_FORMAT}\"")), "{cfg}");
    }

    #[test]
    fn least_connections_changes_the_balance_line_alone() {
        let round = config(true).render();
        let least = BalancerConfig {
            balance: Balance::Leastconn,
            ..config(true)
        }
        .render();
        assert!(least.contains("    balance leastconn\n"), "{least}");
        assert_eq!(least.replace("balance leastconn", "balance roundrobin"), round);
    }

    #[test]
    fn retries_on_replay_and_redispatch_and_off_do_neither() {
        let on = config(true).render();
        for line in ["retries 3", "retry-on all-retryable-errors", "option redispatch 1"] {
            assert!(on.contains(line), "{line} missing:\n{on}");
        }
        let off = config(false).render();
        assert!(off.contains("    retries 0\n"), "{off}");
        assert!(!off.contains("retry-on") && !off.contains("redispatch"), "{off}");
    }

    #[test]
    #[ignore = "needs haproxy (apt-get install haproxy); CI runs it"]
    fn haproxy_accepts_the_file_with_retries_on_and_off_and_least_connections() {
        let dir = tempfile::tempdir().unwrap();
        for (retries, balance) in [
            (true, Balance::Roundrobin),
            (false, Balance::Roundrobin),
            (true, Balance::Leastconn),
        ] {
            let path = dir.path().join(format!("haproxy-{retries}-{balance}.cfg"));
            let config = BalancerConfig {
                balance,
                ..config(retries)
            };
            std::fs::write(&path, config.render()).unwrap();
            let checked = std::process::Command::new("haproxy")
                .arg("-c")
                .arg("-f")
                .arg(&path)
                .output()
                .expect("haproxy is installed");
            assert!(
                checked.status.success(),
                "haproxy -c refused the file (retries {retries}): {}",
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }

    #[test]
    fn the_rest_of_the_file_is_the_same_either_way() {
        let strip = |cfg: String| {
            cfg.lines()
                .filter(|l| !l.contains("retr") && !l.contains("redispatch"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(config(true).render()), strip(config(false).render()));
    }
}
