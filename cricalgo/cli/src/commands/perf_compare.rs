//! `cricalgo perf compare`: deltas between two run folders.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use cricalgo_report::compare::compare;
use cricalgo_report::folder::{artifacts_dir, create_run_dir};

use crate::Exit;

/// Deltas between two run folders: throughput, p50/p95/p99, error rate and verdict changes.
///
/// Prints the comparison and writes `compare.md` and `compare.json` into `--out` (default
/// `artifacts/compare_<UTC>/`). Exits 0 whatever the deltas; gate a run with `perf check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  cricalgo perf compare artifacts/perf_full_run_20250920T143543Z artifacts/perf_full_run_20250921T091200Z"
)]
pub struct PerfCompareArgs {
    /// The baseline run folder.
    pub run_a: PathBuf,
    /// The run folder compared with it.
    pub run_b: PathBuf,
    /// Where to write `compare.md` and `compare.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: PerfCompareArgs) -> anyhow::Result<Exit> {
    for dir in [&args.run_a, &args.run_b] {
        if !dir.is_dir() {
            return Err(crate::exit::usage(anyhow::anyhow!(
                "run folder `{}` does not exist; pass two folders under `artifacts/`",
                dir.display()
            )));
        }
    }
    let comparison = compare(&args.run_a, &args.run_b)
        .map_err(crate::exit::usage)
        .context("failed to compare the two runs")?;
    let out = match args.out {
        Some(out) => out,
        None => create_run_dir(&artifacts_dir(), "compare", chrono::Utc::now())
            .context("failed to create the comparison folder")?,
    };
    comparison
        .write(&out)
        .with_context(|| format!("failed to write the comparison into `{}`", out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", comparison.to_markdown());
        println!("\nwritten to {}", out.display());
    }
    Ok(Exit::Success)
}
