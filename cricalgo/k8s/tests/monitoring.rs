//! The shipped Prometheus configuration and alert rules: promtool check and unit tests, a firing
//! and a silent case for every alert, and every metric, label and label value the rules use
//! exported by the services — first from their metric registries, then by scraping a running app
//! and worker started against the test Postgres and Redis.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cricalgo_common::testing::{self, TestDb};
use cricalgo_k8s::monitoring::{self, Exposition, Layout};
use serde_json::Value;

fn layout() -> Layout {
    Layout::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../monitoring/prometheus"))
}

fn jobs() -> BTreeSet<String> {
    monitoring::scrape_jobs(&layout().config()).unwrap()
}

#[test]
fn prometheus_yml_scrapes_the_three_apps_and_the_workers_by_dns() {
    let text = std::fs::read_to_string(layout().config()).unwrap();
    let config: Value = serde_yaml::from_str(&text).unwrap();
    let scrape = config["scrape_configs"].as_array().unwrap();
    let job = |name: &str| {
        scrape
            .iter()
            .find(|c| c["job_name"] == name)
            .unwrap_or_else(|| panic!("no job `{name}`"))
            .clone()
    };
    assert_eq!(
        job("app")["static_configs"][0]["targets"],
        serde_json::json!(["app1:8000", "app2:8000", "app3:8000"])
    );
    let worker = job("worker");
    let dns = &worker["dns_sd_configs"][0];
    assert_eq!(dns["names"], serde_json::json!(["worker"]));
    assert_eq!(dns["type"], "A");
    assert_eq!(dns["port"], 9100);
    assert_eq!(config["rule_files"], serde_json::json!(["alerts/*.yaml"]));
    assert_eq!(
        jobs(),
        ["app", "prometheus", "worker"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn promtool_checks_the_config_and_rules_and_runs_the_rule_tests() {
    if !monitoring::promtool_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`promtool` is missing under CI=true; `.ci/run` installs Debian's `prometheus` package, which provides it"
        );
        eprintln!("promtool is not installed (apt-get install prometheus); skipping outside CI");
        return;
    }
    let runs = monitoring::run_promtool(&layout()).unwrap();
    assert_eq!(runs.len(), 3);
    for run in &runs {
        assert!(run.success, "`{}` failed:\n{}", run.command, run.output);
    }
    assert!(
        runs[1].output.contains("SUCCESS: 22 rules found"),
        "{}",
        runs[1].output
    );
    let tests = layout().test_files().unwrap();
    assert!(tests.len() >= 4);
    for test in tests {
        let name = test.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            runs[2].output.contains(&format!("tests/{name}")),
            "{}",
            runs[2].output
        );
    }
}

#[test]
fn promtool_catches_a_broken_rule_test() {
    // The control for the test above: a case expecting an alert that cannot fire must fail.
    if !monitoring::promtool_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`promtool` is missing under CI=true"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("alerts")).unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    std::fs::copy(layout().config(), dir.path().join("prometheus.yml")).unwrap();
    std::fs::copy(
        layout().dir.join("alerts/cricalgo_alerts.yaml"),
        dir.path().join("alerts/cricalgo_alerts.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/broken_test.yaml"),
        "rule_files: [../alerts/cricalgo_alerts.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'deposit_dlq_depth{job=\"worker\", instance=\"w:9100\"}'\n        values: '0x10'\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: CricalgoDepositDlqNotEmpty\n        exp_alerts:\n          - exp_labels: {severity: critical}\n",
    )
    .unwrap();
    let runs = monitoring::run_promtool(&Layout::new(dir.path())).unwrap();
    assert!(runs[0].success && runs[1].success);
    assert!(!runs[2].success, "{}", runs[2].output);
}

