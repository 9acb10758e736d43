//! `cricalgo perf full-run`: the main job — staging up (or reuse a healthy stack) → smoke → load →
//! gate → one run folder with every file of the artifacts spec, then exit 0 or 99.
//!
//! Every flag is parsed and validated into a `FullRunPlan` before Docker or the network is
//! touched. Ctrl-C at any point stops what runs, writes what was gathered (marked incomplete) and
//! exits 130. A stack this command started is taken down at the end unless `--keep-up`; a stack
//! that was already up and healthy is left as it was.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use cricalgo_gate::junit::{Phase, to_junit};
use cricalgo_gate::{Threshold, Verdict};
use cricalgo_load::duration::{format_duration, parse_duration};
use cricalgo_load::{CancellationToken, Plan, Scenario};
use cricalgo_report::folder::{artifacts_dir, create_run_dir};
use cricalgo_report::manifest::git_revision;
use cricalgo_report::prometheus::{
    CollectConfig, DEFAULT_PROMETHEUS_URL, collect, write_prometheus,
};
use cricalgo_report::{ManifestInfo, finish_run_folder, write_manifest};
use cricalgo_stack::{Probe, Target, UpOptions};
use serde_json::{Value, json};

use super::perf_run::{
    Overrides, ProgressMode, RunOutcome, RunPlan, apply_overrides, parse_thresholds, preflight,
    progress_mode, run_native, spawn_ctrl_c,
};
use super::smoke::{SmokeOptions, SmokeOutcome, smoke};
use super::staging::{FileArgs, repo_root, target, up_options};
use crate::Exit;
use crate::exit::usage;

/// The default load scenario, relative to the repository root.
pub const DEFAULT_SCENARIO: &str = "load/scenarios/webhook.json";

/// Stack up (or reuse a healthy one), smoke, load, gate, and a full run folder with reports.
///
/// Writes `artifacts/perf_full_run_<UTC>/`: manifest.json (sha256 of every file), summary.json,
/// summary.k6-data.json, verdict.json, junit.xml, report.html, report.md, timeseries.csv,
/// stack.json, `logs/<service>.log`, prometheus.json and smoke/. The verdict covers the smoke and
/// the load phase.
///
/// Exit codes: 0 gate passed, 99 gate failed (smoke or load), 1 operational error before the
/// load (Docker unreachable, stack unhealthy, target unreachable), 2 usage error, 130
/// interrupted (the run folder is still written, marked incomplete).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cricalgo perf full-run                                  # 100 VUs x 5 min, about 7 minutes in all
  cricalgo perf full-run --vus 20 --duration 20s --smoke-vus 5 --smoke-duration 5s
  cricalgo perf full-run --keep-up --threshold 'http_req_duration{name:webhook}: p(99)<3000'")]
pub struct FullRunArgs {
    /// Load scenario file (default `load/scenarios/webhook.json`).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// VUs of the load phase.
    #[arg(long, default_value_t = 100)]
    pub vus: u64,
    /// Duration of the load phase (`20s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// VUs of the smoke phase's short load.
    #[arg(long, default_value_t = 10)]
    pub smoke_vus: u64,
    /// Duration of the smoke phase's short load.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub smoke_duration: Duration,
    /// Leave a stack this command started running at the end.
    #[arg(long)]
    pub keep_up: bool,
    /// Extra load threshold `'METRIC: EXPR'` (k6 syntax), repeatable; the defaults always apply.
    #[arg(long = "threshold", value_name = "METRIC: EXPR")]
    pub thresholds: Vec<String>,
    /// Base URL of the stack (default: nginx's published port in the compose file, else
    /// `http://127.0.0.1:8000`).
    #[arg(long, value_name = "URL", env = "CRICALGO_TARGET")]
    pub target: Option<String>,
    /// Prometheus of the stack, for the server-side view (default: its published port in the
    /// compose file, else `http://127.0.0.1:9090`).
    #[arg(long, value_name = "URL", env = "CRICALGO_PROMETHEUS_URL")]
    pub prometheus: Option<String>,
    /// Deadline for `staging up` (convergence, health and readiness).
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub up_timeout: Duration,
    /// Do not manage a Docker stack: test the target as it is (no stack.json snapshot or logs).
    #[arg(long)]
    pub no_stack: bool,
    /// Run folder (default `artifacts/perf_full_run_<UTC>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub file: FileArgs,
}

/// Everything validated before anything runs.
struct FullRunPlan {
    scenario_path: PathBuf,
    load: RunPlan,
    smoke: SmokeOptions,
    stack: Option<UpOptions>,
    prometheus: String,
    keep_up: bool,
    progress: ProgressMode,
}

