//! The `cricalgo` CLI as a library: the command tree and its dispatcher. Each subcommand lives in
//! its own module under [`commands`], turns its arguments into an options struct and calls the
//! library crates; this file only dispatches.

pub mod commands;
pub mod exit;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Ops toolkit for the CricAlgo deposit pipeline.
///
/// Exit codes: 0 success or gate passed, 99 gate failed (thresholds breached), 1 operational
/// error, 2 usage or configuration error, 130 interrupted (partial artifacts written).
#[derive(Debug, Parser)]
#[command(name = "cricalgo", version, about, long_about = None)]
#[command(after_help = "Example:\n  cricalgo perf full-run --vus 20 --duration 30s")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every top-level command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The nginx-fronted staging stack, through the Docker Engine API.
    Staging(commands::staging::StagingArgs),
    /// Functional checks plus a short load against the stack.
    Smoke(commands::smoke::SmokeArgs),
    /// Load tests, the acceptance gate and the full run.
    Perf(commands::perf::PerfArgs),
    /// Roll back to the previous revision (compose or Kubernetes).
    Rollback(commands::rollback::RollbackArgs),
    /// Kubernetes manifests: apply and status.
    K8s(commands::k8s::K8sArgs),
    /// Prometheus configuration and alert rules.
    Monitoring(commands::monitoring::MonitoringArgs),
    /// Database schema and test data.
    Db(commands::db::DbArgs),
    /// Print shell completions.
    Completions(commands::completions::CompletionsArgs),
}

/// Runs a parsed command line on a fresh multi-threaded runtime.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Staging(args) => commands::staging::run(args).await,
        Command::Smoke(args) => commands::smoke::run(args).await,
        Command::Perf(args) => commands::perf::run(args).await,
        Command::Rollback(args) => commands::rollback::run(args).await,
        Command::K8s(args) => commands::k8s::run(args).await,
        Command::Monitoring(args) => commands::monitoring::run(args).await,
        Command::Db(args) => commands::db::run(args).await,
        Command::Completions(args) => commands::completions::run(args),
    }
}
