//! Where run folders live: the `artifacts/` directory, new timestamped folders, the newest run.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::{ReportError, Result};
use crate::manifest::folder_timestamp;

/// Environment variable that overrides the artifacts directory.
pub const ARTIFACTS_ENV: &str = "CRICALGO_ARTIFACTS_DIR";

/// The artifacts directory: `$CRICALGO_ARTIFACTS_DIR`, else `artifacts/` in the nearest
/// ancestor of the current directory that has one (the repository root), else `./artifacts`.
pub fn artifacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(ARTIFACTS_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .map(|a| a.join("artifacts"))
        .find(|a| a.join("README.md").is_file())
        .unwrap_or_else(|| cwd.join("artifacts"))
}

/// Creates `<artifacts>/<kind>_<UTC>/` (e.g. `perf_full_run_20250920T143543Z`); when two runs
/// start in the same second the later one gets a `-2`, `-3`, … suffix.
pub fn create_run_dir(artifacts: &Path, kind: &str, started: DateTime<Utc>) -> Result<PathBuf> {
    std::fs::create_dir_all(artifacts).map_err(|e| ReportError::io(artifacts, e))?;
    let base = format!("{kind}_{}", folder_timestamp(started));
    for n in 1..=1000 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = artifacts.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ReportError::io(&dir, e)),
        }
    }
    let dir = artifacts.join(&base);
    Err(ReportError::io(
        &dir,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "1000 run folders share this second",
        ),
    ))
}

/// The UTC timestamp in a run folder's name, if it has one.
pub fn run_timestamp(name: &str) -> Option<String> {
    let (_, tail) = name.rsplit_once('_')?;
    let stamp = tail.split('-').next()?;
    let b = stamp.as_bytes();
    let ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    ok.then(|| stamp.to_string())
}

/// The newest run folder under `artifacts` (by the timestamp in its name, then name), that holds
/// a `verdict.json` or `summary.json`.
pub fn newest_run(artifacts: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(artifacts).ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| p.join("verdict.json").is_file() || p.join("summary.json").is_file())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((run_timestamp(&name)?, name, p))
        })
        .max_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)))
        .map(|(_, _, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_names() {
        assert_eq!(
            run_timestamp("perf_full_run_20250920T143543Z").as_deref(),
            Some("20250920T143543Z")
        );
        assert_eq!(
            run_timestamp("smoke_20250920T143543Z-2").as_deref(),
            Some("20250920T143543Z")
        );
        assert_eq!(run_timestamp("README.md"), None);
    }

    #[test]
    fn newest_run_by_timestamp_not_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "perf_run_20250921T000000Z",
            "perf_full_run_20250920T143543Z",
            "smoke_20250922T000000Z",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        // The smoke folder has no verdict yet (still running): skipped.
        for name in [
            "perf_run_20250921T000000Z",
            "perf_full_run_20250920T143543Z",
        ] {
            std::fs::write(dir.path().join(name).join("verdict.json"), "{}").unwrap();
        }
        assert_eq!(
            newest_run(dir.path()).unwrap().file_name().unwrap(),
            "perf_run_20250921T000000Z"
        );
        let t = DateTime::parse_from_rfc3339("2025-09-20T14:35:43Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = create_run_dir(dir.path(), "perf_full_run", t).unwrap();
        let b = create_run_dir(dir.path(), "perf_full_run", t).unwrap();
        assert!(a.ends_with("perf_full_run_20250920T143543Z-2"));
        assert!(b.ends_with("perf_full_run_20250920T143543Z-3"));
    }
}
