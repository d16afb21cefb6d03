//! Finding an `oha` the harness can trust, and installing the pinned one when there is none.
//!
//! The harness parses oha's JSON, whose keys and meaning changed between releases (`--output-format
//! json` arrived in 1.9, `metrics` in 1.15, the fast path's thread count in 1.16), so every
//! candidate is run with `--version` and refused outside 1.15.0..2.0.0 with a message saying how
//! to get the pinned one. The search order puts what the user asked for first: `--oha PATH`, then
//! `$OHA`, then `oha` on `PATH`, then an earlier install under the project's tools folder, and
//! only then `cargo install --locked` of [`PINNED_VERSION`] there, which takes minutes and says so.
//! An explicit choice (flag or `$OHA`) that does not work is an error, never silently replaced.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The oha release the harness is developed and tested against, installed when none is found.
pub const PINNED_VERSION: &str = "1.16.0";

/// Oldest oha whose JSON the harness reads: `metrics` and today's key set (CHANGELOG 1.15.0).
const MIN_SUPPORTED: Version = Version {
    major: 1,
    minor: 15,
    patch: 0,
};
/// First release assumed to break the JSON contract (semver major).
const FIRST_UNSUPPORTED: Version = Version {
    major: 2,
    minor: 0,
    patch: 0,
};

/// An oha binary that ran and reported a supported version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oha {
    /// What to execute: the path as found or given (a bare name is looked up on `PATH` by exec).
    pub path: PathBuf,
    /// The version number alone, e.g. `"1.16.0"`.
    pub version: String,
    /// The first line of `oha --version`, as printed, e.g. `"oha 1.16.0"`.
    pub version_line: String,
}

/// Where a candidate oha came from, so an error can say which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given to [`check_version`] directly.
    Direct,
    /// The `--oha PATH` flag.
    Flag,
    /// The `OHA` environment variable.
    EnvVar,
    /// Found as `oha` in a `PATH` directory.
    SearchPath,
    /// `<tools_root>/bin/oha`, from an earlier install by the harness.
    ToolsRoot,
    /// Just installed by `cargo install`.
    Installed,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Direct => "",
            Origin::Flag => " (given with --oha)",
            Origin::EnvVar => " (from $OHA)",
            Origin::SearchPath => " (found on PATH)",
            Origin::ToolsRoot => " (installed earlier by the harness)",
            Origin::Installed => " (just installed)",
        })
    }
}

/// Why no usable oha could be found or installed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The path does not exist (or a bare name is on no `PATH` directory).
    #[error(
        "no oha at {path}{origin}: no such file. Give the path of an oha {PINNED_VERSION} binary, \
         or unset --oha and $OHA so the harness finds oha on PATH or installs it"
    )]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
    },
    /// The file exists but could not be executed.
    #[error("could not run `{path} --version`{origin}: {source}. Is it an executable oha binary?")]
    NotRunnable {
        /// The path that was tried.
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `--version` ran but failed.
    #[error("`{path} --version`{origin} failed ({status}): {stderr}. Is it really oha?")]
    VersionFailed {
        /// The path that was tried.
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
        /// How it exited.
        status: ExitStatus,
        /// What it wrote to stderr, trimmed.
        stderr: String,
    },
    /// `--version` printed something other than `oha X.Y.Z`.
    #[error("`{path} --version`{origin} printed {output:?}, not `oha X.Y.Z`. Is it really oha?")]
    UnrecognisedVersion {
        /// The path that was tried.
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
        /// Its output, trimmed.
        output: String,
    },
    /// A real oha, but a release whose JSON the harness does not read.
    #[error(
        "{path}{origin} is oha {version}, outside the supported range {MIN_SUPPORTED} to below \
         {FIRST_UNSUPPORTED} (the JSON output and its `metrics` changed before 1.15). Install the \
         pinned one with `cargo install oha --locked --version {PINNED_VERSION}` and pass \
         --oha ~/.cargo/bin/oha, or unset --oha and $OHA to let the harness install it"
    )]
    UnsupportedVersion {
        /// The path that was tried.
        path: PathBuf,
        /// Which setting named it.
        origin: Origin,
        /// The version it reported.
        version: String,
    },
    /// No oha anywhere, and `cargo` could not be started to install one.
    #[error(
        "oha was not found ({searched}) and `{cargo}` could not be run to install it: {source}. \
         Install Rust from https://rustup.rs, or install oha {PINNED_VERSION} yourself and pass --oha PATH"
    )]
    CargoNotRunnable {
        /// What was searched, for the message.
        searched: String,
        /// The cargo program that was tried.
        cargo: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `cargo install` ran and failed.
    #[error(
        "`{command}` failed ({status}); its output is above. Fix that error, or install oha \
         {PINNED_VERSION} yourself and pass --oha PATH"
    )]
    InstallFailed {
        /// The command as run.
        command: String,
        /// How it exited.
        status: ExitStatus,
    },
}

