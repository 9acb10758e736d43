//! Real k6 summary files from public projects (read in place from `../shared/fixtures/`, never
//! copied): every verdict k6 recorded is reproduced, and recomputation agrees where the file holds
//! the value.

use std::path::{Path, PathBuf};

use cricalgo_gate::{
    GateInput, GateOptions, Shape, Source, Status, decode_text, evaluate, read_summary,
};

/// `<workspace>/../shared/fixtures/<name>`, or `None` (with a notice) when it is absent outside CI.
fn fixtures(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "fixtures folder `{}` is missing: CI must run with `shared/` beside the checkout",
        dir.display()
    );
    eprintln!(
        "notice: skipping, fixtures folder `{}` is not beside this checkout",
        dir.display()
    );
    None
}

#[test]
fn every_recorded_verdict_is_reproduced() {
    let Some(dir) = fixtures("k6-summaries") else {
        return;
    };
    let reproduced = check_expected(&dir);
    assert!(reproduced >= 11, "EXPECTED.json lists every file");
}

#[test]
fn own_test_data_reproduces_its_expected_verdicts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    assert!(check_expected(&dir) >= 8);
}

/// Checks every `*.json` in `dir` listed by its `EXPECTED.json` (the verdicts k6 recorded, per
/// threshold, and the file's shape); returns how many files were checked.
fn check_expected(dir: &Path) -> usize {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    let expected = expected.as_object().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") && name != "EXPECTED.json" && !name.starts_with("machine-") {
            assert!(
                expected.contains_key(&name),
                "`{name}` is not in EXPECTED.json"
            );
        }
    }

    for (file, want) in expected {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let summary = read_summary(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let shape = match want["format"].as_str().unwrap() {
            "A" => Shape::Legacy,
            "B" => Shape::HandleSummary,
            other => panic!("unknown format {other}"),
        };
        assert_eq!(summary.shape, shape, "{file}: shape");

        // k6's own verdict: the file's thresholds only.
        let options = GateOptions {
            default_thresholds: false,
            ..GateOptions::default()
        };
        let input = GateInput {
            summary: Some(&summary),
            ..GateInput::default()
        };
        let verdict = evaluate(&input, options).unwrap();
        let wanted = want["thresholds"].as_array().unwrap();
        assert_eq!(
            verdict.thresholds.len(),
            wanted.len(),
            "{file}: threshold count"
        );
        for w in wanted {
            let metric = w["metric"].as_str().unwrap();
            let expr = w["expr"].as_str().unwrap();
            let passed = w["passed"].as_bool().unwrap();
            let row = verdict
                .thresholds
                .iter()
                .find(|r| r.metric == metric && r.expression == expr)
                .unwrap_or_else(|| panic!("{file}: no row for `{metric}: {expr}`"));
            assert_eq!(
                row.recorded_passed,
                Some(passed),
                "{file}: `{metric}: {expr}` recorded"
            );
            match row.source {
                // Recomputed from the file's value: agrees with k6 (no data: k6 passes).
                Source::File => {
                    let recomputed = match row.status {
                        Status::Passed => true,
                        Status::Failed => false,
                        Status::NoData => true,
                    };
                    assert_eq!(
                        recomputed, passed,
                        "{file}: `{metric}: {expr}` recomputed from {:?}",
                        row.observed
                    );
                    if row.status != Status::NoData {
                        assert!(
                            row.observed.is_some(),
                            "{file}: `{metric}: {expr}` observed"
                        );
                    }
                }
                Source::Recorded => {
                    assert_eq!(row.observed, None);
                    assert_eq!(row.status == Status::Passed, passed);
                }
                other => panic!("{file}: unexpected source {other:?}"),
            }
            assert_eq!(row.failing, !passed, "{file}: `{metric}: {expr}` failing");
        }
        assert!(
            !verdict.notes.iter().any(|n| n.contains("disagrees")),
            "{file}: {:?}",
            verdict.notes
        );
        match want["all_passed"].as_bool() {
            Some(all) => assert_eq!(verdict.passed(), all, "{file}: verdict"),
            None => assert!(
                verdict.passed() && wanted.is_empty(),
                "{file}: no thresholds"
            ),
        }
    }
    expected.len()
}

#[test]
fn values_absent_from_the_file_keep_the_recorded_verdict() {
    let Some(dir) = fixtures("k6-summaries") else {
        return;
    };
    let bytes =
        std::fs::read(dir.join("nhatvy118__CS423-PerformanceTesting__load-test-summary.json"))
            .unwrap();
    let summary = read_summary(&bytes).unwrap();
    let verdict = evaluate(
        &GateInput {
            summary: Some(&summary),
            ..GateInput::default()
        },
        GateOptions {
            default_thresholds: false,
            ..GateOptions::default()
        },
    )
    .unwrap();
    let row = verdict
        .thresholds
        .iter()
        .find(|r| r.expression == "p(99)<1000")
        .unwrap();
    assert_eq!(row.source, Source::Recorded);
    assert_eq!(row.status, Status::Failed);
    assert_eq!(row.observed, None);
}

#[test]
fn the_default_gate_on_the_boundary_file_fails() {
    let Some(dir) = fixtures("k6-summaries") else {
        return;
    };
    // error rate exactly 0.01 and p95 just over 4000 ms: both default thresholds fail
    let bytes = std::fs::read(dir.join("itzaddddd__ticket-reserve__summary-export.json")).unwrap();
    let summary = read_summary(&bytes).unwrap();
    let verdict = evaluate(
        &GateInput {
            summary: Some(&summary),
            ..GateInput::default()
        },
        GateOptions::default(),
    )
    .unwrap();
    assert!(!verdict.passed());
    let statuses: Vec<_> = verdict
        .thresholds
        .iter()
        .map(|r| (r.metric.as_str(), r.status, r.observed))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("http_req_failed", Status::Failed, Some(0.01)),
            ("http_req_duration", Status::Failed, Some(4101.811365)),
        ]
    );
}

#[test]
fn fast_failures_get_the_error_rate_first_note() {
    let Some(dir) = fixtures("k6-summaries") else {
        return;
    };
    let bytes = std::fs::read(dir.join("yphuang26__Ticket-System__k6_summary.json")).unwrap();
    let summary = read_summary(&bytes).unwrap();
    let verdict = evaluate(
        &GateInput {
            summary: Some(&summary),
            ..GateInput::default()
        },
        GateOptions::default(),
    )
    .unwrap();
    assert!(!verdict.passed());
    assert!(
        verdict.notes[0].starts_with("latency looks fast because 99.4 % of requests failed"),
        "{:?}",
        verdict.notes
    );
}

#[test]
fn seed_artifacts_decode_whatever_their_encoding() {
    let Some(dir) = fixtures("seed-artifacts") else {
        return;
    };
    let mut utf16 = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
            utf16 += 1;
        }
        let text = decode_text(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(value.is_object(), "{}", path.display());
    }
    assert!(
        utf16 >= 1,
        "at least one seed artifact is UTF-16 with a BOM"
    );
}
