//! The Python lab's virtual environment: `python3 -m venv`, then exactly the pinned packages of
//! `python_lab/requirements.txt`. Made once and reused while the pins are unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The copy of the requirements a finished install leaves in the environment: while it equals
/// the repository's, the environment is up to date.
const INSTALLED: &str = "installed-requirements.txt";

/// An environment with the lab's packages, ready to run gunicorn.
pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    /// The environment at `dir`, made (or brought up to date) from `requirements`.
    pub fn ensure(dir: &Path, requirements: &Path, say: &dyn Fn(&str)) -> anyhow::Result<Self> {
        let wanted = std::fs::read_to_string(requirements)
            .with_context(|| format!("reading the Python lab's pins, {}", requirements.display()))?;
        let venv = Self { dir: dir.to_path_buf() };
        if std::fs::read_to_string(dir.join(INSTALLED)).is_ok_and(|installed| installed == wanted) {
            return Ok(venv);
        }
        if !venv.python().exists() {
            say(&format!(
                "creating a Python virtual environment in {} ...",
                dir.display()
            ));
            run(
                Command::new("python3").arg("-m").arg("venv").arg(dir),
                "python3 -m venv",
                "loadtest --python needs Python 3 with its venv module (Debian: apt-get install python3 python3-venv)",
            )?;
        }
        say("installing the Python lab's pinned packages (flask, gunicorn, numpy, fastapi, uvicorn) ...");
        run(
            Command::new(venv.python())
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(requirements),
            "pip install",
            "pip needs to reach PyPI (or a mirror set with PIP_INDEX_URL)",
        )?;
        std::fs::write(dir.join(INSTALLED), wanted).context("recording the installed pins")?;
        Ok(venv)
    }

    pub fn python(&self) -> PathBuf {
        self.dir.join("bin").join("python3")
    }

    /// A program the packages installed in the environment's `bin/`: gunicorn, uvicorn.
    pub fn bin(&self, program: &str) -> PathBuf {
        self.dir.join("bin").join(program)
    }
}

/// Runs `command` to its end; on failure, an error with its output and `hint`.
fn run(command: &mut Command, what: &str, hint: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}: {hint}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}\n{hint}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
