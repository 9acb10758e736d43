//! `cricalgo perf run`: run a load scenario (or one request with `--url`) and write a run folder.
//!
//! Flags become one validated plan (scenario, overrides, thresholds) before any request is sent;
//! then the native engine (or real k6 with `--engine k6`) runs it, the gate judges it, and the run
//! folder gets `summary.json`, `summary.k6-data.json`, `verdict.json`, `timeseries.csv` and
//! `manifest.json`. The functions here are public so that `perf full-run` and `smoke` reuse them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use cricalgo_gate::{
    Check, FunctionalCheck, GateInput, GateOptions, Group, Metric, MetricType, Percentile, Source,
    Summary, Threshold, TrendValues, Values, Verdict,
};
use cricalgo_load::duration::parse_duration;
use cricalgo_load::{
    CancellationToken, Event, ExecutorConfig, MetricKind, MetricValues, Plan, RunResult, Scenario,
};
use tokio::sync::mpsc;

use crate::Exit;
use crate::exit::usage;

/// Which engine runs the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// cricalgo's own engine.
    Native,
    /// The real `k6` binary on PATH (`k6 run --summary-export …`).
    K6,
}

/// Run a load scenario (or one request with `--url`) and write a run folder.
///
/// Exit codes: 0 thresholds passed, 99 a threshold failed (a target that dies once load has
/// started is a breach), 1 target unreachable at pre-flight, 2 usage error (bad flag, threshold
/// or scenario), 130 interrupted (the run folder is written, marked incomplete).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cricalgo perf run --url http://127.0.0.1:8000/api/v1/health --vus 50 --duration 10s\n  cricalgo perf run --scenario load/scenarios/webhook.json --vus 20 --duration 1m\n  cricalgo perf run --scenario load/scenarios/capacity.json --rate 300 --threshold 'http_req_duration: p(99)<1000'"
)]
pub struct PerfRunArgs {
    /// Scenario file (`load/scenarios/*.json`).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub scenario: Option<PathBuf>,
    /// One-request scenario: this URL, no file needed.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// HTTP method for `--url`.
    #[arg(long, default_value = "GET", requires = "url")]
    pub method: String,
    /// Header for `--url` (`'Content-Type: application/json'`), repeatable.
    #[arg(long = "header", value_name = "K: V", requires = "url")]
    pub headers: Vec<String>,
    /// Request body for `--url`, read from this file (templates allowed).
    #[arg(long, value_name = "FILE", requires = "url")]
    pub body: Option<PathBuf>,
    /// VUs (constant-vus), or pre-allocated VUs with `--rate` (`--url` default: 10).
    #[arg(long)]
    pub vus: Option<u64>,
    /// Load duration (`30s`, `5m`; `--url` default: 30s).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run exactly this many iterations, shared by the VUs.
    #[arg(long, conflicts_with_all = ["duration", "rate"])]
    pub iterations: Option<u64>,
    /// Iterations started per second (constant-arrival-rate, open model).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Target base URL, replacing the scenario's `base_url`.
    #[arg(long, value_name = "URL", env = "CRICALGO_TARGET")]
    pub target: Option<String>,
    /// Extra threshold `'METRIC: EXPR'` (k6 syntax), repeatable; the defaults always apply.
    #[arg(long = "threshold", value_name = "METRIC: EXPR")]
    pub thresholds: Vec<String>,
    /// Run folder (default `artifacts/perf_run_<UTC>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Load engine.
    #[arg(long, value_enum, default_value = "native")]
    pub engine: Engine,
    /// Per-request timeout, replacing the scenario's (default 60s).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Worker threads of the native engine (default: one per available core).
    #[arg(long, hide = true)]
    pub threads: Option<usize>,
}

/// A validated native run: the plan, its thresholds and where the folder goes.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: Scenario,
    pub plan: Plan,
    pub thresholds: Vec<Threshold>,
    pub out: PathBuf,
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub result: RunResult,
    pub summary: Summary,
    pub verdict: Verdict,
}

impl RunOutcome {
    /// The exit code for this run: 130 when interrupted, else 0 / 99 by the verdict.
    pub fn exit(&self) -> Exit {
        if self.result.incomplete {
            Exit::Interrupted
        } else if self.verdict.passed() {
            Exit::Success
        } else {
            Exit::GateFailed
        }
    }
}

