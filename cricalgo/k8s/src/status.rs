//! What `cricalgo k8s status` shows: Deployments, HPAs and recent events, summarised from API
//! objects. Pure.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
};
use k8s_openapi::api::core::v1::Event;
use serde::Serialize;

use crate::rollout::{RolloutState, rollout_state};
use crate::undo::revision;

/// How many events the status shows.
pub const RECENT_EVENTS: usize = 10;

/// One Deployment's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRow {
    /// Its name.
    pub name: String,
    /// `spec.replicas` (set by the HPA).
    pub desired: i32,
    /// Replicas running the current template.
    pub updated: i32,
    /// Available replicas.
    pub available: i32,
    /// `deployment.kubernetes.io/revision`.
    pub revision: Option<i64>,
    /// `paused` or the rollout state in words.
    pub rollout: String,
}

/// One HPA's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HpaRow {
    /// Its name.
    pub name: String,
    /// `Kind/name` of what it scales.
    pub target: String,
    /// Bounds.
    pub min: i32,
    /// Bounds.
    pub max: i32,
    /// Replicas now.
    pub current: i32,
    /// Replicas it wants.
    pub desired: i32,
    /// `metric: current / target` for each metric.
    pub metrics: Vec<String>,
    /// Conditions that are not `True`, as `Type: reason`.
    pub problems: Vec<String>,
}

/// One event's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// When it last happened (RFC 3339), if known.
    pub last_seen: Option<String>,
    /// `Normal` or `Warning`.
    pub kind: String,
    /// The reason (`ScalingReplicaSet`, ...).
    pub reason: String,
    /// `Kind/name` it is about.
    pub object: String,
    /// Its message.
    pub message: String,
    /// How often it happened.
    pub count: i32,
}

/// The whole status of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The namespace.
    pub namespace: String,
    /// Deployments by name.
    pub deployments: Vec<DeploymentRow>,
    /// HPAs by name.
    pub hpas: Vec<HpaRow>,
    /// Latest events first, at most [`RECENT_EVENTS`].
    pub events: Vec<EventRow>,
}

/// Summarises the objects of one namespace.
pub fn summarize(
    namespace: &str,
    deployments: &[Deployment],
    hpas: &[HorizontalPodAutoscaler],
    events: &[Event],
) -> StatusReport {
    let mut deployments: Vec<DeploymentRow> = deployments.iter().map(deployment_row).collect();
    deployments.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hpas: Vec<HpaRow> = hpas.iter().map(hpa_row).collect();
    hpas.sort_by(|a, b| a.name.cmp(&b.name));
    let mut events: Vec<EventRow> = events.iter().map(event_row).collect();
    // RFC 3339 timestamps in UTC sort as text; events without a time go last.
    events.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    events.truncate(RECENT_EVENTS);
    StatusReport {
        namespace: namespace.to_owned(),
        deployments,
        hpas,
        events,
    }
}

fn deployment_row(deployment: &Deployment) -> DeploymentRow {
    let status = deployment.status.clone().unwrap_or_default();
    let spec = deployment.spec.clone().unwrap_or_default();
    let rollout = if spec.paused == Some(true) {
        "paused".to_owned()
    } else {
        match rollout_state(deployment) {
            RolloutState::Complete => "complete".to_owned(),
            RolloutState::Waiting(text) | RolloutState::Failed(text) => text,
        }
    };
    DeploymentRow {
        name: deployment.metadata.name.clone().unwrap_or_default(),
        desired: spec.replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        revision: revision(&deployment.metadata),
        rollout,
    }
}

fn hpa_row(hpa: &HorizontalPodAutoscaler) -> HpaRow {
    let spec = hpa.spec.clone().unwrap_or_default();
    let status = hpa.status.clone().unwrap_or_default();
    let current_metrics = status.current_metrics.unwrap_or_default();
    let metrics = spec
        .metrics
        .iter()
        .flatten()
        .map(|metric| {
            let (name, target) = metric_spec(metric);
            let current = current_metrics
                .iter()
                .find_map(|status| metric_current(status, &name))
                .unwrap_or_else(|| "<unknown>".to_owned());
            format!("{name}: {current} / {target}")
        })
        .collect();
    let problems = status
        .conditions
        .iter()
        .flatten()
        .filter(|condition| condition.status != "True")
        .map(|condition| {
            format!(
                "{}: {}",
                condition.type_,
                condition.reason.clone().unwrap_or_default()
            )
        })
        .collect();
    HpaRow {
        name: hpa.metadata.name.clone().unwrap_or_default(),
        target: format!(
            "{}/{}",
            spec.scale_target_ref.kind, spec.scale_target_ref.name
        ),
        min: spec.min_replicas.unwrap_or(1),
        max: spec.max_replicas,
        current: status.current_replicas.unwrap_or(0),
        desired: status.desired_replicas,
        metrics,
        problems,
    }
}

