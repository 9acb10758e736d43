//! Synthetic run folders with realistic figures: a passed run, a failed one whose latency looks
//! fast only because most requests failed, and an interrupted one.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use cricalgo_report::ManifestInfo;
use serde_json::{Value, json};

/// How the synthetic run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Incomplete,
}

/// A secret that the stack snapshot carries under a secret-looking key; it must never show.
pub const SNAPSHOT_SECRET: &str = "wh-secret-7f3a9c1e";

fn jitter(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*seed >> 33) as f64) / f64::from(u32::MAX >> 1)
}

pub fn info(outcome: Outcome) -> ManifestInfo {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2025-09-20T14:35:43Z")
        .unwrap()
        .with_timezone(&Utc);
    let seconds = if outcome == Outcome::Incomplete {
        41
    } else {
        120
    };
    ManifestInfo {
        run_id: "perf_full_run_20250920T143543Z".into(),
        command_line: [
            "cricalgo",
            "perf",
            "full-run",
            "--vus",
            "100",
            "--duration",
            "2m",
        ]
        .map(String::from)
        .to_vec(),
        started_at: start,
        ended_at: start + chrono::Duration::seconds(seconds + 35),
        git_revision: Some("2fbbf64c0ffee".into()),
        tool_version: "0.1.0".into(),
        stack_revision: Some("r3".into()),
        scenario: Some("load/scenarios/webhook.json".into()),
        verdict: None,
        incomplete: outcome == Outcome::Incomplete,
    }
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

struct Figures {
    requests: u64,
    rate: f64,
    error_rate: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    vus: u64,
}

fn summaries(dir: &Path, f: &Figures, flags: &[(&str, &str, bool)], checks: &[(&str, u64, u64)]) {
    let failed = (f.requests as f64 * f.error_rate).round() as u64;
    let mut metrics = json!({
        "http_reqs": {"count": f.requests, "rate": f.rate},
        "http_req_failed": {"value": f.error_rate, "passes": failed, "fails": f.requests - failed},
        "http_req_duration": {"avg": f.p50 * 1.2, "min": 1.8, "med": f.p50, "max": f.p99 * 2.5,
                               "p(90)": f.p95 * 0.8, "p(95)": f.p95, "p(99)": f.p99},
        "iterations": {"count": f.requests / 2, "rate": f.rate / 2.0},
        "vus": {"value": 0, "min": 0, "max": f.vus},
        "vus_max": {"value": f.vus, "min": f.vus, "max": f.vus},
        "checks": {"value": 0.99, "passes": 100, "fails": 1},
        "http_reqs{status:200}": {"count": f.requests / 2, "rate": f.rate / 2.0},
        "http_reqs{status:202}": {"count": f.requests / 2 - failed.min(f.requests / 2), "rate": 1.0},
    });
    if failed > 0 {
        metrics["http_reqs{status:503}"] =
            json!({"count": failed.min(f.requests / 2), "rate": 1.0});
    }
    let mut k6_metrics = json!({});
    for (metric, expression, failed) in flags {
        metrics[*metric]["thresholds"][*expression] = json!(failed);
        k6_metrics[*metric] = json!({"type": "trend", "contains": "default", "values": {},
                                      "thresholds": {*expression: {"ok": !failed}}});
    }
    let checks_map: serde_json::Map<String, Value> = checks
        .iter()
        .map(|(name, passes, fails)| {
            (name.to_string(), json!({"name": name, "path": format!("::{name}"), "id": "x", "passes": passes, "fails": fails}))
        })
        .collect();
    write_json(
        &dir.join("summary.json"),
        &json!({"metrics": metrics, "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": {}, "checks": checks_map}}),
    );
    let mut buckets = Vec::new();
    let mut count = 0u64;
    for (le, share) in [
        (5.0, 0.05),
        (10.0, 0.15),
        (25.0, 0.3),
        (50.0, 0.2),
        (100.0, 0.12),
        (250.0, 0.1),
        (500.0, 0.05),
        (1000.0, 0.02),
        (2500.0, 0.01),
    ] {
        count = (f.requests as f64 * share) as u64;
        buckets.push(json!({"le_ms": le, "count": count}));
    }
    let _ = count;
    write_json(
        &dir.join("summary.k6-data.json"),
        &json!({"metrics": k6_metrics, "root_group": {"name": "", "path": "", "groups": [], "checks": []},
                "options": {"summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]},
                "state": {"testRunDurationMs": 120000.0},
                "latency_histogram": buckets}),
    );
}

fn verdict(dir: &Path, passed: bool, incomplete: bool, rows: &[Row], notes: &[&str]) {
    let thresholds: Vec<Value> = rows
        .iter()
        .map(|(phase, metric, expression, observed, status)| {
            json!({"metric": metric, "expression": expression, "observed": observed,
                   "status": status, "source": "default", "phase": phase})
        })
        .collect();
    write_json(
        &dir.join("verdict.json"),
        &json!({"verdict": if passed { "passed" } else { "failed" }, "incomplete": incomplete,
                "thresholds": thresholds, "notes": notes}),
    );
}

/// The full-run shape: the load phase's document at the top, the overall verdict, and `phases`.
fn full_verdict(dir: &Path, incomplete: bool, rows: &[Row], notes: &[&str]) {
    let phase = |name: &str| {
        let thresholds: Vec<Value> = rows
            .iter()
            .filter(|r| r.0 == name)
            .map(|(_, metric, expression, observed, status)| {
                json!({"metric": metric, "expression": expression, "observed": observed,
                       "status": status, "source": "default", "failing": *status == "failed"})
            })
            .collect();
        let passed = rows.iter().filter(|r| r.0 == name).all(|r| r.4 != "failed");
        let mut doc = json!({"verdict": if passed { "passed" } else { "failed" }, "thresholds": thresholds,
                             "notes": if name == "load" { json!(notes) } else { json!([]) },
                             "incomplete": incomplete && name == "load"});
        if name == "smoke" {
            doc["checks"] = json!([
                {"name": "GET /api/v1/health answers 200", "passed": true},
                {"name": "POST /api/v1/webhooks/bep20 answers 202 with a tx_id", "passed": true},
                {"name": "the deposit is credited", "passed": true}
            ]);
        }
        doc
    };
    let (smoke, load) = (phase("smoke"), phase("load"));
    let passed = smoke["verdict"] == "passed" && load["verdict"] == "passed";
    let mut top = load.clone();
    top["verdict"] = json!(if passed { "passed" } else { "failed" });
    top["phases"] = json!({"smoke": smoke, "load": load});
    write_json(&dir.join("verdict.json"), &top);
}

fn timeseries(dir: &Path, seconds: u64, vus: u64, rate: f64, error_rate: f64, p95: f64) {
    let mut seed = 42u64;
    let mut text = String::from("t,vus,requests,errors,p50,p95,p99\n");
    for t in 0..seconds {
        let ramp = ((t + 1) as f64 / 10.0).min(1.0);
        let v = (vus as f64 * ramp).round();
        let requests = (rate * ramp * (0.85 + 0.3 * jitter(&mut seed))).round();
        let errors = (requests * error_rate * (0.5 + jitter(&mut seed)))
            .round()
            .min(requests);
        if t == 17 {
            // A second with no completed request: empty percentiles.
            let _ = writeln!(text, "{t},{v},0,0,,,");
            continue;
        }
        let p95_t = p95 * (0.7 + 0.6 * jitter(&mut seed));
        let _ = writeln!(
            text,
            "{t},{v},{requests},{errors},{:.2},{:.2},{:.2}",
            p95_t * 0.3,
            p95_t,
            p95_t * 1.6
        );
    }
    std::fs::write(dir.join("timeseries.csv"), text).unwrap();
}

fn stack(dir: &Path) {
    let services: Vec<Value> = ["postgres", "redis", "app1", "app2", "app3", "worker", "nginx", "prometheus"]
        .iter()
        .map(|s| json!({"service": s, "container": format!("cricalgo-{s}-1"), "image_id": "sha256:5d1f0c",
                        "config_hash": "a41e9f", "health_start": "healthy", "health_end": "healthy"}))
        .collect();
    write_json(
        &dir.join("stack.json"),
        &json!({"project": "cricalgo", "revision": "r3", "services": services,
                "env": {"WEBHOOK_SECRET": SNAPSHOT_SECRET, "DB_POOL_SIZE": "10"}}),
    );
}

fn prometheus(dir: &Path, reachable: bool, p95: f64, ratio: f64) {
    let value = if reachable {
        json!({"source": "http://127.0.0.1:9090", "evaluated_at": "2025-09-20T14:38:18Z", "window_seconds": 120,
               "reachable": true, "error": null, "p50_ms": p95 * 0.2, "p95_ms": p95 * 0.8, "p99_ms": p95 * 1.3,
               "request_rate": 118.2, "error_5xx_ratio": ratio, "deposit_queue_depth": 3.0,
               "deposit_queue_depth_max": 41.0, "status_codes": {"200": 7090.0, "202": 7090.0}, "db_pool_connections": {"active": 7.0, "idle": 23.0, "max": 150.0},
               "alerts_firing": if ratio > 0.05 { json!([{"name": "WebhookHigh5xxRatio", "severity": "critical",
                   "active_at": "2025-09-20T14:37:00Z", "labels": {"alertname": "WebhookHigh5xxRatio", "severity": "critical"}}]) } else { json!([]) },
               "latency_buckets": [{"le_ms": 5.0, "count": 1200.0}, {"le_ms": 25.0, "count": 6100.0},
                                   {"le_ms": 100.0, "count": 11900.0}, {"le_ms": 500.0, "count": 13800.0},
                                   {"le_ms": 2500.0, "count": 14150.0}, {"le_ms": null, "count": 14180.0}],
               "queries": []})
    } else {
        json!({"source": "http://127.0.0.1:9090", "evaluated_at": "2025-09-20T14:36:24Z", "window_seconds": 41,
               "reachable": false, "error": "prometheus at `http://127.0.0.1:9090` is not reachable (connection refused); is the staging stack up?",
               "p50_ms": null, "p95_ms": null, "p99_ms": null, "request_rate": null, "error_5xx_ratio": null,
               "deposit_queue_depth": null, "deposit_queue_depth_max": null, "db_pool_connections": {},
               "alerts_firing": [], "latency_buckets": [], "queries": []})
    };
    write_json(&dir.join("prometheus.json"), &value);
}

fn junit(dir: &Path, rows: &[Row]) {
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for phase in ["smoke", "load"] {
        let _ = writeln!(text, "<testsuite name=\"{phase}\">");
        for (p, metric, expression, observed, status) in rows {
            if *p != phase {
                continue;
            }
            let _ = write!(text, "<testcase name=\"{metric}: {expression}\">");
            if *status == "failed" {
                let _ = write!(text, "<failure message=\"observed {observed:?}\"/>");
            }
            text.push_str("</testcase>\n");
        }
        text.push_str("</testsuite>\n");
    }
    text.push_str("</testsuites>\n");
    std::fs::write(dir.join("junit.xml"), text).unwrap();
}

/// `(phase, metric, expression, observed, status)`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
    &'static str,
);

