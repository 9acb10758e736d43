//! The API calls: connect, server-side apply, wait for rollout, roll back, read status.
//!
//! Every decision is made by the pure modules ([`crate::rollout`], [`crate::undo`],
//! [`crate::status`]); this module only fetches objects and sends what they decided. The tests in
//! `tests/cluster.rs` run each function against a mock API server that asserts every request.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::InferConfigError;
use kube::{Client, Config};

use crate::manifests::{Manifest, ManifestError};
use crate::rollout::{RolloutState, rollout_state};
use crate::status::{StatusReport, summarize};
use crate::undo::{UndoError, UndoPlan, plan_undo, revision};

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "cricalgo";

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error(
        "no Kubernetes cluster is configured ({reason}) and this is not a pod; point `KUBECONFIG` (default `~/.kube/config`) at a cluster, for a local one `kind create cluster` or `k3d cluster create`"
    )]
    NoConfig {
        /// Why the kubeconfig could not be used.
        reason: String,
    },
    /// The configuration was found but no client could be built from it.
    #[error("failed to build a Kubernetes client from the configuration")]
    Client(#[source] kube::Error),
    /// The API server did not answer.
    #[error(
        "cannot reach the Kubernetes API server at `{url}`: {reason}; check that the cluster is running and `kubectl config current-context` names it"
    )]
    Unreachable {
        /// The server URL from the configuration.
        url: String,
        /// What failed.
        reason: String,
    },
    /// An API request failed.
    #[error("failed to {action}: {reason}")]
    Api {
        /// What was being done (`apply deployment/app`).
        action: String,
        /// The API server's answer or the transport error.
        reason: String,
    },
    /// The manifests are not usable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A rollback was refused.
    #[error(transparent)]
    Undo(#[from] UndoError),
    /// A Secret the Deployments need does not exist.
    #[error(
        "secret `{name}` does not exist in namespace `{namespace}`; the pods cannot start without it: create it from `k8s/secret.template.yaml` (see k8s/README.md)"
    )]
    MissingSecret {
        /// The Secret.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The rollout failed (progress deadline exceeded).
    #[error(
        "rollout of deployment `{name}` failed: {message}; see `cricalgo k8s status` for events"
    )]
    RolloutFailed {
        /// The Deployment.
        name: String,
        /// kubectl's wording of the failure.
        message: String,
    },
    /// The rollout did not finish in time.
    #[error(
        "rollout of deployment `{name}` did not finish within {seconds}s (last: {last}); see `cricalgo k8s status`"
    )]
    RolloutTimeout {
        /// The Deployment.
        name: String,
        /// The limit.
        seconds: u64,
        /// The last state seen.
        last: String,
    },
}

/// Describes a kube error without the `Debug` dump its `Display` carries.
fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(", {}", status.reason)
            };
            format!("{} (HTTP {}{reason})", status.message, status.code)
        }
        other => {
            // kube and hyper repeat their inner error in their own text; keep each part once.
            let mut parts: Vec<String> = Vec::new();
            let mut source: Option<&dyn std::error::Error> = Some(other);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !parts.last().is_some_and(|last| last.ends_with(&text)) {
                    parts.push(text);
                }
                source = cause.source();
            }
            let joined = parts.join(": ");
            joined
                .strip_prefix("ServiceError: ")
                .map(str::to_owned)
                .unwrap_or(joined)
        }
    }
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let action = action.into();
    move |err| ClusterError::Api {
        action,
        reason: describe(&err),
    }
}

/// Connects with the configuration kube infers (kubeconfig, then in-cluster) and checks that the
/// API server answers within `timeout`.
pub async fn connect(timeout: Duration) -> Result<Client, ClusterError> {
    let config = Config::infer()
        .await
        .map_err(|err| ClusterError::NoConfig {
            reason: kubeconfig_reason(&err),
        })?;
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(ClusterError::Client)?;
    check_reachable(&client, &url, timeout).await?;
    Ok(client)
}

