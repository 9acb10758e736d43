//! Realistic API objects for the unit tests, read from `tests/fixtures/` (shaped as the API server
//! returns them: defaults filled in, managed fields, owner references, status).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

/// The JSON text of a fixture file.
pub fn text(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A fixture parsed as `T`.
pub fn load<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&text(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// The `items` of a fixture list.
pub fn items<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    let list: Value = load(name);
    serde_json::from_value(list["items"].clone()).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// The `app` Deployment at revision 2 with `status` replaced.
pub fn deployment_with_status(
    name: &str,
    generation: i64,
    replicas: i32,
    status: Value,
) -> Deployment {
    let mut object: Value = load("deployment-app.json");
    object["metadata"]["name"] = Value::from(name);
    object["metadata"]["generation"] = Value::from(generation);
    object["spec"]["replicas"] = Value::from(replicas);
    object["status"] = status;
    serde_json::from_value(object).expect("deployment fixture")
}

/// A Deployment fixture.
pub fn deployment(name: &str) -> Deployment {
    load(name)
}

/// ReplicaSets from a list fixture.
pub fn replica_sets(name: &str) -> Vec<ReplicaSet> {
    items(name)
}

/// HPAs from `hpas.json`.
pub fn hpas() -> Vec<HorizontalPodAutoscaler> {
    items("hpas.json")
}

/// Events from `events.json`.
pub fn events() -> Vec<Event> {
    items("events.json")
}