/// Finds oha, checks its version, and installs the pinned release if there is none.
///
/// Order: `flag` (--oha PATH), else $OHA, else `oha` on PATH, else `<tools_root>/bin/oha` if present, else install:
/// `cargo install oha --locked --version 1.16.0 --root <tools_root>`, printing to stderr what it is doing and that
/// it takes minutes (cargo's own output goes to stderr too, keeping stdout for the harness's results).
///
/// An oha on `PATH` of an unsupported version is skipped with a note on stderr (the user did not
/// choose it); one given by `flag` or `$OHA` is an error.
pub fn find_or_install(flag: Option<&Path>, tools_root: &Path) -> Result<Oha, ProvisionError> {
    let env_oha = std::env::var_os("OHA");
    let path_var = std::env::var_os("PATH");
    match locate(flag, env_oha, path_var.as_ref(), tools_root)? {
        Located::Found(oha) => Ok(oha),
        Located::Missing { searched } => install(tools_root, &searched),
    }
}

/// Where the harness installs oha when it finds none: `target/tools` of this workspace.
pub fn default_tools_root() -> PathBuf {
    crate::servers::workspace_root().map_or_else(|| PathBuf::from("target/tools"), |w| w.join("target/tools"))
}

/// The oha [`find_or_install`] would use without a flag, if there is one already: `$OHA`, else
/// `oha` on `PATH`, else an earlier install under `tools_root`. Never installs; for the tests
/// that need the real oha, so one the harness installed serves them too.
pub fn find_existing(tools_root: &Path) -> Option<Oha> {
    let path_var = std::env::var_os("PATH");
    match locate(None, std::env::var_os("OHA"), path_var.as_ref(), tools_root) {
        Ok(Located::Found(oha)) => Some(oha),
        _ => None,
    }
}

/// Runs `path --version`, parses `oha X.Y.Z`, and accepts 1.15.0 up to (not including) 2.0.0.
pub fn check_version(path: &Path) -> Result<Oha, ProvisionError> {
    check_version_from(path, Origin::Direct)
}

/// The outcome of the search, before any install.
#[derive(Debug)]
enum Located {
    Found(Oha),
    /// Nothing usable; `searched` lists what was tried, for messages.
    Missing {
        searched: String,
    },
}

/// The search without side effects (no install), with the environment passed in so tests need not
/// change the process environment.
fn locate(
    flag: Option<&Path>,
    env_oha: Option<OsString>,
    path_var: Option<&OsString>,
    tools_root: &Path,
) -> Result<Located, ProvisionError> {
    if let Some(path) = flag {
        return check_version_from(path, Origin::Flag).map(Located::Found);
    }
    if let Some(path) = env_oha.filter(|value| !value.is_empty()) {
        return check_version_from(Path::new(&path), Origin::EnvVar).map(Located::Found);
    }
    let mut searched = vec!["--oha not given".to_owned(), "$OHA not set".to_owned()];
    match path_var.and_then(find_on_path) {
        Some(path) => match check_version_from(&path, Origin::SearchPath) {
            Ok(oha) => return Ok(Located::Found(oha)),
            Err(error) => {
                eprintln!("loadtest: ignoring {}: {error}", path.display());
                searched.push(format!("{} unusable", path.display()));
            }
        },
        None => searched.push("no oha on PATH".to_owned()),
    }
    let installed = installed_path(tools_root);
    if installed.is_file() {
        return check_version_from(&installed, Origin::ToolsRoot).map(Located::Found);
    }
    searched.push(format!("no {}", installed.display()));
    Ok(Located::Missing {
        searched: searched.join(", "),
    })
}