/// The kubeconfig half of kube's inference error, in one line.
fn kubeconfig_reason(err: &InferConfigError) -> String {
    std::error::Error::source(err)
        .map(|kubeconfig| kubeconfig.to_string())
        .unwrap_or_else(|| err.to_string())
        .replace("'\"", "`")
        .replace("\"'", "`")
}

/// Asks the API server for its version, as a reachability check.
pub async fn check_reachable(
    client: &Client,
    url: &str,
    timeout: Duration,
) -> Result<(), ClusterError> {
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(ClusterError::Unreachable {
            url: url.to_owned(),
            reason: describe(&err),
        }),
        Err(_) => Err(ClusterError::Unreachable {
            url: url.to_owned(),
            reason: format!("no answer within {}s", timeout.as_secs()),
        }),
    }
}

/// Options of [`apply`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Server-side dry run: the API server validates and defaults, nothing is stored.
    pub dry_run: bool,
}

/// Server-side applies every manifest in order with field manager `cricalgo` (taking over
/// conflicting fields, as a deploy tool must) and returns `kind/name` of each.
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    options: ApplyOptions,
) -> Result<Vec<String>, ClusterError> {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if options.dry_run {
        params = params.dry_run();
    }
    let mut applied = Vec::new();
    for manifest in manifests {
        let (resource, namespaced) = manifest.api_resource()?;
        let object: DynamicObject =
            serde_json::from_value(manifest.object.clone()).map_err(|err| {
                ManifestError::Parse {
                    path: manifest.path.clone(),
                    message: err.to_string(),
                }
            })?;
        let api: Api<DynamicObject> = match (namespaced, manifest.namespace()) {
            (true, Some(namespace)) => Api::namespaced_with(client.clone(), namespace, &resource),
            (true, None) => Api::default_namespaced_with(client.clone(), &resource),
            (false, _) => Api::all_with(client.clone(), &resource),
        };
        api.patch(manifest.name(), &params, &Patch::Apply(&object))
            .await
            .map_err(api_error(format!(
                "apply {} from `{}`",
                manifest.display_name(),
                manifest.path.display()
            )))?;
        applied.push(manifest.display_name());
    }
    Ok(applied)
}

/// The Secrets the Deployments in `manifests` reference without `optional: true`, as
/// `(namespace, name)`, in first-use order.
pub fn required_secrets(manifests: &[Manifest]) -> Vec<(String, String)> {
    let mut secrets: Vec<(String, String)> = Vec::new();
    for manifest in manifests.iter().filter(|m| m.kind() == "Deployment") {
        let namespace = manifest.namespace().unwrap_or("default").to_owned();
        let containers = manifest.object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for container in containers {
            let env_refs = container["env"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|env| env["valueFrom"]["secretKeyRef"].clone());
            let env_from_refs = container["envFrom"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|source| source["secretRef"].clone());
            for reference in env_refs.chain(env_from_refs) {
                let Some(name) = reference["name"].as_str() else {
                    continue;
                };
                if reference["optional"].as_bool() == Some(true) {
                    continue;
                }
                let key = (namespace.clone(), name.to_owned());
                if !secrets.contains(&key) {
                    secrets.push(key);
                }
            }
        }
    }
    secrets
}

/// Fails with [`ClusterError::MissingSecret`] when a required Secret does not exist.
pub async fn check_secrets(client: &Client, manifests: &[Manifest]) -> Result<(), ClusterError> {
    for (namespace, name) in required_secrets(manifests) {
        let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        match api.get_metadata_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ClusterError::MissingSecret { name, namespace }),
            Err(err) => return Err(api_error(format!("read secret `{name}`"))(err)),
        }
    }
    Ok(())
}

/// How long and how often [`wait_for_rollout`] polls.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Between two reads of the Deployment.
    pub poll_interval: Duration,
    /// Overall limit.
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
        }
    }
}

