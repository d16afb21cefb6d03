//! HAProxy's request log ([`LOG_FORMAT`](super::haproxy::LOG_FORMAT)), read back: one record a
//! request, failures included, which oha's own records lack, and the timeline of a fault drawn
//! from them.

use loadtest_model::cluster::Slot;

/// One request as the balancer logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// When the balancer received it, Unix time in ms: the accept date, plus, for a request on
    /// a kept-alive connection, the connection's idle time before it (HAProxy's `%Ti`; its
    /// accept date is when the previous answer ended, which an open loop's idle connections
    /// would move seconds early).
    pub accepted_ms: u64,
    /// The status sent to the client; `None` when none was (HAProxy logs -1).
    pub status: Option<u16>,
    /// From its receipt to the end of the answer, ms: HAProxy's `%Tt` less the idle time (-1
    /// when the session ended without one).
    pub total_ms: i64,
    /// How many times HAProxy tried the request again.
    pub retries: u32,
    /// Whether one of those tries went to another host (HAProxy writes `+` before the count).
    pub redispatched: bool,
    /// The host that answered last, or `None` when no host was chosen (`<NOSRV>`).
    pub host: Option<String>,
    /// HAProxy's termination state (`----` for a normal end; its first two letters say who ended
    /// the session and in which phase).
    pub termination: String,
}

/// A line that is not a request record in the lab's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a request record (accepted_ms status total_ms retries host termination idle_ms): {line:?}: {why}")]
pub struct LogError {
    pub line: String,
    pub why: &'static str,
}

impl LogRecord {
    /// Reads one line of the log.
    pub fn parse(line: &str) -> Result<Self, LogError> {
        let fail = |why| LogError {
            line: line.to_owned(),
            why,
        };
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        // Runs before 2026-12-07 logged no idle time.
        let (&[accepted, status, total, retries, host, termination], idle) = (match fields[..] {
            [ref six @ .., idle] if six.len() == 6 => (six, idle),
            ref six => (six, "0"),
        }) else {
            return Err(fail("six or seven fields expected"));
        };
        // -1 when the request never came (a connection closed while idle).
        let idle = idle.parse::<i64>().map_err(|_| fail("idle_ms is not a number"))?.max(0);
        let total: i64 = total.parse().map_err(|_| fail("total_ms is not a number"))?;
        let (redispatched, retries) = match retries.strip_prefix('+') {
            Some(count) => (true, count),
            None => (false, retries),
        };
        let accepted: u64 = accepted.parse().map_err(|_| fail("accepted_ms is not a number"))?;
        Ok(Self {
            accepted_ms: accepted + idle.unsigned_abs(),
            status: match status.parse::<i32>().map_err(|_| fail("status is not a number"))? {
                -1 => None,
                code => Some(u16::try_from(code).map_err(|_| fail("status out of range"))?),
            },
            total_ms: if total < 0 { total } else { (total - idle).max(0) },
            retries: retries.parse().map_err(|_| fail("retries is not a number"))?,
            redispatched,
            host: (host != "<NOSRV>").then(|| host.to_owned()),
            termination: termination.to_owned(),
        })
    }

    /// Whether the client got a 2xx answer.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|status| (200..300).contains(&status))
    }
}

/// A balancer's log read back: its request records, and the lines that start like one but
/// are not (two lines written into each other), which are counted, not read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedLog {
    pub records: Vec<LogRecord>,
    pub unreadable: Vec<LogError>,
}

/// Reads every request record of `log`, skipping HAProxy's other lines (start-up notices,
/// health-check transitions), which do not start with a timestamp.
pub fn parse_log(log: &str) -> ParsedLog {
    let mut parsed = ParsedLog::default();
    for line in log
        .lines()
        .filter(|line| line.bytes().next().is_some_and(|b| b.is_ascii_digit()))
    {
        match LogRecord::parse(line) {
            Ok(record) => parsed.records.push(record),
            Err(error) => parsed.unreadable.push(error),
        }
    }
    parsed
}

