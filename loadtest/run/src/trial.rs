//! One trial: one oha run against one server, with the server's CPU and memory sampled over the
//! same window, turned into a [`TrialRecord`] and judged valid or not.
//!
//! A trial is valid only if oha exited 0, its JSON parsed, every answer was 2xx, no request
//! failed (requests aborted at a `-z` deadline are counted apart and are not failures), and, for
//! `-n`, every request was answered. Invalid trials are kept in the data and left out of the
//! aggregates, with their reasons.

use matrix_service::WorkKind;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use crate::machine_cpu::CpuClock;
use crate::oha::model::OhaReport;
use crate::oha::runner::{self, Load, OhaArgs, OhaRun};
use crate::plan::{Api, TrialLoad};
use crate::sampler::{ResourceWindow, Sampler};
use crate::servers::Target;
use loadtest_model::summary::{ScenarioKey, TrialRecord};

/// How often the server's memory is sampled during a trial.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// The load generator used at least as much CPU as the server: on a machine they share, the
/// server could have gone faster than this trial shows.
pub fn client_bound(oha_cpu_secs: Option<f64>, server_cpu_secs: Option<f64>) -> bool {
    matches!((oha_cpu_secs, server_cpu_secs), (Some(client), Some(server)) if client >= server && client > 0.0)
}

pub use loadtest_model::summary::Phase;

/// What every trial of a run shares.
pub struct TrialRunner<'a> {
    /// For the lab servers' `/metrics`, read before and after each trial.
    pub client: &'a crate::http::Client,
    pub oha: &'a Path,
    /// What oha is started through: `taskset --cpu-list LIST` with `--client-cpus`, else nothing.
    pub oha_launcher: Vec<String>,
    /// Where `raw/` is.
    pub out_dir: &'a Path,
    pub cancel: &'a AtomicBool,
    pub request_timeout: Duration,
    /// CPUs available, to express oha's CPU as a share of the machine.
    pub cpus: u32,
}

impl TrialRunner<'_> {
    /// Runs one trial. Errors are harness faults (oha missing, cancelled, a server gone); a
    /// trial with failed requests is not an error but an invalid record.
    pub fn run(
        &self,
        target: &mut Target,
        scenario: ScenarioKey,
        phase: Phase,
        index: u32,
        load: TrialLoad,
    ) -> anyhow::Result<TrialRecord> {
        let args = OhaArgs {
            url: target.url_for(scenario),
            load: match load {
                TrialLoad::Requests(n) => Load::Requests(n),
                TrialLoad::Duration(d) => Load::Duration(d),
            },
            concurrency: scenario.concurrency,
            request_timeout: self.request_timeout,
            rate: scenario.offered_rps,
        };
        let wall_limit = match load {
            TrialLoad::Duration(d) => d + self.request_timeout + Duration::from_secs(30),
            TrialLoad::Requests(_) => Duration::from_secs(30 * 60),
        };
        let counted_before = self.server_count(target);
        let machine_before = CpuClock::now();
        let sampler = start_sampling(target)?;
        let run = runner::run_via(&self.oha_launcher, self.oha, &args, wall_limit, self.cancel)
            .with_context(|| format!("running oha against the {} server", target.name))?;
        let window = sampler
            .map(Sampler::finish)
            .transpose()
            .with_context(|| format!("sampling the {} server's processes", target.name))?;
        let machine_cpu = machine_before
            .zip(CpuClock::now())
            .map(|(before, after)| before.until(after));
        target.check_alive()?;
        let server_answers = counted_before
            .zip(self.server_count(target))
            .map(|(before, after)| after.saturating_sub(before));

        // The work is named unless it is the original lab's `add`, so runs of one kind keep
        // their file names and runs of several never overwrite one kind's files with another's.
        let work = match scenario.work {
            WorkKind::Add => String::new(),
            other => format!("{}_", other.name()),
        };
        let open = scenario.offered_rps.map(|rate| format!("_q{rate}")).unwrap_or_default();
        let raw_file = format!(
            "raw/{}_{work}c{}_n{}_w{}{open}_{}{}.json",
            target.name,
            scenario.concurrency,
            scenario.n,
            scenario.workers,
            phase.name(),
            index
        );
        std::fs::write(self.out_dir.join(&raw_file), &run.stdout).with_context(|| format!("writing {raw_file}"))?;
        let report = OhaReport::parse(&run.stdout);
        let mut record = record(
            &target.name,
            scenario,
            phase,
            index,
            &run,
            report.as_ref().ok(),
            window,
            self.cpus,
        );
        record.raw_file = raw_file;
        record.server_answers = server_answers;
        record.machine_cpu = machine_cpu;
        record.invalid_reasons = judge(&run, report.as_ref().map_err(ToString::to_string), load);
        record.valid = record.invalid_reasons.is_empty();
        Ok(record)
    }
}

impl TrialRunner<'_> {
    /// A lab server's own count of its answers, from its `/metrics`.
    fn server_count(&self, target: &Target) -> Option<u64> {
        (target.api == Api::Lab)
            .then(|| crate::server_metrics::scrape(self.client, &target.endpoint))
            .flatten()
    }
}

