//! `cricalgo perf check`: the built binary on k6 files, run folders and bad input; exit codes
//! 0 / 99 / 2, the table, `--json`, `--junit`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary printed and how it exited.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cricalgo(dir: &Path, args: &[&str]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_cricalgo"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CRICALGO_ARTIFACTS_DIR")
        .output()
        .expect("the cricalgo binary runs");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The gate crate's own committed test data.
fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../gate/tests/data")
        .join(name)
}

fn data_str(name: &str) -> String {
    data(name).to_string_lossy().into_owned()
}

fn fixtures() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/k6-summaries");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "fixtures folder `{}` is missing: CI must run with `shared/` beside the checkout",
        dir.display()
    );
    eprintln!(
        "notice: skipping, `{}` is not beside this checkout",
        dir.display()
    );
    None
}

#[test]
fn every_fixture_verdict_reproduced_by_the_binary() {
    let Some(dir) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    for (file, want) in expected.as_object().unwrap() {
        let path = dir.join(file).to_string_lossy().into_owned();
        let out = cricalgo(
            tmp.path(),
            &["perf", "check", &path, "--no-default-thresholds", "--json"],
        );
        let doc: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{file}: {e}: {}", out.stderr));
        let all_passed = want["all_passed"].as_bool().unwrap_or(true);
        assert_eq!(
            out.code,
            if all_passed { 0 } else { 99 },
            "{file}: {}",
            out.stderr
        );
        assert_eq!(
            doc["verdict"],
            if all_passed { "passed" } else { "failed" },
            "{file}"
        );
        for w in want["thresholds"].as_array().unwrap() {
            let row = doc["thresholds"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["metric"] == w["metric"] && r["expression"] == w["expr"])
                .unwrap_or_else(|| panic!("{file}: {w}"));
            let status = row["status"].as_str().unwrap();
            let passed = w["passed"].as_bool().unwrap();
            assert!(
                if passed {
                    status != "failed"
                } else {
                    status == "failed"
                },
                "{file}: {w} got {row}"
            );
        }
    }
}

#[test]
fn a_failed_threshold_exits_99_with_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cricalgo(
        tmp.path(),
        &["perf", "check", &data_str("legacy-latency-failed.json")],
    );
    assert_eq!(out.code, 99, "{}", out.stderr);
    assert!(
        out.stdout.contains("| http_req_duration | p(95)<50"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("FAILED"));
    assert!(
        out.stdout
            .contains("latency looks fast because 12.5 % of requests failed")
    );
    assert!(
        out.stdout
            .ends_with("verdict: FAILED: 2 of 3 thresholds failed\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains('\u{1b}'), "NO_COLOR: no escape codes");
    assert_eq!(out.stderr, "");
}

#[test]
fn a_passing_file_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cricalgo(
        tmp.path(),
        &["perf", "check", &data_str("legacy-tagged.json")],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.ends_with("verdict: passed\n"));
    assert!(
        out.stdout
            .contains("http_req_duration{phase:recovery,url:http://app:8000/api}")
    );
}

#[test]
fn json_prints_the_verdict_document() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &data_str("handle-summary-missing-p99.json"),
            "--json",
        ],
    );
    assert_eq!(out.code, 99);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["verdict"], "failed");
    assert_eq!(doc["incomplete"], false);
    let p99 = doc["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["expression"] == "p(99)<3000")
        .unwrap();
    assert_eq!(p99["source"], "recorded");
    assert_eq!(p99["observed"], serde_json::Value::Null);
    assert_eq!(p99["status"], "passed");
    let first = &doc["thresholds"][0];
    assert_eq!(
        (first["metric"].as_str(), first["source"].as_str()),
        (Some("http_req_failed"), Some("default"))
    );
}

#[test]
fn no_data_passes_unless_fail_on_no_data() {
    let tmp = tempfile::tempdir().unwrap();
    let file = data_str("handle-summary-no-samples.json");
    let out = cricalgo(tmp.path(), &["perf", "check", &file]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("no data"));
    let out = cricalgo(tmp.path(), &["perf", "check", &file, "--fail-on-no-data"]);
    assert_eq!(out.code, 99);
    assert!(out.stdout.contains("NO DATA (fails)"));
}