/// The first executable file named `oha` in the `PATH` directories, as a shell would pick it.
fn find_on_path(dirs: &OsString) -> Option<PathBuf> {
    std::env::split_paths(dirs)
        // An empty entry means the current directory; running whatever `oha` sits there is a surprise.
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join("oha"))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Where `cargo install --root <tools_root>` puts the binary.
fn installed_path(tools_root: &Path) -> PathBuf {
    tools_root.join("bin").join("oha")
}

/// Installs [`PINNED_VERSION`] under `tools_root` and checks the result.
fn install(tools_root: &Path, searched: &str) -> Result<Oha, ProvisionError> {
    // Under `cargo run`, $CARGO is the cargo that built the harness; use the same toolchain.
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let mut command = Command::new(&cargo);
    command
        .args(["install", "oha", "--locked", "--version", PINNED_VERSION, "--root"])
        .arg(tools_root)
        .stdin(Stdio::null());
    // cargo's stdout goes to our stderr as well: the harness's stdout carries its results.
    if let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() {
        command.stdout(Stdio::from(stderr));
    }
    let shown = format!(
        "{} install oha --locked --version {PINNED_VERSION} --root {}",
        cargo.display(),
        tools_root.display()
    );
    eprintln!("loadtest: oha not found ({searched}).");
    eprintln!("loadtest: installing oha {PINNED_VERSION}: `{shown}`. This compiles oha and takes a few minutes.");
    let status = command.status().map_err(|source| ProvisionError::CargoNotRunnable {
        searched: searched.to_owned(),
        cargo,
        source,
    })?;
    if !status.success() {
        return Err(ProvisionError::InstallFailed { command: shown, status });
    }
    check_version_from(&installed_path(tools_root), Origin::Installed)
}

