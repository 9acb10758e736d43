//! Rendering on synthetic run folders: every file present, checksums verify, one verdict
//! everywhere, reports self-contained, no secret from a snapshot leaks into a report.

use cricalgo_report::audit::{FolderKind, audit, files_containing};
use cricalgo_report::{RunData, finish_run_folder, verify_manifest};

use crate::fixtures::{Outcome, SNAPSHOT_SECRET, info, write_run};

fn finished(outcome: Outcome) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), outcome);
    finish_run_folder(dir.path(), &info(outcome)).unwrap();
    dir
}

fn check(outcome: Outcome, verdict: &str, incomplete: bool) {
    let dir = finished(outcome);
    let problems = audit(dir.path(), FolderKind::FullRun);
    assert!(problems.is_empty(), "{outcome:?}: {problems:#?}");

    let manifest = verify_manifest(dir.path()).unwrap();
    assert_eq!(manifest.info.verdict.as_deref(), Some(verdict));
    assert_eq!(manifest.info.incomplete, incomplete);
    for file in [
        "report.html",
        "report.md",
        "junit.xml",
        "smoke/verdict.json",
        "logs/app1.log",
    ] {
        assert!(manifest.files.contains_key(file), "{file} not in manifest");
    }
    assert!(!manifest.files.contains_key("manifest.json"));

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains(&format!("data-verdict=\"{verdict}\"")));
    assert_eq!(html.contains("id=\"incomplete\""), incomplete);
    // Every plot is inline SVG.
    assert!(
        html.matches("<svg").count() >= 6,
        "expected at least 6 plots"
    );
    assert!(html.contains("Smoke phase"));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let word = if verdict == "passed" {
        "PASSED"
    } else {
        "FAILED"
    };
    assert!(md.lines().next().unwrap().contains(word), "{md}");
    assert_eq!(md.contains("INCOMPLETE"), incomplete);
}

#[test]
fn passed_run_reads_passed_everywhere() {
    check(Outcome::Passed, "passed", false);
}

#[test]
fn failed_run_reads_failed_everywhere_with_the_fast_failure_note() {
    check(Outcome::Failed, "failed", false);
    let dir = finished(Outcome::Failed);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("latency looks fast because 62.00 % of requests failed"));
    assert!(html.contains("1 of 6 thresholds failed, 1 without data"));
    assert!(html.contains("WebhookHigh5xxRatio"));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("| load | `http_req_failed` | `rate<0.01` | 0.6200 (62.00 %) | ❌ failed |"),
        "{md}"
    );
    assert!(md.contains("⚠️ no data"));
}

#[test]
fn incomplete_run_is_marked_incomplete_and_says_why_server_view_is_missing() {
    check(Outcome::Incomplete, "passed", true);
    let dir = finished(Outcome::Incomplete);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("server-side view unavailable"));
}

#[test]
fn reports_never_show_a_secret_from_the_stack_snapshot() {
    let dir = finished(Outcome::Passed);
    // The fixture's stack.json carries it on purpose; the reports must not repeat it.
    let hits = files_containing(dir.path(), &[SNAPSHOT_SECRET]);
    assert_eq!(hits, vec![("stack.json".to_string(), 0)]);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("(redacted)"));
}

#[test]
fn audit_catches_tampering_and_disagreement() {
    let dir = finished(Outcome::Failed);
    // A report rewritten after the manifest: checksum mismatch.
    let html_path = dir.path().join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    std::fs::write(
        &html_path,
        html.replace(
            "banner failed\" data-verdict=\"failed\"",
            "banner passed\" data-verdict=\"passed\"",
        ),
    )
    .unwrap();
    let problems = audit(dir.path(), FolderKind::FullRun);
    assert!(
        problems.iter().any(|p| p.contains("checksum mismatch")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("banner does not say `failed`")),
        "{problems:#?}"
    );

    // The original project's defect: PASS written beside a threshold k6 marked failed.
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), Outcome::Failed);
    let verdict_path = dir.path().join("verdict.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&verdict_path).unwrap()).unwrap();
    doc["verdict"] = serde_json::json!("passed");
    std::fs::write(&verdict_path, doc.to_string()).unwrap();
    finish_run_folder(dir.path(), &info(Outcome::Failed)).unwrap();
    let problems = audit(dir.path(), FolderKind::FullRun);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("passed with 1 failing rows")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`summary.json` marks 1 thresholds failed")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`junit.xml` has 1 failures")),
        "{problems:#?}"
    );
}

#[test]
fn run_data_reads_every_file() {
    let dir = finished(Outcome::Passed);
    let data = RunData::load(dir.path()).unwrap();
    let summary = data.summary.unwrap();
    assert_eq!(summary.requests(), Some(14_180.0));
    assert_eq!(summary.status_codes.len(), 2);
    assert_eq!(summary.latency_histogram.len(), 9);
    assert_eq!(data.timeseries.len(), 120);
    assert!(data.prometheus.unwrap().reachable);
    assert!(data.smoke.unwrap().verdict.unwrap().passed());
}

#[test]
fn a_folder_without_a_verdict_renders_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), Outcome::Incomplete);
    std::fs::remove_file(dir.path().join("verdict.json")).unwrap();
    finish_run_folder(dir.path(), &info(Outcome::Incomplete)).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("data-verdict=\"unknown\""));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.starts_with("## ⚠️ NO VERDICT (INCOMPLETE)"));
}
