//! `prometheus.json` collection against a stand-in Prometheus HTTP API (the real one is exercised
//! by the full-run test on the staging stack).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use axum::routing::get;
use chrono::Utc;
use cricalgo_report::prometheus::{CollectConfig, collect, write_prometheus};
use serde_json::{Value, json};

fn vector(samples: &[(&[(&str, &str)], &str)]) -> Value {
    let result: Vec<Value> = samples
        .iter()
        .map(|(labels, v)| {
            let metric: serde_json::Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({"metric": metric, "value": [1758379000.0, v]})
        })
        .collect();
    json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

async fn query(Query(params): Query<HashMap<String, String>>) -> Json<Value> {
    let q = params.get("query").cloned().unwrap_or_default();
    assert!(
        params.contains_key("time"),
        "queries are evaluated at the end of the run"
    );
    let body = if q.starts_with("histogram_quantile(0.95") {
        assert!(
            q.contains("http_server_request_duration_seconds_bucket[300s]"),
            "{q}"
        );
        vector(&[(&[], "1250.5")])
    } else if q.starts_with("histogram_quantile(0.99") {
        vector(&[(&[], "NaN")])
    } else if q.starts_with("histogram_quantile(0.5") {
        vector(&[(&[], "42")])
    } else if q.starts_with("sum(rate(http_requests_total{") {
        // 0/0 style: nothing failed.
        vector(&[])
    } else if q.starts_with("sum(rate(http_requests_total[") {
        vector(&[(&[], "121.5")])
    } else if q == "sum(deposit_queue_depth)" {
        vector(&[(&[], "4")])
    } else if q.starts_with("max_over_time") {
        vector(&[(&[], "57")])
    } else if q.contains("db_pool_connections") {
        vector(&[
            (&[("state", "active")], "6"),
            (&[("state", "idle")], "24"),
            (&[("state", "max")], "150"),
        ])
    } else if q.starts_with("sum by (status) (increase(http_requests_total[") {
        vector(&[(&[("status", "202")], "997.4"), (&[("status", "503")], "3")])
    } else if q.contains("increase(http_server_request_duration_seconds_bucket") {
        vector(&[
            (&[("le", "+Inf")], "1000"),
            (&[("le", "0.1")], "800"),
            (&[("le", "0.025")], "300"),
        ])
    } else {
        json!({"status": "error", "errorType": "bad_data", "error": format!("unexpected query {q}")})
    };
    Json(body)
}

async fn alerts() -> Json<Value> {
    Json(json!({"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "DepositQueueBacklog", "severity": "warning"}, "state": "firing", "activeAt": "2025-09-20T14:37:00Z"},
        {"labels": {"alertname": "WebhookHigh5xxRatio", "severity": "critical"}, "state": "pending"}
    ]}}))
}

#[tokio::test]
async fn collects_the_server_side_view() {
    let app = axum::Router::new()
        .route("/-/ready", get(|| async { "Prometheus Server is Ready." }))
        .route("/api/v1/query", get(query))
        .route("/api/v1/alerts", get(alerts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let snapshot = collect(&CollectConfig {
        base_url: format!("http://{addr}"),
        window: Duration::from_secs(300),
        at: Utc::now(),
        timeout: Duration::from_secs(5),
    })
    .await;
    assert!(snapshot.reachable, "{:?}", snapshot.error);
    assert_eq!(snapshot.p95_ms, Some(1250.5));
    assert_eq!(snapshot.p99_ms, None, "NaN is never written");
    assert_eq!(snapshot.p50_ms, Some(42.0));
    assert_eq!(snapshot.request_rate, Some(121.5));
    assert_eq!(
        snapshot.error_5xx_ratio,
        Some(0.0),
        "traffic without 5xx is a 0 ratio"
    );
    assert_eq!(snapshot.deposit_queue_depth, Some(4.0));
    assert_eq!(snapshot.deposit_queue_depth_max, Some(57.0));
    assert_eq!(snapshot.db_pool_connections["max"], 150.0);
    assert_eq!(snapshot.status_codes["202"], 997.0);
    assert_eq!(snapshot.alerts_firing.len(), 1);
    assert_eq!(snapshot.alerts_firing[0].name, "DepositQueueBacklog");
    let les: Vec<Option<f64>> = snapshot.latency_buckets.iter().map(|b| b.le_ms).collect();
    assert_eq!(les, vec![Some(25.0), Some(100.0), None]);
    assert!(
        snapshot.queries.iter().all(|q| q.error.is_none()),
        "{:#?}",
        snapshot.queries
    );

    let dir = tempfile::tempdir().unwrap();
    write_prometheus(dir.path(), &snapshot).unwrap();
    let text = std::fs::read_to_string(dir.path().join("prometheus.json")).unwrap();
    assert!(!text.contains("NaN") && !text.contains("Infinity"));
    let back: cricalgo_report::prometheus::PrometheusSnapshot =
        serde_json::from_str(&text).unwrap();
    assert_eq!(back, snapshot);
}

#[tokio::test]
async fn an_unreachable_prometheus_is_recorded_not_fatal() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let snapshot = collect(&CollectConfig {
        base_url: format!("http://{addr}"),
        window: Duration::from_secs(20),
        at: Utc::now(),
        timeout: Duration::from_secs(2),
    })
    .await;
    assert!(!snapshot.reachable);
    assert!(snapshot.error.unwrap().contains("is not reachable"));
    assert_eq!(
        snapshot.window_seconds, 30,
        "rates need at least 30 s of scrapes"
    );
}