fn check_version_from(path: &Path, origin: Origin) -> Result<Oha, ProvisionError> {
    let output = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ProvisionError::NotFound {
                    path: path.to_owned(),
                    origin,
                }
            } else {
                ProvisionError::NotRunnable {
                    path: path.to_owned(),
                    origin,
                    source,
                }
            }
        })?;
    if !output.status.success() {
        return Err(ProvisionError::VersionFailed {
            path: path.to_owned(),
            origin,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let version_line = stdout.lines().next().unwrap_or_default().trim().to_owned();
    let unrecognised = || ProvisionError::UnrecognisedVersion {
        path: path.to_owned(),
        origin,
        output: stdout.trim().to_owned(),
    };
    let version_text = version_line
        .strip_prefix("oha ")
        .ok_or_else(unrecognised)?
        .trim()
        .to_owned();
    let version = Version::parse(&version_text).ok_or_else(unrecognised)?;
    if !(MIN_SUPPORTED <= version && version < FIRST_UNSUPPORTED) {
        return Err(ProvisionError::UnsupportedVersion {
            path: path.to_owned(),
            origin,
            version: version_text,
        });
    }
    Ok(Oha {
        path: path.to_owned(),
        version: version_text,
        version_line,
    })
}

/// A release number; field order makes the derived ordering the semver precedence of releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    /// Parses `X.Y.Z`, ignoring a `-pre` or `+build` suffix (a 1.16.0 pre-release reads as 1.16.0).
    fn parse(text: &str) -> Option<Self> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
        let version = Version {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oha::test_support::write_script;

    fn fake_oha(dir: &Path, name: &str, version: &str) -> PathBuf {
        write_script(dir, name, &format!("echo 'oha {version}'"))
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).expect("temp dirs have no ':'")
    }

    #[test]
    fn supported_version_is_accepted_with_its_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let oha = check_version(&fake_oha(dir.path(), "oha", "1.16.0")).expect("1.16.0 is supported");
        assert_eq!(oha.version, "1.16.0");
        assert_eq!(oha.version_line, "oha 1.16.0");
    }

    #[test]
    fn version_before_1_15_is_refused_with_the_install_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = check_version(&fake_oha(dir.path(), "oha", "1.2.0")).expect_err("1.2.0 is too old");
        assert!(matches!(error, ProvisionError::UnsupportedVersion { ref version, .. } if version == "1.2.0"));
        let message = error.to_string();
        assert!(message.contains("1.15.0 to below 2.0.0"), "{message}");
        assert!(
            message.contains("cargo install oha --locked --version 1.16.0"),
            "{message}"
        );
    }

    #[test]
    fn version_2_is_refused_and_1_15_accepted() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(check_version(&fake_oha(dir.path(), "two", "2.0.0")).is_err());
        assert!(check_version(&fake_oha(dir.path(), "old", "1.15.0")).is_ok());
    }

    #[test]
    fn output_that_is_not_oha_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let curl = write_script(dir.path(), "curl", "echo 'curl 8.5.0 (x86_64-pc-linux-gnu)'");
        let error = check_version(&curl).expect_err("not oha");
        assert!(matches!(error, ProvisionError::UnrecognisedVersion { .. }), "{error}");
    }

    #[test]
    fn failing_version_command_reports_its_stderr() {
        let dir = tempfile::tempdir().expect("temp dir");
        let broken = write_script(dir.path(), "oha", "echo 'boom' >&2; exit 3");
        let error = check_version(&broken).expect_err("exit 3");
        assert!(error.to_string().contains("boom"), "{error}");
    }

    #[test]
    fn missing_flag_path_is_a_clear_error_naming_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope/oha");
        let error = locate(Some(&missing), None, None, dir.path()).expect_err("no such file");
        assert!(
            matches!(
                error,
                ProvisionError::NotFound {
                    origin: Origin::Flag,
                    ..
                }
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("--oha") && message.contains("nope/oha"), "{message}");
    }

    #[test]
    fn flag_wins_over_env_and_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let flag = fake_oha(dir.path(), "flag-oha", "1.16.0");
        let env = fake_oha(dir.path(), "env-oha", "1.16.0");
        let located = locate(Some(&flag), Some(env.into_os_string()), None, dir.path()).expect("flag works");
        assert!(matches!(located, Located::Found(oha) if oha.path == flag));
    }

    #[test]
    fn bad_env_oha_is_an_error_not_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = fake_oha(dir.path(), "env-oha", "1.2.0");
        let error = locate(None, Some(old.into_os_string()), None, dir.path()).expect_err("1.2.0");
        assert!(error.to_string().contains("$OHA"), "{error}");
    }

    #[test]
    fn oha_on_path_is_found_when_flag_and_env_are_unset() {
        let bin = tempfile::tempdir().expect("temp dir");
        let root = tempfile::tempdir().expect("temp dir");
        let on_path = fake_oha(bin.path(), "oha", "1.16.0");
        let located = locate(None, Some(OsString::new()), Some(&path_of(&[bin.path()])), root.path()).expect("found");
        assert!(matches!(located, Located::Found(oha) if oha.path == on_path));
    }

    #[test]
    fn unsupported_oha_on_path_falls_back_to_the_tools_root() {
        let bin = tempfile::tempdir().expect("temp dir");
        let root = tempfile::tempdir().expect("temp dir");
        fake_oha(bin.path(), "oha", "1.2.0");
        std::fs::create_dir(root.path().join("bin")).expect("bin dir");
        let installed = fake_oha(&root.path().join("bin"), "oha", "1.16.0");
        let located = locate(None, None, Some(&path_of(&[bin.path()])), root.path()).expect("tools root");
        assert!(matches!(located, Located::Found(oha) if oha.path == installed));
    }

    #[test]
    fn nothing_anywhere_asks_for_an_install_and_lists_what_was_searched() {
        let empty = tempfile::tempdir().expect("temp dir");
        let located = locate(None, None, Some(&path_of(&[empty.path()])), empty.path()).expect("no error");
        let Located::Missing { searched } = located else {
            panic!("expected Missing, got {located:?}")
        };
        assert!(
            searched.contains("no oha on PATH") && searched.contains("bin/oha"),
            "{searched}"
        );
    }

    #[test]
    fn non_executable_oha_on_path_is_not_picked() {
        let bin = tempfile::tempdir().expect("temp dir");
        std::fs::write(bin.path().join("oha"), "not a program").expect("write");
        assert_eq!(find_on_path(&path_of(&[bin.path()])), None);
    }

    #[test]
    fn version_parse_ignores_pre_release_suffix_and_rejects_junk() {
        assert_eq!(
            Version::parse("1.16.0-rc.1"),
            Some(Version {
                major: 1,
                minor: 16,
                patch: 0
            })
        );
        assert_eq!(Version::parse("1.16"), None);
        assert_eq!(Version::parse("1.16.0.1"), None);
        assert_eq!(Version::parse("v1.16.0"), None);
    }
}
