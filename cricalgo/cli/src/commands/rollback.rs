//! `cricalgo rollback`: roll back to the previous revision (compose or Kubernetes).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use cricalgo_k8s::cluster::{self, RollbackOutcome, WaitOptions};

use super::k8s::{CONNECT_TIMEOUT, interruptible, manifest_dir, namespace, parse_duration};
use crate::Exit;

/// How long a compose rollback waits for the stack to be healthy again.
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(180);

/// Roll back to the previous revision (compose or Kubernetes).
///
/// `--compose` (the default) re-converges the staging stack to the revision recorded before the
/// running one. `--k8s` does what `kubectl rollout undo` does for the `app` and `worker`
/// Deployments: it takes the template of their previous ReplicaSet (or of `--to-revision`),
/// patches it back and waits for both rollouts. Refuses on a paused Deployment or when there is no
/// earlier revision, before touching either Deployment.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cricalgo rollback\n  cricalgo rollback --k8s\n  cricalgo rollback --k8s --namespace cricalgo-staging --to-revision 3\n\nExit codes: 0 rolled back and healthy, 1 nothing to roll back to, refused, unreachable or unhealthy, 2 bad flags, 130 interrupted."
)]
pub struct RollbackArgs {
    /// Roll back the compose staging stack (the default).
    #[arg(long, conflicts_with = "k8s")]
    compose: bool,
    /// Roll back the `app` and `worker` Deployments on Kubernetes.
    #[arg(long)]
    k8s: bool,
    /// The namespace (with `--k8s`; default: the manifests' namespace).
    #[arg(long, short = 'n', requires = "k8s")]
    namespace: Option<String>,
    /// Roll back to this revision instead of the previous one (with `--k8s`).
    #[arg(long, requires = "k8s", value_parser = clap::value_parser!(i64).range(1..))]
    to_revision: Option<i64>,
    /// The manifest folder, to find the default namespace (with `--k8s`).
    #[arg(long, env = "CRICALGO_K8S_DIR", requires = "k8s")]
    dir: Option<PathBuf>,
    /// How long to wait for the rollouts (with `--k8s`).
    #[arg(long, default_value = "10m", value_parser = parse_duration, requires = "k8s")]
    timeout: Duration,
}

pub async fn run(args: RollbackArgs) -> anyhow::Result<Exit> {
    if args.k8s {
        interruptible(kubernetes(args)).await
    } else {
        super::staging::rollback(COMPOSE_TIMEOUT).await
    }
}

async fn kubernetes(args: RollbackArgs) -> anyhow::Result<Exit> {
    let namespace = namespace(args.namespace, &manifest_dir(args.dir));
    let client = cluster::connect(CONNECT_TIMEOUT).await?;
    let wait = WaitOptions {
        timeout: args.timeout,
        ..WaitOptions::default()
    };
    let outcomes = cluster::rollback(
        &client,
        &namespace,
        &cricalgo_k8s::ROLLBACK_DEPLOYMENTS,
        args.to_revision,
        wait,
        &mut |line| println!("{line}"),
    )
    .await?;
    for outcome in outcomes {
        match outcome {
            RollbackOutcome::RolledBack { name, from, to } => println!(
                "rolled back deployment `{name}` in `{namespace}` from revision {} to the template of revision {to}",
                from.map_or("?".to_owned(), |r| r.to_string())
            ),
            RollbackOutcome::Skipped { name, revision } => println!(
                "deployment `{name}` in `{namespace}` already runs the template of revision {revision}; nothing to do"
            ),
        }
    }
    Ok(Exit::Success)
}