pub async fn run(args: PerfRunArgs) -> anyhow::Result<Exit> {
    let scenario = build_scenario(&args)?;
    let flags = args.thresholds.clone();
    let out = match &args.out {
        Some(dir) => {
            // Checked before any load: a run whose folder cannot be written would be lost.
            std::fs::create_dir_all(dir)
                .with_context(|| {
                    format!(
                        "cannot use `{}` as the run folder; pass `--out` a writable directory",
                        dir.display()
                    )
                })
                .map_err(usage)?;
            dir.clone()
        }
        None => default_run_dir("perf_run")?,
    };
    if args.engine == Engine::K6 {
        return run_k6(&args, &scenario, &flags, &out).await;
    }
    let mut plan = scenario.plan().map_err(usage)?;
    plan.workers = args.threads;
    let thresholds = parse_thresholds(&scenario.thresholds, &flags, &plan)?;
    let run_plan = RunPlan {
        scenario,
        plan,
        thresholds,
        out,
    };
    preflight(&run_plan.plan).await?;
    let cancel = CancellationToken::new();
    let ctrl_c = spawn_ctrl_c(cancel.clone());
    let outcome = run_native(&run_plan, cancel, progress_mode()).await;
    ctrl_c.abort();
    let outcome = outcome?;
    print_outcome(&outcome);
    Ok(outcome.exit())
}

/// The default run folder `artifacts/<kind>_<UTC yyyymmddThhmmssZ>/` (`$CRICALGO_ARTIFACTS_DIR`
/// overrides `artifacts/`); a second run in the same second gets a `-2` suffix.
pub fn default_run_dir(kind: &str) -> anyhow::Result<PathBuf> {
    let artifacts = std::env::var_os("CRICALGO_ARTIFACTS_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("artifacts"));
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("failed to create `{}`", artifacts.display()))?;
    let base = format!("{kind}_{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    for n in 1..100 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = artifacts.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(anyhow::anyhow!(err))
                    .with_context(|| format!("failed to create `{}`", dir.display()));
            }
        }
    }
    anyhow::bail!(
        "too many run folders named `{base}` in `{}`",
        artifacts.display()
    )
}

/// Cancels `cancel` on Ctrl-C (SIGINT).
pub fn spawn_ctrl_c(cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cricalgo: interrupted, stopping the load and writing what was gathered");
            cancel.cancel();
        }
    })
}

/// The scenario the flags describe: the file (or a one-request scenario for `--url`) with the
/// overrides applied. Every problem is a usage error.
pub fn build_scenario(args: &PerfRunArgs) -> anyhow::Result<Scenario> {
    let mut scenario = match (&args.scenario, &args.url) {
        (Some(path), None) => Scenario::from_file(path).map_err(usage)?,
        (None, Some(url)) => {
            let mut headers = BTreeMap::new();
            for header in &args.headers {
                let (key, value) = header.split_once(':').ok_or_else(|| {
                    usage(anyhow::anyhow!(
                        "header `{header}` is not `NAME: VALUE`; write e.g. `--header 'Content-Type: application/json'`"
                    ))
                })?;
                headers.insert(key.trim().to_string(), value.trim().to_string());
            }
            let body = match &args.body {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|err| {
                    usage(anyhow::anyhow!(err))
                        .context(format!("failed to read `--body` file `{}`", path.display()))
                })?),
                None => None,
            };
            let executor = ExecutorConfig::ConstantVus {
                vus: 10,
                duration: Duration::from_secs(30),
                graceful_stop: Duration::from_secs(30),
            };
            Scenario::single_request(url, &args.method, headers, body, executor).map_err(usage)?
        }
        _ => {
            return Err(usage(anyhow::anyhow!(
                "give a scenario with `--scenario FILE` or one request with `--url URL`"
            )));
        }
    };
    if let Some(target) = &args.target {
        scenario.base_url = target.trim_end_matches('/').to_string();
    }
    if let Some(timeout) = args.timeout {
        scenario.timeout = timeout;
    }
    scenario.executor = apply_overrides(
        &scenario.executor,
        Overrides {
            vus: args.vus,
            duration: args.duration,
            iterations: args.iterations,
            rate: args.rate,
        },
    )
    .map_err(usage)?;
    Ok(scenario)
}

/// `--vus`, `--duration`, `--iterations`, `--rate` as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub vus: Option<u64>,
    pub duration: Option<Duration>,
    pub iterations: Option<u64>,
    pub rate: Option<f64>,
}

