//! `cricalgo rollback`: roll back to the previous revision (compose or Kubernetes).

use clap::Args;

use crate::Exit;

/// roll back to the previous revision (compose or Kubernetes).
#[derive(Debug, Args)]
pub struct RollbackArgs {}

pub async fn run(_args: RollbackArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo rollback` is not available in this build yet")
}