#[test]
fn every_alert_has_a_case_where_it_fires_and_one_where_it_stays_silent() {
    let missing = monitoring::uncovered_alerts(&layout()).unwrap();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    let rules = monitoring::all_rules(&layout()).unwrap();
    let alerts: Vec<&str> = rules.iter().filter_map(|r| r.alert.as_deref()).collect();
    assert_eq!(alerts.len(), 18, "{alerts:?}");
    for rule in rules.iter().filter(|r| r.alert.is_some()) {
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            matches!(severity, Some("warning" | "critical")),
            "{}: severity {severity:?}",
            rule.name()
        );
        assert!(rule.annotations.contains_key("summary"), "{}", rule.name());
        assert!(
            rule.annotations.contains_key("description"),
            "{}",
            rule.name()
        );
    }
}

#[test]
fn the_rules_cover_what_the_spec_asks_for() {
    let rules = monitoring::all_rules(&layout()).unwrap();
    let expr = |name: &str| {
        rules
            .iter()
            .find(|r| r.name() == name)
            .unwrap_or_else(|| panic!("no rule `{name}`"))
            .expr
            .clone()
    };
    assert!(expr("CricalgoWebhookLatencyP95High").contains("histogram_quantile(0.95"));
    assert!(expr("CricalgoWebhookLatencyP99High").contains("histogram_quantile(0.99"));
    assert!(expr("CricalgoWebhookErrorRateHigh").contains("> 0.01"));
    assert!(expr("CricalgoWebhookErrorBudgetFastBurn").contains("14.4"));
    assert!(expr("CricalgoWebhookErrorBudgetSlowBurn").contains("6 * 0.01"));
    assert!(expr("CricalgoDepositQueueBacklog").contains("> 50"));
    assert!(expr("CricalgoDepositQueueBacklogCritical").contains("> 200"));
    assert!(expr("CricalgoDbPoolSaturated").contains("> 0.9"));
    assert!(expr("CricalgoTargetDown").contains("up{"));
    let absent = rules
        .iter()
        .filter(|r| r.expr.starts_with("absent("))
        .count();
    assert!(absent >= 3);
}

/// The registries of both services, rendered as they start (every series pre-created).
fn registry_exports() -> BTreeMap<String, Exposition> {
    let app = cricalgo_common::metrics::WebhookMetrics::new().render();
    let worker = cricalgo_common::metrics::WorkerMetrics::new().render();
    [
        ("app".to_owned(), Exposition::parse("app", &app).unwrap()),
        (
            "worker".to_owned(),
            Exposition::parse("worker", &worker).unwrap(),
        ),
    ]
    .into_iter()
    .collect()
}

#[test]
fn every_rule_uses_metrics_the_service_registries_export() {
    let rules = monitoring::all_rules(&layout()).unwrap();
    let problems = monitoring::check_metrics(&rules, &registry_exports(), &jobs()).unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(text.is_empty(), "{}", text.join("\n"));
}

/// A service process killed when the test ends, its output kept for failure messages.
struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// The port it serves metrics on (0 when not relevant).
    metrics_port: u16,
}

impl Service {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service binaries next to this test's own profile (`target/<profile>/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "`{}` is missing; build the services first: `cargo build -p cricalgo-webhook -p cricalgo-worker` (with `--release` for a release test run; `cargo xtask ci` does)",
        path.display()
    );
    path
}

