//! `cricalgo perf run` and `cricalgo smoke`: the built binary against an in-process target — run
//! folders, exit codes 0 / 99 / 1 / 2 / 130, F8 (target dying or slow once load started, Ctrl-C),
//! and the `--engine k6` plumbing with a stand-in `k6` on PATH.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cricalgo_load::target;

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cricalgo"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CRICALGO_TARGET")
        .env_remove("WEBHOOK_SECRET")
        .env("CRICALGO_ARTIFACTS_DIR", dir.join("artifacts"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn cricalgo(dir: &Path, args: &[&str]) -> Outcome {
    finish(
        command(dir, args)
            .output()
            .await
            .expect("the cricalgo binary runs"),
    )
}

fn finish(output: std::process::Output) -> Outcome {
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Waits for `condition` with a deadline (no sleeps as synchronisation).
async fn wait_for(what: &str, deadline: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_run_folder(dir: &Path) {
    for file in [
        "summary.json",
        "summary.k6-data.json",
        "verdict.json",
        "timeseries.csv",
        "manifest.json",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing in {}",
            dir.display()
        );
    }
    let csv = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("t,vus,requests,errors,p50,p95,p99")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_run_url_writes_a_k6_compatible_run_folder() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/", target.url());
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "20",
            "--duration",
            "2s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_run_folder(&out);
    let summary = json(&out.join("summary.json"));
    let reqs = summary["metrics"]["http_reqs"]["count"].as_f64().unwrap();
    assert!(reqs > 100.0, "{reqs}");
    assert_eq!(target.stats.requests.load(Ordering::Relaxed) as f64, reqs);
    // `--summary-export` shape: flat trends with p(99), rate metrics with passes/fails, and
    // thresholds where `false` means passed.
    let duration = &summary["metrics"]["http_req_duration"];
    for key in ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"] {
        assert!(duration[key].is_number(), "{key} in {duration}");
    }
    assert_eq!(duration["thresholds"]["p(95)<4000"], false);
    assert_eq!(summary["metrics"]["http_req_failed"]["passes"], 0);
    assert_eq!(summary["metrics"]["vus_max"]["value"], 20.0);
    let data = json(&out.join("summary.k6-data.json"));
    assert_eq!(data["metrics"]["http_req_duration"]["type"], "trend");
    assert_eq!(data["metrics"]["http_req_duration"]["contains"], "time");
    assert_eq!(
        data["metrics"]["http_req_failed"]["thresholds"]["rate<0.01"]["ok"],
        true
    );
    let verdict = json(&out.join("verdict.json"));
    assert_eq!(verdict["verdict"], "passed");
    assert_eq!(verdict["incomplete"], false);
    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["incomplete"], false);
    assert!(manifest["files"]["summary.json"].as_str().unwrap().len() == 64);
    // Default folder: artifacts/perf_run_<UTC>/.
    let run = cricalgo(
        tmp.path(),
        &["perf", "run", "--url", &url, "--iterations", "10"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let made: Vec<String> = std::fs::read_dir(tmp.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        made.iter()
            .any(|name| name.starts_with("perf_run_") && name.ends_with('Z')),
        "{made:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_thresholds_and_templates_are_usage_errors_before_any_load() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("{}/", target.url());
    for threshold in [
        "http_req_duration: p(95)<",
        "http_req_failed: p(95)<10",
        "no_such_metric: count<1",
        "http_req_duration{name:a,b}: p(95)<10",
    ] {
        let run = cricalgo(
            tmp.path(),
            &[
                "perf",
                "run",
                "--url",
                &url,
                "--iterations",
                "5",
                "--threshold",
                threshold,
            ],
        )
        .await;
        assert_eq!(run.code, 2, "{threshold}: {}", run.stderr);
        assert!(run.stderr.starts_with("cricalgo: "), "{}", run.stderr);
    }
    let scenario = tmp.path().join("bad.json");
    std::fs::write(
        &scenario,
        serde_json::json!({
            "name": "bad", "base_url": target.url(),
            "executor": {"executor": "shared-iterations", "vus": 1, "iterations": 5},
            "requests": [{"method": "POST", "path": "/", "body": "{\"id\":\"{{tx_uuid}}\"}"}]
        })
        .to_string(),
    )
    .unwrap();
    let run = cricalgo(
        tmp.path(),
        &["perf", "run", "--scenario", scenario.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`tx_uuid`"), "{}", run.stderr);
    let run = cricalgo(
        tmp.path(),
        &["perf", "run", "--url", &url, "--duration", "zz"],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(target.stats.requests.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_out_and_too_many_vus_are_usage_errors_before_any_load() {
    let target = target::start().await.unwrap();
    let url = format!("{}/", target.url());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.to_str().unwrap();
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--iterations",
            "5",
            "--out",
            out,
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--out"), "{}", run.stderr);
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "100000000",
            "--duration",
            "1s",
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("lower `vus`"), "{}", run.stderr);
    assert_eq!(
        target.stats.requests.load(Ordering::Relaxed),
        0,
        "no request may be sent before the plan is valid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_at_preflight_exits_1() {
    let target = target::start().await.unwrap();
    let url = format!("{}/", target.url());
    target.stop();
    drop(target);
    let tmp = tempfile::tempdir().unwrap();
    let run = cricalgo(
        tmp.path(),
        &["perf", "run", "--url", &url, "--iterations", "5"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f8_target_dying_once_load_started_is_a_breach() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/", target.url());
    let child = command(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "4",
            "--duration",
            "3s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .spawn()
    .unwrap();
    let stats = target.stats.clone();
    wait_for("the first requests", Duration::from_secs(10), || {
        stats.requests.load(Ordering::Relaxed) > 20
    })
    .await;
    target.stop();
    drop(target);
    let started = Instant::now();
    let run = finish(child.wait_with_output().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(15), "no hang");
    assert_eq!(run.code, 99, "{}\n{}", run.stdout, run.stderr);
    let summary = json(&out.join("summary.json"));
    assert!(
        summary["metrics"]["http_req_failed"]["passes"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(
        summary["metrics"]["http_req_failed"]["thresholds"]["rate<0.01"],
        true
    );
    let verdict = json(&out.join("verdict.json"));
    assert_eq!(verdict["verdict"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f8_target_answering_in_10s_fails_the_gate_without_hanging() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/delay/10000", target.url());
    let started = Instant::now();
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "3",
            "--duration",
            "1s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 99, "{}\n{}", run.stdout, run.stderr);
    let verdict = json(&out.join("verdict.json"));
    let p95 = verdict["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["metric"] == "http_req_duration")
        .unwrap();
    assert_eq!(p95["status"], "failed");
    assert!(p95["observed"].as_f64().unwrap() >= 10_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f8_ctrl_c_writes_a_partial_run_folder_marked_incomplete() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/delay/5", target.url());
    let child = command(
        tmp.path(),
        &[
            "perf",
            "run",
            "--url",
            &url,
            "--vus",
            "4",
            "--duration",
            "60s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .spawn()
    .unwrap();
    let pid = child.id().unwrap().to_string();
    let stats = target.stats.clone();
    wait_for("the first requests", Duration::from_secs(10), || {
        stats.requests.load(Ordering::Relaxed) > 20
    })
    .await;
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let run = finish(child.wait_with_output().await.unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stops promptly"
    );
    assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
    assert_run_folder(&out);
    assert_eq!(json(&out.join("verdict.json"))["incomplete"], true);
    assert_eq!(json(&out.join("manifest.json"))["incomplete"], true);
    let reqs = json(&out.join("summary.json"))["metrics"]["http_reqs"]["count"]
        .as_f64()
        .unwrap();
    assert!(reqs > 0.0);
}

/// A stand-in for k6 (real k6 cannot be installed here): records its arguments and writes a k6
/// `--summary-export` file whose values make the thresholds pass or fail.
fn k6_stand_in(dir: &Path, failing: bool) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let failed_rate = if failing { "0.25" } else { "0" };
    let (passes, fails) = if failing { (25, 75) } else { (0, 100) };
    let summary = format!(
        r#"{{"root_group":{{"name":"","path":"","id":"d41d8cd98f00b204e9800998ecf8427e","groups":{{}},"checks":{{}}}},"metrics":{{"http_reqs":{{"count":100,"rate":10.0}},"http_req_failed":{{"passes":{passes},"fails":{fails},"thresholds":{{"rate<0.01":{failing}}},"value":{failed_rate}}},"http_req_duration":{{"avg":12.5,"min":1.1,"med":10.2,"max":80.4,"p(90)":20.1,"p(95)":30.2,"thresholds":{{"p(95)<4000":false}}}},"vus":{{"value":1,"min":1,"max":1}}}}}}"#
    );
    let script = format!(
        "#!/bin/sh\n# Stand-in for k6 in tests: records its arguments, writes a k6 summary file.\nprintf '%s\\n' \"$@\" > '{args}'\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --summary-export ]; then shift; cat > \"$1\" <<'EOF'\n{summary}\nEOF\n  fi\n  shift\ndone\nexit {code}\n",
        args = dir.join("k6-args.txt").display(),
        code = if failing { 99 } else { 0 },
    );
    let path = bin.join("k6");
    std::fs::write(&path, script).unwrap();
    let status = std::process::Command::new("chmod")
        .args(["+x", path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_k6_runs_k6_with_the_scenario_and_gates_its_summary() {
    let target = target::start().await.unwrap();
    let scenario = repo().join("load/scenarios/webhook.json");
    for failing in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let bin = k6_stand_in(tmp.path(), failing);
        let out = tmp.path().join("run");
        let output = command(
            tmp.path(),
            &[
                "perf",
                "run",
                "--engine",
                "k6",
                "--scenario",
                scenario.to_str().unwrap(),
                "--target",
                &target.url(),
                "--vus",
                "3",
                "--duration",
                "5s",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .env("PATH", path_with(&bin))
        .output()
        .await
        .unwrap();
        let run = finish(output);
        assert_eq!(
            run.code,
            if failing { 99 } else { 0 },
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        let args = std::fs::read_to_string(tmp.path().join("k6-args.txt")).unwrap();
        let args: Vec<&str> = args.lines().collect();
        assert_eq!(args[0], "run");
        assert_eq!(args[1], "--summary-export");
        assert_eq!(args[2], out.join("summary.json").to_str().unwrap());
        assert_eq!(args[3], "-e");
        assert!(
            args[4].starts_with("SCENARIO=") && args[4].ends_with("scenario.json"),
            "{args:?}"
        );
        assert!(args[5].ends_with("load/k6/webhook_test.js"), "{args:?}");
        // k6 reads the effective scenario: overrides and the target applied.
        let effective = json(&out.join("scenario.json"));
        assert_eq!(effective["base_url"], target.url());
        assert_eq!(effective["executor"]["executor"], "constant-vus");
        assert_eq!(effective["executor"]["vus"], 3);
        assert_eq!(effective["executor"]["duration"], "5s");
        assert_run_folder(&out);
        let verdict = json(&out.join("verdict.json"));
        assert_eq!(
            verdict["verdict"],
            if failing { "failed" } else { "passed" }
        );
    }
    // No k6 on PATH: a clear error suggesting the native engine.
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let output = command(
        tmp.path(),
        &[
            "perf",
            "run",
            "--engine",
            "k6",
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    )
    .env("PATH", &empty)
    .output()
    .await
    .unwrap();
    let run = finish(output);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("`--engine native`"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_runs_functional_checks_then_a_short_load() {
    let target = target::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("smoke");
    let run = cricalgo(
        tmp.path(),
        &[
            "smoke",
            "--target",
            &target.url(),
            "--vus",
            "2",
            "--duration",
            "2s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_run_folder(&out);
    let verdict = json(&out.join("verdict.json"));
    assert_eq!(verdict["verdict"], "passed");
    let checks = verdict["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    assert!(
        verdict["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["metric"] == "checks" && row["status"] == "passed")
    );
    // The functional checks saw the deposit the webhook accepted.
    assert!(!target.stats.deposits.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_against_nothing_exits_1() {
    let target = target::start().await.unwrap();
    let url = target.url();
    target.stop();
    drop(target);
    let tmp = tempfile::tempdir().unwrap();
    let run = cricalgo(tmp.path(), &["smoke", "--target", &url, "--duration", "1s"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// A service binary of this workspace, built beside the test binary.
fn service_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "`{}` is missing: build it first (`cargo build -p {name}`, or `cargo test --workspace` builds it)",
        path.display()
    );
    path
}

struct Service(tokio::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

fn start_service(name: &str, env: &[(&str, String)]) -> Service {
    let mut command = tokio::process::Command::new(service_binary(name));
    command
        .env("RUST_LOG", "warn")
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    Service(
        command
            .spawn()
            .unwrap_or_else(|err| panic!("start {name}: {err}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_scenario_against_the_real_services_credits_deposits() {
    use cricalgo_common::testing;
    let db = testing::TestDb::create().await;
    cricalgo_common::db::seed(&db.pool, 50).await.unwrap();
    let stream = testing::unique_stream();
    let app_port = testing::free_port();
    let worker_port = testing::free_port();
    let common = vec![
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", testing::redis_url()),
        ("DEPOSIT_STREAM", stream.clone()),
    ];
    let mut app_env = common.clone();
    app_env.push(("PORT", app_port.to_string()));
    let mut worker_env = common.clone();
    worker_env.push(("METRICS_PORT", worker_port.to_string()));
    worker_env.push(("CONFIRMATION_THRESHOLD", "3".into()));
    let _app = start_service("cricalgo-webhook", &app_env);
    let _worker = start_service("cricalgo-worker", &worker_env);
    let base = format!("http://127.0.0.1:{app_port}");
    let ready = format!("{base}/api/v1/ready");
    testing::wait_until(
        "the webhook app to be ready",
        Duration::from_secs(60),
        || {
            let ready = ready.clone();
            async move {
                cricalgo_load::fetch(http::Method::GET, &ready, &[], None, Duration::from_secs(2))
                    .await
                    .is_ok_and(|answer| answer.status == 200)
            }
        },
    )
    .await;

    let tmp = tempfile::tempdir().unwrap();
    let smoke_out = tmp.path().join("smoke");
    let smoke = cricalgo(
        tmp.path(),
        &[
            "smoke",
            "--target",
            &base,
            "--vus",
            "3",
            "--duration",
            "2s",
            "--out",
            smoke_out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(smoke.code, 0, "{}\n{}", smoke.stdout, smoke.stderr);

    let out = tmp.path().join("run");
    let scenario = repo().join("load/scenarios/webhook.json");
    let run = cricalgo(
        tmp.path(),
        &[
            "perf",
            "run",
            "--scenario",
            scenario.to_str().unwrap(),
            "--target",
            &base,
            "--vus",
            "10",
            "--duration",
            "5s",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let summary = json(&out.join("summary.json"));
    let checks = &summary["root_group"]["checks"];
    let accepted = checks["status is 202"]["passes"].as_i64().unwrap();
    assert!(accepted > 0, "{checks}");
    for name in [
        "status is 202",
        "ok is true",
        "tx_id present",
        "health is 200",
    ] {
        assert_eq!(checks[name]["fails"], 0, "{name}: {checks}");
    }
    // Every accepted load-test deposit (plus the smoke phase's) gets credited to a seeded user.
    let pool = db.pool.clone();
    testing::wait_until("the load-test deposits to be credited", Duration::from_secs(90), || {
        let pool = pool.clone();
        async move {
            let (credited,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM deposits WHERE status = 'credited' AND payload #>> '{metadata,source}' = 'load-test'",
            )
            .fetch_one(&pool)
            .await
            .unwrap_or((0,));
            credited >= accepted
        }
    })
    .await;
    db.drop_database().await;
}
