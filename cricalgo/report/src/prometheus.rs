//! `prometheus.json`: the server-side view at the end of a run, queried from the stack's
//! Prometheus HTTP API — latency percentiles from the services' histograms, the 5xx ratio, the
//! deposit queue, the DB pools and the alerts firing — so the report can put it beside the
//! client-side figures.
//!
//! Collection never fails the run: an unreachable Prometheus is recorded in the file (`reachable:
//! false` and the error) and the report says so.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ReportError, Result};
use crate::manifest::display_utc;

/// Where the staging stack publishes Prometheus.
pub const DEFAULT_PROMETHEUS_URL: &str = "http://127.0.0.1:9090";

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// Base URL of Prometheus, e.g. [`DEFAULT_PROMETHEUS_URL`].
    pub base_url: String,
    /// The run window the rates and quantiles cover (the load phase).
    pub window: Duration,
    /// The evaluation time (the end of the load phase).
    pub at: DateTime<Utc>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// One bucket of the server-side latency histogram over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    /// Upper bound in ms; `None` is `+Inf`.
    pub le_ms: Option<f64>,
    /// Requests at or below the bound (cumulative, as Prometheus counts).
    pub count: f64,
}

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringAlert {
    /// `alertname`.
    pub name: String,
    /// `severity` label, when set.
    pub severity: Option<String>,
    /// Since when it is active.
    pub active_at: Option<String>,
    /// Every label.
    pub labels: BTreeMap<String, String>,
}

/// A query that was run, for traceability (every number in the report can be re-queried).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// Which figure it produced.
    pub name: String,
    /// The PromQL text.
    pub query: String,
    /// Why it produced nothing, when it failed.
    pub error: Option<String>,
}

/// `prometheus.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PrometheusSnapshot {
    /// The Prometheus base URL.
    pub source: String,
    /// Evaluation time (UTC).
    pub evaluated_at: String,
    /// Window in seconds the rates cover.
    pub window_seconds: u64,
    /// False when Prometheus could not be reached at all.
    pub reachable: bool,
    /// Why it could not be reached.
    pub error: Option<String>,
    /// Server-side median latency (ms) from `http_server_request_duration_seconds`.
    pub p50_ms: Option<f64>,
    /// Server-side 95th percentile (ms).
    pub p95_ms: Option<f64>,
    /// Server-side 99th percentile (ms).
    pub p99_ms: Option<f64>,
    /// Requests per second the apps saw.
    pub request_rate: Option<f64>,
    /// Share of responses with a 5xx status (0..=1).
    pub error_5xx_ratio: Option<f64>,
    /// `deposit_queue_depth` at the end.
    pub deposit_queue_depth: Option<f64>,
    /// Highest `deposit_queue_depth` during the window.
    pub deposit_queue_depth_max: Option<f64>,
    /// `db_pool_connections` summed over instances, by `state`.
    pub db_pool_connections: BTreeMap<String, f64>,
    /// Responses the apps sent during the window, by HTTP status.
    #[serde(default)]
    pub status_codes: BTreeMap<String, f64>,
    /// Alerts firing at the end.
    pub alerts_firing: Vec<FiringAlert>,
    /// Server-side latency histogram over the window (cumulative buckets).
    pub latency_buckets: Vec<LatencyBucket>,
    /// The queries behind the figures.
    pub queries: Vec<QueryRecord>,
}

/// The PromQL texts, built for one window.
fn queries(window: &str) -> Vec<(&'static str, String)> {
    let buckets =
        format!("sum by (le) (rate(http_server_request_duration_seconds_bucket[{window}]))");
    vec![
        (
            "p50_ms",
            format!("histogram_quantile(0.5, {buckets}) * 1000"),
        ),
        (
            "p95_ms",
            format!("histogram_quantile(0.95, {buckets}) * 1000"),
        ),
        (
            "p99_ms",
            format!("histogram_quantile(0.99, {buckets}) * 1000"),
        ),
        (
            "request_rate",
            format!("sum(rate(http_requests_total[{window}]))"),
        ),
        (
            "error_5xx_ratio",
            format!(
                "sum(rate(http_requests_total{{status=~\"5..\"}}[{window}])) / sum(rate(http_requests_total[{window}]))"
            ),
        ),
        (
            "deposit_queue_depth",
            "sum(deposit_queue_depth)".to_string(),
        ),
        (
            "deposit_queue_depth_max",
            format!("max_over_time(sum(deposit_queue_depth)[{window}:5s])"),
        ),
        (
            "db_pool_connections",
            "sum by (state) (db_pool_connections)".to_string(),
        ),
        (
            "status_codes",
            format!("sum by (status) (increase(http_requests_total[{window}]))"),
        ),
        (
            "latency_buckets",
            format!(
                "sum by (le) (increase(http_server_request_duration_seconds_bucket[{window}]))"
            ),
        ),
    ]
}

