//! Rollback of a Deployment, the way `kubectl rollout undo` does it. Pure: the caller fetches the
//! Deployment and the ReplicaSets and sends the patch.
//!
//! The history of a Deployment is its own ReplicaSets (found through a controller owner reference
//! carrying the Deployment's uid, not through labels, which another Deployment may share), each
//! with its revision in the `deployment.kubernetes.io/revision` annotation. Undo takes the previous
//! revision (the highest below the current one) or the one asked for, copies that ReplicaSet's pod
//! template without the `pod-template-hash` label into the Deployment, and carries over the
//! ReplicaSet's annotations (change cause and the like) with a JSON patch. The controller then
//! rolls out that template as a new revision.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

/// The annotation holding a Deployment's or ReplicaSet's revision number.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label the controller adds to each ReplicaSet's template; never copied back.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Annotations that belong to the Deployment (or the controller) and are kept as they are,
/// never copied from the ReplicaSet.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// Why a rollback cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    /// The Deployment is paused; rolling back would not roll anything out.
    #[error(
        "deployment `{name}` is paused; resume it first (`kubectl rollout resume deployment/{name}`) and try again"
    )]
    Paused {
        /// The Deployment.
        name: String,
    },
    /// There is no revision before the current one.
    #[error(
        "no rollout history found for deployment `{name}`: there is no earlier revision to roll back to"
    )]
    NoHistory {
        /// The Deployment.
        name: String,
    },
    /// `--to-revision` names a revision the Deployment does not have.
    #[error(
        "deployment `{name}` has no revision {revision} (it has {available}); pick one of those with `--to-revision`"
    )]
    RevisionNotFound {
        /// The Deployment.
        name: String,
        /// The revision asked for.
        revision: i64,
        /// The revisions it has, comma-separated.
        available: String,
    },
    /// The chosen ReplicaSet has no pod template.
    #[error("replica set `{replica_set}` has no pod template to roll back to")]
    NoTemplate {
        /// The ReplicaSet.
        replica_set: String,
    },
}

/// What a rollback will do.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoPlan {
    /// Patch the Deployment back to `to_revision`'s template.
    Patch {
        /// The revision whose template is restored.
        to_revision: i64,
        /// The ReplicaSet holding it.
        replica_set: String,
        /// The JSON patch (RFC 6902) for the Deployment.
        patch: Value,
    },
    /// The Deployment already runs that revision's template: nothing to do (kubectl's "skipped
    /// rollback").
    AlreadyCurrent {
        /// The revision it matches.
        revision: i64,
    },
}

/// The revision recorded on an object, if any.
pub fn revision(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

/// The ReplicaSets `deployment` controls (by owner reference uid), oldest revision first.
pub fn owned_replica_sets<'a>(
    deployment: &Deployment,
    replica_sets: &'a [ReplicaSet],
) -> Vec<&'a ReplicaSet> {
    let Some(uid) = deployment.metadata.uid.as_deref() else {
        return Vec::new();
    };
    let mut owned: Vec<&ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata.owner_references.iter().flatten().any(|owner| {
                owner.controller == Some(true) && owner.kind == "Deployment" && owner.uid == uid
            })
        })
        .collect();
    owned.sort_by_key(|rs| revision(&rs.metadata).unwrap_or(0));
    owned
}

/// Plans `kubectl rollout undo` for `deployment` given all ReplicaSets in its namespace.
///
/// Without `to_revision` the target is the highest revision below the latest one.
pub fn plan_undo(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    to_revision: Option<i64>,
) -> Result<UndoPlan, UndoError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let spec = deployment.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Err(UndoError::Paused { name });
    }
    let owned = owned_replica_sets(deployment, replica_sets);
    let target = match to_revision {
        Some(wanted) => owned
            .iter()
            .find(|rs| revision(&rs.metadata) == Some(wanted))
            .copied()
            .ok_or_else(|| UndoError::RevisionNotFound {
                name: name.clone(),
                revision: wanted,
                available: owned
                    .iter()
                    .filter_map(|rs| revision(&rs.metadata))
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
        None => {
            // Owned sets are sorted by revision: the previous one is second from the end.
            let with_revision: Vec<&ReplicaSet> = owned
                .iter()
                .copied()
                .filter(|rs| revision(&rs.metadata).is_some_and(|r| r > 0))
                .collect();
            match with_revision.len() {
                0 | 1 => return Err(UndoError::NoHistory { name }),
                len => with_revision[len - 2],
            }
        }
    };
    let target_revision = revision(&target.metadata).unwrap_or(0);
    let replica_set = target.metadata.name.clone().unwrap_or_default();
    let mut template = target
        .spec
        .as_ref()
        .and_then(|spec| spec.template.clone())
        .ok_or_else(|| UndoError::NoTemplate {
            replica_set: replica_set.clone(),
        })?;
    if equal_ignore_hash(&template, &spec.template) {
        return Ok(UndoPlan::AlreadyCurrent {
            revision: target_revision,
        });
    }
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let annotations = rollback_annotations(&deployment.metadata, &target.metadata);
    let annotations_op = if deployment.metadata.annotations.is_some() {
        "replace"
    } else {
        "add"
    };
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": annotations_op, "path": "/metadata/annotations", "value": annotations},
    ]);
    Ok(UndoPlan::Patch {
        to_revision: target_revision,
        replica_set,
        patch,
    })
}

