//! `cricalgo perf`: dispatches to `run`, `check`, `full-run` and `compare`.

use clap::{Args, Subcommand};

use crate::Exit;

/// Load tests, the acceptance gate and the full run.
#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: PerfCommand,
}

/// The `perf` subcommands.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Run a load scenario (or one request with `--url`) and write a run folder.
    Run(super::perf_run::PerfRunArgs),
    /// Gate a run folder or a k6 summary file on thresholds (exit 0 passed, 99 failed).
    Check(super::perf_check::PerfCheckArgs),
    /// Stack up, smoke, load, gate and a full run folder with reports.
    FullRun(super::full_run::FullRunArgs),
    /// Deltas between two run folders.
    Compare(super::perf_compare::PerfCompareArgs),
}

pub async fn run(args: PerfArgs) -> anyhow::Result<Exit> {
    match args.command {
        PerfCommand::Run(args) => super::perf_run::run(args).await,
        PerfCommand::Check(args) => super::perf_check::run(args).await,
        PerfCommand::FullRun(args) => super::full_run::run(args).await,
        PerfCommand::Compare(args) => super::perf_compare::run(args).await,
    }
}
