//! The reader on the project's own test data: encodings, truncation, NaN-like values, unknown keys,
//! zero-sample metrics and k6's machine-readable shape.

use std::path::PathBuf;

use cricalgo_gate::{
    GateInput, GateOptions, ReadError, Shape, Source, Status, Values, evaluate, read_summary,
};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

#[test]
fn every_encoding_reads_the_same_summary() {
    for name in ["legacy-tagged.json", "handle-summary-spaces.json"] {
        let bytes = data(name);
        let text = String::from_utf8(bytes.clone()).unwrap();
        // what PowerShell redirection writes: CRLF and UTF-16 with a BOM
        let crlf = text.replace('\n', "\r\n");
        let plain = read_summary(&bytes).unwrap();
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(&bytes);
        for variant in [bom, utf16(&crlf, false), utf16(&crlf, true)] {
            assert_eq!(read_summary(&variant).unwrap(), plain, "{name}");
        }
    }
}

#[test]
fn truncated_files_say_so() {
    let bytes = data("legacy-latency-failed.json");
    for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 3] {
        let err = read_summary(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, ReadError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("truncated"));
    }
}

#[test]
fn machine_readable_summaries_cannot_be_gated() {
    let err = read_summary(&data("machine-readable-v1.json")).unwrap_err();
    assert!(matches!(err, ReadError::MachineReadable { ref version } if version == "1.0.0"));
    assert!(err.to_string().contains("cannot be gated"));
}

#[test]
fn nan_like_values_count_as_absent() {
    let summary = read_summary(&data("legacy-nan-values.json")).unwrap();
    let Values::Trend(trend) = &summary.metrics["http_req_duration"].values else {
        panic!("trend expected");
    };
    assert_eq!(
        (trend.avg, trend.min, trend.med, trend.max),
        (None, None, None, None)
    );
    let verdict = evaluate(
        &GateInput {
            summary: Some(&summary),
            ..GateInput::default()
        },
        GateOptions::default(),
    )
    .unwrap();
    let avg = verdict
        .thresholds
        .iter()
        .find(|r| r.expression == "avg<100")
        .unwrap();
    assert_eq!(
        (avg.source, avg.status, avg.observed),
        (Source::Recorded, Status::Passed, None)
    );
}

#[test]
fn zero_sample_metrics_are_no_data_and_fail_only_when_asked() {
    let summary = read_summary(&data("handle-summary-no-samples.json")).unwrap();
    assert_eq!(summary.shape, Shape::HandleSummary);
    let judge = |fail_on_no_data| {
        evaluate(
            &GateInput {
                summary: Some(&summary),
                ..GateInput::default()
            },
            GateOptions {
                fail_on_no_data,
                ..GateOptions::default()
            },
        )
        .unwrap()
    };
    let lenient = judge(false);
    let rows: Vec<_> = lenient
        .thresholds
        .iter()
        .filter(|r| r.source == Source::File)
        .map(|r| (r.metric.as_str(), r.status, r.failing))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("retries", Status::NoData, false),
            ("webhook_errors", Status::NoData, false)
        ]
    );
    assert!(lenient.passed(), "{:?}", lenient.notes);
    assert!(lenient.notes.iter().any(|n| n.contains("has no data")));
    assert!(!judge(true).passed());
}

#[test]
fn default_thresholds_fail_without_data() {
    let summary = read_summary(br#"{"metrics":{"iterations":{"count":3,"rate":1}}}"#).unwrap();
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
        verdict
            .thresholds
            .iter()
            .all(|r| r.status == Status::NoData && r.failing)
    );
}
