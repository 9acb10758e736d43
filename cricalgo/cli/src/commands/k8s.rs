//! `cricalgo k8s`: apply the Kubernetes manifests and show their status.

use clap::Args;

use crate::Exit;

/// apply the Kubernetes manifests and show their status.
#[derive(Debug, Args)]
pub struct K8sArgs {}

pub async fn run(_args: K8sArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`cricalgo k8s` is not available in this build yet")
}
