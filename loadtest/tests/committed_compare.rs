//! `loadtest compare` on runs committed under `docs/runs/`, as a user runs it: every figure of
//! the `compare.json` it writes is checked against the two `summary.json` files, recomputed
//! here from the raw trials without the harness's code (the medians, the ratio, the interval's
//! bounds, the verdict by the band, and the Mann-Whitney p-value by counting every split).
//! Bad input exits with 2 and says what was wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BAND: f64 = 0.05;
const METRICS: [(&str, &str, &str, bool); 4] = [
    ("rps", "rps_2xx", "rps_median", true),
    ("p50_ms", "latency_p50_ms", "latency_p50_ms", false),
    ("p99_ms", "latency_p99_ms", "latency_p99_ms", false),
    ("cpu_ms_per_request", "cpu_ms_per_request", "cpu_ms_per_request", false),
];

fn runs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs")
}

fn compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("compare")
        .args(args)
        .output()
        .expect("loadtest runs")
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A figure of one server and scenario over a run's valid measured trials.
fn trial_values(run: &Value, entry: &Value, field: &str) -> Vec<f64> {
    let same = |t: &Value| {
        [
            "server",
            "work",
            "concurrency",
            "n",
            "workers",
            "wait_ms",
            "offered_rps",
        ]
        .iter()
        .all(|key| t.get(key).unwrap_or(&Value::Null) == entry.get(key).unwrap_or(&Value::Null))
    };
    (run["trials"].as_array().unwrap().iter())
        .filter(|t| t["phase"] == "measured" && t["valid"] == true && same(t))
        .filter_map(|t| t[field].as_f64())
        .collect()
}

/// The two-sided Mann-Whitney p-value by brute force: every way to pick |a| of the pooled
/// values, U counted pair by pair (a tie is half), as uneven as observed or more.
fn u_test(a: &[f64], b: &[f64]) -> f64 {
    let u = |x: &[f64], y: &[f64]| -> f64 {
        (x.iter().flat_map(|p| y.iter().map(move |q| (p, q))))
            .map(|(p, q)| {
                if p > q {
                    1.0
                } else if p == q {
                    0.5
                } else {
                    0.0
                }
            })
            .sum()
    };
    let centre = (a.len() * b.len()) as f64 / 2.0;
    let observed = (u(a, b) - centre).abs();
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (mut far, mut all) = (0, 0);
    for mask in 0u32..(1 << pooled.len()) {
        if mask.count_ones() as usize != a.len() {
            continue;
        }
        let pick = |inside: bool| -> Vec<f64> {
            (pooled.iter().enumerate())
                .filter(|(i, _)| (mask & (1 << i) != 0) == inside)
                .map(|(_, v)| *v)
                .collect()
        };
        let (x, y) = (pick(true), pick(false));
        all += 1;
        if (u(&x, &y) - centre).abs() >= observed - 1e-9 {
            far += 1;
        }
    }
    far as f64 / all as f64
}