/// Queries Prometheus and returns the snapshot; never fails (errors are recorded inside).
pub async fn collect(config: &CollectConfig) -> PrometheusSnapshot {
    // Rates need at least two scrapes inside the window.
    let seconds = config.window.as_secs().max(30);
    let window = format!("{seconds}s");
    let base = config.base_url.trim_end_matches('/').to_string();
    let mut snapshot = PrometheusSnapshot {
        source: base.clone(),
        evaluated_at: display_utc(config.at),
        window_seconds: seconds,
        reachable: true,
        ..PrometheusSnapshot::default()
    };
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(client) => client,
        Err(e) => {
            snapshot.reachable = false;
            snapshot.error = Some(format!("failed to build an HTTP client: {e}"));
            return snapshot;
        }
    };
    let at = format!("{:.3}", config.at.timestamp_millis() as f64 / 1000.0);
    if let Err(e) = client
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
    {
        snapshot.reachable = false;
        snapshot.error = Some(format!(
            "prometheus at `{base}` is not reachable ({e}); is the staging stack up?"
        ));
        return snapshot;
    }
    for (name, query) in queries(&window) {
        let result = instant_query(&client, &base, &query, &at).await;
        let error = result.as_ref().err().cloned();
        if let Ok(samples) = result {
            apply(&mut snapshot, name, &samples);
        }
        snapshot.queries.push(QueryRecord {
            name: name.to_string(),
            query,
            error,
        });
    }
    match firing_alerts(&client, &base).await {
        Ok(alerts) => snapshot.alerts_firing = alerts,
        Err(e) => snapshot.queries.push(QueryRecord {
            name: "alerts_firing".into(),
            query: "GET /api/v1/alerts".into(),
            error: Some(e),
        }),
    }
    snapshot
}

/// One instant-vector sample: labels and value (finite values only).
type Sample = (BTreeMap<String, String>, Option<f64>);

async fn instant_query(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    at: &str,
) -> std::result::Result<Vec<Sample>, String> {
    let body: Value = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query), ("time", at)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if body.get("status").and_then(Value::as_str) != Some("success") {
        return Err(body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("query failed")
            .to_string());
    }
    let data = &body["data"];
    let mut samples = Vec::new();
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {
            for item in data["result"].as_array().into_iter().flatten() {
                let labels = item["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                samples.push((labels, sample_value(&item["value"])));
            }
        }
        Some("scalar") => samples.push((BTreeMap::new(), sample_value(&data["result"]))),
        other => return Err(format!("unexpected result type {other:?}")),
    }
    Ok(samples)
}

/// `[ <time>, "<value>" ]` → the value, `None` for NaN/Inf.
fn sample_value(pair: &Value) -> Option<f64> {
    let n: f64 = pair.get(1)?.as_str()?.parse().ok()?;
    n.is_finite().then_some(n)
}

fn apply(snapshot: &mut PrometheusSnapshot, name: &str, samples: &[Sample]) {
    let first = samples.first().and_then(|(_, v)| *v);
    match name {
        "p50_ms" => snapshot.p50_ms = first,
        "p95_ms" => snapshot.p95_ms = first,
        "p99_ms" => snapshot.p99_ms = first,
        "request_rate" => snapshot.request_rate = first,
        "error_5xx_ratio" => {
            // 0/0 when nothing failed and nothing ran; with traffic and no 5xx the ratio is 0.
            snapshot.error_5xx_ratio = first.or_else(|| {
                snapshot
                    .request_rate
                    .filter(|rate| *rate > 0.0)
                    .map(|_| 0.0)
            })
        }
        "deposit_queue_depth" => snapshot.deposit_queue_depth = first,
        "deposit_queue_depth_max" => snapshot.deposit_queue_depth_max = first,
        "db_pool_connections" => {
            for (labels, value) in samples {
                if let (Some(state), Some(value)) = (labels.get("state"), value) {
                    snapshot.db_pool_connections.insert(state.clone(), *value);
                }
            }
        }
        "status_codes" => {
            for (labels, value) in samples {
                if let (Some(status), Some(value)) = (labels.get("status"), value) {
                    snapshot.status_codes.insert(status.clone(), value.round());
                }
            }
        }
        "latency_buckets" => {
            let mut buckets: Vec<LatencyBucket> = samples
                .iter()
                .filter_map(|(labels, value)| {
                    let le = labels.get("le")?;
                    let le_ms = match le.as_str() {
                        "+Inf" => None,
                        text => Some(text.parse::<f64>().ok()? * 1000.0),
                    };
                    Some(LatencyBucket {
                        le_ms,
                        count: value.unwrap_or(0.0),
                    })
                })
                .collect();
            buckets.sort_by(|a, b| {
                let key = |x: &LatencyBucket| x.le_ms.unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b))
            });
            snapshot.latency_buckets = buckets;
        }
        _ => {}
    }
}

async fn firing_alerts(
    client: &reqwest::Client,
    base: &str,
) -> std::result::Result<Vec<FiringAlert>, String> {
    let body: Value = client
        .get(format!("{base}/api/v1/alerts"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let mut alerts = Vec::new();
    for alert in body["data"]["alerts"].as_array().into_iter().flatten() {
        if alert.get("state").and_then(Value::as_str) != Some("firing") {
            continue;
        }
        let labels: BTreeMap<String, String> = alert["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        alerts.push(FiringAlert {
            name: labels.get("alertname").cloned().unwrap_or_default(),
            severity: labels.get("severity").cloned(),
            active_at: alert
                .get("activeAt")
                .and_then(Value::as_str)
                .map(str::to_string),
            labels,
        });
    }
    Ok(alerts)
}

/// Writes `prometheus.json` into a run folder.
pub fn write_prometheus(dir: &Path, snapshot: &PrometheusSnapshot) -> Result<()> {
    let path = dir.join("prometheus.json");
    let mut text = serde_json::to_string_pretty(snapshot).map_err(|source| ReportError::Json {
        path: path.clone(),
        what: "prometheus.json",
        source,
    })?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| ReportError::io(&path, e))
}