/// What the phases gathered; whatever is there when the run ends goes into the folder.
#[derive(Default)]
struct Gathered {
    stack_start: Option<Value>,
    stack_reused: bool,
    stack_started: bool,
    stack_revision: Option<String>,
    smoke: Option<SmokeOutcome>,
    load: Option<RunOutcome>,
}

pub async fn run(args: FullRunArgs) -> anyhow::Result<Exit> {
    let started_at = Utc::now();
    // The folder is created only once everything is valid; the plan gets its paths then.
    let plan = validate(&args, PathBuf::new())?;
    let dir = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create run folder `{}`", dir.display()))?;
            dir.clone()
        }
        None => create_run_dir(&artifacts_dir(), "perf_full_run", started_at)
            .context("failed to create the run folder")?,
    };
    let plan = FullRunPlan {
        load: RunPlan {
            out: dir.clone(),
            ..plan.load
        },
        smoke: SmokeOptions {
            out: dir.join("smoke"),
            ..plan.smoke
        },
        ..plan
    };
    eprintln!("run folder: {}", dir.display());

    let cancel = CancellationToken::new();
    let ctrl_c = spawn_ctrl_c(cancel.clone());
    let target = target();
    let mut gathered = Gathered::default();
    let phases = run_phases(&plan, &target, &cancel, &mut gathered).await;
    let interrupted = cancel.is_cancelled();
    ctrl_c.abort();

    let outcome = match phases {
        Err(err) if gathered.smoke.is_none() && !interrupted => {
            // Nothing ran: an operational error before any load, no run folder to keep.
            teardown(&plan, &target, &gathered).await;
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
        Err(err) => Err(err),
        Ok(()) => Ok(()),
    };
    let written = write_folder(&plan, &target, &dir, started_at, &gathered, interrupted).await;
    teardown(&plan, &target, &gathered).await;
    outcome?;
    let passed = written?;
    let report = dir.join("report.html");
    match std::fs::read_to_string(dir.join("report.md")) {
        Ok(md) => println!("{}", md.lines().next().unwrap_or_default()),
        Err(_) => println!("run folder written"),
    }
    if let Some(load) = &gathered.load {
        super::perf_run::print_outcome(load);
    }
    println!("report: {}", report.display());
    Ok(if interrupted {
        Exit::Interrupted
    } else if passed {
        Exit::Success
    } else {
        Exit::GateFailed
    })
}

/// Parse, validate, then act: every flag and the scenario's thresholds are checked here.
fn validate(args: &FullRunArgs, dir: PathBuf) -> anyhow::Result<FullRunPlan> {
    if args.vus == 0 || args.smoke_vus == 0 {
        return Err(usage(anyhow::anyhow!(
            "`--vus` and `--smoke-vus` must be at least 1"
        )));
    }
    let stack = if args.no_stack {
        None
    } else {
        Some(up_options(&args.file, Vec::new(), args.up_timeout, true)?)
    };
    // Defaults follow the compose file, so `NGINX_PORT` / `PROMETHEUS_PORT` just work.
    let published = |service: &str| -> anyhow::Result<Option<String>> {
        let Some(options) = &stack else {
            return Ok(None);
        };
        let spec = cricalgo_stack::compose::load(&options.load).map_err(usage)?;
        Ok(Probe {
            service: service.to_string(),
            path: String::new(),
        }
        .url(&spec))
    };
    let target = match &args.target {
        Some(url) => url.clone(),
        None => published("nginx")?.unwrap_or_else(|| "http://127.0.0.1:8000".to_string()),
    };
    let prometheus = match &args.prometheus {
        Some(url) => url.clone(),
        None => published("prometheus")?.unwrap_or_else(|| DEFAULT_PROMETHEUS_URL.to_string()),
    };
    let scenario_path = args
        .scenario
        .clone()
        .unwrap_or_else(|| repo_root().join(DEFAULT_SCENARIO));
    let mut scenario = Scenario::from_file(&scenario_path)
        .map_err(usage)
        .with_context(|| format!("failed to read scenario `{}`", scenario_path.display()))?;
    scenario.base_url = target.trim_end_matches('/').to_string();
    scenario.executor = apply_overrides(
        &scenario.executor,
        Overrides {
            vus: Some(args.vus),
            duration: Some(args.duration),
            ..Overrides::default()
        },
    )
    .map_err(usage)?;
    let plan: Plan = scenario.plan().map_err(usage)?;
    let thresholds: Vec<Threshold> =
        parse_thresholds(&scenario.thresholds, &args.thresholds, &plan)?;
    let progress = progress_mode();
    Ok(FullRunPlan {
        scenario_path,
        load: RunPlan {
            scenario,
            plan,
            thresholds,
            out: dir.clone(),
        },
        smoke: SmokeOptions {
            target,
            vus: args.smoke_vus,
            duration: args.smoke_duration,
            out: dir.join("smoke"),
            progress,
        },
        stack,
        prometheus,
        keep_up: args.keep_up,
        progress,
    })
}

