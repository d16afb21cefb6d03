//! `loadtest report DIR [--out DIR2]`: any results folder the harness writes, drawn again from
//! the JSON it holds, by this version of the harness. The JSON is read and never written.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use loadtest_model::catalogue::Catalogue;
use loadtest_model::cluster::ClusterRun;
use loadtest_model::files::read_json;
use loadtest_model::summary::RunSummary;
use loadtest_model::uploads::UploadsRun;

/// Draws a results folder's reports again: a main run's report.md, report.html, results.csv and
/// charts; a cluster run's report.md, report.html and charts; an uploads run's report.md. The
/// folder's summary.json or uploads.json is read, never written.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The results folder: a main or a cluster run's (it holds summary.json), or an uploads
    /// run's (uploads.json).
    pub dir: PathBuf,
    /// Write the reports here instead of into DIR (made if missing).
    #[arg(long, value_name = "DIR2")]
    pub out: Option<PathBuf>,
}

/// A results folder, by what it holds.
#[derive(Debug)]
pub enum Folder {
    /// `loadtest`'s main job: summary.json without a `cluster` object.
    Main(Box<RunSummary>),
    /// `loadtest cluster`: summary.json with its `cluster` object.
    Cluster(Box<ClusterRun>),
    /// `loadtest uploads`: uploads.json.
    Uploads(UploadsRun),
}

impl Folder {
    /// Reads the folder `dir`, whichever kind it is.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let summary = dir.join("summary.json");
        let uploads = dir.join("uploads.json");
        if summary.exists() {
            let value: serde_json::Value = read_json(&summary, "JSON")?;
            if value.get("cluster").is_some() {
                Ok(Self::Cluster(read_json(&summary, "a cluster run's summary")?))
            } else {
                Ok(Self::Main(read_json(&summary, "a main run's summary")?))
            }
        } else if uploads.exists() {
            Ok(Self::Uploads(read_json(&uploads, "an uploads run's record")?))
        } else {
            bail!(
                "{} is not a results folder: it holds neither summary.json (a main or cluster run) nor \
                 uploads.json (an uploads run)",
                dir.display()
            )
        }
    }

    /// Writes the folder's reports into `out`; returns the files written.
    pub fn write_reports(&self, catalogue: &Catalogue, out: &Path) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Main(summary) => crate::write_reports(summary, catalogue, out),
            Self::Cluster(run) => crate::cluster::report::write(run, catalogue, out),
            Self::Uploads(run) => crate::uploads::write(run, out),
        }
    }

    /// What a person should know before reading the reports: a run cut short says so.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::Main(summary) if !summary.complete => Some(format!(
                "This run was cut short (stopped or killed): its summary holds the {} scenario(s) it finished.",
                loadtest_model::aggregate::scenarios(&summary.trials).len()
            )),
            _ => None,
        }
    }
}

/// `loadtest report DIR [--out DIR2]`; `catalogue` gives the lab servers' colours.
pub fn redraw(args: &ReportArgs, catalogue: &Catalogue) -> anyhow::Result<()> {
    let folder = Folder::read(&args.dir)?;
    let out = args.out.as_deref().unwrap_or(&args.dir);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = folder.write_reports(catalogue, out)?;
    if let Some(note) = folder.note() {
        println!("{note}");
    }
    println!("Wrote {} in {}/.", files.join(", "), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redraw_into(dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
        let args = ReportArgs {
            dir: dir.to_path_buf(),
            out: out.map(Path::to_path_buf),
        };
        redraw(&args, &Catalogue::lab())
    }

    #[test]
    fn a_main_run_is_redrawn_from_its_summary_alone_which_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let summary = crate::testdata::with_open_loop();
        loadtest_model::files::write_json(&dir.path().join("summary.json"), &summary).unwrap();
        let before = std::fs::read(dir.path().join("summary.json")).unwrap();
        redraw_into(dir.path(), None).unwrap();
        for file in ["report.md", "report.html", "results.csv", "latency_open.svg"] {
            assert!(dir.path().join(file).exists(), "{file}");
        }
        assert_eq!(std::fs::read(dir.path().join("summary.json")).unwrap(), before);

        let out = tempfile::tempdir().unwrap();
        let elsewhere = out.path().join("again");
        redraw_into(dir.path(), Some(&elsewhere)).unwrap();
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("report.md")).unwrap(),
            std::fs::read_to_string(dir.path().join("report.md")).unwrap()
        );
        assert!(!elsewhere.join("summary.json").exists());
    }

    #[test]
    fn a_run_cut_short_says_so_and_a_folder_of_nothing_is_refused() {
        let mut summary = crate::testdata::summary();
        summary.complete = false;
        let folder = Folder::Main(Box::new(summary));
        assert_eq!(
            folder.note().unwrap(),
            "This run was cut short (stopped or killed): its summary holds the 1 scenario(s) it finished."
        );
        assert!(Folder::Main(Box::new(crate::testdata::summary())).note().is_none());

        let empty = tempfile::tempdir().unwrap();
        let error = redraw_into(empty.path(), None).unwrap_err();
        assert!(
            format!("{error:#}").contains("holds neither summary.json (a main or cluster run) nor uploads.json"),
            "{error:#}"
        );
    }

    #[test]
    fn every_committed_results_folder_is_redrawn_and_left_unchanged() {
        let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/runs");
        let mut folders = Vec::new();
        find_folders(&runs, &mut folders);
        let kinds = |f: &[PathBuf], name: &str| f.iter().filter(|d| d.join(name).exists()).count();
        assert!(
            kinds(&folders, "uploads.json") >= 5 && kinds(&folders, "summary.json") >= 15,
            "{folders:?}"
        );
        let mut clusters = 0;
        for dir in &folders {
            let read = Folder::read(dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
            clusters += usize::from(matches!(read, Folder::Cluster(_)));
            let before = snapshot(dir);
            let out = tempfile::tempdir().unwrap();
            redraw_into(dir, Some(out.path())).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
            assert!(out.path().join("report.md").exists(), "{}", dir.display());
            assert_eq!(snapshot(dir), before, "{} changed", dir.display());
        }
        assert!(clusters >= 4, "the cluster run and its earlier ones: {clusters}");
    }

    /// Every folder under `dir` that holds a summary.json or an uploads.json.
    fn find_folders(dir: &Path, found: &mut Vec<PathBuf>) {
        if dir.join("summary.json").exists() || dir.join("uploads.json").exists() {
            found.push(dir.to_path_buf());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for entry in entries.into_iter().filter(|p| p.is_dir()) {
            find_folders(&entry, found);
        }
    }

    /// Each file of `dir` (not its subfolders) and its bytes.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = (std::fs::read_dir(dir).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        files.sort();
        files
    }
}
