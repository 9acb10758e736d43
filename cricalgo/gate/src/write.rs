//! Writing k6 summary files: `summary.json` (the `--summary-export` shape) and
//! `summary.k6-data.json` (the `handleSummary` data shape). Thresholds come from the verdict, so
//! these files can never disagree with it. Non-finite numbers are never written.

use serde_json::{Map, Value, json};

use crate::model::{Group, Metric, Summary, Values};
use crate::threshold::Selector;
use crate::verdict::{Status, Verdict};

/// The trend statistics k6 exports by default, plus `p(99)`.
const TREND_STATS: [&str; 4] = ["avg", "min", "med", "max"];

/// Inserts a finite number (NaN and infinities are left out). Whole numbers are written without a
/// fraction, as k6 (Go's JSON encoder) writes them: `1000`, not `1000.0`.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<f64>) {
    if let Some(v) = value.filter(|v| v.is_finite()) {
        let number = if v.fract() == 0.0 && v.abs() < 9.0e15 {
            json!(v as i64)
        } else {
            json!(v)
        };
        map.insert(key.to_owned(), number);
    }
}

fn put_count(map: &mut Map<String, Value>, key: &str, value: Option<u64>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), json!(v));
    }
}

/// The metric's values as k6 names them; `rate_key` is `value` (legacy) or `rate`.
fn values_json(values: &Values, rate_key: &str) -> Map<String, Value> {
    let mut map = Map::new();
    match values {
        Values::Counter { count, rate } => {
            put(&mut map, "count", *count);
            put(&mut map, "rate", *rate);
        }
        Values::Gauge { value, min, max } => {
            put(&mut map, "value", *value);
            put(&mut map, "min", *min);
            put(&mut map, "max", *max);
        }
        Values::Rate {
            rate,
            passes,
            fails,
        } => {
            let rate = match (passes, fails) {
                (Some(p), Some(f)) if p + f > 0 => Some(*p as f64 / (*p + *f) as f64),
                (Some(0), Some(0)) => Some(0.0),
                _ => *rate,
            };
            put(&mut map, rate_key, rate);
            put_count(&mut map, "passes", *passes);
            put_count(&mut map, "fails", *fails);
        }
        Values::Trend(t) => {
            for (key, value) in TREND_STATS.iter().zip([t.avg, t.min, t.med, t.max]) {
                put(&mut map, key, value);
            }
            for (p, value) in &t.percentiles {
                put(&mut map, &p.to_string(), Some(*value));
            }
        }
    }
    map
}

/// The verdict's rows for metric `key`: `(expression, passed)`; no data passes unless it fails
/// the verdict.
fn thresholds_for<'a>(key: &str, verdict: Option<&'a Verdict>) -> Vec<(&'a str, bool)> {
    let Some(verdict) = verdict else {
        return Vec::new();
    };
    let Ok(selector) = Selector::parse(key) else {
        return Vec::new();
    };
    verdict
        .thresholds
        .iter()
        .filter(|row| Selector::parse(&row.metric).is_ok_and(|s| s.same_as(&selector)))
        .map(|row| {
            let passed = match row.status {
                Status::Passed => true,
                Status::Failed => false,
                Status::NoData => !row.failing,
            };
            (row.expression.as_str(), passed)
        })
        .collect()
}

/// Verdict rows whose metric is not in the summary (no data): written so that the file still
/// shows every threshold.
fn missing_metrics<'a>(summary: &Summary, verdict: Option<&'a Verdict>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for row in verdict.map(|v| v.thresholds.as_slice()).unwrap_or_default() {
        let found = Selector::parse(&row.metric).is_ok_and(|s| summary.find(&s).is_some());
        if !found && !out.contains(&row.metric.as_str()) {
            out.push(&row.metric);
        }
    }
    out
}

fn checks_legacy(group: &Group, path: &str) -> Value {
    let mut checks = Map::new();
    for check in &group.checks {
        checks.insert(
            check.name.clone(),
            json!({
                "name": check.name,
                "path": format!("{path}::{}", check.name),
                "passes": check.passes,
                "fails": check.fails,
            }),
        );
    }
    let mut groups = Map::new();
    for sub in &group.groups {
        let sub_path = Group::path_of(path, &sub.name);
        groups.insert(sub.name.clone(), group_legacy(sub, &sub_path));
    }
    json!({ "checks": checks, "groups": groups })
}

