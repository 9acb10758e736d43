//! Engine runs against the in-process target, one per executor: counts, rates, failures,
//! checks, dropped iterations, templates and signing, cancellation.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cricalgo_load::target::{self, TestTarget};
use cricalgo_load::{CancellationToken, Event, MetricValues, RunResult, Scenario};
use tokio::sync::mpsc;

fn scenario(
    target: &TestTarget,
    executor: serde_json::Value,
    requests: serde_json::Value,
) -> Scenario {
    serde_json::from_value(serde_json::json!({
        "name": "test",
        "base_url": target.url(),
        "executor": executor,
        "requests": requests,
    }))
    .expect("test scenario parses")
}

async fn run(scenario: &Scenario) -> (RunResult, Vec<Event>) {
    let plan = scenario.plan().expect("plan is valid");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = cricalgo_load::run_scenario(plan, tx, CancellationToken::new())
        .await
        .expect("run completes");
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (result, events)
}

fn count(result: &RunResult, metric: &str) -> f64 {
    match result.metric(metric, &[]) {
        Some(MetricValues::Counter { count, .. }) => count,
        other => panic!("{metric}: {other:?}"),
    }
}

fn rate(result: &RunResult, metric: &str, selector: &[(&str, &str)]) -> (u64, u64) {
    let selector: Vec<(String, String)> = selector
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match result.metric(metric, &selector) {
        Some(MetricValues::Rate { trues, falses }) => (trues, falses),
        other => panic!("{metric}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_iterations_runs_exactly_n_and_reuses_connections() {
    let target = target::start().await.unwrap();
    let s = scenario(
        &target,
        serde_json::json!({"executor": "shared-iterations", "vus": 4, "iterations": 200}),
        serde_json::json!([{"name": "root", "path": "/"}, {"name": "missing", "path": "/status/404"}]),
    );
    let (result, _) = run(&s).await;
    assert_eq!(count(&result, "iterations"), 200.0);
    assert_eq!(count(&result, "http_reqs"), 400.0);
    assert_eq!(target.stats.requests.load(Ordering::Relaxed), 400);
    // One keep-alive connection per VU.
    assert!(target.stats.connections.load(Ordering::Relaxed) <= 4);
    assert_eq!(rate(&result, "http_req_failed", &[]), (200, 200));
    assert_eq!(
        rate(&result, "http_req_failed", &[("name", "root")]),
        (0, 200)
    );
    assert_eq!(
        rate(&result, "http_req_failed", &[("status", "404")]),
        (200, 0)
    );
    let expected = result
        .metric(
            "http_req_duration",
            &[("expected_response".into(), "true".into())],
        )
        .unwrap();
    match expected {
        MetricValues::Trend(trend) => assert_eq!(trend.count(), 200),
        other => panic!("{other:?}"),
    }
    assert!(!result.incomplete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_vus_runs_for_its_duration_with_checks_and_series() {
    let target = target::start().await.unwrap();
    let s = scenario(
        &target,
        serde_json::json!({"executor": "constant-vus", "vus": 5, "duration": "2s"}),
        serde_json::json!([{
            "name": "webhook", "method": "POST", "path": "/api/v1/webhooks/bep20",
            "body": {"tx_hash": "0x{{rand_hex 64}}", "amount": "{{rand_decimal 1 100 2}}", "id": "{{uuid}}"},
            "checks": [
                {"name": "status is 202", "status": 202},
                {"name": "ok is true", "json": "ok", "equals": true},
                {"name": "tx_id present", "json": "tx_id", "not_empty": true},
                {"name": "never", "status": 500}
            ]
        }]),
    );
    let started = Instant::now();
    let (result, events) = run(&s).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    let reqs = count(&result, "http_reqs");
    assert!(reqs > 100.0, "{reqs}");
    let checks = result.checks();
    assert_eq!(checks[0].1 as f64, reqs);
    assert_eq!(checks[1].1 as f64, reqs);
    assert_eq!(checks[2].1 as f64, reqs);
    assert_eq!(checks[3], ("never".to_string(), 0, reqs as u64));
    assert_eq!(rate(&result, "checks", &[("check", "never")]).0, 0);
    // Unique bodies: every tx_hash differs.
    let bodies = target.stats.webhook_bodies.lock().unwrap();
    let mut hashes: Vec<String> = bodies
        .iter()
        .map(|(body, _)| {
            serde_json::from_slice::<serde_json::Value>(body).unwrap()["tx_hash"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let total = hashes.len();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), total);
    // The series: one row per second, requests add up.
    let series_total: u64 = result.timeseries.iter().map(|r| r.requests).sum();
    assert_eq!(series_total as f64, reqs);
    assert!(result.timeseries.len() >= 2, "{:?}", result.timeseries);
    assert!(events.iter().any(|e| matches!(e, Event::Second(_))));
    match result.metric("vus_max", &[]) {
        Some(MetricValues::Gauge { value, .. }) => assert_eq!(value, 5.0),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_arrival_rate_keeps_the_rate_and_drops_when_vus_are_busy() {
    let target = target::start().await.unwrap();
    // 50/s for 2 s = 100 iterations, plenty of VUs.
    let s = scenario(
        &target,
        serde_json::json!({"executor": "constant-arrival-rate", "rate": 50, "timeUnit": "1s", "duration": "2s", "preAllocatedVUs": 5, "maxVUs": 10}),
        serde_json::json!([{"path": "/"}]),
    );
    let (result, _) = run(&s).await;
    assert_eq!(count(&result, "iterations"), 100.0);
    assert_eq!(count(&result, "dropped_iterations"), 0.0);
    assert!(result.metric("http_req_duration_corrected", &[]).is_some());
    // 20/s for 2 s against a 1 s answer with 4 VUs: about 8 iterations run, the rest drop.
    let s = scenario(
        &target,
        serde_json::json!({"executor": "constant-arrival-rate", "rate": 20, "timeUnit": "1s", "duration": "2s", "preAllocatedVUs": 4, "maxVUs": 4, "gracefulStop": "5s"}),
        serde_json::json!([{"path": "/delay/1000"}]),
    );
    let (result, _) = run(&s).await;
    let iterations = count(&result, "iterations");
    let dropped = count(&result, "dropped_iterations");
    assert_eq!(iterations + dropped, 40.0);
    assert!((6.0..=12.0).contains(&iterations), "{iterations}");
    assert!(
        result.notes.iter().any(|n| n.contains("dropped")),
        "{:?}",
        result.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramping_executors_follow_their_stages() {
    let target = target::start().await.unwrap();
    // 0 → 40/s over 2 s = 40 iterations.
    let s = scenario(
        &target,
        serde_json::json!({"executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1s", "stages": [{"duration": "2s", "target": 40}], "preAllocatedVUs": 4}),
        serde_json::json!([{"path": "/"}]),
    );
    let (result, _) = run(&s).await;
    assert_eq!(
        count(&result, "iterations") + count(&result, "dropped_iterations"),
        40.0
    );

    let s = scenario(
        &target,
        serde_json::json!({"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 6}, {"duration": "1s", "target": 6}]}),
        serde_json::json!([{"path": "/delay/20"}]),
    );
    let (result, _) = run(&s).await;
    assert!(result.vus_peak >= 4, "{}", result.vus_peak);
    assert!(count(&result, "iterations") > 50.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_as_failures() {
    let target = target::start().await.unwrap();
    let s = scenario(
        &target,
        serde_json::json!({"executor": "shared-iterations", "vus": 2, "iterations": 50}),
        serde_json::json!([{"path": "/"}]),
    );
    let plan = s.plan().unwrap();
    target.stop();
    drop(target);
    let (tx, _rx) = mpsc::unbounded_channel();
    let result = cricalgo_load::run_scenario(plan, tx, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(rate(&result, "http_req_failed", &[]), (50, 0));
    assert_eq!(result.status_counts().get(&0), Some(&50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_promptly_and_marks_incomplete() {
    let target = target::start().await.unwrap();
    let s = scenario(
        &target,
        serde_json::json!({"executor": "constant-vus", "vus": 3, "duration": "60s"}),
        serde_json::json!([{"path": "/delay/5000"}]),
    );
    let plan = s.plan().unwrap();
    let cancel = CancellationToken::new();
    let (tx, _rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let handle = tokio::spawn(cricalgo_load::run_scenario(plan, tx, cancel.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let result = handle.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(result.incomplete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_signed_with_the_secret_from_the_environment() {
    let target = target::start().await.unwrap();
    let var = "CRICALGO_LOAD_TEST_SECRET_SIGNING";
    let s = scenario(
        &target,
        serde_json::json!({"executor": "shared-iterations", "vus": 1, "iterations": 3}),
        serde_json::json!([{
            "method": "POST", "path": "/api/v1/webhooks/bep20",
            "body": "{\"tx_hash\":\"{{uuid}}\",\"n\":{{iter}}}",
            "sign": {"secret_env": var, "header": "X-Signature", "prefix": "sha256="}
        }]),
    );
    let plan = s
        .plan_with_env(&|name| (name == var).then(|| "s3cret".to_string()))
        .unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    cricalgo_load::run_scenario(plan, tx, CancellationToken::new())
        .await
        .unwrap();
    use hmac::Mac;
    let bodies = target.stats.webhook_bodies.lock().unwrap();
    assert_eq!(bodies.len(), 3);
    for (body, signature) in bodies.iter() {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature.as_deref(), Some(expected.as_str()));
    }
    // Without the variable and not optional: an error before any load.
    let missing = scenario(
        &target,
        serde_json::json!({"executor": "shared-iterations", "vus": 1, "iterations": 1}),
        serde_json::json!([{"method": "POST", "path": "/", "body": "x", "sign": {"secret_env": "CRICALGO_LOAD_TEST_UNSET_VAR"}}]),
    );
    let err = missing.plan().unwrap_err().to_string();
    assert!(err.contains("`CRICALGO_LOAD_TEST_UNSET_VAR`"), "{err}");
}

#[test]
fn every_shipped_scenario_parses_and_plans() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../load/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("load/scenarios exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let scenario = Scenario::from_file(&path).unwrap_or_else(|err| panic!("{err}"));
        let plan = scenario
            .plan_with_env(&|_| None)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert!(!plan.requests.is_empty());
        seen += 1;
    }
    assert!(
        seen >= 2,
        "expected webhook.json and capacity.json in {}",
        dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_scenario_sends_unique_well_formed_deposits() {
    let target = target::start().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../load/scenarios");
    let mut scenario = Scenario::from_file(&dir.join("webhook.json")).unwrap();
    scenario.base_url = target.url();
    scenario.think_time = None;
    scenario.executor = serde_json::from_value(
        serde_json::json!({"executor": "shared-iterations", "vus": 4, "iterations": 40}),
    )
    .unwrap();
    let plan = scenario.plan_with_env(&|_| None).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let result = cricalgo_load::run_scenario(plan, tx, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(count(&result, "http_reqs"), 80.0);
    assert!(
        result.checks().iter().all(|(_, _, fails)| *fails == 0),
        "{:?}",
        result.checks()
    );
    let bodies = target.stats.webhook_bodies.lock().unwrap();
    let mut hashes = Vec::new();
    for (body, signature) in bodies.iter() {
        assert!(signature.is_none());
        let json: serde_json::Value = serde_json::from_slice(body).expect("body is JSON");
        let telegram = json["metadata"]["telegram_id"].as_i64().unwrap();
        assert!((100001..=100050).contains(&telegram));
        assert!(json["confirmations"].as_i64().unwrap() >= 3);
        let amount = json["amount"].as_str().unwrap();
        assert_eq!(amount.split_once('.').unwrap().1.len(), 2);
        hashes.push(json["tx_hash"].as_str().unwrap().to_string());
    }
    let total = hashes.len();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), total);
}