/// Stack, smoke, load. Returns early (Ok) when interrupted; `gathered` holds what ran.
async fn run_phases(
    plan: &FullRunPlan,
    target: &Target,
    cancel: &CancellationToken,
    gathered: &mut Gathered,
) -> anyhow::Result<()> {
    if let Some(options) = &plan.stack {
        ensure_stack(target, options, cancel, gathered).await?;
        if cancel.is_cancelled() {
            return Ok(());
        }
        match cricalgo_stack::snapshot(target).await {
            Ok(snapshot) => {
                gathered.stack_revision = snapshot.revision.map(|r| r.to_string());
                gathered.stack_start = serde_json::to_value(&snapshot).ok();
            }
            Err(err) => eprintln!("cricalgo: warning: no stack snapshot at start: {err}"),
        }
    }

    eprintln!(
        "== smoke: functional checks, then {} VUs x {}",
        plan.smoke.vus,
        format_duration(plan.smoke.duration)
    );
    let smoke_outcome = smoke(&plan.smoke, cancel.clone()).await?;
    let smoke_passed = smoke_outcome.passed();
    gathered.smoke = Some(smoke_outcome);
    if cancel.is_cancelled() {
        return Ok(());
    }
    if !smoke_passed {
        eprintln!(
            "smoke failed; running the load anyway so the report shows how the stack behaves"
        );
    }

    eprintln!(
        "== load: `{}` with {} VUs x {}",
        plan.scenario_path.display(),
        plan.load.plan.executor.max_vus(),
        format_duration(plan.load.plan.executor.planned_duration())
    );
    preflight(&plan.load.plan).await?;
    let load = run_native(&plan.load, cancel.clone(), plan.progress).await?;
    gathered.load = Some(load);
    Ok(())
}

/// Reuses a healthy stack, or brings it up (then it is ours to take down).
async fn ensure_stack(
    target: &Target,
    options: &UpOptions,
    cancel: &CancellationToken,
    gathered: &mut Gathered,
) -> anyhow::Result<()> {
    let stack_error = |err: cricalgo_stack::StackError| {
        if err.is_config() {
            usage(anyhow::anyhow!(err))
        } else {
            anyhow::anyhow!(err)
        }
    };
    let containers = cricalgo_stack::status(target).await.map_err(stack_error)?;
    let healthy = !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.health == "healthy" || (c.state == "exited" && c.health == "-"));
    if healthy {
        let spec = cricalgo_stack::compose::load(&options.load).map_err(stack_error)?;
        let ready = match Probe::nginx_ready().url(&spec) {
            Some(url) => cricalgo_stack::http_status(&url).await == Ok(200),
            None => false,
        };
        if ready {
            eprintln!(
                "== stack: reusing the healthy stack `{}` (left running at the end)",
                target.project
            );
            gathered.stack_reused = true;
            return Ok(());
        }
    }
    eprintln!("== stack: bringing `{}` up", target.project);
    gathered.stack_started = true;
    tokio::select! {
        report = cricalgo_stack::up(target, options) => {
            let report = report.map_err(stack_error).context("failed to bring the staging stack up")?;
            eprintln!("stack ready at revision {} after {:.1}s", report.revision, report.elapsed_ms as f64 / 1000.0);
        }
        () = cancel.cancelled() => {}
    }
    Ok(())
}

/// Takes down a stack this run started, unless `--keep-up`.
async fn teardown(plan: &FullRunPlan, target: &Target, gathered: &Gathered) {
    if plan.stack.is_none() || !gathered.stack_started {
        return;
    }
    if plan.keep_up {
        eprintln!("== stack: left up (`--keep-up`); `cricalgo staging down` removes it");
        return;
    }
    eprintln!("== stack: taking down the stack this run started");
    if let Err(err) = cricalgo_stack::down(target, false).await {
        eprintln!(
            "cricalgo: warning: failed to take the stack down: {err}; run `cricalgo staging down`"
        );
    }
}