fn group_legacy(group: &Group, path: &str) -> Value {
    let mut value = checks_legacy(group, path);
    if let Value::Object(map) = &mut value {
        map.insert("name".to_owned(), json!(group.name));
        map.insert("path".to_owned(), json!(path));
    }
    value
}

fn group_handle_summary(group: &Group, path: &str) -> Value {
    let checks: Vec<Value> = group
        .checks
        .iter()
        .map(|check| {
            json!({
                "name": check.name,
                "path": format!("{path}::{}", check.name),
                "passes": check.passes,
                "fails": check.fails,
            })
        })
        .collect();
    let groups: Vec<Value> = group
        .groups
        .iter()
        .map(|sub| group_handle_summary(sub, &Group::path_of(path, &sub.name)))
        .collect();
    json!({ "name": group.name, "path": path, "checks": checks, "groups": groups })
}

/// `summary.json`: k6's `--summary-export` shape. A threshold value `true` means FAILED.
pub fn to_legacy(summary: &Summary, verdict: Option<&Verdict>) -> Value {
    let mut metrics = Map::new();
    for (key, metric) in &summary.metrics {
        let mut map = values_json(&metric.values, "value");
        add_thresholds(&mut map, key, verdict, |passed| json!(!passed));
        metrics.insert(key.clone(), Value::Object(map));
    }
    for key in missing_metrics(summary, verdict) {
        let mut map = Map::new();
        add_thresholds(&mut map, key, verdict, |passed| json!(!passed));
        metrics.insert(key.to_owned(), Value::Object(map));
    }
    json!({
        "root_group": group_legacy(&summary.root_group, ""),
        "metrics": metrics,
    })
}

/// `summary.k6-data.json`: k6's `handleSummary` data shape (`type`, `contains`, `values`,
/// thresholds `{ "ok": bool }`).
pub fn to_handle_summary(summary: &Summary, verdict: Option<&Verdict>) -> Value {
    let mut metrics = Map::new();
    for (key, metric) in &summary.metrics {
        metrics.insert(key.clone(), handle_summary_metric(key, metric, verdict));
    }
    let mut root = Map::new();
    root.insert(
        "root_group".to_owned(),
        group_handle_summary(&summary.root_group, ""),
    );
    root.insert(
        "options".to_owned(),
        json!({
            "summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"],
            "summaryTimeUnit": "",
            "noColor": false,
        }),
    );
    let mut state = Map::new();
    state.insert("isStdOutTTY".to_owned(), json!(false));
    state.insert("isStdErrTTY".to_owned(), json!(false));
    put(
        &mut state,
        "testRunDurationMs",
        summary.test_run_duration_ms,
    );
    root.insert("state".to_owned(), Value::Object(state));
    root.insert("metrics".to_owned(), Value::Object(metrics));
    Value::Object(root)
}

fn handle_summary_metric(key: &str, metric: &Metric, verdict: Option<&Verdict>) -> Value {
    let mut map = Map::new();
    map.insert("type".to_owned(), json!(metric.metric_type().to_string()));
    map.insert("contains".to_owned(), json!(metric.contains.as_str()));
    map.insert(
        "values".to_owned(),
        Value::Object(values_json(&metric.values, "rate")),
    );
    add_thresholds(&mut map, key, verdict, |passed| json!({ "ok": passed }));
    Value::Object(map)
}

fn add_thresholds(
    map: &mut Map<String, Value>,
    key: &str,
    verdict: Option<&Verdict>,
    encode: impl Fn(bool) -> Value,
) {
    let rows = thresholds_for(key, verdict);
    if rows.is_empty() {
        return;
    }
    let thresholds: Map<String, Value> = rows
        .into_iter()
        .map(|(expr, passed)| (expr.to_owned(), encode(passed)))
        .collect();
    map.insert("thresholds".to_owned(), Value::Object(thresholds));
}

/// Pretty JSON text with a trailing newline, as written to the run folder.
pub fn to_pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
