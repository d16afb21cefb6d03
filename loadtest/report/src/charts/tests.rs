//! Tests of the charts: `write_charts` on fake summaries (which files are written, in what
//! order, well-formed SVG with titles, legend entries, ticks and stable server colours), and the
//! figure picking and number formatting they rely on.

use super::data::{fixed_key, trial_values};
use super::draw::{label_lines, shorten};
use super::short_number;
use super::*;
use loadtest_model::catalogue::Catalogue;
use loadtest_model::stats;
use loadtest_model::summary::{
    Design, Machine, Mode, Phase, ScenarioKey, ScenarioResult, ServerInfo, SweepKind, TrialRecord,
};

const BAR_CHARTS: [(&str, &str); 4] = [
    ("throughput.svg", "Throughput (2xx responses per second)"),
    ("latency.svg", "Latency percentiles (ms, 2xx responses)"),
    ("cpu_per_request.svg", "Server CPU time per request (ms)"),
    ("memory.svg", "Server memory: PSS of the process tree (MiB)"),
];
const SWEEP_CHARTS: [(&str, &str); 2] = [
    ("sweep_rps.svg", "Throughput by concurrency (2xx responses per second)"),
    ("sweep_latency_p99.svg", "p99 latency by concurrency (ms)"),
];

fn design(sweep: Option<SweepKind>) -> Design {
    Design {
        work: matrix_service::WorkKind::Add,
        wait_ms: None,
        works: Vec::new(),
        lab: false,
        mode: Mode::Measured,
        load: "-z 5s".into(),
        warmup_trials: 1,
        measured_trials: 3,
        sweep,
        concurrency: 20,
        n: 500,
        workers: 4,
        rate: None,
        rate_fraction: None,
        server_cpuset: None,
        client_cpuset: None,
    }
}

fn empty_summary(design: Design, servers: &[&str]) -> RunSummary {
    RunSummary {
        tool: "loadtest 0.1.0".into(),
        started_utc: "2026-11-20T10:00:00Z".into(),
        wall_secs: 60.0,
        setup_secs: 3.0,
        machine: Machine {
            kernel: "6.1".into(),
            cpu_model: "test cpu".into(),
            cpus: 2,
            memory_bytes: 4 << 30,
            rustc: None,
            git_commit: None,
            build_profile: "release".into(),
        },
        oha_version: "oha 1.16.0".into(),
        servers: servers
            .iter()
            .map(|name| ServerInfo {
                name: (*name).into(),
                url: format!("http://127.0.0.1:1/{name}"),
                managed: true,
                pid: Some(1),
                command: vec![],
                pool_size: None,
            })
            .collect(),
        design,
        python_processes_seed: None,
        worker_probes: Vec::new(),
        claims: Vec::new(),
        results: vec![],
        probes: vec![],
        work_costs: vec![],
        cpu_speed: None,
        thread_start_cpu_us: None,
        floors: Default::default(),
        comparisons: vec![],
        trials: vec![],
        warnings: vec![],
        verdict: vec![],
        conclusions: vec![],
        targets: vec![],
        traces: vec![],
        ledger: vec![],
        trace_cost: vec![],
        noise: None,
        complete: true,
    }
}

fn trial(server: &str, scenario: ScenarioKey, phase: Phase, index: u32, rps: f64) -> TrialRecord {
    let p50 = f64::from(scenario.concurrency) / rps * 1000.0;
    TrialRecord {
        server: server.into(),
        scenario,
        phase,
        index,
        oha_command: vec!["oha".into()],
        raw_file: format!("raw/{server}-{index}.json"),
        oha_exit_code: Some(0),
        wall_secs: 5.0,
        load_secs: Some(5.0),
        responses_2xx: (rps * 5.0) as u64,
        responses_non_2xx: 0,
        responses_503: 0,
        transport_errors: 0,
        deadline_aborts: 0,
        rps_2xx: Some(rps),
        latency_p50_ms: Some(p50),
        latency_p90_ms: Some(p50 * 1.3),
        latency_p99_ms: Some(p50 * 1.8),
        latency_max_ms: Some(p50 * 2.5),
        server_cpu_secs: Some(rps * 5.0 * 0.008),
        cpu_ms_per_request: Some(2000.0 / rps),
        memory_before_bytes: Some(20 << 20),
        peak_memory_bytes: Some((30 << 20) + (rps as u64) * 1000),
        peak_threads: None,
        memory_after_bytes: Some(22 << 20),
        oha_cpu_secs: Some(1.0),
        oha_cpu_share: Some(0.2),
        client_bound: false,
        machine_cpu: None,
        valid: true,
        invalid_reasons: vec![],
        outlier: false,
        server_answers: None,
    }
}