/// The metric's display name and its target in words.
fn metric_spec(metric: &MetricSpec) -> (String, String) {
    let (name, target) = match metric.type_.as_str() {
        "Resource" => metric
            .resource
            .as_ref()
            .map(|r| (r.name.clone(), Some(&r.target))),
        "ContainerResource" => metric
            .container_resource
            .as_ref()
            .map(|r| (r.name.clone(), Some(&r.target))),
        "External" => metric
            .external
            .as_ref()
            .map(|e| (e.metric.name.clone(), Some(&e.target))),
        "Pods" => metric
            .pods
            .as_ref()
            .map(|p| (p.metric.name.clone(), Some(&p.target))),
        "Object" => metric
            .object
            .as_ref()
            .map(|o| (o.metric.name.clone(), Some(&o.target))),
        _ => None,
    }
    .unwrap_or_else(|| (metric.type_.clone(), None));
    (name, target.map(target_text).unwrap_or_default())
}

fn target_text(target: &MetricTarget) -> String {
    if let Some(utilization) = target.average_utilization {
        format!("{utilization}%")
    } else if let Some(value) = &target.average_value {
        format!("{} (avg)", value.0)
    } else if let Some(value) = &target.value {
        value.0.clone()
    } else {
        target.type_.clone()
    }
}

fn metric_current(status: &MetricStatus, name: &str) -> Option<String> {
    let (status_name, current) = match status.type_.as_str() {
        "Resource" => status
            .resource
            .as_ref()
            .map(|r| (r.name.clone(), &r.current))?,
        "ContainerResource" => status
            .container_resource
            .as_ref()
            .map(|r| (r.name.clone(), &r.current))?,
        "External" => status
            .external
            .as_ref()
            .map(|e| (e.metric.name.clone(), &e.current))?,
        "Pods" => status
            .pods
            .as_ref()
            .map(|p| (p.metric.name.clone(), &p.current))?,
        "Object" => status
            .object
            .as_ref()
            .map(|o| (o.metric.name.clone(), &o.current))?,
        _ => return None,
    };
    if status_name != name {
        return None;
    }
    current_text(current)
}

fn current_text(current: &MetricValueStatus) -> Option<String> {
    if let Some(utilization) = current.average_utilization {
        Some(format!("{utilization}%"))
    } else if let Some(value) = &current.average_value {
        Some(format!("{} (avg)", value.0))
    } else {
        current.value.as_ref().map(|value| value.0.clone())
    }
}

fn event_row(event: &Event) -> EventRow {
    let last_seen = event
        .last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| event.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| {
            event
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        });
    EventRow {
        last_seen,
        kind: event.type_.clone().unwrap_or_default(),
        reason: event.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            event.involved_object.kind.clone().unwrap_or_default(),
            event.involved_object.name.clone().unwrap_or_default()
        ),
        message: event.message.clone().unwrap_or_default(),
        count: event.count.unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn summarizes_deployments_hpas_and_latest_events() {
        let report = summarize(
            "cricalgo-staging",
            &[
                fixtures::deployment("deployment-worker-paused.json"),
                fixtures::deployment("deployment-app.json"),
            ],
            &fixtures::hpas(),
            &fixtures::events(),
        );
        assert_eq!(
            report.deployments,
            [
                DeploymentRow {
                    name: "app".into(),
                    desired: 3,
                    updated: 3,
                    available: 3,
                    revision: Some(2),
                    rollout: "complete".into(),
                },
                DeploymentRow {
                    name: "worker".into(),
                    desired: 2,
                    updated: 2,
                    available: 2,
                    revision: Some(2),
                    rollout: "paused".into(),
                }
            ]
        );
        assert_eq!(report.hpas[0].name, "app");
        assert_eq!(report.hpas[0].target, "Deployment/app");
        assert_eq!((report.hpas[0].current, report.hpas[0].desired), (3, 4));
        assert_eq!(report.hpas[0].metrics, ["cpu: 63% / 50%"]);
        assert!(report.hpas[0].problems.is_empty());
        assert_eq!(
            report.hpas[1].metrics,
            [
                "cpu: 12% / 60%",
                "deposit_queue_depth: <unknown> / 20 (avg)"
            ]
        );
        assert_eq!(
            report.hpas[1].problems,
            ["ScalingActive: FailedGetExternalMetric"]
        );
        let reasons: Vec<&str> = report.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "FailedGetExternalMetric",
                "SuccessfulRescale",
                "ScalingReplicaSet",
                "ScalingReplicaSet"
            ]
        );
        assert_eq!(report.events[0].object, "HorizontalPodAutoscaler/worker");
        assert_eq!(report.events[0].count, 42);
    }

    #[test]
    fn a_rolling_deployment_says_what_it_waits_for() {
        let deployment = fixtures::deployment_with_status(
            "app",
            3,
            4,
            serde_json::json!({"observedGeneration": 3, "replicas": 5, "updatedReplicas": 2, "availableReplicas": 3}),
        );
        let row = deployment_row(&deployment);
        assert_eq!(
            row.rollout,
            "waiting for deployment `app` rollout to finish: 2 out of 4 new replicas have been updated"
        );
    }
}