/// Checks every entry of `compare.json` in `out` against the summaries of `base` and `new`;
/// returns how many entries there were.
fn check_every_figure(base_dir: &Path, new_dir: &Path, out: &Path) -> usize {
    let (base, new) = (summary(base_dir), summary(new_dir));
    let compared: Value = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    let entries = compared["comparisons"].as_array().unwrap();
    let results = |run: &Value| run["results"].as_array().unwrap().len();
    assert_eq!(
        entries.len(),
        4 * results(&base).min(results(&new)),
        "four figures per server and scenario"
    );
    for entry in entries {
        let (metric, field, result_key, higher_is_better) =
            *METRICS.iter().find(|m| m.0 == entry["metric"]).expect("a known metric");
        let at = format!("{} {metric}", entry["server"]);
        let (b, n) = (trial_values(&base, entry, field), trial_values(&new, entry, field));
        let (bm, nm) = (median(b.clone()), median(n.clone()));
        let figure = |key: &str| entry[key].as_f64().unwrap();
        assert!(
            (figure("base") - bm).abs() < 1e-9 && (figure("new") - nm).abs() < 1e-9,
            "{at}"
        );
        let result = (base["results"].as_array().unwrap().iter())
            .find(|r| r["server"] == entry["server"])
            .unwrap();
        assert!(
            (result[result_key].as_f64().unwrap() - bm).abs() < 1e-9,
            "{at}: the summary's own median"
        );
        let ratio = figure("ratio");
        assert!((ratio - nm / bm).abs() < 1e-12, "{at}");
        let interval: Vec<f64> = entry["interval"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (low, high) = (interval[0], interval[1]);
        let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).unwrap();
        let widest = (
            fold(&n, f64::min) / fold(&b, f64::max),
            fold(&n, f64::max) / fold(&b, f64::min),
        );
        assert!(
            widest.0 - 1e-12 <= low && low <= ratio && ratio <= high && high <= widest.1 + 1e-12,
            "{at}"
        );
        let (better, worse) = if higher_is_better {
            (low > 1.0 + BAND, high < 1.0 - BAND)
        } else {
            (high < 1.0 - BAND, low > 1.0 + BAND)
        };
        let verdict = match (better, worse) {
            (true, _) => "faster",
            (_, true) => "slower",
            _ => "within noise",
        };
        assert_eq!(entry["verdict"], verdict, "{at}");
        let worse_pct = if higher_is_better {
            (1.0 - ratio) * 100.0
        } else {
            (ratio - 1.0) * 100.0
        };
        let limit = compared["fail_on_regression_pct"].as_f64();
        let regression = limit.is_some_and(|pct| verdict == "slower" && worse_pct > pct);
        assert_eq!(entry["regression"], regression, "{at}");
        assert!((figure("p_value") - u_test(&n, &b)).abs() < 1e-12, "{at}");
        let splits = (1..=b.len()).fold(1.0, |c, i| c * (n.len() + i) as f64 / i as f64);
        assert!(
            (figure("p_value_floor") - (2.0 / splits).min(1.0)).abs() < 1e-12,
            "{at}"
        );
        assert_eq!(
            (entry["base_trials"].as_u64(), entry["new_trials"].as_u64()),
            (Some(b.len() as u64), Some(n.len() as u64))
        );
    }
    entries.len()
}

