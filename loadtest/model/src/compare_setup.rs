//! What differs between two runs besides their figures: the machine, the versions, the commit,
//! the design (the flags), the servers and their command lines. [`differences`] walks these parts
//! of both summaries as JSON, so a field added to any of them later is compared without a line
//! here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::summary::RunSummary;

/// One way the two runs were not alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// What differs, as a path into `summary.json` (`machine.kernel`, `design.measured_trials`,
    /// `servers.prefork.command`).
    pub what: String,
    pub base: String,
    pub new: String,
}

/// Every leaf of the two runs' setup that differs, as `part.field: base → new`, in the order the
/// summary holds them; a field only one run has shows "absent" on the other side.
pub fn differences(base: &RunSummary, new: &RunSummary) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut leaves = |what: &str, a: Value, b: Value| walk(what, &a, &b, &mut found);
    leaves("tool", base.tool.clone().into(), new.tool.clone().into());
    leaves(
        "oha_version",
        base.oha_version.clone().into(),
        new.oha_version.clone().into(),
    );
    leaves("machine", to_value(&base.machine), to_value(&new.machine));
    leaves("design", to_value(&base.design), to_value(&new.design));
    leaves("servers", servers(base), servers(new));
    let huge_pages = |run: &RunSummary| to_value(&run.noise.as_ref().map(|n| &n.transparent_hugepages));
    leaves("noise.transparent_hugepages", huge_pages(base), huge_pages(new));
    found
}

fn to_value<T: serde::Serialize>(part: &T) -> Value {
    serde_json::to_value(part).unwrap_or(Value::Null)
}

/// The servers by name, each with its command line; a path by its file name alone (the binary,
/// or the binary after `taskset --cpu-list 0`), so two clones of one commit in different
/// folders do not differ, and the free port each run was given (`--port 0`) is the same words
/// in both. A server given by URL is told by its path alone: its port is wherever it was
/// started that day.
fn servers(run: &RunSummary) -> Value {
    let mut by_name = serde_json::Map::new();
    for server in &run.servers {
        let mut command = server.command.clone();
        for word in command.iter_mut().filter(|w| w.starts_with('/')) {
            if let Some(name) = std::path::Path::new(word.as_str()).file_name() {
                *word = name.to_string_lossy().into_owned();
            }
        }
        let shown = if server.managed {
            command.join(" ")
        } else {
            let path = (server.url.split("://").nth(1))
                .and_then(|rest| rest.find('/').map(|at| &rest[at..]))
                .unwrap_or("/");
            format!("given by URL, path {path}")
        };
        by_name.insert(server.name.clone(), Value::String(shown));
    }
    Value::Object(by_name)
}

fn walk(what: &str, base: &Value, new: &Value, found: &mut Vec<Difference>) {
    match (base, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            for key in keys {
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                walk(&format!("{what}.{key}"), x, y, found);
            }
        }
        _ if base != new => found.push(Difference {
            what: what.to_owned(),
            base: shown(base),
            new: shown(new),
        }),
        _ => {}
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "absent".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_against_itself_differs_in_nothing_and_each_change_is_named() {
        let base = crate::testdata::summary();
        assert_eq!(differences(&base, &base), vec![]);
        let mut new = base.clone();
        new.machine.git_commit = Some("0000001".into());
        new.design.measured_trials = 3;
        new.design.rate = Some(400);
        new.servers[0].command[0] = "/elsewhere/target/release/app_threading".into();
        let found: Vec<(String, String, String)> = (differences(&base, &new).into_iter())
            .map(|d| (d.what, d.base, d.new))
            .collect();
        let commit = base.machine.git_commit.clone().unwrap_or_else(|| "absent".into());
        assert_eq!(
            found,
            vec![
                ("machine.git_commit".into(), commit, "0000001".into()),
                (
                    "design.measured_trials".into(),
                    base.design.measured_trials.to_string(),
                    "3".into()
                ),
                ("design.rate".into(), "absent".into(), "400".into()),
            ],
            "the binary's folder is not a difference"
        );
    }
}