/// The aggregate of `trials` as the harness computes it.
fn result_of(server: &str, key: ScenarioKey, trials: &[TrialRecord]) -> ScenarioResult {
    let pick = |f: fn(&TrialRecord) -> Option<f64>| trials.iter().filter_map(f).collect::<Vec<_>>();
    let rps = stats::stats(&pick(|t| t.rps_2xx));
    let p50 = stats::stats(&pick(|t| t.latency_p50_ms));
    let p99 = stats::stats(&pick(|t| t.latency_p99_ms));
    let cpu = stats::stats(&pick(|t| t.cpu_ms_per_request));
    ScenarioResult {
        server: server.into(),
        scenario: key,
        load_loop: loadtest_model::summary::LoadLoop::of(key),
        requests: trials.iter().map(|t| t.responses_2xx).sum(),
        success_rate: 1.0,
        rps_median: rps.map(|s| s.median),
        latency_p50_ms: p50.map(|s| s.median),
        latency_p99_ms: p99.map(|s| s.median),
        cpu_ms_per_request: cpu.map(|s| s.median),
        peak_memory_bytes: trials.iter().filter_map(|t| t.peak_memory_bytes).max(),
        peak_threads: None,
        memory_after_bytes: trials.last().and_then(|t| t.memory_after_bytes),
        cpu_vs_work: None,
        latency_p99_over_p50: None,
        cpu_ns_per_element: None,
        trials_valid: trials.len() as u32,
        trials_invalid: 0,
        rps,
        latency_p50: p50,
        latency_p99: p99,
        cpu_per_request: cpu,
        outlier_trials: 0,
        client_bound_trials: 0,
        overloaded_share: None,
        client_cpu_ms_per_request: None,
        bottleneck: None,
        cpu_shares: None,
    }
}

/// Adds `rps_of_trials.len()` measured trials (plus a warm-up and an invalid trial, which
/// every chart must ignore) and their aggregate.
fn add_scenario(summary: &mut RunSummary, server: &str, key: ScenarioKey, rps_of_trials: &[f64]) {
    let measured: Vec<TrialRecord> = rps_of_trials
        .iter()
        .enumerate()
        .map(|(i, &rps)| trial(server, key, Phase::Measured, i as u32 + 1, rps))
        .collect();
    summary.results.push(result_of(server, key, &measured));
    summary.trials.push(trial(server, key, Phase::Warmup, 1, 1.0e6));
    let mut invalid = trial(server, key, Phase::Measured, rps_of_trials.len() as u32 + 1, 1.0e6);
    invalid.valid = false;
    invalid.invalid_reasons = vec!["12 non-2xx responses".into()];
    summary.trials.push(invalid);
    summary.trials.extend(measured);
}

/// Two servers, three trials each, at the design's scenario and (with `sweep`) at other
/// concurrencies too.
pub(crate) fn fake_summary(sweep: bool) -> RunSummary {
    let mut summary = empty_summary(
        design(sweep.then_some(SweepKind::Concurrency)),
        &["threading", "multiprocessing"],
    );
    let concurrencies: &[u32] = if sweep { &[1, 4, 20, 64] } else { &[20] };
    for &concurrency in concurrencies {
        let key = ScenarioKey {
            work: matrix_service::WorkKind::Add,
            wait_ms: None,
            concurrency,
            n: 500,
            workers: 4,
            offered_rps: None,
        };
        let scale = (f64::from(concurrency) / 20.0).sqrt().min(1.1);
        add_scenario(
            &mut summary,
            "threading",
            key,
            &[176.0 * scale, 190.0 * scale, 161.0 * scale],
        );
        add_scenario(
            &mut summary,
            "multiprocessing",
            key,
            &[121.0 * scale, 118.0 * scale, 131.0 * scale],
        );
    }
    summary
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

fn sorted(files: &[&str]) -> Vec<String> {
    let mut files: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
    files.sort();
    files
}

/// The contents of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| {
            let (_, rest) = element.split_once('>')?;
            let (content, _) = rest.split_once("</text>")?;
            Some(content.trim().to_owned())
        })
        .collect()
}