/// Writes the combined verdict, JUnit, stack snapshot, logs, Prometheus view, reports and the
/// manifest. Returns whether the verdict passed.
async fn write_folder(
    plan: &FullRunPlan,
    target: &Target,
    dir: &Path,
    started_at: DateTime<Utc>,
    gathered: &Gathered,
    interrupted: bool,
) -> anyhow::Result<bool> {
    let mut phases: Vec<(&str, &RunOutcome)> = Vec::new();
    if let Some(smoke) = &gathered.smoke {
        phases.push(("smoke", &smoke.run));
    }
    if let Some(load) = &gathered.load {
        phases.push(("load", load));
    }
    let incomplete = interrupted || phases.iter().any(|(_, p)| p.verdict.incomplete);
    let passed = !phases.is_empty() && phases.iter().all(|(_, p)| p.verdict.passed());

    if !phases.is_empty() {
        std::fs::write(
            dir.join("verdict.json"),
            combined_verdict(&phases, passed, incomplete)?,
        )
        .context("failed to write `verdict.json`")?;
        let junit_phases: Vec<Phase<'_>> = phases
            .iter()
            .map(|(name, p)| Phase {
                name,
                verdict: &p.verdict,
                summary: Some(&p.summary),
            })
            .collect();
        let xml = to_junit("cricalgo perf full-run", &junit_phases)?;
        std::fs::write(dir.join("junit.xml"), xml).context("failed to write `junit.xml`")?;
    }

    let ended_at = Utc::now();
    if plan.stack.is_some() {
        let end = match cricalgo_stack::snapshot(target).await {
            Ok(snapshot) => serde_json::to_value(&snapshot).ok(),
            Err(err) => Some(json!({"error": err.to_string()})),
        };
        let stack = json!({
            "managed": true,
            "project": target.project,
            "reused": gathered.stack_reused,
            "started_by_this_run": gathered.stack_started,
            "left_running": gathered.stack_reused || plan.keep_up,
            "start": gathered.stack_start,
            "end": end,
        });
        write_json(dir, "stack.json", &stack)?;
        let since = SystemTime::from(started_at);
        if let Err(err) =
            cricalgo_stack::write_service_logs(target, &dir.join("logs"), since, SystemTime::now())
                .await
        {
            eprintln!("cricalgo: warning: no container logs: {err}");
        }
    } else {
        write_json(
            dir,
            "stack.json",
            &json!({"managed": false, "target": plan.smoke.target,
                    "note": "`--no-stack`: the target was tested as it was; no containers were inspected"}),
        )?;
    }

    let (window, at) = match &gathered.load {
        Some(load) => (load.result.load_duration, load.result.ended_at),
        None => (
            (ended_at - started_at)
                .to_std()
                .unwrap_or(Duration::from_secs(30)),
            ended_at,
        ),
    };
    let snapshot = collect(&CollectConfig {
        base_url: plan.prometheus.clone(),
        window,
        at,
        timeout: Duration::from_secs(5),
    })
    .await;
    write_prometheus(dir, &snapshot)?;

    let tool_version = env!("CARGO_PKG_VERSION").to_string();
    let command_line: Vec<String> = std::env::args().collect();
    let git = git_revision(&repo_root());
    if let Some(smoke) = &gathered.smoke {
        let info = ManifestInfo {
            run_id: format!("{}/smoke", run_id(dir)),
            command_line: command_line.clone(),
            started_at: smoke.run.result.started_at,
            ended_at: smoke.run.result.ended_at,
            git_revision: git.clone(),
            tool_version: tool_version.clone(),
            stack_revision: gathered.stack_revision.clone(),
            scenario: Some("smoke (built-in webhook scenario)".into()),
            verdict: Some(verdict_word(&smoke.run.verdict).into()),
            incomplete: smoke.run.verdict.incomplete,
        };
        write_manifest(&plan.smoke.out, &info)?;
    }
    let info = ManifestInfo {
        run_id: run_id(dir),
        command_line,
        started_at,
        ended_at,
        git_revision: git,
        tool_version,
        stack_revision: gathered.stack_revision.clone(),
        scenario: Some(plan.scenario_path.display().to_string()),
        verdict: (!phases.is_empty()).then(|| if passed { "passed" } else { "failed" }.into()),
        incomplete,
    };
    finish_run_folder(dir, &info).context("failed to write the reports and the manifest")?;
    Ok(passed)
}

fn verdict_word(verdict: &Verdict) -> &'static str {
    if verdict.passed() { "passed" } else { "failed" }
}

fn run_id(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// `verdict.json` of a full run: the last phase's document at the top (as `perf check --json`
/// prints it), the overall verdict over every phase, and each phase's own document.
fn combined_verdict(
    phases: &[(&str, &RunOutcome)],
    passed: bool,
    incomplete: bool,
) -> anyhow::Result<String> {
    let (_, last) = phases.last().context("no phase ran")?;
    let mut doc = serde_json::to_value(&last.verdict)?;
    doc["verdict"] = json!(if passed { "passed" } else { "failed" });
    doc["incomplete"] = json!(incomplete);
    let mut map = serde_json::Map::new();
    for (name, phase) in phases {
        map.insert(name.to_string(), serde_json::to_value(&phase.verdict)?);
    }
    doc["phases"] = Value::Object(map);
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}

fn write_json(dir: &Path, name: &str, value: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))
}
