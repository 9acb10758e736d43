//! `cricalgo perf compare`: deltas between two run folders.

use clap::Args;

use crate::Exit;

/// deltas between two run folders.
#[derive(Debug, Args)]
pub struct PerfCompareArgs {}

pub async fn run(_args: PerfCompareArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo perf compare` is not available in this build yet")
}