fn assert_well_formed(svg: &str, title: &str, servers: &[&str]) {
    let start = svg.trim_start();
    assert!(
        start.starts_with("<svg") || start.starts_with("<?xml"),
        "not an SVG: {}",
        &svg[..svg.len().min(80)]
    );
    assert!(svg.trim_end().ends_with("</svg>"), "unterminated SVG");
    assert_eq!(
        svg.matches("<text").count(),
        svg.matches("</text>").count(),
        "unbalanced <text>"
    );
    let texts = texts(svg);
    assert!(
        texts.iter().any(|t| t == title),
        "title {title:?} missing from {texts:?}"
    );
    for server in servers {
        assert!(
            texts.iter().any(|t| t == server),
            "legend entry {server:?} missing from {texts:?}"
        );
    }
}

#[test]
fn a_run_without_a_sweep_gets_the_four_bar_charts() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_charts(&fake_summary(false), &Catalogue::lab(), dir.path()).unwrap();
    let expected: Vec<&str> = BAR_CHARTS.iter().map(|(file, _)| *file).collect();
    assert_eq!(written, expected, "written in a fixed order");
    assert_eq!(files_in(dir.path()), sorted(&expected));
    for (file, title) in BAR_CHARTS {
        let svg = fs::read_to_string(dir.path().join(file)).unwrap();
        assert_well_formed(&svg, title, &["threading", "multiprocessing"]);
    }
}

#[test]
fn an_open_loop_after_the_closed_one_gets_its_own_latency_chart_and_every_subtitle_names_its_loop() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_charts(&crate::testdata::with_open_loop(), &Catalogue::lab(), dir.path()).unwrap();
    assert_eq!(written[..3], ["throughput.svg", "latency.svg", "latency_open.svg"]);
    let closed = fs::read_to_string(dir.path().join("latency.svg")).unwrap();
    assert!(
        texts(&closed).iter().any(|t| t.contains(" · closed loop · ")),
        "{:?}",
        texts(&closed)
    );
    let open = fs::read_to_string(dir.path().join("latency_open.svg")).unwrap();
    assert_well_formed(
        &open,
        "Latency percentiles (ms, 2xx responses)",
        &["threading", "multiprocessing"],
    );
    assert!(
        texts(&open).iter().any(|t| t.contains(" · open loop, 300 req/s · ")),
        "{:?}",
        texts(&open)
    );
    assert!(
        texts(&open).iter().any(|t| t == "900"),
        "multiprocessing's p99: {:?}",
        texts(&open)
    );
}

#[test]
fn a_sweep_adds_one_line_per_server_over_the_swept_values() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_charts(&fake_summary(true), &Catalogue::lab(), dir.path()).unwrap();
    let expected: Vec<&str> = BAR_CHARTS.iter().chain(&SWEEP_CHARTS).map(|(file, _)| *file).collect();
    assert_eq!(written, expected);
    for (file, title) in SWEEP_CHARTS {
        let svg = fs::read_to_string(dir.path().join(file)).unwrap();
        assert_well_formed(&svg, title, &["threading", "multiprocessing"]);
        for tick in ["1", "4", "20", "64"] {
            assert!(texts(&svg).iter().any(|t| t == tick), "{file}: x tick {tick} missing");
        }
    }
}

