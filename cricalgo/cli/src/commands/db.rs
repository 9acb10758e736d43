//! `cricalgo db`: migrate the schema and seed test users.

use clap::Args;

use crate::Exit;

/// migrate the schema and seed test users.
#[derive(Debug, Args)]
pub struct DbArgs {}

pub async fn run(_args: DbArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo db` is not available in this build yet")
}