/// Writes a complete full-run folder (without reports and manifest) for `outcome`.
pub fn write_run(dir: &Path, outcome: Outcome) {
    let (figures, rows, notes): (Figures, Vec<Row>, Vec<&str>) = match outcome {
        Outcome::Passed => (
            Figures {
                requests: 14_180,
                rate: 118.2,
                error_rate: 0.0,
                p50: 61.3,
                p95: 1480.0,
                p99: 2210.0,
                vus: 100,
            },
            vec![
                ("smoke", "http_req_failed", "rate<0.01", Some(0.0), "passed"),
                ("smoke", "checks", "rate>0.99", Some(1.0), "passed"),
                ("load", "http_req_failed", "rate<0.01", Some(0.0), "passed"),
                (
                    "load",
                    "http_req_duration",
                    "p(95)<4000",
                    Some(1480.0),
                    "passed",
                ),
                (
                    "load",
                    "http_req_duration{name:webhook}",
                    "p(99) < 5000",
                    Some(2210.0),
                    "passed",
                ),
            ],
            vec![],
        ),
        Outcome::Failed => (
            Figures {
                requests: 31_940,
                rate: 266.2,
                error_rate: 0.62,
                p50: 3.1,
                p95: 11.8,
                p99: 40.2,
                vus: 100,
            },
            vec![
                ("smoke", "http_req_failed", "rate<0.01", Some(0.0), "passed"),
                ("smoke", "checks", "rate>0.99", Some(1.0), "passed"),
                ("load", "http_req_failed", "rate<0.01", Some(0.62), "failed"),
                (
                    "load",
                    "http_req_duration",
                    "p(95)<4000",
                    Some(11.8),
                    "passed",
                ),
                (
                    "load",
                    "http_req_duration{name:webhook}",
                    "p(99) < 5000",
                    Some(40.2),
                    "passed",
                ),
                (
                    "load",
                    "checks{name:deposit credited}",
                    "rate>0.95",
                    None,
                    "no-data",
                ),
            ],
            vec![
                "latency looks fast because 62.00 % of requests failed (failed requests return quickly)",
            ],
        ),
        Outcome::Incomplete => (
            Figures {
                requests: 4_410,
                rate: 107.6,
                error_rate: 0.003,
                p50: 58.0,
                p95: 1390.0,
                p99: 2050.0,
                vus: 100,
            },
            vec![
                ("smoke", "http_req_failed", "rate<0.01", Some(0.0), "passed"),
                (
                    "load",
                    "http_req_failed",
                    "rate<0.01",
                    Some(0.003),
                    "passed",
                ),
                (
                    "load",
                    "http_req_duration",
                    "p(95)<4000",
                    Some(1390.0),
                    "passed",
                ),
            ],
            vec![
                "interrupted after 41 s of a 2 min load phase; the verdict covers what was gathered",
            ],
        ),
    };
    let passed = rows.iter().all(|r| r.4 != "failed");
    let load_flags: Vec<(&str, &str, bool)> = rows
        .iter()
        .filter(|r| r.0 == "load" && r.4 != "no-data")
        .map(|r| (r.1, r.2, r.4 == "failed"))
        .collect();
    let checks = [
        (
            "status is 202",
            figures.requests / 2 - (figures.requests as f64 * figures.error_rate / 2.0) as u64,
            (figures.requests as f64 * figures.error_rate / 2.0) as u64,
        ),
        ("ok is true", figures.requests / 2, 0),
        ("tx_id present", figures.requests / 2, 0),
    ];
    summaries(dir, &figures, &load_flags, &checks);
    let _ = passed;
    full_verdict(dir, outcome == Outcome::Incomplete, &rows, &notes);
    let seconds = if outcome == Outcome::Incomplete {
        41
    } else {
        120
    };
    timeseries(
        dir,
        seconds,
        figures.vus,
        figures.rate,
        figures.error_rate,
        figures.p95,
    );
    stack(dir);
    prometheus(
        dir,
        outcome != Outcome::Incomplete,
        figures.p95,
        if outcome == Outcome::Failed {
            0.61
        } else {
            0.0
        },
    );
    junit(dir, &rows);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    for service in [
        "app1",
        "app2",
        "app3",
        "worker",
        "nginx",
        "postgres",
        "redis",
        "prometheus",
    ] {
        std::fs::write(
            dir.join(format!("logs/{service}.log")),
            format!("{{\"level\":\"INFO\",\"service\":\"{service}\",\"msg\":\"started\"}}\n"),
        )
        .unwrap();
    }
    let smoke = dir.join("smoke");
    std::fs::create_dir_all(&smoke).unwrap();
    let smoke_rows: Vec<_> = rows.iter().filter(|r| r.0 == "smoke").cloned().collect();
    summaries(
        &smoke,
        &Figures {
            requests: 212,
            rate: 7.1,
            error_rate: 0.0,
            p50: 18.0,
            p95: 64.0,
            p99: 90.0,
            vus: 5,
        },
        &[("http_req_failed", "rate<0.01", false)],
        &[("health is 200", 106, 0), ("webhook is 202", 106, 0)],
    );
    verdict(&smoke, true, false, &smoke_rows, &[]);
}