#[test]
fn a_sweep_of_several_kinds_of_work_draws_a_pair_of_charts_per_kind() {
    use matrix_service::WorkKind;
    let mut summary = empty_summary(design(Some(SweepKind::Workers)), &["threading", "multiprocessing"]);
    summary.design.works = vec![WorkKind::Add, WorkKind::Io];
    for (work, n, wait_ms) in [(WorkKind::Add, 500, None), (WorkKind::Io, 100, Some(100))] {
        for workers in [1, 2, 4] {
            let key = ScenarioKey {
                work,
                wait_ms,
                concurrency: 20,
                n,
                workers,
                offered_rps: None,
            };
            let rps = if work == WorkKind::Io {
                180.0 * f64::from(workers)
            } else {
                900.0
            };
            add_scenario(&mut summary, "threading", key, &[rps, rps * 1.02, rps * 0.98]);
            add_scenario(&mut summary, "multiprocessing", key, &[rps / 2.0, rps / 2.1, rps / 1.9]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let written = write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap();
    let sweeps: Vec<&str> = written
        .iter()
        .map(String::as_str)
        .filter(|f| f.starts_with("sweep"))
        .collect();
    assert_eq!(
        sweeps,
        [
            "sweep_add_rps.svg",
            "sweep_add_latency_p50.svg",
            "sweep_io_rps.svg",
            "sweep_io_latency_p50.svg"
        ]
    );
    let io = fs::read_to_string(dir.path().join("sweep_io_rps.svg")).unwrap();
    assert_well_formed(
        &io,
        "io (IO-bound): throughput by workers (2xx responses per second)",
        &["threading", "multiprocessing"],
    );
    assert!(
        texts(&io)
            .iter()
            .any(|t| t.starts_with("n=100, 20 connections, wait_ms=100")),
        "io's own n and wait"
    );
    for tick in ["1", "2", "4"] {
        assert!(texts(&io).iter().any(|t| t == tick), "x tick {tick} missing");
    }
}

#[test]
fn the_same_server_gets_the_same_colour_in_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_charts(&fake_summary(true), &Catalogue::lab(), dir.path()).unwrap();
    let lab = Catalogue::lab();
    let [first, second] = ["threading", "multiprocessing"]
        .map(|name| lab.get(name).unwrap().colour)
        .map(|[r, g, b]| format!("#{r:02X}{g:02X}{b:02X}"));
    for file in written {
        let svg = fs::read_to_string(dir.path().join(&file)).unwrap();
        assert!(
            svg.contains(&first) && svg.contains(&second),
            "{file} lacks a server colour"
        );
    }
}

#[test]
fn an_empty_summary_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let summary = empty_summary(design(Some(SweepKind::Concurrency)), &["threading", "multiprocessing"]);
    assert_eq!(
        write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap(),
        Vec::<String>::new()
    );
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn one_server_with_one_trial_draws_without_whiskers() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = empty_summary(design(None), &["threading"]);
    let key = fixed_key(&summary);
    add_scenario(&mut summary, "threading", key, &[150.0]);
    assert_eq!(write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap().len(), 4);
    let svg = fs::read_to_string(dir.path().join("throughput.svg")).unwrap();
    assert_well_formed(&svg, BAR_CHARTS[0].1, &["threading"]);
    assert!(!svg.contains("whisker"), "a single trial has no spread to draw");
    assert!(
        texts(&svg).iter().any(|t| t == "150"),
        "the bar's value is written on it"
    );
}

#[test]
fn a_server_without_a_figure_is_left_out_of_that_chart_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut summary = fake_summary(false);
    for result in summary.results.iter_mut().filter(|r| r.server == "multiprocessing") {
        result.cpu_ms_per_request = None;
        result.cpu_per_request = None;
    }
    for result in &mut summary.results {
        (result.peak_memory_bytes, result.memory_after_bytes) = (None, None);
    }
    let written = write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap();
    assert_eq!(
        written,
        ["throughput.svg", "latency.svg", "cpu_per_request.svg"],
        "no memory figures: no chart"
    );
    let cpu = fs::read_to_string(dir.path().join("cpu_per_request.svg")).unwrap();
    assert_well_formed(&cpu, BAR_CHARTS[2].1, &["threading"]);
    assert!(!cpu.contains("multiprocessing"));
}

