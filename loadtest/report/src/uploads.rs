//! An uploads run's report: the table of its waves, on the terminal and in `report.md`, and the
//! line said as each wave ends.

use std::path::Path;

use comfy_table::Table;
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};

use loadtest_model::uploads::{Pace, UploadsResult, UploadsRun};

const MIB: f64 = (1 << 20) as f64;

fn pace(result: &UploadsResult) -> String {
    match result.pace {
        Pace::HoldLastByte { hold_secs } => format!("last byte held {hold_secs} s"),
        Pace::Trickle { every_secs } => format!("a byte every {every_secs} s"),
    }
}

fn statuses(result: &UploadsResult) -> String {
    let mut parts: Vec<String> = result.statuses.iter().map(|(s, c)| format!("{c}x{s}")).collect();
    for (count, what) in [
        (result.resets, "reset"),
        (result.closed, "closed"),
        (result.hangs, "hang"),
        (result.not_connected, "not connected"),
    ] {
        if count > 0 {
            parts.push(format!("{count}x{what}"));
        }
    }
    parts.join(" ")
}

fn peak(result: &UploadsResult) -> String {
    result
        .peak_pss_bytes
        .map_or_else(|| "not sampled".into(), |b| format!("{:.0}", b as f64 / MIB))
}

/// One line for a finished wave, for the terminal while the run goes on.
pub fn line(result: &UploadsResult) -> String {
    format!(
        "  {}: {} in {:.1} s; peak {} MiB; /healthz p99 {:.1} ms, max {:.1} ms, {} failed; then {:?}",
        result.server,
        statuses(result),
        result.wall_secs,
        peak(result),
        result.health.p99_ms,
        result.health.max_ms,
        result.health.failed,
        result.after,
    )
}

/// The table of every wave.
pub fn table(results: &[UploadsResult]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(crate::table::TERMINAL_COLUMNS)
        .set_header([
            "server",
            "clients",
            "body MB",
            "pace",
            "answers",
            "peak MiB",
            "healthz p50/p99/max ms",
            "then",
        ]);
    for r in results {
        table.add_row([
            r.server.clone(),
            r.clients.to_string(),
            format!("{:.0}", r.body_bytes as f64 / 1e6),
            pace(r),
            statuses(r),
            peak(r),
            format!("{:.1}/{:.1}/{:.1}", r.health.p50_ms, r.health.p99_ms, r.health.max_ms),
            format!("{:?}", r.after),
        ]);
    }
    table
}

/// `report.md`: when the run was, what the servers were given, and the table of its waves.
pub fn markdown(run: &UploadsRun) -> String {
    let mut table = table(&run.results);
    table.load_style(ASCII_MARKDOWN).set_width(u16::MAX);
    let args = match run.server_args.as_slice() {
        [] => "no arguments beyond their own".to_owned(),
        args => format!("`{}`", args.join(" ")),
    };
    format!(
        "# Uploads\n\nWritten {}; the servers were given {args}. Each row is one wave of uploads \
         against one server, started afresh; \"then\" is how one plain upload made afterwards ended.\n\n{table}\n",
        run.date
    )
}

/// Writes `report.md` of an uploads run into `dir`; returns the files written.
pub fn write(run: &UploadsRun, dir: &Path) -> anyhow::Result<Vec<String>> {
    crate::write(dir, "report.md", markdown(run).as_bytes())?;
    Ok(vec!["report.md".to_owned()])
}
