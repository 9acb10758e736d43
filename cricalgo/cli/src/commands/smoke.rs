//! `cricalgo smoke`: functional checks plus a short load against the stack.

use clap::Args;

use crate::Exit;

/// functional checks plus a short load against the stack.
#[derive(Debug, Args)]
pub struct SmokeArgs {}

pub async fn run(_args: SmokeArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo smoke` is not available in this build yet")
}
