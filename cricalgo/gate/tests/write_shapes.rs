//! The written files have k6's shapes: `summary.json` (`--summary-export`: flat, trend keys
//! `avg,min,med,max,p(90),p(95),p(99)`, rate `value/passes/fails`, threshold `true` = FAILED) and
//! `summary.k6-data.json` (`type/contains/values`, thresholds `{ok}`), thresholds taken from the
//! verdict; JUnit follows the same verdict.

use std::collections::BTreeMap;

use cricalgo_gate::junit::{Phase, to_junit};
use cricalgo_gate::{
    Check, FunctionalCheck, GateInput, GateOptions, Group, Metric, Percentile, Source, Summary,
    Threshold, TrendValues, Values, evaluate, read_summary, to_handle_summary, to_legacy,
    to_pretty,
};

/// What the load engine hands over: plain metrics, a sub-metric, checks.
fn engine_summary() -> Summary {
    let mut percentiles = BTreeMap::new();
    for (p, v) in [(90.0, 180.0), (95.0, 250.5), (99.0, 900.25)] {
        percentiles.insert(Percentile(p), v);
    }
    let trend = Values::Trend(TrendValues {
        avg: Some(80.5),
        min: Some(1.25),
        med: Some(40.0),
        max: Some(1200.0),
        percentiles,
        count: Some(1000),
    });
    let mut metrics = BTreeMap::new();
    metrics.insert(
        "http_req_duration".to_owned(),
        Metric::new("http_req_duration", trend.clone()).with_samples(1000),
    );
    metrics.insert(
        "http_req_duration{expected_response:true}".to_owned(),
        Metric::new("http_req_duration{expected_response:true}", trend).with_samples(950),
    );
    metrics.insert(
        "http_req_failed".to_owned(),
        Metric::new(
            "http_req_failed",
            Values::Rate {
                rate: Some(0.05),
                passes: Some(50),
                fails: Some(950),
            },
        ),
    );
    metrics.insert(
        "http_reqs".to_owned(),
        Metric::new(
            "http_reqs",
            Values::Counter {
                count: Some(1000.0),
                rate: Some(100.0),
            },
        ),
    );
    metrics.insert(
        "vus".to_owned(),
        Metric::new(
            "vus",
            Values::Gauge {
                value: Some(10.0),
                min: Some(1.0),
                max: Some(10.0),
            },
        )
        .with_samples(10),
    );
    Summary {
        metrics,
        root_group: Group {
            name: String::new(),
            checks: vec![Check {
                name: "status is 202".to_owned(),
                passes: 950,
                fails: 50,
            }],
            groups: Vec::new(),
        },
        test_run_duration_ms: Some(10_000.0),
        ..Summary::default()
    }
}

fn verdict_for(summary: &Summary) -> cricalgo_gate::Verdict {
    let scenario = Threshold::parse(
        "http_req_duration{expected_response:true}",
        "p(99) < 1000",
        Source::Scenario,
    )
    .unwrap();
    evaluate(
        &GateInput {
            summary: Some(summary),
            thresholds: vec![scenario],
            ..GateInput::default()
        },
        GateOptions::default(),
    )
    .unwrap()
}

#[test]
fn summary_export_shape() {
    let summary = engine_summary();
    let verdict = verdict_for(&summary);
    let legacy = to_legacy(&summary, Some(&verdict));
    let m = &legacy["metrics"];
    let mut keys: Vec<_> = m["http_req_duration"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "avg",
            "max",
            "med",
            "min",
            "p(90)",
            "p(95)",
            "p(99)",
            "thresholds"
        ]
    );
    // `true` means FAILED in this shape
    assert_eq!(m["http_req_failed"]["thresholds"]["rate<0.01"], true);
    assert_eq!(m["http_req_duration"]["thresholds"]["p(95)<4000"], false);
    assert_eq!(
        m["http_req_duration{expected_response:true}"]["thresholds"]["p(99) < 1000"],
        false
    );
    assert_eq!(m["http_req_failed"]["value"], 0.05);
    assert_eq!(m["http_req_failed"]["passes"], 50);
    assert_eq!(m["http_reqs"]["count"], 1000);
    assert_eq!(
        legacy["root_group"]["checks"]["status is 202"]["passes"],
        950
    );
    insta::assert_snapshot!("summary_json", to_pretty(&legacy));
}

#[test]
fn handle_summary_shape() {
    let summary = engine_summary();
    let verdict = verdict_for(&summary);
    let data = to_handle_summary(&summary, Some(&verdict));
    let m = &data["metrics"];
    assert_eq!(m["http_req_duration"]["type"], "trend");
    assert_eq!(m["http_req_duration"]["contains"], "time");
    assert_eq!(m["http_req_failed"]["values"]["rate"], 0.05);
    assert_eq!(m["http_req_failed"]["thresholds"]["rate<0.01"]["ok"], false);
    assert_eq!(m["vus"]["type"], "gauge");
    assert_eq!(data["state"]["testRunDurationMs"], 10_000);
    assert_eq!(data["root_group"]["checks"][0]["path"], "::status is 202");
    insta::assert_snapshot!("summary_k6_data_json", to_pretty(&data));
}

#[test]
fn written_files_read_back_to_the_same_verdict() {
    let summary = engine_summary();
    let verdict = verdict_for(&summary);
    for value in [
        to_legacy(&summary, Some(&verdict)),
        to_handle_summary(&summary, Some(&verdict)),
    ] {
        let back = read_summary(to_pretty(&value).as_bytes()).unwrap();
        let again = evaluate(
            &GateInput {
                summary: Some(&back),
                ..GateInput::default()
            },
            GateOptions::default(),
        )
        .unwrap();
        assert_eq!(again.verdict, verdict.verdict);
        let rows = |v: &cricalgo_gate::Verdict| -> Vec<(String, String, Option<f64>)> {
            let mut rows: Vec<_> = v
                .thresholds
                .iter()
                .map(|r| (r.metric.clone(), r.expression.clone(), r.observed))
                .collect();
            rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
            rows
        };
        assert_eq!(rows(&again), rows(&verdict));
    }
}

#[test]
fn junit_has_failures_exactly_when_the_verdict_failed() {
    let summary = engine_summary();
    let load = verdict_for(&summary);
    assert!(!load.passed());
    let smoke = evaluate(
        &GateInput {
            summary: Some(&summary),
            checks: vec![
                FunctionalCheck {
                    name: "health".to_owned(),
                    passed: true,
                    message: None,
                },
                FunctionalCheck {
                    name: "webhook POST & <status>".to_owned(),
                    passed: true,
                    message: None,
                },
            ],
            ..GateInput::default()
        },
        GateOptions {
            default_thresholds: false,
            ..GateOptions::default()
        },
    )
    .unwrap();
    assert!(smoke.passed());
    let xml = to_junit(
        "run",
        &[
            Phase {
                name: "smoke",
                verdict: &smoke,
                summary: Some(&summary),
            },
            Phase {
                name: "load",
                verdict: &load,
                summary: Some(&summary),
            },
        ],
    )
    .unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(
        xml.contains("observed 0.05 (5 %), limit `rate&lt;0.01` (default)"),
        "{xml}"
    );
    assert!(xml.contains("webhook POST &amp; &lt;status&gt;"), "{xml}");
    assert!(
        xml.contains("check ::status is 202: 950 passed, 50 failed"),
        "{xml}"
    );
}
