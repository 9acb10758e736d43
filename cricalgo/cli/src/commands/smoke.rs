//! `cricalgo smoke`: functional checks (health, a webhook accepted with `ok` and `tx_id`, the
//! deposit visible through the status endpoint, `/metrics` serving the expected series), then a
//! short load (10 VUs × 30 s by default) with its own thresholds; one run folder for both.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use cricalgo_gate::{FunctionalCheck, GateOptions, Threshold};
use cricalgo_load::duration::parse_duration;
use cricalgo_load::{CancellationToken, ExecutorConfig, Scenario};
use hmac::Mac;

use super::perf_run::{
    ProgressMode, RunOutcome, default_run_dir, parse_thresholds, print_outcome, progress_mode,
    run_load, spawn_ctrl_c, write_run_folder,
};
use crate::Exit;
use crate::exit::usage;

/// The webhook scenario the smoke load runs (the same file `perf run` uses).
pub const WEBHOOK_SCENARIO: &str = include_str!("../../../../load/scenarios/webhook.json");

/// Series `/metrics` must serve.
pub const EXPECTED_SERIES: &[&str] = &[
    "http_requests_total",
    "http_server_request_duration_seconds",
    "webhook_requests_total",
];

/// The smoke phase's own thresholds (on top of the default acceptance thresholds).
pub const SMOKE_THRESHOLDS: &[&str] = &["checks: rate>0.99", "http_req_duration: p(99)<4000"];

/// Functional checks plus a short load against the stack.
///
/// Exit codes: 0 passed, 99 a functional check or threshold failed, 1 the target is not
/// reachable, 2 usage error, 130 interrupted (run folder written, marked incomplete).
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  cricalgo smoke --target http://127.0.0.1:8000 --vus 10 --duration 30s"
)]
pub struct SmokeArgs {
    /// Base URL of the stack (nginx).
    #[arg(
        long,
        value_name = "URL",
        env = "CRICALGO_TARGET",
        default_value = "http://127.0.0.1:8000"
    )]
    pub target: String,
    /// VUs of the short load.
    #[arg(long, default_value_t = 10)]
    pub vus: u64,
    /// Duration of the short load.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Run folder (default `artifacts/smoke_<UTC>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What `smoke` needs; `perf full-run` builds one with `out` = `<run>/smoke`.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    pub target: String,
    pub vus: u64,
    pub duration: Duration,
    pub out: PathBuf,
    pub progress: ProgressMode,
}

/// The smoke phase's result.
#[derive(Debug, Clone)]
pub struct SmokeOutcome {
    pub checks: Vec<FunctionalCheck>,
    /// The load part with its verdict (which also covers the functional checks).
    pub run: RunOutcome,
}

impl SmokeOutcome {
    /// Whether checks and thresholds all passed.
    pub fn passed(&self) -> bool {
        self.run.verdict.passed()
    }
}

pub async fn run(args: SmokeArgs) -> anyhow::Result<Exit> {
    let out = match args.out {
        Some(dir) => dir,
        None => default_run_dir("smoke")?,
    };
    let options = SmokeOptions {
        target: args.target,
        vus: args.vus,
        duration: args.duration,
        out,
        progress: progress_mode(),
    };
    let cancel = CancellationToken::new();
    let ctrl_c = spawn_ctrl_c(cancel.clone());
    let outcome = smoke(&options, cancel).await;
    ctrl_c.abort();
    let outcome = outcome?;
    for check in &outcome.checks {
        println!(
            "  {:<8} {}{}",
            if check.passed { "passed" } else { "failed" },
            check.name,
            check
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
    }
    print_outcome(&outcome.run);
    Ok(outcome.run.exit())
}

/// The smoke scenario: the webhook scenario at `target` with `vus` × `duration`.
pub fn smoke_scenario(target: &str, vus: u64, duration: Duration) -> anyhow::Result<Scenario> {
    let mut scenario = Scenario::from_json(WEBHOOK_SCENARIO)
        .context("the built-in webhook scenario is invalid")?;
    scenario.name = "smoke".into();
    scenario.base_url = target.trim_end_matches('/').to_string();
    scenario.executor = ExecutorConfig::ConstantVus {
        vus,
        duration,
        graceful_stop: Duration::from_secs(30),
    };
    Ok(scenario)
}

/// Runs the functional checks, then the short load, and writes the run folder. Fails (exit 1)
/// only when the target cannot be reached at all before the load.
pub async fn smoke(
    options: &SmokeOptions,
    cancel: CancellationToken,
) -> anyhow::Result<SmokeOutcome> {
    if options.vus == 0 {
        return Err(usage(anyhow::anyhow!("`--vus` must be at least 1")));
    }
    let scenario = smoke_scenario(&options.target, options.vus, options.duration)?;
    let plan = scenario.plan().map_err(usage)?;
    let flags: Vec<String> = SMOKE_THRESHOLDS.iter().map(|t| t.to_string()).collect();
    let mut thresholds: Vec<Threshold> = parse_thresholds(&scenario.thresholds, &[], &plan)?;
    thresholds.extend(parse_thresholds(&Default::default(), &flags, &plan)?);
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("failed to create run folder `{}`", options.out.display()))?;
    let checks = functional_checks(&options.target).await?;
    let mut text = serde_json::to_string_pretty(&checks)?;
    text.push('\n');
    std::fs::write(options.out.join("checks.json"), text).with_context(|| {
        format!(
            "failed to write `{}`",
            options.out.join("checks.json").display()
        )
    })?;
    let result = run_load(&plan, cancel, options.progress).await?;
    let run = write_run_folder(
        &options.out,
        &result,
        &scenario,
        &thresholds,
        &checks,
        GateOptions::default(),
    )?;
    Ok(SmokeOutcome { checks, run })
}

