//! `cricalgo monitoring`: check the Prometheus rules and reload the staging Prometheus.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cricalgo_common::metrics::{WebhookMetrics, WorkerMetrics};
use cricalgo_k8s::monitoring::{self, Exposition, Layout};

use crate::Exit;
use crate::exit::usage;

/// The Prometheus folder, relative to the repository root.
pub const MONITORING_DIR: &str = "monitoring/prometheus";

/// Check the Prometheus rules and reload the staging Prometheus.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cricalgo monitoring check\n  cricalgo monitoring reload --url http://127.0.0.1:9090\n\nExit codes: 0 all checks passed / reloaded, 1 a check failed or Prometheus unreachable, 2 unreadable files or bad flags."
)]
pub struct MonitoringArgs {
    #[command(subcommand)]
    command: MonitoringCommand,
}

#[derive(Debug, Subcommand)]
enum MonitoringCommand {
    /// `promtool check config`, `check rules` and `test rules` (when promtool is installed), a
    /// firing and a silent test for every alert, and every metric, label and label value the rules
    /// use exported by cricalgo-webhook (job `app`) or cricalgo-worker (job `worker`).
    #[command(after_help = "Example:\n  cricalgo monitoring check --dir monitoring/prometheus")]
    Check(CheckArgs),
    /// POST `/-/reload` to the staging Prometheus and confirm it loaded as many rules as the rule
    /// files hold.
    #[command(after_help = "Example:\n  cricalgo monitoring reload --url http://127.0.0.1:9090")]
    Reload(ReloadArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The folder holding prometheus.yml, alerts/ and tests/.
    #[arg(long, env = "CRICALGO_MONITORING_DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReloadArgs {
    /// The Prometheus to reload (the staging stack publishes it on 127.0.0.1:9090).
    #[arg(
        long,
        env = "CRICALGO_PROMETHEUS_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    url: String,
    /// The folder holding the rule files it loads.
    #[arg(long, env = "CRICALGO_MONITORING_DIR")]
    dir: Option<PathBuf>,
    /// How long to wait for the new rule count (`15s`).
    #[arg(long, default_value = "15s", value_parser = super::k8s::parse_duration)]
    timeout: Duration,
}

pub async fn run(args: MonitoringArgs) -> anyhow::Result<Exit> {
    match args.command {
        MonitoringCommand::Check(args) => check(args),
        MonitoringCommand::Reload(args) => reload(args).await,
    }
}

fn layout(dir: Option<PathBuf>) -> Layout {
    Layout::new(dir.unwrap_or_else(|| super::staging::repo_root().join(MONITORING_DIR)))
}

/// What each scrape job of prometheus.yml runs, as its metric registry renders at start.
fn service_exports() -> anyhow::Result<BTreeMap<String, Exposition>> {
    Ok([
        (
            "app".to_owned(),
            Exposition::parse("app", &WebhookMetrics::new().render())?,
        ),
        (
            "worker".to_owned(),
            Exposition::parse("worker", &WorkerMetrics::new().render())?,
        ),
    ]
    .into_iter()
    .collect())
}

fn check(args: CheckArgs) -> anyhow::Result<Exit> {
    let layout = layout(args.dir);
    let read = |err| usage(err);
    let jobs = monitoring::scrape_jobs(&layout.config()).map_err(read)?;
    let rules = monitoring::all_rules(&layout).map_err(read)?;
    let mut failures: Vec<String> = Vec::new();

    if monitoring::promtool_available() {
        for run in monitoring::run_promtool(&layout)? {
            if run.success {
                println!("ok    {}", run.command);
            } else {
                println!("FAIL  {}\n{}", run.command, run.output.trim_end());
                failures.push(format!("`{}` failed", run.command));
            }
        }
    } else {
        println!(
            "skip  promtool checks: `promtool` is not installed (Debian: `apt-get install prometheus`)"
        );
    }

    let uncovered = monitoring::uncovered_alerts(&layout).map_err(read)?;
    let alerts = rules.iter().filter(|r| r.alert.is_some()).count();
    if uncovered.is_empty() {
        println!("ok    {alerts} alerts each fire in one promtool case and stay silent in another");
    } else {
        for line in &uncovered {
            println!("FAIL  {line}");
        }
        failures.push(format!("{} alert test cases missing", uncovered.len()));
    }

    for job in ["app", "worker"] {
        if !jobs.contains(job) {
            failures.push(format!("prometheus.yml has no scrape job `{job}`"));
        }
    }
    let problems = monitoring::check_metrics(&rules, &service_exports()?, &jobs).map_err(read)?;
    if problems.is_empty() {
        println!(
            "ok    {} rules use only metrics, labels and values that cricalgo-webhook and cricalgo-worker export",
            rules.len()
        );
    } else {
        for problem in &problems {
            println!("FAIL  {problem}");
        }
        failures.push(format!(
            "{} rule(s) use metrics or labels the services do not export",
            problems.len()
        ));
    }

    if failures.is_empty() {
        Ok(Exit::Success)
    } else {
        anyhow::bail!(
            "monitoring check failed: {}; fix the files under `{}`",
            failures.join(", "),
            layout.dir.display()
        )
    }
}

async fn reload(args: ReloadArgs) -> anyhow::Result<Exit> {
    let layout = layout(args.dir);
    let expected = monitoring::all_rules(&layout).map_err(usage)?.len();
    let outcome = monitoring::reload(&args.url, expected, args.timeout)
        .await
        .context("failed to reload Prometheus")?;
    println!(
        "Prometheus at {} reloaded: {} rules in {} groups loaded (the rule files hold {expected})",
        args.url, outcome.loaded, outcome.groups
    );
    Ok(Exit::Success)
}
