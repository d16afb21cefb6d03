//! Every results folder committed under `docs/runs/` still loads into this version's result
//! model; and a main job's, written back, keeps every key and value the file has: the typed
//! vocabulary (phases, modes, sweeps, verdicts, targets, kinds of work) reads and writes the
//! strings runs have always written. (Older cluster summaries load, but named some figures
//! differently: they are not written back as they were.)

use std::path::{Path, PathBuf};

use loadtest_model::cluster::ClusterRun;
use loadtest_model::summary::RunSummary;
use serde_json::Value;

fn summaries(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            summaries(&path, found);
        } else if path.file_name().is_some_and(|name| name == "summary.json") {
            found.push(path);
        }
    }
}

/// Where `written` lacks or changes something `original` has, as a path into the JSON.
fn lost(original: &Value, written: &Value, at: &str) -> Option<String> {
    match (original, written) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(key, value)| match b.get(key) {
            Some(other) => lost(value, other, &format!("{at}.{key}")),
            None if value.is_null() => None,
            None => Some(format!("{at}.{key} is not written back")),
        }),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            (a.iter().zip(b).enumerate()).find_map(|(i, (x, y))| lost(x, y, &format!("{at}[{i}]")))
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        (a, b) if a == b => None,
        (a, b) => Some(format!("{at}: {a} was written back as {b}")),
    }
}

#[test]
fn every_committed_summary_loads_and_is_written_back_as_it_was() {
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs");
    let mut found = Vec::new();
    summaries(&runs, &mut found);
    assert!(found.len() >= 20, "the committed runs: {found:?}");
    let (mut main, mut cluster) = (0, 0);
    for path in found {
        let text = std::fs::read_to_string(&path).unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        if original.get("cluster").is_some() {
            cluster += 1;
            let run: ClusterRun = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!run.cluster.scaling.is_empty() || !run.cluster.faults.is_empty());
            continue;
        }
        main += 1;
        let run: RunSummary = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!run.trials.is_empty(), "{}", path.display());
        if let Some(difference) = lost(&original, &serde_json::to_value(run).unwrap(), "") {
            panic!("{}: {difference}", path.display());
        }
    }
    assert!(
        main >= 15 && cluster >= 3,
        "{main} main-job runs, {cluster} cluster runs"
    );
}
