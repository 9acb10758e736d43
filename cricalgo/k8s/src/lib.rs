//! Kubernetes: manifests, server-side apply, rollout status and rollout undo logic (pure) behind the kube client.
//!
//! The crate is split so that every decision can be tested without a cluster:
//! - [`manifests`] reads `k8s/` through its kustomization and checks the set (HPA targets exist);
//! - [`rollout`], [`undo`] and [`status`] are pure functions over API objects implementing
//!   `kubectl rollout status`, `kubectl rollout undo` and the status summary;
//! - [`cluster`] performs the API calls (kube, server-side apply with field manager `cricalgo`);
//! - [`monitoring`] checks the Prometheus rules against what the services export, runs promtool
//!   and reloads a running Prometheus.

pub mod cluster;
pub mod manifests;
pub mod monitoring;
pub mod rollout;
pub mod status;
pub mod undo;

#[cfg(test)]
mod fixtures;

pub use cluster::{ApplyOptions, ClusterError, RollbackOutcome, WaitOptions};
pub use manifests::{Manifest, ManifestError};
pub use rollout::{RolloutState, rollout_state};
pub use status::StatusReport;
pub use undo::{UndoError, UndoPlan, plan_undo};

/// The Deployments `cricalgo rollback --k8s` rolls back, in order.
pub const ROLLBACK_DEPLOYMENTS: [&str; 2] = ["app", "worker"];