fn check(name: &str, result: Result<(), String>) -> FunctionalCheck {
    FunctionalCheck {
        name: name.to_string(),
        passed: result.is_ok(),
        message: result.err(),
    }
}

/// The functional checks against `target`. An unreachable target is an error (exit 1).
pub async fn functional_checks(target: &str) -> anyhow::Result<Vec<FunctionalCheck>> {
    let base = target.trim_end_matches('/');
    let timeout = Duration::from_secs(10);
    let mut checks = Vec::new();

    let health = cricalgo_load::fetch(
        http::Method::GET,
        &format!("{base}/api/v1/health"),
        &[],
        None,
        timeout,
    )
    .await;
    let health = match health {
        Err(err @ cricalgo_load::FetchError::Connect { .. }) => {
            return Err(anyhow::anyhow!(err)).context("pre-flight failed, no load was sent");
        }
        other => other,
    };
    checks.push(check(
        "health answers 200",
        match &health {
            Ok(answer) if answer.status == 200 => Ok(()),
            Ok(answer) => Err(format!("expected 200, got {}", answer.status)),
            Err(err) => Err(err.to_string()),
        },
    ));

    let tx_hash = format!("0xsmoke{}", uuid::Uuid::new_v4().simple());
    let body = format!(
        "{{\"tx_hash\":\"{tx_hash}\",\"amount\":\"1.00\",\"currency\":\"USDT\",\"chain\":\"bep20\",\"confirmations\":3,\"metadata\":{{\"telegram_id\":100001,\"source\":\"smoke\"}}}}"
    );
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Ok(secret) = std::env::var("WEBHOOK_SECRET")
        && let Some(first) = secret.split(',').next().filter(|s| !s.is_empty())
        && let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(first.as_bytes())
    {
        mac.update(body.as_bytes());
        headers.push((
            "x-signature".into(),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        ));
    }
    let posted = cricalgo_load::fetch(
        http::Method::POST,
        &format!("{base}/api/v1/webhooks/bep20"),
        &headers,
        Some(Bytes::from(body)),
        timeout,
    )
    .await;
    let mut tx_id = None;
    checks.push(check(
        "webhook answers 202 with ok and tx_id",
        match &posted {
            Ok(answer) => {
                let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
                let ok = json
                    .as_ref()
                    .and_then(|j| j.get("ok"))
                    .and_then(|v| v.as_bool());
                tx_id = json
                    .as_ref()
                    .and_then(|j| j.get("tx_id"))
                    .and_then(|v| v.as_str())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
                if answer.status == 202 && ok == Some(true) && tx_id.is_some() {
                    Ok(())
                } else {
                    Err(format!(
                        "expected 202 with `ok: true` and a `tx_id`, got {} `{}`",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ))
                }
            }
            Err(err) => Err(err.to_string()),
        },
    ));

    checks.push(check(
        "deposit visible through the status endpoint",
        match &tx_id {
            None => Err("no `tx_id` to look up (the webhook check failed)".into()),
            Some(tx_id) => {
                match cricalgo_load::fetch(
                    http::Method::GET,
                    &format!("{base}/api/v1/deposits/{tx_id}"),
                    &[],
                    None,
                    timeout,
                )
                .await
                {
                    Ok(answer) if answer.status == 200 => {
                        let json: Option<serde_json::Value> =
                            serde_json::from_slice(&answer.body).ok();
                        let seen = json
                            .as_ref()
                            .and_then(|j| j.get("tx_hash"))
                            .and_then(|v| v.as_str());
                        if seen == Some(tx_hash.as_str()) {
                            Ok(())
                        } else {
                            Err(format!("expected `tx_hash` `{tx_hash}`, got `{seen:?}`"))
                        }
                    }
                    Ok(answer) => Err(format!(
                        "`GET /api/v1/deposits/{tx_id}` answered {}",
                        answer.status
                    )),
                    Err(err) => Err(err.to_string()),
                }
            }
        },
    ));

    let metrics = cricalgo_load::fetch(
        http::Method::GET,
        &format!("{base}/metrics"),
        &[],
        None,
        timeout,
    )
    .await;
    checks.push(check(
        "metrics serve the expected series",
        match &metrics {
            Ok(answer) if answer.status == 200 => {
                let text = String::from_utf8_lossy(&answer.body);
                let missing: Vec<&str> = EXPECTED_SERIES
                    .iter()
                    .copied()
                    .filter(|series| !text.lines().any(|line| line.starts_with(series)))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing series: {}", missing.join(", ")))
                }
            }
            Ok(answer) => Err(format!("`GET /metrics` answered {}", answer.status)),
            Err(err) => Err(err.to_string()),
        },
    ));
    Ok(checks)
}
