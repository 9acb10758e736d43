//! `cricalgo staging`: the staging stack through the Docker Engine API.

use clap::Args;

use crate::Exit;

/// the staging stack through the Docker Engine API.
#[derive(Debug, Args)]
pub struct StagingArgs {}

pub async fn run(_args: StagingArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo staging` is not available in this build yet")
}