#[test]
fn a_run_without_a_sweep_draws_no_sweep_chart() {
    let mut summary = fake_summary(true);
    summary.design.sweep = None;
    let servers = Servers::of(&summary, &Catalogue::lab());
    assert!(sweep_chart(&summary, &servers, (SweepFigure::Rps, None)).is_none());
}

#[test]
fn only_valid_measured_trials_are_drawn() {
    let summary = fake_summary(false);
    let values = trial_values(&summary, "threading", fixed_key(&summary), |t| t.rps_2xx);
    assert_eq!(values, [176.0, 190.0, 161.0]);
}

#[test]
fn numbers_keep_three_significant_digits() {
    let cases = [
        (0.0, "0"),
        (0.01234, "0.012"),
        (1.5, "1.5"),
        (12.345, "12.3"),
        (176.6, "177"),
        (2000.0, "2000"),
    ];
    for (value, text) in cases {
        assert_eq!(short_number(value), text);
    }
    assert_eq!(shorten("multiprocessing-prefork-server", 10), "multiproc…");
    assert_eq!(
        label_lines("python-processes-fixed", 16),
        ["python-", "processes-fixed"]
    );
    assert_eq!(label_lines("multiprocessing", 16), ["multiprocessing"]);
    assert_eq!(label_lines("a-b-c-d-e", 2), ["a-", "b…"]);
}

/// `name="value"` of one SVG element's attributes, as a number.
fn attribute(element: &str, name: &str) -> Option<f64> {
    let element = format!(" {element}");
    let (_, rest) = element.split_once(&format!(" {name}=\""))?;
    rest.split('"').next()?.parse().ok()
}

/// Every `<tag ...>` element of `svg` whose text contains each of `having`.
fn elements<'a>(svg: &'a str, tag: &str, having: &[&str]) -> Vec<&'a str> {
    (svg.split(&format!("<{tag} ")).skip(1))
        .map(|rest| rest.split_once('>').map_or(rest, |(element, _)| element))
        .filter(|element| having.iter().all(|h| element.contains(h)))
        .collect()
}

