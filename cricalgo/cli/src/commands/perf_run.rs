//! `cricalgo perf run`: run a load scenario and write a run folder.

use clap::Args;

use crate::Exit;

/// run a load scenario and write a run folder.
#[derive(Debug, Args)]
pub struct PerfRunArgs {}

pub async fn run(_args: PerfRunArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo perf run` is not available in this build yet")
}