#[test]
fn two_committed_default_runs_compared_figure_by_figure() {
    let (base, new) = (
        runs().join("2026-12-06-default"),
        runs().join("2026-12-06-default-cpu-speed"),
    );
    let out = tempfile::tempdir().unwrap();
    let done = compare(&[
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--fail-on-regression",
        "10",
    ]);
    assert_eq!(done.status.code(), Some(0), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(check_every_figure(&base, &new, out.path()), 16, "four servers");
    let compared: Value = serde_json::from_slice(&std::fs::read(out.path().join("compare.json")).unwrap()).unwrap();
    assert_eq!(
        compared["differences"],
        serde_json::json!([{"what": "machine.git_commit", "base": "f9d5ffb", "new": "0fe5d43"}]),
        "the one difference between the two runs' setups"
    );
    assert_eq!(
        (
            compared["only_in_base"].as_array().unwrap().len(),
            compared["only_in_new"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    assert!(
        md.contains("| threading | c=20 n=500 w=4 | req/s | 1480 | 1628 | 1.100x |"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.path().join("compare.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("machine.git_commit"));
    let terminal = String::from_utf8_lossy(&done.stdout);
    assert!(
        terminal.starts_with("Of 16 figures, NEW against BASE: 0 faster and 0 slower"),
        "{terminal}"
    );
}

/// The comparisons committed with the lab's own runs (docs/runs/2026-12-08-compare): every
/// figure checked against the two summaries it names, and drawn again alike by this harness.
#[test]
fn the_committed_comparisons_hold_every_figure_of_their_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let folder = runs().join("2026-12-08-compare");
    let mut pairs = 0;
    for entry in std::fs::read_dir(&folder).unwrap().flatten() {
        let dir = entry.path();
        if !dir.join("compare.json").exists() {
            continue;
        }
        pairs += 1;
        let compared: Value = serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap();
        let side = |key: &str| root.join(compared[key]["dir"].as_str().unwrap());
        let (base, new) = (side("base"), side("new"));
        assert_eq!(
            check_every_figure(&base, &new, &dir),
            20,
            "{}: five servers",
            dir.display()
        );
        let terminal = std::fs::read_to_string(dir.join("terminal.txt")).unwrap();
        let regressed = compared["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["regression"] == true);
        assert!(
            terminal.ends_with(if regressed { "exit code 3\n" } else { "exit code 0\n" }),
            "{terminal}"
        );

        let again = tempfile::tempdir().unwrap();
        let done = compare(&[
            base.to_str().unwrap(),
            new.to_str().unwrap(),
            "--out",
            again.path().to_str().unwrap(),
            "--fail-on-regression",
            "10",
        ]);
        assert_eq!(done.status.code(), Some(if regressed { 3 } else { 0 }));
        let redrawn: Value =
            serde_json::from_slice(&std::fs::read(again.path().join("compare.json")).unwrap()).unwrap();
        assert_eq!(
            redrawn["comparisons"],
            compared["comparisons"],
            "{}: the bootstrap is seeded",
            dir.display()
        );
    }
    assert_eq!(pairs, 6);
}

#[test]
fn bad_input_exits_with_2_and_says_which() {
    let default = runs().join("2026-12-06-default");
    // The same run at 21 connections: no scenario in common with it.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut moved = summary(&default);
    for list in ["results", "trials"] {
        for item in moved[list].as_array_mut().unwrap() {
            item["concurrency"] = 21.into();
        }
    }
    std::fs::write(elsewhere.path().join("summary.json"), moved.to_string()).unwrap();
    let cases = [
        (runs().join("no-such-run"), "is not a folder"),
        (runs(), "holds no summary.json"),
        (runs().join("2026-12-07-cluster-faults"), "is a `loadtest cluster` run"),
        (elsewhere.path().to_path_buf(), "have nothing in common"),
    ];
    for (base, said) in cases {
        let out = tempfile::tempdir().unwrap();
        let done = compare(&[
            base.to_str().unwrap(),
            default.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(2), "{}: {stderr}", base.display());
        assert!(stderr.contains(said), "{said}: {stderr}");
        assert!(
            !out.path().join("compare.json").exists(),
            "nothing written for bad input"
        );
    }
    let done = compare(&[
        default.to_str().unwrap(),
        default.to_str().unwrap(),
        "--fail-on-regression=-3",
    ]);
    assert_eq!(done.status.code(), Some(2), "clap's own usage error");
    assert!(String::from_utf8_lossy(&done.stderr).contains("must be a percentage from 0 to 1000"));
}

#[test]
fn a_run_made_slower_fails_on_regression_with_3_and_only_beyond_the_limit() {
    let base = runs().join("2026-12-06-default");
    // The same run with every threading trial answering 30% fewer requests a second.
    let slower = tempfile::tempdir().unwrap();
    let mut run = summary(&base);
    for trial in run["trials"].as_array_mut().unwrap() {
        if trial["server"] == "threading" {
            trial["rps_2xx"] = (trial["rps_2xx"].as_f64().unwrap() * 0.7).into();
        }
    }
    std::fs::write(slower.path().join("summary.json"), run.to_string()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let args = [path(&base), path(slower.path()), "--out".into(), path(out.path())];
    let with_limit = |pct: &str| {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--fail-on-regression", pct]);
        compare(&all)
    };
    assert_eq!(with_limit("10").status.code(), Some(3), "30% fewer req/s is beyond 10%");
    let compared: Value = serde_json::from_slice(&std::fs::read(out.path().join("compare.json")).unwrap()).unwrap();
    let regressions: Vec<(&str, &str)> = (compared["comparisons"].as_array().unwrap().iter())
        .filter(|c| c["regression"] == true)
        .map(|c| (c["server"].as_str().unwrap(), c["metric"].as_str().unwrap()))
        .collect();
    assert_eq!(regressions, [("threading", "rps")]);
    assert_eq!(with_limit("40").status.code(), Some(0), "30% is within 40%");
    assert_eq!(
        compare(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .code(),
        Some(0),
        "no limit, no failure"
    );
}