/// Requests by when they were accepted, in slots of `slot_ms` from `start_ms` for `slots`
/// slots; records outside are left out.
pub fn timeline(records: &[LogRecord], start_ms: u64, slot_ms: u64, slots: usize) -> Vec<Slot> {
    let mut line = vec![Slot::default(); slots];
    for record in records {
        let Some(since) = record.accepted_ms.checked_sub(start_ms) else {
            continue;
        };
        if let Some(slot) = line.get_mut((since / slot_ms) as usize) {
            if record.ok() {
                slot.ok += 1;
            } else {
                slot.failed += 1;
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines written by HAProxy 2.6.12 with the lab's configuration (see the fixture's header).
    const FIXTURE: &str = include_str!("../../tests/fixtures/haproxy-crash.log");

    #[test]
    fn a_record_reads_every_field() {
        let record = LogRecord::parse("1765000000123 200 4 0 h1 ----").unwrap();
        assert_eq!(
            record,
            LogRecord {
                accepted_ms: 1_765_000_000_123,
                status: Some(200),
                total_ms: 4,
                retries: 0,
                redispatched: false,
                host: Some("h1".into()),
                termination: "----".into(),
            }
        );
        assert!(record.ok());
        let redispatched = LogRecord::parse("1765000000200 200 310 +1 h2 ----").unwrap();
        assert!(redispatched.redispatched && redispatched.retries == 1);
        let refused = LogRecord::parse("1765000000300 503 0 0 <NOSRV> SC--").unwrap();
        assert_eq!((refused.ok(), refused.host), (false, None));
        let cut = LogRecord::parse("1765000000400 -1 -1 0 h1 CD--").unwrap();
        assert_eq!((cut.status, cut.ok()), (None, false));
        // On a connection kept alive 2.5 s after its previous answer, the request came 2.5 s
        // after the accept date HAProxy gives it, and took 20 ms of the 2,520.
        let idle = LogRecord::parse("1765000000123 200 2520 0 h1 ---- 2500").unwrap();
        assert_eq!((idle.accepted_ms, idle.total_ms), (1_765_000_002_623, 20));
        let fresh = LogRecord::parse("1765000000123 200 4 0 h1 ---- 0").unwrap();
        assert_eq!(fresh, record);
        let never = LogRecord::parse("1765000000123 -1 -1 0 h1 CD-- -1").unwrap();
        assert_eq!((never.accepted_ms, never.total_ms), (1_765_000_000_123, -1));
    }

    #[test]
    fn a_line_of_another_shape_is_refused_with_what_was_expected() {
        for (line, why) in [
            ("1765000000123 200 4 0 h1", "six or seven fields expected"),
            ("1765000000123 200 4 0 h1 ---- 0 9", "six or seven fields expected"),
            ("1765000000123 200 4 0 h1 ---- soon", "idle_ms is not a number"),
            ("soon 200 4 0 h1 ----", "accepted_ms is not a number"),
            ("1765000000123 OK 4 0 h1 ----", "status is not a number"),
            ("1765000000123 70000 4 0 h1 ----", "status out of range"),
        ] {
            let err = LogRecord::parse(line).unwrap_err();
            assert_eq!(err.why, why, "{line}");
            assert!(err.to_string().contains("accepted_ms status total_ms"), "{err}");
        }
    }

    #[test]
    fn two_lines_written_into_each_other_are_counted_not_read() {
        // As a run of 2026-12-07 logged them (two HAProxy threads on one stdout).
        let log = "1796683339766 200 9 0 h3 ----\n\
                   1796683339762 200 15 01796683338176 200 2004 +1 h1 ----\n\
                   Server hosts/h4 is DOWN, reason: Layer7 timeout.\n\
                   1796683340180 200 1 0 h2 ----\n";
        let parsed = parse_log(log);
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.unreadable.len(), 1);
        assert!(
            parsed.unreadable[0].line.starts_with("1796683339762 200 15 0179"),
            "{parsed:?}"
        );
    }

    #[test]
    fn the_fixture_s_crash_shows_in_its_timeline() {
        let parsed = parse_log(FIXTURE);
        assert_eq!(parsed.unreadable, Vec::new());
        let records = parsed.records;
        assert!(records.len() > 20, "{} records", records.len());
        let start = records[0].accepted_ms;
        let slots = timeline(&records, start, 100, 100);
        let (ok, failed) = slots.iter().fold((0, 0), |(o, f), s| (o + s.ok, f + s.failed));
        assert_eq!(
            (ok as usize, failed as usize),
            (
                records.iter().filter(|r| r.ok()).count(),
                records.iter().filter(|r| !r.ok()).count()
            ),
            "every record within 10 s of the first is in a slot"
        );
        assert!(failed > 0, "the fixture's run lost requests");
        let lost: Vec<&LogRecord> = records.iter().filter(|r| !r.ok()).collect();
        assert!(
            lost.iter()
                .all(|r| r.status == Some(503) && r.host.as_deref() == Some("h2")),
            "without retries, only the killed host's requests fail, with 503: {lost:?}"
        );
        assert!(
            records.iter().any(|r| r.redispatched && r.retries == 1 && r.ok()),
            "with retries, a request the killed host failed is answered by the other"
        );
    }
}
