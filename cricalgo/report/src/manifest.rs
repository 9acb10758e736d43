//! `manifest.json`: who wrote the run folder, when, from which revision, its verdict, and the
//! sha256 of every other file in it. Written last, so it covers the reports too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ReportError, Result};

/// The manifest's file name inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What the caller knows about a run; [`write_manifest`] adds the checksums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestInfo {
    /// The run folder's name, e.g. `perf_full_run_20250920T143543Z`.
    pub run_id: String,
    /// The command line as typed (arguments that carry secrets must be left out by the caller).
    pub command_line: Vec<String>,
    /// When the run started (UTC).
    #[serde(with = "utc")]
    pub started_at: DateTime<Utc>,
    /// When the run ended (UTC).
    #[serde(with = "utc")]
    pub ended_at: DateTime<Utc>,
    /// `git rev-parse HEAD` of the checkout the tool ran from, when known.
    pub git_revision: Option<String>,
    /// The `cricalgo` version.
    pub tool_version: String,
    /// The staging stack's revision (from its labels), when a stack was involved.
    pub stack_revision: Option<String>,
    /// The scenario file (path as given) or description.
    pub scenario: Option<String>,
    /// `passed` or `failed`, copied from `verdict.json`; `None` when no verdict was reached.
    pub verdict: Option<String>,
    /// True when the run was interrupted and the folder holds only what was gathered.
    pub incomplete: bool,
}

/// `manifest.json` as written: the info plus the checksums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// What the caller knew.
    #[serde(flatten)]
    pub info: ManifestInfo,
    /// `relative/path` (with `/`) → sha256 hex of every other file in the folder.
    pub files: BTreeMap<String, String>,
}

mod utc {
    //! Timestamps as RFC 3339 with a `Z`, so they say they are UTC.
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// A UTC timestamp in the run-folder style: `20250920T143543Z`.
pub fn folder_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 3339 UTC with a `Z`, for humans and files.
pub fn display_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Hashes every file under `dir` (except `manifest.json` at its top) and writes `manifest.json`.
///
/// Call it last, after every other file of the run folder has been written.
pub fn write_manifest(dir: &Path, info: &ManifestInfo) -> Result<Manifest> {
    let files = checksums(dir)?;
    let manifest = Manifest {
        info: info.clone(),
        files,
    };
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|source| ReportError::Json {
        path: dir.join(MANIFEST_FILE),
        what: "manifest",
        source,
    })?;
    text.push('\n');
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, text).map_err(|e| ReportError::io(&path, e))?;
    Ok(manifest)
}

/// Reads `manifest.json` of a run folder.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ReportError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path,
        what: "manifest",
        source,
    })
}

/// Checks that the folder holds exactly the files `manifest.json` lists, with the same sha256.
pub fn verify_manifest(dir: &Path) -> Result<Manifest> {
    let manifest = read_manifest(dir)?;
    let actual = checksums(dir)?;
    for (file, expected) in &manifest.files {
        match actual.get(file) {
            None => {
                return Err(ReportError::ManifestMismatch {
                    dir: dir.to_path_buf(),
                    file: file.clone(),
                    problem: "listed in the manifest but missing",
                });
            }
            Some(sum) if sum != expected => {
                return Err(ReportError::ChecksumMismatch {
                    dir: dir.to_path_buf(),
                    file: file.clone(),
                    expected: expected.clone(),
                    actual: sum.clone(),
                });
            }
            Some(_) => {}
        }
    }
    if let Some(file) = actual.keys().find(|f| !manifest.files.contains_key(*f)) {
        return Err(ReportError::ManifestMismatch {
            dir: dir.to_path_buf(),
            file: file.clone(),
            problem: "present but not listed in the manifest",
        });
    }
    Ok(manifest)
}

/// sha256 hex of one file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// `relative/path` → sha256 of every regular file under `dir`, except the top-level manifest.
fn checksums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| ReportError::io(&folder, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReportError::io(&folder, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| ReportError::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let relative = relative_slash_path(dir, &path);
            if relative == MANIFEST_FILE {
                continue;
            }
            files.insert(relative, sha256_file(&path)?);
        }
    }
    Ok(files)
}

fn relative_slash_path(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `git rev-parse HEAD` in `dir`, or `None` outside a git checkout or without git.
pub fn git_revision(dir: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ManifestInfo {
        ManifestInfo {
            run_id: "perf_run_20250920T143543Z".into(),
            command_line: vec!["cricalgo".into(), "perf".into(), "run".into()],
            started_at: DateTime::parse_from_rfc3339("2025-09-20T14:35:43Z")
                .unwrap()
                .with_timezone(&Utc),
            ended_at: DateTime::parse_from_rfc3339("2025-09-20T14:40:44Z")
                .unwrap()
                .with_timezone(&Utc),
            git_revision: None,
            tool_version: "0.1.0".into(),
            stack_revision: None,
            scenario: Some("load/scenarios/webhook.json".into()),
            verdict: Some("passed".into()),
            incomplete: false,
        }
    }

    #[test]
    fn manifest_lists_every_file_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), "{}\n").unwrap();
        std::fs::create_dir_all(dir.path().join("smoke")).unwrap();
        std::fs::write(dir.path().join("smoke/verdict.json"), "{}\n").unwrap();
        let written = write_manifest(dir.path(), &info()).unwrap();
        assert_eq!(
            written.files.keys().collect::<Vec<_>>(),
            ["smoke/verdict.json", "summary.json"]
        );
        assert_eq!(
            written.files["summary.json"],
            // sha256 of "{}\n"
            "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"
        );
        let read = verify_manifest(dir.path()).unwrap();
        assert_eq!(read, written);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.contains("\"started_at\": \"2025-09-20T14:35:43.000Z\""));
    }

    #[test]
    fn tampering_and_extra_files_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summary.json"), "{}\n").unwrap();
        write_manifest(dir.path(), &info()).unwrap();
        std::fs::write(dir.path().join("summary.json"), "{\"x\":1}\n").unwrap();
        assert!(matches!(
            verify_manifest(dir.path()),
            Err(ReportError::ChecksumMismatch { .. })
        ));
        std::fs::write(dir.path().join("summary.json"), "{}\n").unwrap();
        std::fs::write(dir.path().join("extra.txt"), "x").unwrap();
        assert!(matches!(
            verify_manifest(dir.path()),
            Err(ReportError::ManifestMismatch { .. })
        ));
    }

    #[test]
    fn folder_timestamps_are_utc_basic_format() {
        assert_eq!(folder_timestamp(info().started_at), "20250920T143543Z");
    }
}