/// Starts sampling the target's process tree, whether the harness started it or was given its
/// pid; `None` for a server it knows no process of.
pub fn start_sampling(target: &Target) -> anyhow::Result<Option<Sampler>> {
    target
        .pid()
        .map(|pid| Sampler::start(pid, SAMPLE_INTERVAL))
        .transpose()
        .with_context(|| format!("sampling the {} server's processes", target.name))
}

/// The figures of one trial (validity is judged separately by [`judge`]).
#[allow(clippy::too_many_arguments)]
pub fn record(
    server: &str,
    scenario: ScenarioKey,
    phase: Phase,
    index: u32,
    run: &OhaRun,
    report: Option<&OhaReport>,
    window: Option<ResourceWindow>,
    cpus: u32,
) -> TrialRecord {
    let wall_secs = run.wall.as_secs_f64();
    let oha_cpu_secs = run.cpu.map(|cpu| cpu.as_secs_f64());
    let responses_2xx = report.map_or(0, OhaReport::responses_2xx);
    let server_cpu_secs = window.map(|w| w.cpu_secs);
    TrialRecord {
        server: server.to_owned(),
        scenario,
        phase,
        index,
        oha_command: run.command.clone(),
        raw_file: String::new(),
        oha_exit_code: run.exit_code,
        wall_secs,
        load_secs: report.and_then(OhaReport::load_secs),
        responses_2xx,
        responses_non_2xx: report.map_or(0, OhaReport::responses_non_2xx),
        responses_503: report.map_or(0, OhaReport::responses_503),
        transport_errors: report.map_or(0, OhaReport::transport_errors),
        deadline_aborts: report.map_or(0, OhaReport::deadline_aborts),
        rps_2xx: report.and_then(OhaReport::rps_2xx),
        latency_p50_ms: report.and_then(|r| r.latency_ms("p50")),
        latency_p90_ms: report.and_then(|r| r.latency_ms("p90")),
        latency_p99_ms: report.and_then(|r| r.latency_ms("p99")),
        latency_max_ms: report.and_then(OhaReport::latency_max_ms),
        server_cpu_secs,
        cpu_ms_per_request: server_cpu_secs
            .filter(|_| responses_2xx > 0)
            .map(|cpu| cpu * 1000.0 / responses_2xx as f64),
        memory_before_bytes: window.map(|w| w.pss_before_bytes),
        peak_memory_bytes: window.map(|w| w.pss_peak_bytes),
        memory_after_bytes: window.map(|w| w.pss_after_bytes),
        peak_threads: window.map(|w| w.peak_threads),
        oha_cpu_secs,
        oha_cpu_share: oha_cpu_secs
            .filter(|_| wall_secs > 0.0)
            .map(|cpu| cpu / (wall_secs * f64::from(cpus.max(1)))),
        client_bound: client_bound(oha_cpu_secs, server_cpu_secs),
        machine_cpu: None,
        valid: false,
        invalid_reasons: Vec::new(),
        outlier: false,
        server_answers: None,
    }
}