/// Waits until the Deployment's rollout is complete by kubectl's rules, reporting each new
/// waiting message through `progress`.
pub async fn wait_for_rollout(
    client: &Client,
    namespace: &str,
    name: &str,
    options: WaitOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), ClusterError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut last = String::new();
    loop {
        let deployment = api
            .get(name)
            .await
            .map_err(api_error(format!("read deployment `{name}`")))?;
        match rollout_state(&deployment) {
            RolloutState::Complete => {
                progress(&format!("deployment `{name}` successfully rolled out"));
                return Ok(());
            }
            RolloutState::Failed(message) => {
                return Err(ClusterError::RolloutFailed {
                    name: name.to_owned(),
                    message,
                });
            }
            RolloutState::Waiting(message) => {
                if message != last {
                    progress(&message);
                    last = message;
                }
            }
        }
        if tokio::time::Instant::now() + options.poll_interval > deadline {
            return Err(ClusterError::RolloutTimeout {
                name: name.to_owned(),
                seconds: options.timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// What a rollback did to one Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// Patched from `from` back to the template of revision `to`.
    RolledBack {
        /// The Deployment.
        name: String,
        /// Its revision before.
        from: Option<i64>,
        /// The revision restored.
        to: i64,
    },
    /// It already ran that template.
    Skipped {
        /// The Deployment.
        name: String,
        /// The revision it matches.
        revision: i64,
    },
}

/// Rolls back each named Deployment like `kubectl rollout undo`, then waits for the rollouts.
///
/// Every Deployment is planned before any is patched, so a refusal (paused, no history, unknown
/// revision) leaves all of them untouched.
pub async fn rollback(
    client: &Client,
    namespace: &str,
    names: &[&str],
    to_revision: Option<i64>,
    wait: WaitOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<RollbackOutcome>, ClusterError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let mut plans = Vec::new();
    for name in names {
        let deployment = deployments
            .get(name)
            .await
            .map_err(api_error(format!("read deployment `{name}`")))?;
        let selector = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.selector.match_labels.clone())
            .unwrap_or_default()
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",");
        let sets = replica_sets
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(api_error(format!("list replica sets of `{name}`")))?;
        let plan = plan_undo(&deployment, &sets.items, to_revision)?;
        plans.push((name.to_string(), revision(&deployment.metadata), plan));
    }
    let mut outcomes = Vec::new();
    for (name, from, plan) in plans {
        match plan {
            UndoPlan::AlreadyCurrent { revision } => {
                progress(&format!(
                    "deployment `{name}` already runs the template of revision {revision}; skipped"
                ));
                outcomes.push(RollbackOutcome::Skipped { name, revision });
            }
            UndoPlan::Patch {
                to_revision,
                replica_set,
                patch,
            } => {
                let patch: json_patch::Patch =
                    serde_json::from_value(patch).map_err(|err| ClusterError::Api {
                        action: format!("build the rollback patch for `{name}`"),
                        reason: err.to_string(),
                    })?;
                deployments
                    .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                    .await
                    .map_err(api_error(format!("patch deployment `{name}`")))?;
                progress(&format!(
                    "deployment `{name}` rolled back to revision {to_revision} (replica set `{replica_set}`)"
                ));
                outcomes.push(RollbackOutcome::RolledBack {
                    name,
                    from,
                    to: to_revision,
                });
            }
        }
    }
    for name in names {
        wait_for_rollout(client, namespace, name, wait, progress).await?;
    }
    Ok(outcomes)
}

/// Reads Deployments, HPAs and events of `namespace` and summarises them.
pub async fn status(client: &Client, namespace: &str) -> Result<StatusReport, ClusterError> {
    let list = ListParams::default();
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&list)
        .await
        .map_err(api_error("list deployments"))?;
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace)
        .list(&list)
        .await
        .map_err(api_error("list horizontal pod autoscalers"))?;
    let events = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&list)
        .await
        .map_err(api_error("list events"))?;
    Ok(summarize(
        namespace,
        &deployments.items,
        &hpas.items,
        &events.items,
    ))
}
