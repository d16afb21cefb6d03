//! `loadtest uploads`: the waves measured (`loadtest_run::uploads`), each said as it ends, then
//! `uploads.json`, `report.md` and the table.

use std::path::PathBuf;

use anyhow::{Context, bail};

use loadtest_model::catalogue::Catalogue;
use loadtest_model::files::write_json;
use loadtest_model::uploads::UploadsResult;
use loadtest_run::uploads::{UploadsArgs, measure};

/// Runs every wave of `args`, prints the table, and writes uploads.json and report.md; fails if
/// an upload got no whole answer or a `/healthz` probe failed.
pub fn run(args: &UploadsArgs, catalogue: &Catalogue) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("uploads-{}", chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ")))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let say = |message: &str| eprintln!("{message}");
    let run = measure(args, catalogue, &out, &say, &mut |wave| {
        eprintln!("{}", loadtest_report::uploads::line(wave));
    })?;
    println!("{}", loadtest_report::uploads::table(&run.results));
    write_json(&out.join("uploads.json"), &run)?;
    loadtest_report::uploads::write(&run, &out)?;
    eprintln!("wrote {} (uploads.json, report.md)", out.display());
    let broken: u32 = run.results.iter().map(UploadsResult::broken).sum();
    let unhealthy: u32 = run.results.iter().map(|r| r.health.failed).sum();
    if broken > 0 || unhealthy > 0 {
        bail!("{broken} uploads got no whole answer and {unhealthy} /healthz probes failed; see the table");
    }
    Ok(())
}