/// Why a trial cannot be counted; empty if it can.
pub fn judge(run: &OhaRun, report: Result<&OhaReport, String>, load: TrialLoad) -> Vec<String> {
    let mut reasons = Vec::new();
    if run.exit_code != Some(0) {
        let first_line = run
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        reasons.push(format!("oha exited with {:?}: {first_line}", run.exit_code));
    }
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            reasons.push(format!("oha's output could not be read: {e}"));
            return reasons;
        }
    };
    // A 503 is the server's admission saying it is full, as designed: the trial shows an
    // overloaded server, not a broken one. Any other status is a failure.
    let failed = report.responses_non_2xx() - report.responses_503();
    if failed > 0 {
        reasons.push(format!("{failed} answers were neither 2xx nor 503"));
    }
    if report.transport_errors() > 0 {
        reasons.push(format!(
            "{} requests failed without an answer",
            report.transport_errors()
        ));
    }
    if report.responses_2xx() == 0 {
        reasons.push("no request was answered 2xx".into());
    }
    if let TrialLoad::Requests(n) = load {
        let answered = report.responses_2xx() + report.responses_non_2xx();
        if answered != n {
            reasons.push(format!("{answered} of the {n} requests were answered"));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exit_code: Option<i32>, stdout: &[u8]) -> OhaRun {
        OhaRun {
            command: vec!["oha".into()],
            exit_code,
            stdout: stdout.to_vec(),
            stderr: "Error: boom\n".into(),
            wall: Duration::from_secs(2),
            cpu: Some(Duration::from_millis(500)),
        }
    }

    fn judged(stdout: &[u8], load: TrialLoad) -> Vec<String> {
        let report = OhaReport::parse(stdout).map_err(|e| e.to_string());
        judge(&run(Some(0), stdout), report.as_ref().map_err(Clone::clone), load)
    }

    const CLEAN: &[u8] = include_bytes!("../../tests/fixtures/oha-1.16-clean.json");
    const FAILURES: &[u8] = include_bytes!("../../tests/fixtures/oha-1.16-failures.json");
    const DEADLINE: &[u8] = include_bytes!("../../tests/fixtures/oha-1.16-deadline.json");

    #[test]
    fn a_clean_run_is_valid() {
        assert_eq!(judged(CLEAN, TrialLoad::Requests(200)), Vec::<String>::new());
    }

    #[test]
    fn a_run_with_failures_is_invalid_and_says_why_but_503s_alone_are_an_overload() {
        // 107 answers 200, 88 answers 503, and 5 timeouts: the timeouts invalidate it.
        assert_eq!(
            judged(FAILURES, TrialLoad::Requests(200)),
            [
                "5 requests failed without an answer",
                "195 of the 200 requests were answered"
            ]
        );
        let text = std::str::from_utf8(FAILURES).unwrap();
        let without_timeouts = text
            .replace(r#""timeout": 5"#, "")
            .replace(r#""503": 88"#, r#""503": 93"#);
        assert_eq!(
            judged(without_timeouts.as_bytes(), TrialLoad::Requests(200)),
            Vec::<String>::new(),
            "503s are the server's admission saying it is full"
        );
        let a_500 = without_timeouts.replace(r#""503": 93"#, r#""500": 93"#);
        assert_eq!(
            judged(a_500.as_bytes(), TrialLoad::Requests(200)),
            ["93 answers were neither 2xx nor 503"]
        );
    }

    #[test]
    fn deadline_aborts_alone_do_not_invalidate_a_duration_run() {
        let report = OhaReport::parse(DEADLINE).unwrap();
        assert!(report.deadline_aborts() > 0, "the fixture has deadline aborts");
        assert_eq!(
            judged(DEADLINE, TrialLoad::Duration(Duration::from_secs(2))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_failed_oha_or_garbage_output_is_invalid() {
        let reasons = judge(&run(Some(1), b""), Err("not JSON".into()), TrialLoad::Requests(200));
        assert_eq!(
            reasons,
            vec![
                "oha exited with Some(1): Error: boom",
                "oha's output could not be read: not JSON"
            ]
        );
    }

    #[test]
    fn a_server_given_by_pid_is_sampled_like_a_started_one() {
        use std::os::unix::process::CommandExt;
        // A shell with a child, as gunicorn's master has workers: the whole tree is sampled. In a
        // process group of its own, so that the test can stop both, and only them.
        let mut root = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .expect("sh should be runnable");
        let pid = i32::try_from(root.id()).expect("pids fit in i32");
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while crate::sampler::snapshot(pid).expect("the shell is alive").processes < 2 {
            assert!(std::time::Instant::now() < deadline, "the shell never forked its sleep");
            std::thread::sleep(Duration::from_millis(20));
        }
        let target = Target {
            name: "python".into(),
            endpoint: "http://127.0.0.1:9/threading".into(),
            api: Api::AsGiven,
            managed: None,
            given_pid: Some(pid),
        };

        let sampler = start_sampling(&target).unwrap().expect("a pid was given");
        std::thread::sleep(Duration::from_millis(250));
        let window = sampler.finish();

        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
        let _ = root.wait();
        let window = window.expect("the tree was alive");
        assert_eq!(window.peak_processes, 2, "the shell and its sleep: {window:?}");
        assert_eq!(window.peak_threads, 2, "one thread each: {window:?}");
        assert!(window.pss_peak_bytes > 0 && window.samples >= 1, "{window:?}");
        let unsampled = Target {
            given_pid: None,
            ..target
        };
        assert!(start_sampling(&unsampled).unwrap().is_none());
    }

    #[test]
    fn the_record_derives_rates_and_shares() {
        let report = OhaReport::parse(CLEAN).unwrap();
        let window = ResourceWindow {
            cpu_secs: 0.4,
            pss_before_bytes: 10,
            pss_peak_bytes: 30,
            pss_after_bytes: 12,
            peak_processes: 5,
            peak_threads: 7,
            samples: 3,
            wall_secs: 2.0,
        };
        let key = ScenarioKey {
            work: matrix_service::WorkKind::Add,
            wait_ms: None,
            concurrency: 20,
            n: 500,
            workers: 4,
            offered_rps: None,
        };
        let record = record(
            "threading",
            key,
            Phase::Measured,
            1,
            &run(Some(0), CLEAN),
            Some(&report),
            Some(window),
            2,
        );
        assert_eq!((record.responses_2xx, record.peak_threads), (200, Some(7)));
        assert!(
            (record.cpu_ms_per_request.unwrap() - 2.0).abs() < 1e-9,
            "0.4 s over 200 answers"
        );
        assert!(
            (record.oha_cpu_share.unwrap() - 0.125).abs() < 1e-9,
            "0.5 s over 2 s on 2 CPUs"
        );
        assert!(client_bound(Some(0.5), Some(0.4)));
        assert!(!client_bound(Some(0.1), Some(0.4)) && !client_bound(Some(0.5), None));
        assert_eq!((record.peak_memory_bytes, record.phase), (Some(30), Phase::Measured));
    }
}
