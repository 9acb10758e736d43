//! `cricalgo perf full-run`: stack up, smoke, load, gate and a full run folder.

use clap::Args;

use crate::Exit;

/// stack up, smoke, load, gate and a full run folder.
#[derive(Debug, Args)]
pub struct FullRunArgs {}

pub async fn run(_args: FullRunArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo perf full-run` is not available in this build yet")
}