/// The points of a `<polyline>`.
fn points(polyline: &str) -> Vec<(f64, f64)> {
    let (_, rest) = polyline.split_once("points=\"").unwrap();
    (rest.split('"').next().unwrap().split_whitespace())
        .filter_map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

/// The fill colour of `server` in the lab's catalogue, as the SVG writes it.
fn fill_of(server: &str) -> String {
    let [r, g, b] = Catalogue::lab().get(server).unwrap().colour;
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// Pixels may be rounded once on each side of a difference.
const PX: f64 = 2.0;

#[test]
fn a_bar_s_height_whisker_and_dots_are_its_trials_on_the_axis() {
    // threading: trials 100, 200 and 300 (median 200); multiprocessing: 400 three times.
    let mut summary = empty_summary(design(None), &["threading", "multiprocessing"]);
    let key = ScenarioKey::DEFAULT;
    add_scenario(&mut summary, "threading", key, &[100.0, 200.0, 300.0]);
    add_scenario(&mut summary, "multiprocessing", key, &[400.0, 400.0, 400.0]);
    let dir = tempfile::tempdir().unwrap();
    write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap();
    let svg = fs::read_to_string(dir.path().join("throughput.svg")).unwrap();

    let bar = |server: &str| {
        let fill = format!("fill=\"{}\"", fill_of(server));
        let found = elements(&svg, "rect", &["opacity=\"0.75\"", &fill]);
        assert_eq!(found.len(), 1, "{server}'s bar: {found:?}");
        let [x, y, w, h] = ["x", "y", "width", "height"].map(|a| attribute(found[0], a).unwrap());
        (x, y, w, h)
    };
    let (x, y, w, h) = bar("threading");
    let (_, mp_y, _, mp_h) = bar("multiprocessing");
    let base = y + h;
    assert!(
        (mp_y + mp_h - base).abs() <= PX,
        "one baseline: {base} and {}",
        mp_y + mp_h
    );
    // The axis starts at 0: heights are proportional to the medians, 400 over 200.
    assert!((mp_h - 2.0 * h).abs() <= PX, "heights {h} and {mp_h}");
    let at = |value: f64| base - h * value / 200.0;

    // The whisker: a vertical ink line over the bar, from the slowest trial to the fastest.
    let ink = "stroke=\"#282828\"";
    let whisker: Vec<Vec<(f64, f64)>> = (elements(&svg, "polyline", &[ink]).into_iter())
        .map(points)
        .filter(|p| p.len() == 2 && p[0].0 == p[1].0 && (x..=x + w).contains(&p[0].0))
        .collect();
    assert_eq!(whisker.len(), 1, "{whisker:?}");
    let (lo, hi) = (
        whisker[0][0].1.max(whisker[0][1].1),
        whisker[0][0].1.min(whisker[0][1].1),
    );
    assert!(
        (lo - at(100.0)).abs() <= PX && (hi - at(300.0)).abs() <= PX,
        "whisker {lo} to {hi}"
    );

    // A dot per trial, at its value, within the bar.
    let mut dots: Vec<f64> = (elements(&svg, "circle", &["r=\"3\"", "fill=\"#282828\""]).into_iter())
        .filter(|c| (x..=x + w).contains(&attribute(c, "cx").unwrap()))
        .map(|c| attribute(c, "cy").unwrap())
        .collect();
    dots.sort_by(f64::total_cmp);
    let expected = [at(300.0), at(200.0), at(100.0)];
    assert_eq!(dots.len(), 3, "{dots:?}");
    for (dot, want) in dots.iter().zip(expected) {
        assert!((dot - want).abs() <= PX, "dots {dots:?}, expected {expected:?}");
    }
}

#[test]
fn a_line_s_points_and_whiskers_are_its_medians_and_ranges_on_the_axis() {
    // threading at 1 connection: 100, 200, 300 (median 200); at 4: 400 three times.
    let mut summary = empty_summary(design(Some(SweepKind::Concurrency)), &["threading"]);
    for (concurrency, trials) in [(1, [100.0, 200.0, 300.0]), (4, [400.0; 3])] {
        let key = ScenarioKey {
            concurrency,
            ..ScenarioKey::DEFAULT
        };
        add_scenario(&mut summary, "threading", key, &trials);
    }
    let dir = tempfile::tempdir().unwrap();
    write_charts(&summary, &Catalogue::lab(), dir.path()).unwrap();
    let svg = fs::read_to_string(dir.path().join("sweep_rps.svg")).unwrap();
    let colour = fill_of("threading");

    let mut dots: Vec<(f64, f64)> = (elements(&svg, "circle", &["r=\"5\"", &format!("fill=\"{colour}\"")]))
        .into_iter()
        .map(|c| (attribute(c, "cx").unwrap(), attribute(c, "cy").unwrap()))
        .collect();
    dots.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(dots.len(), 2, "{dots:?}");
    let (first, second) = (dots[0], dots[1]);

    let whiskers: Vec<Vec<(f64, f64)>> = (elements(&svg, "polyline", &[&format!("stroke=\"{colour}\"")]))
        .into_iter()
        .map(points)
        .filter(|p| p.len() == 2 && p[0].0 == p[1].0 && (p[0].0 - first.0).abs() <= PX)
        .collect();
    assert_eq!(whiskers.len(), 1, "the first point's whisker: {whiskers:?}");
    let (lo, hi) = (
        whiskers[0][0].1.max(whiskers[0][1].1),
        whiskers[0][0].1.min(whiskers[0][1].1),
    );
    // The whisker runs 100 to 300 around the median 200: the point sits at its middle, and its
    // length (200) is the rise from the first median to the second (200 to 400).
    assert!(
        (first.1 - (lo + hi) / 2.0).abs() <= PX,
        "point {first:?}, whisker {lo} to {hi}"
    );
    assert!(
        ((lo - hi) - (first.1 - second.1)).abs() <= PX,
        "whisker {lo} to {hi}, points {dots:?}"
    );
    assert!(second.1 < first.1, "400 above 200: {dots:?}");
}
