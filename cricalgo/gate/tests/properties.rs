//! Property tests: threshold parse → print → parse is the identity, and writing a summary then
//! reading it back keeps every finite value (and never writes NaN or infinities).

use std::collections::BTreeMap;

use cricalgo_gate::{
    Expression, Metric, Percentile, Selector, Summary, Threshold, TrendValues, Values,
    read_summary, to_handle_summary, to_legacy, to_pretty,
};
use proptest::prelude::*;

fn aggregation() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("count".to_owned()),
        Just("rate".to_owned()),
        Just("value".to_owned()),
        Just("avg".to_owned()),
        Just("min".to_owned()),
        Just("max".to_owned()),
        Just("med".to_owned()),
        (0u32..=100).prop_map(|p| format!("p({p})")),
        (0u32..1000).prop_map(|p| format!("p({})", f64::from(p) / 10.0)),
    ]
}

fn operator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["<=", "<", ">=", ">", "===", "==", "!="])
}

fn limit() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        (0u32..100_000, 1u32..4).prop_map(|(n, d)| format!(
            "{:.*}",
            d as usize,
            f64::from(n) / 1000.0
        )),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ]
}

fn spaces() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "  "]).prop_map(str::to_owned)
}

fn tag_text() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}(:[a-z0-9/._-]{1,8}){0,2}"
}

/// Equal within JSON's decimal round trip (serde_json parses floats to within one ulp or so).
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #[test]
    fn expression_parse_print_parse(
        agg in aggregation(), op in operator(), lim in limit(),
        a in spaces(), b in spaces(), c in spaces(), d in spaces()
    ) {
        let text = format!("{a}{agg}{b}{op}{c}{lim}{d}");
        let parsed = Expression::parse(&text).unwrap();
        let printed = parsed.to_string();
        let reparsed = Expression::parse(&printed).unwrap();
        prop_assert_eq!(&reparsed, &parsed);
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn selector_parse_print_parse(
        name in "[a-z_][a-z0-9_]{0,20}",
        tags in prop::collection::vec(("[a-z_][a-z0-9_]{0,8}", tag_text()), 0..4),
    ) {
        let text = if tags.is_empty() {
            name.clone()
        } else {
            let inner: Vec<String> = tags.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{name}{{{}}}", inner.join(", "))
        };
        let parsed = Selector::parse(&text).unwrap();
        prop_assert_eq!(parsed.tags.len(), tags.len());
        let reparsed = Selector::parse(&parsed.to_string()).unwrap();
        prop_assert_eq!(&reparsed, &parsed);
        prop_assert!(reparsed.same_as(&parsed));
    }

    #[test]
    fn flags_parse_print_parse(
        agg in aggregation(), op in operator(), lim in limit(),
        tags in prop::collection::vec(("[a-z]{1,6}", tag_text()), 0..3),
    ) {
        let selector = if tags.is_empty() {
            "http_req_duration".to_owned()
        } else {
            let inner: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("http_req_duration{{{}}}", inner.join(","))
        };
        let flag = format!("{selector}: {agg} {op} {lim}");
        let parsed = Threshold::parse_flag(&flag).unwrap();
        prop_assert_eq!(&parsed.metric, &selector);
        let again = Threshold::parse_flag(&format!("{}:{}", parsed.selector, parsed.parsed)).unwrap();
        prop_assert_eq!(again.selector, parsed.selector);
        prop_assert_eq!(again.parsed, parsed.parsed);
    }

    #[test]
    fn written_summaries_read_back(
        avg in any::<f64>(), p95 in 0.0f64..1e7, count in 0u64..1_000_000, passes in 0u64..1000, fails in 0u64..1000,
    ) {
        let mut percentiles = BTreeMap::new();
        percentiles.insert(Percentile(90.0), p95 / 2.0);
        percentiles.insert(Percentile(95.0), p95);
        percentiles.insert(Percentile(99.9), p95 * 2.0);
        let mut summary = Summary::default();
        summary.metrics.insert("http_req_duration".to_owned(), Metric::new("http_req_duration", Values::Trend(TrendValues {
            avg: Some(avg), min: Some(0.5), med: Some(p95 / 3.0), max: Some(f64::INFINITY), percentiles, count: None,
        })));
        summary.metrics.insert("http_req_failed".to_owned(), Metric::new("http_req_failed", Values::Rate {
            rate: None, passes: Some(passes), fails: Some(fails),
        }));
        summary.metrics.insert("http_reqs".to_owned(), Metric::new("http_reqs", Values::Counter {
            count: Some(count as f64), rate: Some(f64::NAN),
        }));
        for value in [to_legacy(&summary, None), to_handle_summary(&summary, None)] {
            let text = to_pretty(&value);
            prop_assert!(!text.contains("NaN") && !text.contains("inf"));
            let back = read_summary(text.as_bytes()).unwrap();
            let Values::Trend(t) = &back.metrics["http_req_duration"].values else { panic!("trend") };
            prop_assert!(close(t.avg, Some(avg).filter(|a| a.is_finite())));
            prop_assert_eq!(t.max, None);
            prop_assert!(close(t.percentiles.get(&Percentile(95.0)).copied(), Some(p95)));
            prop_assert!(close(t.percentiles.get(&Percentile(99.9)).copied(), Some(p95 * 2.0)));
            let Values::Rate { passes: p, fails: f, .. } = &back.metrics["http_req_failed"].values else { panic!("rate") };
            prop_assert_eq!((*p, *f), (Some(passes), Some(fails)));
            let Values::Counter { count: c, rate } = &back.metrics["http_reqs"].values else { panic!("counter") };
            prop_assert_eq!((*c, *rate), (Some(count as f64), None));
        }
    }
}