#[test]
fn flag_thresholds_are_added_and_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let file = data_str("legacy-tagged.json");
    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &file,
            "--threshold",
            "http_req_duration{url:http://app:8000/api, phase:recovery}: p(99) < 20",
            "--threshold",
            "http_reqs: count>=3690",
            "--json",
        ],
    );
    assert_eq!(out.code, 99, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let flags: Vec<_> = doc["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "flag")
        .map(|r| {
            (
                r["expression"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            ("p(99) < 20".to_owned(), "failed".to_owned()),
            ("count>=3690".to_owned(), "passed".to_owned())
        ]
    );
}

#[test]
fn bad_thresholds_exit_2_before_reading_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let file = data_str("legacy-tagged.json");
    let cases = [
        (
            "http_req_failed: p(95)<1",
            "`p(95)` does not apply to `http_req_failed`, a rate metric",
        ),
        ("http_reqs: avg<1", "a counter metric"),
        ("vus: p(99.9)<1", "a gauge metric"),
        ("http_req_duration: rate<1", "a trend metric"),
        (
            "http_req_duration{name:GET /a,b}: p(95)<1",
            "cannot contain",
        ),
        ("no_such_metric: count>1", "unknown metric `no_such_metric`"),
        ("http_req_duration: p95<1", "unknown aggregation `p95`"),
        ("http_req_duration: p(101)<1", "bad percentile `p(101)`"),
        ("http_req_duration: p(95)", "malformed threshold expression"),
        ("http_req_duration: p(95)<abc", "bad limit `abc`"),
        ("p(95)<4000", "expected `METRIC: EXPR`"),
    ];
    for (flag, message) in cases {
        let out = cricalgo(tmp.path(), &["perf", "check", &file, "--threshold", flag]);
        assert_eq!(out.code, 2, "{flag}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.starts_with("cricalgo: "),
            "{flag}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(message), "{flag}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{flag}");
    }
    // a bad flag fails before the (missing) input is looked at
    let out = cricalgo(
        tmp.path(),
        &["perf", "check", "missing.json", "--threshold", "x"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("failed to parse `--threshold`"),
        "{}",
        out.stderr
    );
}

#[test]
fn unreadable_inputs_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let full = std::fs::read(data("legacy-latency-failed.json")).unwrap();
    std::fs::write(tmp.path().join("truncated.json"), &full[..full.len() / 2]).unwrap();
    std::fs::write(tmp.path().join("empty.json"), "").unwrap();
    std::fs::write(tmp.path().join("list.json"), "[1, 2]").unwrap();
    let cases = [
        ("truncated.json", "is truncated at line"),
        ("empty.json", "the file is empty"),
        ("list.json", "not a k6 summary"),
        ("missing.json", "`missing.json` does not exist"),
    ];
    for (file, message) in cases {
        let out = cricalgo(tmp.path(), &["perf", "check", file]);
        assert_eq!(out.code, 2, "{file}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{file}: {}", out.stderr);
    }
    let machine = data_str("machine-readable-v1.json");
    let out = cricalgo(tmp.path(), &["perf", "check", &machine]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot be gated from"),
        "{}",
        out.stderr
    );
}

#[test]
fn utf16_and_bom_files_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("legacy-tagged.json")).unwrap();
    let mut le = vec![0xFF, 0xFE];
    for unit in text.replace('\n', "\r\n").encode_utf16() {
        le.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(tmp.path().join("utf16.json"), le).unwrap();
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    std::fs::write(tmp.path().join("bom.json"), bom).unwrap();
    for file in ["utf16.json", "bom.json"] {
        let out = cricalgo(tmp.path(), &["perf", "check", file]);
        assert_eq!(out.code, 0, "{file}: {}{}", out.stdout, out.stderr);
    }
}

/// A run folder as `perf run` writes it.
fn run_folder(root: &Path, name: &str, summary: &str, incomplete: bool) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(data(summary), dir.join("summary.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        format!("{{\"incomplete\": {incomplete}, \"files\": {{}}}}"),
    )
    .unwrap();
    dir
}

#[test]
fn no_path_reads_the_newest_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let artifacts = tmp.path().join("artifacts");
    run_folder(
        &artifacts,
        "perf_run_20250101T000000Z",
        "legacy-latency-failed.json",
        false,
    );
    run_folder(
        &artifacts,
        "perf_run_20250920T143543Z",
        "legacy-tagged.json",
        false,
    );
    std::fs::create_dir_all(artifacts.join("zzz_not_a_run")).unwrap();
    let out = cricalgo(tmp.path(), &["perf", "check"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("gate: artifacts/perf_run_20250920T143543Z\n"),
        "{}",
        out.stdout
    );
    // the artifacts folder itself stands for its newest run
    let out = cricalgo(tmp.path(), &["perf", "check", "artifacts", "--json"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn an_empty_artifacts_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("artifacts")).unwrap();
    let out = cricalgo(tmp.path(), &["perf", "check"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "cricalgo: no run folder under `artifacts`: run `cricalgo perf run` first or pass a run folder or k6 summary file\n"
    );
    let out = cricalgo(tmp.path(), &["perf", "check", "--artifacts-dir", "nowhere"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no artifacts folder `nowhere`"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_incomplete_run_fails_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(
        tmp.path(),
        "perf_run_20250920T143543Z",
        "legacy-tagged.json",
        true,
    );
    let dir = dir.to_string_lossy().into_owned();
    let out = cricalgo(tmp.path(), &["perf", "check", &dir]);
    assert_eq!(out.code, 99, "{}", out.stdout);
    assert!(out.stdout.contains("the run is incomplete"));
    assert!(out.stdout.contains("verdict: FAILED (incomplete run)"));
    let out = cricalgo(tmp.path(), &["perf", "check", &dir, "--allow-incomplete"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // the folder's manifest stands for the folder
    let manifest = format!("{dir}/manifest.json");
    let out = cricalgo(tmp.path(), &["perf", "check", &manifest]);
    assert_eq!(out.code, 99, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("the run is incomplete"));
}

#[test]
fn run_folder_thresholds_keep_their_source_and_smoke_checks_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(
        tmp.path(),
        "perf_full_run_20250920T143543Z",
        "legacy-tagged.json",
        false,
    );
    std::fs::write(
        dir.join("verdict.json"),
        r#"{"verdict":"passed","incomplete":false,"notes":[],"thresholds":[
            {"metric":"http_reqs","expression":"count>0","observed":3690,"status":"passed","source":"scenario","failing":false}]}"#,
    )
    .unwrap();
    let smoke = dir.join("smoke");
    std::fs::create_dir_all(&smoke).unwrap();
    std::fs::copy(data("legacy-tagged.json"), smoke.join("summary.json")).unwrap();
    std::fs::write(
        smoke.join("verdict.json"),
        r#"{"verdict":"failed","incomplete":false,"notes":[],"thresholds":[],
            "checks":[{"name":"webhook POST answered 202","passed":false,"message":"expected 202, got 405"},
                      {"name":"health","passed":true}]}"#,
    )
    .unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &dir.to_string_lossy(),
            "--junit",
            &junit.to_string_lossy(),
            "--json",
        ],
    );
    assert_eq!(out.code, 99, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["verdict"], "failed");
    assert_eq!(doc["phases"]["load"]["verdict"], "passed");
    assert_eq!(doc["phases"]["smoke"]["verdict"], "failed");
    let scenario = doc["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["expression"] == "count>0")
        .unwrap();
    assert_eq!(scenario["source"], "scenario");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"smoke\""), "{xml}");
    assert!(xml.contains("<testsuite name=\"load\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("expected 202, got 405"));
}

#[test]
fn junit_failures_match_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &data_str("legacy-boundary.json"),
            "--junit",
            &junit.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, 99);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
    assert!(
        xml.contains("observed 0.01 (1 %), limit `rate&lt;0.01` (default)"),
        "{xml}"
    );
    assert!(
        xml.contains("observed 4000.25 ms, limit `p(95)&lt;4000` (default)"),
        "{xml}"
    );
    assert!(
        xml.contains("check ::status was 202: 198 passed, 2 failed"),
        "{xml}"
    );

    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &data_str("legacy-tagged.json"),
            "--junit",
            &junit.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure").count(), 0, "{xml}");
    assert_eq!(xml.matches("<testcase").count(), 8, "{xml}");
}

#[test]
fn table_snapshot() {
    use cricalgo::commands::perf_check::{JudgedPhase, render};
    let bytes = std::fs::read(data("handle-summary-spaces.json")).unwrap();
    let summary = cricalgo_gate::read_summary(&bytes).unwrap();
    let verdict = cricalgo_gate::evaluate(
        &cricalgo_gate::GateInput {
            summary: Some(&summary),
            ..Default::default()
        },
        cricalgo_gate::GateOptions::default(),
    )
    .unwrap();
    let judged = vec![JudgedPhase {
        name: "load".to_owned(),
        summary,
        verdict,
    }];
    insta::assert_snapshot!(render(&judged, Path::new("summary.json"), false));
    // colour only when asked (a terminal without `NO_COLOR`)
    let coloured = render(&judged, Path::new("summary.json"), true);
    assert!(coloured.contains("\u{1b}["), "{coloured}");
    assert!(!render(&judged, Path::new("summary.json"), false).contains('\u{1b}'));
}

#[test]
fn a_smoke_folder_is_judged_as_the_smoke_phase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(
        tmp.path(),
        "smoke_20250920T143543Z",
        "legacy-tagged.json",
        false,
    );
    std::fs::write(
        dir.join("verdict.json"),
        r#"{"verdict":"failed","incomplete":false,"notes":[],"thresholds":[],
            "checks":[{"name":"deposit visible through the status endpoint","passed":false}]}"#,
    )
    .unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = cricalgo(
        tmp.path(),
        &[
            "perf",
            "check",
            &dir.to_string_lossy(),
            "--junit",
            &junit.to_string_lossy(),
        ],
    );
    assert_eq!(out.code, 99, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.lines().any(|l| l
            .contains("| check: deposit visible through the status endpoint ")
            && l.contains("| functional |")
            && l.contains("| FAILED ")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(
            "verdict: FAILED: 0 of 8 thresholds failed, 1 of 1 functional checks failed\n"
        ),
        "{}",
        out.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"smoke\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
}

#[test]
fn a_statistic_that_was_not_exported_fails_the_default_gate_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let file = data_str("legacy-custom-trend-stats.json");
    let out = cricalgo(tmp.path(), &["perf", "check", &file, "--json"]);
    assert_eq!(out.code, 99, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let p95 = &doc["thresholds"][1];
    assert_eq!(p95["expression"], "p(95)<4000");
    assert_eq!(p95["status"], "failed");
    assert_eq!(p95["observed"], serde_json::Value::Null);
    let notes = doc["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("the summary has no `p(95)` value")),
        "{notes:?}"
    );
    // the file's own p(99.9) threshold is recomputed from the exported value
    let p999 = doc["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["expression"] == "p(99.9)<1000")
        .unwrap();
    assert_eq!(
        (p999["source"].as_str(), p999["observed"].as_f64()),
        (Some("file"), Some(787.1))
    );
}

/// A minimal HTTP target on 127.0.0.1: answers every request `200 ok` and closes the connection.
fn target() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn perf_check_agrees_with_the_verdict_perf_run_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let url = target();
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "2",
            "--iterations",
            "20",
            "--threshold",
            "http_req_duration: p(99) < 0.001",
            "--threshold",
            "http_reqs: count >= 20",
            "--out",
            "run",
        ],
    );
    assert_eq!(run.code, 99, "{}{}", run.stdout, run.stderr);
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("run/verdict.json")).unwrap(),
    )
    .unwrap();
    let rows = |doc: &serde_json::Value| -> Vec<(String, String, String, String)> {
        doc["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].as_str().unwrap().to_owned(),
                    r["expression"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                    r["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    for path in ["run", "run/summary.json", "run/summary.k6-data.json"] {
        let check = cricalgo(tmp.path(), &["perf", "check", path, "--json"]);
        assert_eq!(check.code, 99, "{path}: {}", check.stderr);
        let doc: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
        assert_eq!(doc["verdict"], written["verdict"], "{path}");
        let mut got: Vec<_> = rows(&doc)
            .into_iter()
            .map(|(m, e, st, _)| (m, e, st))
            .collect();
        let mut want: Vec<_> = rows(&written)
            .into_iter()
            .map(|(m, e, st, _)| (m, e, st))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{path}");
        if path == "run" {
            // the run folder keeps each threshold's source
            assert_eq!(rows(&doc), rows(&written));
        }
    }
}