/// Applies overrides the way k6's CLI does: `--iterations` → shared-iterations, `--rate` →
/// constant-arrival-rate, `--vus`/`--duration` adjust a constant executor or replace a ramp with
/// constant-vus.
pub fn apply_overrides(
    executor: &ExecutorConfig,
    overrides: Overrides,
) -> anyhow::Result<ExecutorConfig> {
    let Overrides {
        vus,
        duration,
        iterations,
        rate,
    } = overrides;
    if vus == Some(0) {
        anyhow::bail!("`--vus` must be at least 1");
    }
    let graceful_stop = executor.graceful_stop();
    let planned = executor.planned_duration();
    if let Some(iterations) = iterations {
        return Ok(ExecutorConfig::SharedIterations {
            vus: vus
                .unwrap_or_else(|| executor.max_vus())
                .min(iterations)
                .max(1),
            iterations,
            max_duration: Duration::from_secs(600),
            graceful_stop,
        });
    }
    if let Some(rate) = rate {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("`--rate` must be a positive number, got `{rate}`");
        }
        let (pre, max) = match executor {
            ExecutorConfig::ConstantArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            }
            | ExecutorConfig::RampingArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            } => (*pre_allocated_vus, *max_vus),
            other => (other.max_vus(), None),
        };
        let pre = vus.unwrap_or(pre);
        return Ok(ExecutorConfig::ConstantArrivalRate {
            rate,
            time_unit: Duration::from_secs(1),
            duration: duration.unwrap_or(planned),
            pre_allocated_vus: pre,
            max_vus: Some(max.unwrap_or(pre).max(pre)),
            graceful_stop,
        });
    }
    if vus.is_none() && duration.is_none() {
        return Ok(executor.clone());
    }
    Ok(match executor {
        ExecutorConfig::ConstantArrivalRate {
            rate,
            time_unit,
            duration: current,
            pre_allocated_vus,
            max_vus,
            graceful_stop,
        } => ExecutorConfig::ConstantArrivalRate {
            rate: *rate,
            time_unit: *time_unit,
            duration: duration.unwrap_or(*current),
            pre_allocated_vus: vus.unwrap_or(*pre_allocated_vus),
            max_vus: vus.map(|v| max_vus.unwrap_or(v).max(v)).or(*max_vus),
            graceful_stop: *graceful_stop,
        },
        other => ExecutorConfig::ConstantVus {
            vus: vus.unwrap_or_else(|| other.max_vus()),
            duration: duration.unwrap_or(planned),
            graceful_stop,
        },
    })
}

/// Parses the scenario's thresholds and the `--threshold` flags and validates them against the
/// metrics this plan emits; any problem is a usage error (exit 2) before load is sent.
pub fn parse_thresholds(
    scenario: &BTreeMap<String, Vec<String>>,
    flags: &[String],
    plan: &Plan,
) -> anyhow::Result<Vec<Threshold>> {
    let custom: Vec<(&str, MetricType)> =
        cricalgo_load::known_metrics(plan.executor.is_arrival_rate())
            .into_iter()
            .map(|(name, kind)| (name, metric_type(kind)))
            .collect();
    let mut out = Vec::new();
    for (metric, expressions) in scenario {
        for expression in expressions {
            let threshold = Threshold::parse(metric, expression, Source::Scenario)
                .and_then(|t| t.validate(&custom).map(|()| t))
                .map_err(|err| {
                    usage(anyhow::anyhow!(err)).context(format!(
                        "scenario threshold `{metric}: {expression}` is invalid"
                    ))
                })?;
            out.push(threshold);
        }
    }
    for flag in flags {
        let threshold = Threshold::parse_flag(flag)
            .and_then(|t| t.validate(&custom).map(|()| t))
            .map_err(|err| {
                usage(anyhow::anyhow!(err)).context(format!("`--threshold '{flag}'` is invalid"))
            })?;
        out.push(threshold);
    }
    Ok(out)
}

fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Rate => MetricType::Rate,
        MetricKind::Trend => MetricType::Trend,
    }
}

/// Pre-flight: the target must accept a connection (exit 1 when it does not).
pub async fn preflight(plan: &Plan) -> anyhow::Result<()> {
    cricalgo_load::preflight(plan, Duration::from_secs(5))
        .await
        .context("pre-flight failed, no load was sent")
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (terminal).
    Bar,
    /// A plain line every five seconds.
    Lines,
    /// Nothing.
    Quiet,
}

