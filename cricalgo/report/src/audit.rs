//! Audit of a finished run folder: every expected file is there, the manifest's checksums hold,
//! and the one verdict reads the same everywhere it appears (`verdict.json`, `manifest.json`,
//! `summary.json` threshold flags, `junit.xml` failures, the HTML banner, the Markdown headline).
//!
//! The tests use it on synthetic and real run folders; it is public so CI scripts and other
//! commands can hold a folder to the same standard.

use std::path::Path;

use crate::input::RunData;
use crate::manifest::verify_manifest;

/// What kind of run folder is audited; decides which files must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// `perf full-run`: every file of the artifacts spec, with `smoke/`, `logs/` and `junit.xml`.
    FullRun,
    /// `perf full-run --no-stack`: like [`FolderKind::FullRun`] without container logs.
    FullRunNoStack,
    /// `perf run` or `smoke`: summaries, verdict, time series, reports and manifest.
    SingleRun,
}

/// Files every full-run folder holds (besides `logs/<service>.log` and `smoke/`).
pub const FULL_RUN_FILES: &[&str] = &[
    "manifest.json",
    "summary.json",
    "summary.k6-data.json",
    "verdict.json",
    "junit.xml",
    "report.html",
    "report.md",
    "timeseries.csv",
    "stack.json",
    "prometheus.json",
];

/// Files a single-run folder holds.
pub const SINGLE_RUN_FILES: &[&str] = &[
    "manifest.json",
    "summary.json",
    "summary.k6-data.json",
    "verdict.json",
    "timeseries.csv",
];

/// Checks a run folder; returns every problem found (empty when the folder is sound).
pub fn audit(dir: &Path, kind: FolderKind) -> Vec<String> {
    let mut problems = Vec::new();
    let required = match kind {
        FolderKind::FullRun | FolderKind::FullRunNoStack => FULL_RUN_FILES,
        FolderKind::SingleRun => SINGLE_RUN_FILES,
    };
    for file in required {
        if !dir.join(file).is_file() {
            problems.push(format!("`{file}` is missing"));
        }
    }
    if kind == FolderKind::FullRun {
        let logs = std::fs::read_dir(dir.join("logs"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .count()
            })
            .unwrap_or(0);
        if logs == 0 {
            problems.push("`logs/` holds no `<service>.log`".to_string());
        }
    }
    if kind != FolderKind::SingleRun {
        for file in ["smoke/summary.json", "smoke/verdict.json"] {
            if !dir.join(file).is_file() {
                problems.push(format!("`{file}` is missing"));
            }
        }
    }
    let manifest = match verify_manifest(dir) {
        Ok(manifest) => Some(manifest),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let data = match RunData::load(dir) {
        Ok(data) => data,
        Err(e) => {
            problems.push(e.to_string());
            return problems;
        }
    };
    let Some(verdict) = &data.verdict else {
        problems.push("`verdict.json` is missing or empty".to_string());
        return problems;
    };
    let passed = verdict.passed();
    let name = verdict.verdict.as_str();
    if name != "passed" && name != "failed" {
        problems.push(format!(
            "`verdict.json` says `{name}`, expected `passed` or `failed`"
        ));
    }
    let failed_rows = verdict
        .all_thresholds()
        .iter()
        .filter(|t| t.is_failing())
        .count()
        + verdict
            .all_checks()
            .iter()
            .filter(|(_, c)| !c.passed)
            .count();
    if passed && failed_rows > 0 {
        problems.push(format!(
            "`verdict.json` passed with {failed_rows} failing rows"
        ));
    }
    if let Some(m) = &manifest {
        if m.info.verdict.as_deref() != Some(name) {
            problems.push(format!(
                "`manifest.json` verdict {:?} differs from `verdict.json` `{name}`",
                m.info.verdict
            ));
        }
        if m.info.incomplete != verdict.incomplete {
            problems.push(format!(
                "`manifest.json` incomplete={} but `verdict.json` incomplete={}",
                m.info.incomplete, verdict.incomplete
            ));
        }
    }
    if let Some(summary) = &data.summary {
        let flagged = summary.threshold_flags.iter().filter(|f| f.failed).count();
        if passed && flagged > 0 {
            problems.push(format!(
                "`summary.json` marks {flagged} thresholds failed but the verdict passed"
            ));
        }
        // Every threshold of the load phase that summary.json records must agree with the row.
        for flag in &summary.threshold_flags {
            let row = verdict.thresholds.iter().find(|t| {
                t.metric == flag.metric
                    && t.expression == flag.expression
                    && t.phase.as_deref().is_none_or(|p| p == "load")
            });
            if let Some(row) = row
                && (row.status == "failed") != flag.failed
            {
                problems.push(format!(
                    "`summary.json` flags `{}: {}` failed={} but `verdict.json` says `{}`",
                    flag.metric, flag.expression, flag.failed, row.status
                ));
            }
        }
    }
    if let Ok(junit) = std::fs::read_to_string(dir.join("junit.xml")) {
        let failures = junit.matches("<failure").count();
        if passed != (failures == 0) {
            problems.push(format!(
                "`junit.xml` has {failures} failures but the verdict is `{name}`"
            ));
        }
    }
    if let Ok(html) = std::fs::read_to_string(dir.join("report.html")) {
        let banner =
            format!("id=\"verdict-banner\" class=\"banner {name}\" data-verdict=\"{name}\"");
        if !html.contains(&banner) {
            problems.push(format!("`report.html` banner does not say `{name}`"));
        }
        if verdict.incomplete != html.contains("id=\"incomplete\"") {
            problems.push("`report.html` incomplete marker disagrees with `verdict.json`".into());
        }
        for reference in [
            "<script",
            "<link",
            "src=\"http",
            "href=\"http",
            "@import",
            "url(",
        ] {
            if html.contains(reference) {
                problems.push(format!(
                    "`report.html` is not self-contained: it has `{reference}`"
                ));
            }
        }
    }
    if let Ok(md) = std::fs::read_to_string(dir.join("report.md")) {
        let expected = if passed { "PASSED" } else { "FAILED" };
        let first = md.lines().next().unwrap_or_default();
        if !first.contains(expected) {
            problems.push(format!(
                "`report.md` headline `{first}` does not say {expected}"
            ));
        }
    }
    problems
}

/// Files in the folder (recursively) whose bytes contain any of `secrets`: `(file, secret index)`.
pub fn files_containing(dir: &Path, secrets: &[&str]) -> Vec<(String, usize)> {
    let mut hits = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for (i, secret) in secrets.iter().enumerate() {
                if !secret.is_empty() && bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
                {
                    let rel = path
                        .strip_prefix(dir)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    hits.push((rel, i));
                }
            }
        }
    }
    hits
}
