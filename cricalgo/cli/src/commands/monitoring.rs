//! `cricalgo monitoring`: check the Prometheus rules and reload the staging Prometheus.

use clap::Args;

use crate::Exit;

/// check the Prometheus rules and reload the staging Prometheus.
#[derive(Debug, Args)]
pub struct MonitoringArgs {}

pub async fn run(_args: MonitoringArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo monitoring` is not available in this build yet")
}