fn spawn(name: &'static str, env: &BTreeMap<String, String>, dir: &Path) -> Service {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(binary(name))
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|err| panic!("failed to start {name}: {err}"));
    let metrics_port = env
        .get(if name == "cricalgo-worker" {
            "METRICS_PORT"
        } else {
            "PORT"
        })
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Service {
        name,
        child,
        log,
        metrics_port,
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let response = http.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

async fn wait_for(http: &reqwest::Client, service: &mut Service, url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, _)) = get(http, url).await {
            return;
        }
        if let Ok(Some(status)) = service.child.try_wait() {
            panic!("{} exited with {status}:\n{}", service.name, service.logs());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not answer 200 at {url} within 60s:\n{}",
            service.name,
            service.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ConfigMap's values, so the running services also prove the ConfigMap is accepted.
fn configmap_env() -> BTreeMap<String, String> {
    let manifests =
        cricalgo_k8s::manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s"))
            .unwrap();
    let configmap = manifests.iter().find(|m| m.kind() == "ConfigMap").unwrap();
    configmap.object["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_uses_metrics_and_labels_a_running_app_and_worker_export() {
    let redis_url = testing::redis_url();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let app_port = testing::free_port();
    let worker_port = testing::free_port();
    let mut env = configmap_env();
    env.insert("DATABASE_URL".into(), db.url.clone());
    env.insert("REDIS_URL".into(), redis_url);
    env.insert("DEPOSIT_STREAM".into(), testing::unique_stream());
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    env.insert("PORT".into(), app_port.to_string());
    env.insert("METRICS_PORT".into(), worker_port.to_string());
    let mut app = spawn("cricalgo-webhook", &env, dir.path());
    let mut worker = spawn("cricalgo-worker", &env, dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let app_url = format!("http://127.0.0.1:{app_port}");
    let worker_url = format!("http://127.0.0.1:{worker_port}");
    wait_for(&http, &mut app, &format!("{app_url}/api/v1/ready")).await;
    wait_for(&http, &mut worker, &format!("{worker_url}/metrics")).await;

    // Real traffic, so the histograms carry observations and not only their zero series: an
    // accepted deposit without a user (the worker marks it unattributed) and a bad request.
    let tx_hash = format!("0x{}", uuid::Uuid::new_v4().simple());
    let accepted = http
        .post(format!("{app_url}/api/v1/webhooks/bep20"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"tx_hash":"{tx_hash}","amount":"20.0","confirmations":12}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 202, "{}", app.logs());
    let bad = http
        .post(format!("{app_url}/api/v1/webhooks/bep20"))
        .header("content-type", "application/json")
        .body(r#"{"amount":"1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let processed = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("deposits_processed_total{outcome=\"unattributed\"} 1"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let worker_text = loop {
        let (_, text) = get(&http, &format!("{worker_url}/metrics")).await.unwrap();
        if processed(&text) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not process the deposit within 60s:\n{text}\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, app_text) = get(&http, &format!("{app_url}/metrics")).await.unwrap();
    assert_eq!(status, 200);

    let exports: BTreeMap<String, Exposition> = [
        (
            "app".to_owned(),
            Exposition::parse("app", &app_text).unwrap(),
        ),
        (
            "worker".to_owned(),
            Exposition::parse("worker", &worker_text).unwrap(),
        ),
    ]
    .into_iter()
    .collect();
    // The live expositions hold at least every series the registries hold (and the check passes).
    for (job, registry) in registry_exports() {
        for (name, labels) in &registry.series {
            let live = exports[&job]
                .series
                .get(name)
                .unwrap_or_else(|| panic!("running {job} does not export `{name}`"));
            for label in labels.keys() {
                assert!(
                    live.contains_key(label),
                    "running {job}: `{name}` lacks `{label}`"
                );
            }
        }
    }
    let webhook_route =
        &exports["app"].series["http_server_request_duration_seconds_bucket"]["route"];
    assert!(
        webhook_route.contains("/api/v1/webhooks/bep20"),
        "{webhook_route:?}"
    );
    let rules = monitoring::all_rules(&layout()).unwrap();
    let problems = monitoring::check_metrics(&rules, &exports, &jobs()).unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(text.is_empty(), "{}", text.join("\n"));

    // The same rules in a real Prometheus scraping these two processes: every rule evaluates
    // without error and no alert is even pending on the healthy pair; then the worker goes away
    // and `CricalgoTargetDown` turns pending for it.
    if prometheus_present() {
        rules_in_a_real_prometheus(&http, app_port, &mut worker, dir.path()).await;
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`prometheus` is missing under CI=true; `.ci/run` installs Debian's `prometheus` package"
        );
        eprintln!(
            "prometheus is not installed (apt-get install prometheus); skipped the rule evaluation part"
        );
    }

    drop(app);
    drop(worker);
    db.drop_database().await;
}

fn prometheus_present() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

async fn json(http: &reqwest::Client, url: &str) -> Value {
    let (status, body) = get(http, url)
        .await
        .unwrap_or_else(|| panic!("no answer from {url}"));
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Alerting rules with their `state`, and any rule whose health is not `ok`.
async fn rule_states(
    http: &reqwest::Client,
    base: &str,
) -> (BTreeMap<String, String>, Vec<String>) {
    let rules = json(http, &format!("{base}/api/v1/rules")).await;
    let mut states = BTreeMap::new();
    let mut unhealthy = Vec::new();
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap().to_owned();
            if rule["health"] != "ok" {
                unhealthy.push(format!("{name}: {} {}", rule["health"], rule["lastError"]));
            }
            if rule["type"] == "alerting" {
                states.insert(name, rule["state"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    (states, unhealthy)
}

async fn rules_in_a_real_prometheus(
    http: &reqwest::Client,
    app_port: u16,
    worker: &mut Service,
    dir: &Path,
) {
    let worker_port = worker_metrics_port(worker);
    let rules = layout().dir.join("alerts/cricalgo_alerts.yaml");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [\"{}\"]\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: [\"127.0.0.1:{app_port}\"]}}]\n  - job_name: worker\n    static_configs: [{{targets: [\"127.0.0.1:{worker_port}\"]}}]\n",
            rules.display()
        ),
    )
    .unwrap();
    let port = testing::free_port();
    let log = dir.join("prometheus.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut prometheus = Service {
        name: "prometheus",
        child,
        log,
        metrics_port: port,
    };
    let base = format!("http://127.0.0.1:{port}");
    wait_for(http, &mut prometheus, &format!("{base}/-/ready")).await;

    // Both targets scraped, then every rule group evaluated after that.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let scraped_at = loop {
        let up = json(http, &format!("{base}/api/v1/query?query=up")).await;
        let results = up["data"]["result"].as_array().cloned().unwrap_or_default();
        if results.len() == 2 && results.iter().all(|r| r["value"][1] == "1") {
            break results[0]["value"][0].as_f64().unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "targets not up: {up}\n{}",
            prometheus.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    loop {
        let (_, own) = get(http, &format!("{base}/metrics")).await.unwrap();
        let evaluations: Vec<f64> = own
            .lines()
            .filter(|l| l.starts_with("prometheus_rule_group_last_evaluation_timestamp_seconds{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        if evaluations.len() == 5 && evaluations.iter().all(|t| *t > scraped_at + 1.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rule groups not evaluated:\n{}",
            prometheus.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (states, unhealthy) = rule_states(http, &base).await;
    assert!(unhealthy.is_empty(), "{}", unhealthy.join("\n"));
    assert_eq!(states.len(), 18);
    let active: Vec<_> = states
        .iter()
        .filter(|(_, state)| *state != "inactive")
        .collect();
    assert!(
        active.is_empty(),
        "alerts active on a healthy app and worker: {active:?}"
    );

    // The control: the worker stops answering, and the target-down rule sees it.
    let _ = worker.child.kill();
    let _ = worker.child.wait();
    loop {
        let (states, _) = rule_states(http, &base).await;
        if states["CricalgoTargetDown"] == "pending" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline + Duration::from_secs(30),
            "CricalgoTargetDown never turned pending: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let alerts = json(http, &format!("{base}/api/v1/alerts")).await;
    let pending = alerts["data"]["alerts"].as_array().unwrap();
    assert!(
        pending
            .iter()
            .any(|a| a["labels"]["alertname"] == "CricalgoTargetDown"
                && a["labels"]["job"] == "worker"),
        "{alerts}"
    );
}

/// The worker's metrics port, from its `METRICS_PORT` at spawn time.
fn worker_metrics_port(worker: &Service) -> u16 {
    worker.metrics_port
}
