//! Against a real cluster (kind or k3d; see README.md, "Kubernetes and monitoring"): the API
//! server accepts every manifest (server-side dry run), and apply → update → rollback round-trips
//! a Deployment's template through real ReplicaSets. Each test works in a namespace of its own and
//! deletes it at the end.
//!
//! Run with: `cargo test -p cricalgo-k8s --test real_cluster -- --ignored --test-threads 1`

use std::time::Duration;

use cricalgo_k8s::cluster::{self, ApplyOptions, RollbackOutcome, WaitOptions};
use cricalgo_k8s::manifests::{self, Manifest};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

fn unique_namespace() -> String {
    format!(
        "cricalgo-it-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn client() -> kube::Client {
    cluster::connect(Duration::from_secs(10))
        .await
        .unwrap_or_else(|err| panic!("{err}"))
}

async fn delete_namespace(client: &kube::Client, namespace: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(namespace, &DeleteParams::default())
        .await;
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn the_api_server_accepts_every_manifest() {
    let client = client().await;
    let namespace = unique_namespace();
    let all = manifests::retarget(
        &manifests::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s"))
            .unwrap(),
        &namespace,
    )
    .unwrap();
    // The namespace for real (a dry run of namespaced objects needs it), the rest as a dry run.
    cluster::apply(&client, &all[..1], ApplyOptions::default())
        .await
        .unwrap();
    let result = cluster::apply(&client, &all[1..], ApplyOptions { dry_run: true }).await;
    delete_namespace(&client, &namespace).await;
    let applied = result.unwrap();
    assert_eq!(applied.len(), all.len() - 1);
}

fn deployment(namespace: &str, image: &str) -> Manifest {
    Manifest {
        path: "test".into(),
        object: json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": 120,
                "selector": {"matchLabels": {"app.kubernetes.io/component": "app"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/component": "app"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }
            }
        }),
    }
}

fn image(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn apply_update_and_rollback_round_trip() {
    let first = std::env::var("CRICALGO_IT_IMAGE_A")
        .unwrap_or_else(|_| "registry.k8s.io/pause:3.9".to_owned());
    let second = std::env::var("CRICALGO_IT_IMAGE_B")
        .unwrap_or_else(|_| "registry.k8s.io/pause:3.10".to_owned());
    let client = client().await;
    let namespace = unique_namespace();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(180),
    };
    let ns = Manifest {
        path: "test".into(),
        object: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    };
    let result = async {
        cluster::apply(
            &client,
            &[ns, deployment(&namespace, &first)],
            ApplyOptions::default(),
        )
        .await?;
        cluster::wait_for_rollout(&client, &namespace, "app", wait, &mut |l| eprintln!("{l}"))
            .await?;
        // A second revision, as another tool would make it.
        Api::<Deployment>::namespaced(client.clone(), &namespace)
            .patch(
                "app",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": second}]}}}})),
            )
            .await
            .map_err(|e| cluster::ClusterError::Api {
                action: "update".into(),
                reason: e.to_string(),
            })?;
        cluster::wait_for_rollout(&client, &namespace, "app", wait, &mut |l| eprintln!("{l}"))
            .await?;
        let outcomes =
            cluster::rollback(&client, &namespace, &["app"], None, wait, &mut |l| {
                eprintln!("{l}")
            })
            .await?;
        Ok::<_, cluster::ClusterError>(outcomes)
    }
    .await;
    let live = Api::<Deployment>::namespaced(client.clone(), &namespace)
        .get("app")
        .await;
    delete_namespace(&client, &namespace).await;
    let outcomes = result.unwrap();
    assert_eq!(
        outcomes,
        [RollbackOutcome::RolledBack {
            name: "app".into(),
            from: Some(2),
            to: 1
        }]
    );
    assert_eq!(image(&live.unwrap()), first);
}