/// Bar on a terminal, plain lines otherwise.
pub fn progress_mode() -> ProgressMode {
    if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    }
}

/// Runs the plan on the native engine with a progress view, then judges it and writes the run
/// folder (also when interrupted: then it is marked incomplete).
pub async fn run_native(
    run_plan: &RunPlan,
    cancel: CancellationToken,
    mode: ProgressMode,
) -> anyhow::Result<RunOutcome> {
    let result = run_load(&run_plan.plan, cancel, mode).await?;
    write_run_folder(
        &run_plan.out,
        &result,
        &run_plan.scenario,
        &run_plan.thresholds,
        &[],
        GateOptions::default(),
    )
}

/// Runs the plan on the native engine with a progress view and returns the engine's result.
pub async fn run_load(
    plan: &Plan,
    cancel: CancellationToken,
    mode: ProgressMode,
) -> anyhow::Result<RunResult> {
    let (tx, rx) = mpsc::unbounded_channel();
    let view = tokio::spawn(show_progress(rx, mode));
    let result = cricalgo_load::run_scenario(plan.clone(), tx, cancel)
        .await
        .context("the load engine could not start")?;
    let _ = view.await;
    Ok(result)
}

/// Consumes engine events into a progress bar or plain lines.
pub async fn show_progress(mut events: mpsc::UnboundedReceiver<Event>, mode: ProgressMode) {
    let mut planned = Duration::ZERO;
    let bar = (mode == ProgressMode::Bar).then(|| {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len}s {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let mut total_requests = 0u64;
    let mut total_errors = 0u64;
    while let Some(event) = events.recv().await {
        match event {
            Event::Started {
                planned: p,
                vus_max,
                workers,
            } => {
                planned = p;
                if let Some(bar) = &bar {
                    bar.set_length(p.as_secs().max(1));
                } else if mode == ProgressMode::Lines {
                    eprintln!(
                        "load started: up to {vus_max} VUs for {}, {workers} worker thread(s)",
                        cricalgo_load::duration::format_duration(p)
                    );
                }
            }
            Event::Second(row) => {
                total_requests += row.requests;
                total_errors += row.errors;
                let left = planned.as_secs().saturating_sub(row.t + 1);
                let line = format!(
                    "t={}s {} req/s, errors {} ({} total), p95 {:.1} ms, VUs {}, {}s left",
                    row.t + 1,
                    row.requests,
                    row.errors,
                    total_errors,
                    row.p95_ms,
                    row.vus,
                    left
                );
                if let Some(bar) = &bar {
                    bar.set_position((row.t + 1).min(planned.as_secs()));
                    bar.set_message(format!(
                        "{} req/s · errors {} · p95 {:.1} ms · VUs {} · {}s left",
                        row.requests, total_errors, row.p95_ms, row.vus, left
                    ));
                } else if mode == ProgressMode::Lines && (row.t + 1) % 5 == 0 {
                    eprintln!("{line}");
                }
            }
            Event::Stopping => {
                if let Some(bar) = &bar {
                    bar.set_message("stopping: waiting for iterations in flight");
                }
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if mode == ProgressMode::Lines {
        eprintln!("load finished: {total_requests} requests, {total_errors} errors");
    }
}

/// The engine's result as the gate's summary model, with the sub-metrics and percentiles the
/// thresholds need (and `http_req_duration{expected_response:true}`, as k6 writes it).
pub fn to_summary(result: &RunResult, thresholds: &[Threshold]) -> Summary {
    let mut extra: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut selectors: Vec<cricalgo_gate::Selector> = Vec::new();
    for threshold in thresholds.iter().cloned().chain(Threshold::defaults()) {
        if let cricalgo_gate::Aggregation::Percentile(p) = threshold.parsed.aggregation {
            extra
                .entry(threshold.selector.to_string())
                .or_default()
                .push(p);
        }
        if threshold.selector.is_submetric()
            && !selectors.iter().any(|s| s.same_as(&threshold.selector))
        {
            selectors.push(threshold.selector.clone());
        }
    }
    if let Ok(ok) = cricalgo_gate::Selector::parse("http_req_duration{expected_response:true}")
        && !selectors.iter().any(|s| s.same_as(&ok))
    {
        selectors.push(ok);
    }
    let mut metrics = BTreeMap::new();
    for (name, _) in result.metric_names() {
        if let Some(values) = result.metric(name, &[]) {
            let percentiles = extra.get(name).cloned().unwrap_or_default();
            metrics.insert(name.to_string(), to_metric(name, &values, &percentiles));
        }
    }
    for selector in selectors {
        let key = selector.to_string();
        if let Some(values) = result.metric(&selector.name, &selector.tags) {
            let percentiles = extra.get(&key).cloned().unwrap_or_default();
            metrics.insert(key.clone(), to_metric(&key, &values, &percentiles));
        }
    }
    Summary {
        metrics,
        root_group: Group {
            name: String::new(),
            checks: result
                .checks()
                .into_iter()
                .map(|(name, passes, fails)| Check {
                    name,
                    passes,
                    fails,
                })
                .collect(),
            groups: Vec::new(),
        },
        test_run_duration_ms: Some(result.load_duration.as_secs_f64() * 1000.0),
        shape: cricalgo_gate::Shape::Engine,
    }
}

fn to_metric(key: &str, values: &MetricValues, extra: &[f64]) -> Metric {
    let (values, samples) = match values {
        MetricValues::Counter { count, rate } => (
            Values::Counter {
                count: Some(*count),
                rate: Some(*rate),
            },
            *count as u64,
        ),
        MetricValues::Gauge { value, min, max } => (
            Values::Gauge {
                value: Some(*value),
                min: Some(*min),
                max: Some(*max),
            },
            1,
        ),
        MetricValues::Rate { trues, falses } => (
            Values::Rate {
                rate: Some(values.rate()),
                passes: Some(*trues),
                fails: Some(*falses),
            },
            trues + falses,
        ),
        MetricValues::Trend(trend) => {
            let count = trend.count();
            let known = |v: f64| (count > 0).then_some(v);
            let mut percentiles = BTreeMap::new();
            for p in [90.0, 95.0, 99.0].iter().chain(extra) {
                if let Some(v) = known(trend.percentile(*p)) {
                    percentiles.insert(Percentile(*p), v);
                }
            }
            (
                Values::Trend(TrendValues {
                    avg: known(trend.avg()),
                    min: known(trend.min()),
                    med: known(trend.med()),
                    max: known(trend.max()),
                    percentiles,
                    count: Some(count),
                }),
                count,
            )
        }
    };
    let mut metric = Metric::new(key, values).with_samples(samples);
    let base = key.split('{').next().unwrap_or(key);
    if matches!(
        base,
        "iteration_duration_corrected" | "iteration_start_delay"
    ) {
        metric.contains = cricalgo_gate::Contains::Time;
    }
    metric
}

/// Judges `result` and writes the run folder: `summary.json`, `summary.k6-data.json`,
/// `verdict.json`, `timeseries.csv`, `scenario.json`, then `manifest.json`.
pub fn write_run_folder(
    dir: &Path,
    result: &RunResult,
    scenario: &Scenario,
    thresholds: &[Threshold],
    checks: &[FunctionalCheck],
    options: GateOptions,
) -> anyhow::Result<RunOutcome> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create run folder `{}`", dir.display()))?;
    let summary = to_summary(result, thresholds);
    let input = GateInput {
        summary: Some(&summary),
        thresholds: thresholds.to_vec(),
        checks: checks.to_vec(),
        incomplete: result.incomplete,
    };
    let mut verdict = cricalgo_gate::evaluate(&input, options)
        .map_err(usage)
        .context("failed to judge the run")?;
    verdict.notes.extend(result.notes.iter().cloned());
    write_file(
        dir,
        "summary.json",
        &cricalgo_gate::to_pretty(&cricalgo_gate::to_legacy(&summary, Some(&verdict))),
    )?;
    write_file(
        dir,
        "summary.k6-data.json",
        &cricalgo_gate::to_pretty(&cricalgo_gate::to_handle_summary(&summary, Some(&verdict))),
    )?;
    write_file(dir, "verdict.json", &verdict_json(&verdict)?)?;
    write_file(dir, "timeseries.csv", &result.timeseries_csv())?;
    let mut scenario_json = serde_json::to_string_pretty(scenario)?;
    scenario_json.push('\n');
    write_file(dir, "scenario.json", &scenario_json)?;
    write_manifest(dir, result, &verdict)?;
    Ok(RunOutcome {
        dir: dir.to_path_buf(),
        result: result.clone(),
        summary,
        verdict,
    })
}

/// `verdict.json` text.
pub fn verdict_json(verdict: &Verdict) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(verdict).context("failed to encode the verdict")?;
    text.push('\n');
    Ok(text)
}

fn write_file(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

fn write_manifest(dir: &Path, result: &RunResult, verdict: &Verdict) -> anyhow::Result<()> {
    write_minimal_manifest(
        dir,
        result.started_at,
        result.ended_at,
        &result.scenario,
        verdict,
    )
}

/// The command line for the manifest, with `--header` values redacted (they may carry tokens).
pub fn redacted_command_line() -> Vec<String> {
    let mut out = Vec::new();
    let mut redact_next = false;
    for arg in std::env::args() {
        if redact_next {
            let name = arg
                .split_once(':')
                .map(|(name, _)| name)
                .unwrap_or("header");
            out.push(format!("{name}: <redacted>"));
            redact_next = false;
            continue;
        }
        if let Some(value) = arg.strip_prefix("--header=") {
            let name = value
                .split_once(':')
                .map(|(name, _)| name)
                .unwrap_or("header");
            out.push(format!("--header={name}: <redacted>"));
            continue;
        }
        redact_next = arg == "--header";
        out.push(arg);
    }
    out
}

/// Finishes the run folder with the report crate: `report.html`, `report.md`, then
/// `manifest.json` (run id, command line, UTC start/end, revision, tool version, scenario,
/// verdict, `incomplete`, sha256 of every other file).
pub fn write_minimal_manifest(
    dir: &Path,
    started_at: chrono::DateTime<chrono::Utc>,
    ended_at: chrono::DateTime<chrono::Utc>,
    scenario: &str,
    verdict: &Verdict,
) -> anyhow::Result<()> {
    let info = cricalgo_report::ManifestInfo {
        run_id: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        command_line: redacted_command_line(),
        started_at,
        ended_at,
        git_revision: cricalgo_report::manifest::git_revision(Path::new(".")),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        stack_revision: None,
        scenario: Some(scenario.to_string()),
        verdict: Some(if verdict.passed() { "passed" } else { "failed" }.to_string()),
        incomplete: verdict.incomplete,
    };
    // Reports are a bonus here; the manifest is not.
    if cricalgo_report::finish_run_folder(dir, &info).is_err() {
        cricalgo_report::write_manifest(dir, &info)
            .with_context(|| format!("failed to write the manifest of `{}`", dir.display()))?;
    }
    Ok(())
}

/// Prints the headline figures and the threshold rows.
pub fn print_outcome(outcome: &RunOutcome) {
    let result = &outcome.result;
    let reqs = result.metric("http_reqs", &[]);
    let (count, rate) = match reqs {
        Some(MetricValues::Counter { count, rate }) => (count, rate),
        _ => (0.0, 0.0),
    };
    let failed = result
        .metric("http_req_failed", &[])
        .map(|v| v.rate())
        .unwrap_or(0.0);
    let p95 = match result.metric("http_req_duration", &[]) {
        Some(MetricValues::Trend(trend)) => trend.percentile(95.0),
        _ => 0.0,
    };
    println!(
        "{count} requests in {:.1} s ({rate:.1} req/s), {:.2} % failed, p95 {p95:.1} ms",
        result.load_duration.as_secs_f64(),
        failed * 100.0
    );
    for row in &outcome.verdict.thresholds {
        println!(
            "  {:<8} {}: {} (observed {})",
            row.status.as_str(),
            row.metric,
            row.expression,
            row.observed
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "no data".into())
        );
    }
    for note in &outcome.verdict.notes {
        println!("  note: {note}");
    }
    println!(
        "verdict: {}{} — {}",
        if outcome.verdict.passed() {
            "passed"
        } else {
            "failed"
        },
        if result.incomplete {
            " (incomplete)"
        } else {
            ""
        },
        outcome.dir.display()
    );
}

/// Finds `name` on PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The k6 script that reads a scenario file: `$CRICALGO_K6_SCRIPT`, else `load/k6/webhook_test.js`
/// beside the scenario's `load/` folder, else under the current directory.
fn k6_script(scenario_path: Option<&Path>) -> PathBuf {
    if let Some(script) = std::env::var_os("CRICALGO_K6_SCRIPT") {
        return PathBuf::from(script);
    }
    if let Some(path) = scenario_path
        && let Some(load_dir) = path.parent().and_then(Path::parent)
    {
        let candidate = load_dir.join("k6").join("webhook_test.js");
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from("load/k6/webhook_test.js")
}

/// `--engine k6`: runs the real `k6` with the same scenario file and gates its summary.
async fn run_k6(
    args: &PerfRunArgs,
    scenario: &Scenario,
    flags: &[String],
    out: &Path,
) -> anyhow::Result<Exit> {
    let k6 = find_on_path("k6").ok_or_else(|| {
        anyhow::anyhow!(
            "`k6` is not on PATH; install k6 or use `--engine native` (the same scenario runs on cricalgo's own engine)"
        )
    })?;
    let plan = scenario.plan().map_err(usage)?;
    let thresholds = parse_thresholds(&scenario.thresholds, flags, &plan)?;
    preflight(&plan).await?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("failed to create run folder `{}`", out.display()))?;
    // The effective scenario (overrides applied) is what k6 reads.
    let scenario_path = out.join("scenario.json");
    let mut text = serde_json::to_string_pretty(scenario)?;
    text.push('\n');
    std::fs::write(&scenario_path, text)
        .with_context(|| format!("failed to write `{}`", scenario_path.display()))?;
    let scenario_abs = std::fs::canonicalize(&scenario_path).unwrap_or(scenario_path.clone());
    let export = out.join("summary.json");
    let script = k6_script(args.scenario.as_deref());
    let started_at = chrono::Utc::now();
    let mut command = tokio::process::Command::new(&k6);
    command
        .arg("run")
        .arg("--summary-export")
        .arg(&export)
        .arg("-e")
        .arg(format!("SCENARIO={}", scenario_abs.display()))
        .arg(&script);
    eprintln!(
        "running {} run --summary-export {} -e SCENARIO={} {}",
        k6.display(),
        export.display(),
        scenario_abs.display(),
        script.display()
    );
    let status = command
        .status()
        .await
        .with_context(|| format!("failed to start `{}`", k6.display()))?;
    let bytes = std::fs::read(&export).with_context(|| {
        format!(
            "k6 exited with {status} and wrote no summary at `{}`",
            export.display()
        )
    })?;
    let summary = cricalgo_gate::read_summary(&bytes)
        .with_context(|| format!("failed to read k6's summary `{}`", export.display()))?;
    let input = GateInput {
        summary: Some(&summary),
        thresholds: thresholds.clone(),
        checks: Vec::new(),
        incomplete: false,
    };
    let verdict = cricalgo_gate::evaluate(&input, GateOptions::default())
        .map_err(usage)
        .context("failed to judge k6's summary")?;
    write_file(
        out,
        "summary.k6-data.json",
        &cricalgo_gate::to_pretty(&cricalgo_gate::to_handle_summary(&summary, Some(&verdict))),
    )?;
    write_file(out, "verdict.json", &verdict_json(&verdict)?)?;
    // k6's summary has no per-second series; the header keeps the folder's shape.
    write_file(out, "timeseries.csv", "t,vus,requests,errors,p50,p95,p99\n")?;
    write_minimal_manifest(
        out,
        started_at,
        chrono::Utc::now(),
        &scenario.name,
        &verdict,
    )?;
    for row in &verdict.thresholds {
        println!(
            "  {:<8} {}: {}",
            row.status.as_str(),
            row.metric,
            row.expression
        );
    }
    println!(
        "verdict (k6 engine): {} — {}",
        if verdict.passed() { "passed" } else { "failed" },
        out.display()
    );
    Ok(if verdict.passed() {
        Exit::Success
    } else {
        Exit::GateFailed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(vus: u64, secs: u64) -> ExecutorConfig {
        ExecutorConfig::ConstantVus {
            vus,
            duration: Duration::from_secs(secs),
            graceful_stop: Duration::from_secs(30),
        }
    }

    #[test]
    fn overrides_follow_k6_cli_rules() {
        let base = constant(100, 300);
        let got = apply_overrides(
            &base,
            Overrides {
                vus: Some(5),
                duration: Some(Duration::from_secs(10)),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(got, constant(5, 10));
        let got = apply_overrides(
            &base,
            Overrides {
                iterations: Some(20),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(got.name(), "shared-iterations");
        let got = apply_overrides(
            &base,
            Overrides {
                rate: Some(50.0),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(got.name(), "constant-arrival-rate");
        assert_eq!(got.planned_duration(), Duration::from_secs(300));
        assert!(
            apply_overrides(
                &base,
                Overrides {
                    vus: Some(0),
                    ..Overrides::default()
                }
            )
            .is_err()
        );
    }
}
