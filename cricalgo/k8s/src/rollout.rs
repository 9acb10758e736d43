//! Rollout status of a Deployment, by the rules `kubectl rollout status` uses. Pure.
//!
//! A rollout is complete when the controller has observed the latest generation, every desired
//! replica runs the new template, no old replica is left and every updated replica is available.
//! A `Progressing` condition with reason `ProgressDeadlineExceeded` is a failure.

use k8s_openapi::api::apps::v1::Deployment;

/// The reason the deployment controller sets when `progressDeadlineSeconds` passes.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Every replica runs the current template and is available.
    Complete,
    /// Still rolling out; the text says what it waits for (kubectl's wording).
    Waiting(String),
    /// The rollout failed: the progress deadline passed.
    Failed(String),
}

impl RolloutState {
    /// Whether waiting longer can change the state.
    pub fn is_final(&self) -> bool {
        !matches!(self, RolloutState::Waiting(_))
    }
}

/// The rollout state of `deployment` as `kubectl rollout status` would report it.
pub fn rollout_state(deployment: &Deployment) -> RolloutState {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let generation = deployment.metadata.generation.unwrap_or(0);
    let status = deployment.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0);
    if generation > observed {
        return RolloutState::Waiting(format!(
            "waiting for deployment `{name}` spec update to be observed"
        ));
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|condition| {
        condition.type_ == "Progressing"
            && condition.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED)
    });
    if deadline_exceeded {
        return RolloutState::Failed(format!(
            "deployment `{name}` exceeded its progress deadline"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(desired) = deployment.spec.as_ref().and_then(|spec| spec.replicas)
        && updated < desired
    {
        return RolloutState::Waiting(format!(
            "waiting for deployment `{name}` rollout to finish: {updated} out of {desired} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return RolloutState::Waiting(format!(
            "waiting for deployment `{name}` rollout to finish: {} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return RolloutState::Waiting(format!(
            "waiting for deployment `{name}` rollout to finish: {available} of {updated} updated replicas are available"
        ));
    }
    RolloutState::Complete
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn check(status: serde_json::Value, generation: i64, expected: RolloutState) {
        let deployment = fixtures::deployment_with_status("app", generation, 3, status);
        assert_eq!(rollout_state(&deployment), expected);
    }

    #[test]
    fn complete_when_observed_updated_and_available() {
        check(
            serde_json::json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                "readyReplicas": 3, "availableReplicas": 3,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
            4,
            RolloutState::Complete,
        );
    }

    #[test]
    fn waits_for_the_controller_to_observe_the_new_generation() {
        check(
            serde_json::json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            4,
            RolloutState::Waiting("waiting for deployment `app` spec update to be observed".into()),
        );
    }

    #[test]
    fn waits_for_new_replicas_then_old_ones_then_availability() {
        check(
            serde_json::json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
            4,
            RolloutState::Waiting("waiting for deployment `app` rollout to finish: 1 out of 3 new replicas have been updated".into()),
        );
        check(
            serde_json::json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
            4,
            RolloutState::Waiting("waiting for deployment `app` rollout to finish: 1 old replicas are pending termination".into()),
        );
        check(
            serde_json::json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            4,
            RolloutState::Waiting("waiting for deployment `app` rollout to finish: 2 of 3 updated replicas are available".into()),
        );
    }

    #[test]
    fn progress_deadline_exceeded_is_a_failure() {
        let state = rollout_state(&fixtures::deployment_with_status(
            "worker",
            2,
            2,
            serde_json::json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                "availableReplicas": 2, "unavailableReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                     "message": "ReplicaSet \"worker-5d9c7b8f6\" has timed out progressing."}]}),
        ));
        assert_eq!(
            state,
            RolloutState::Failed("deployment `worker` exceeded its progress deadline".into())
        );
        assert!(state.is_final());
    }

    #[test]
    fn a_deadline_from_an_older_generation_is_not_yet_a_failure() {
        check(
            serde_json::json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
            4,
            RolloutState::Waiting("waiting for deployment `app` spec update to be observed".into()),
        );
    }

    #[test]
    fn a_fresh_deployment_without_status_waits() {
        let mut deployment = fixtures::deployment_with_status("app", 1, 3, serde_json::json!({}));
        deployment.status = None;
        assert!(!rollout_state(&deployment).is_final());
    }
}
