//! `cricalgo perf check`: gate a run folder or k6 summary file.

use clap::Args;

use crate::Exit;

/// gate a run folder or k6 summary file.
#[derive(Debug, Args)]
pub struct PerfCheckArgs {}

pub async fn run(_args: PerfCheckArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo perf check` is not available in this build yet")
}