/// The Deployment's annotations after the rollback: its own controller-owned ones, plus every
/// other annotation of the ReplicaSet being restored.
fn rollback_annotations(
    deployment: &ObjectMeta,
    replica_set: &ObjectMeta,
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    let own = deployment.annotations.clone().unwrap_or_default();
    for key in ANNOTATIONS_TO_SKIP {
        if let Some(value) = own.get(key) {
            annotations.insert(key.to_owned(), value.clone());
        }
    }
    for (key, value) in replica_set.annotations.iter().flatten() {
        if !ANNOTATIONS_TO_SKIP.contains(&key.as_str()) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    annotations
}

/// Whether two pod templates are the same apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
        let mut template = template.clone();
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        template
    }
    without_hash(a) == without_hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn patch_of(plan: UndoPlan) -> (i64, String, Value) {
        match plan {
            UndoPlan::Patch {
                to_revision,
                replica_set,
                patch,
            } => (to_revision, replica_set, patch),
            other => panic!("expected a patch, got {other:?}"),
        }
    }

    #[test]
    fn undo_restores_the_previous_revision_template_without_the_hash() {
        let deployment = fixtures::deployment("deployment-app.json");
        let replica_sets = fixtures::replica_sets("replicasets-app.json");
        let (revision, replica_set, patch) =
            patch_of(plan_undo(&deployment, &replica_sets, None).unwrap());
        // Revision 7 belongs to an orphaned set of an earlier `app`: same labels, other owner.
        assert_eq!((revision, replica_set.as_str()), (1, "app-5f8d6c7b9"));
        assert_eq!(patch[0]["op"], "replace");
        assert_eq!(patch[0]["path"], "/spec/template");
        let template = &patch[0]["value"];
        assert_eq!(
            template["spec"]["containers"][0]["image"],
            "cricalgo-app:0.1.0"
        );
        assert!(
            template["metadata"]["labels"]
                .get(POD_TEMPLATE_HASH)
                .is_none()
        );
        assert_eq!(
            template["metadata"]["labels"]["app.kubernetes.io/component"],
            "app"
        );
        // The Deployment keeps its own revision annotation; the change cause comes from the set.
        assert_eq!(patch[1]["path"], "/metadata/annotations");
        assert_eq!(
            patch[1]["value"],
            json!({"deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "image 0.1.0"})
        );
    }

    #[test]
    fn the_patch_is_a_valid_json_patch() {
        let deployment = fixtures::deployment("deployment-app.json");
        let replica_sets = fixtures::replica_sets("replicasets-app.json");
        let (_, _, patch) = patch_of(plan_undo(&deployment, &replica_sets, None).unwrap());
        let parsed: json_patch::Patch = serde_json::from_value(patch).unwrap();
        let mut object = serde_json::to_value(&deployment).unwrap();
        json_patch::patch(&mut object, &parsed).unwrap();
        let patched: Deployment = serde_json::from_value(object).unwrap();
        let rs = &replica_sets[0];
        assert!(equal_ignore_hash(
            &patched.spec.unwrap().template,
            rs.spec.as_ref().unwrap().template.as_ref().unwrap()
        ));
    }

    #[test]
    fn to_revision_picks_that_revision_or_names_the_ones_there_are() {
        let deployment = fixtures::deployment("deployment-app.json");
        let replica_sets = fixtures::replica_sets("replicasets-app.json");
        let (revision, _, _) = patch_of(plan_undo(&deployment, &replica_sets, Some(1)).unwrap());
        assert_eq!(revision, 1);
        let err = plan_undo(&deployment, &replica_sets, Some(7)).unwrap_err();
        assert_eq!(
            err,
            UndoError::RevisionNotFound {
                name: "app".into(),
                revision: 7,
                available: "1, 2".into()
            }
        );
    }

    #[test]
    fn to_the_current_revision_is_skipped() {
        let deployment = fixtures::deployment("deployment-app.json");
        let replica_sets = fixtures::replica_sets("replicasets-app.json");
        assert_eq!(
            plan_undo(&deployment, &replica_sets, Some(2)).unwrap(),
            UndoPlan::AlreadyCurrent { revision: 2 }
        );
    }

    #[test]
    fn a_paused_deployment_is_refused() {
        let deployment = fixtures::deployment("deployment-worker-paused.json");
        let replica_sets = fixtures::replica_sets("replicasets-worker.json");
        let err = plan_undo(&deployment, &replica_sets, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deployment `worker` is paused; resume it first (`kubectl rollout resume deployment/worker`) and try again"
        );
    }

    #[test]
    fn a_single_revision_is_no_history() {
        let deployment = fixtures::deployment("deployment-app-first.json");
        let replica_sets = fixtures::replica_sets("replicasets-app-first.json");
        assert_eq!(
            plan_undo(&deployment, &replica_sets, None).unwrap_err(),
            UndoError::NoHistory { name: "app".into() }
        );
        // Sets of other Deployments are no history either.
        let others = fixtures::replica_sets("replicasets-worker.json");
        assert_eq!(
            plan_undo(&deployment, &others, None).unwrap_err(),
            UndoError::NoHistory { name: "app".into() }
        );
    }

    #[test]
    fn owned_sets_are_found_by_owner_uid_and_sorted_by_revision() {
        let deployment = fixtures::deployment("deployment-app.json");
        let mut replica_sets = fixtures::replica_sets("replicasets-app.json");
        replica_sets.reverse();
        let owned: Vec<_> = owned_replica_sets(&deployment, &replica_sets)
            .iter()
            .map(|rs| rs.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(owned, ["app-5f8d6c7b9", "app-7d4b9c8f5"]);
    }
}
