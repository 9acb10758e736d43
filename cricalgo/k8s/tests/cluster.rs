//! The API calls of `cricalgo-k8s` against a mock API server: each test scripts the exact requests
//! expected, in order, and answers each with a realistic object recorded from a cluster (see
//! `fixtures/`). A request out of order, with the wrong method, path, query, content type or body,
//! or one more than scripted, fails the test.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cricalgo_k8s::cluster::{self, ApplyOptions, ClusterError, RollbackOutcome, WaitOptions};
use cricalgo_k8s::manifests;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// Asserts on a request body.
type BodyCheck = Box<dyn Fn(&Value) + Send>;

/// One expected request and the answer to it.
struct Exchange {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<&'static str>,
    check_body: Option<BodyCheck>,
    status: StatusCode,
    response: Value,
}

impl Exchange {
    fn new(method: Method, path_and_query: &str, response: Value) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Self {
            method,
            path: path.to_owned(),
            query: parse_query(query),
            content_type: None,
            check_body: None,
            status: StatusCode::OK,
            response,
        }
    }

    fn get(path_and_query: &str, response: Value) -> Self {
        Self::new(Method::GET, path_and_query, response)
    }

    fn patch(
        path_and_query: &str,
        content_type: &'static str,
        check: impl Fn(&Value) + Send + 'static,
        response: Value,
    ) -> Self {
        let mut exchange = Self::new(Method::PATCH, path_and_query, response);
        exchange.content_type = Some(content_type);
        exchange.check_body = Some(Box::new(check));
        exchange
    }

    fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_owned(), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A kube client whose API server is `script`, plus the task that serves it.
fn mock_client(script: Vec<Exchange>) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let total = script.len();
        for (index, exchange) in script.into_iter().enumerate() {
            let (request, respond) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("request {index} of {total} never came"));
            let step = format!("request {index} ({} {})", request.method(), request.uri());
            assert_eq!(request.method(), exchange.method, "{step}");
            assert_eq!(request.uri().path(), exchange.path, "{step}");
            assert_eq!(
                parse_query(request.uri().query().unwrap_or_default()),
                exchange.query,
                "{step}"
            );
            if let Some(content_type) = exchange.content_type {
                assert_eq!(
                    request.headers()[http::header::CONTENT_TYPE],
                    content_type,
                    "{step}"
                );
            }
            let body = request.into_body().collect_bytes().await.unwrap();
            if let Some(check) = &exchange.check_body {
                let body: Value = serde_json::from_slice(&body).unwrap();
                check(&body);
            }
            let response = Response::builder()
                .status(exchange.status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&exchange.response).unwrap()))
                .unwrap();
            respond.send_response(response);
        }
    });
    (kube::Client::new(service, "default"), server)
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn manifest_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s")
}

fn fast_wait() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
    }
}

/// What the API server answers to an apply: the object with server-set metadata.
fn applied(mut object: Value) -> Value {
    object["metadata"]["uid"] = json!("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f");
    object["metadata"]["resourceVersion"] = json!("48500");
    object
}

const APPLY: &str = "application/apply-patch+yaml";
const JSON_PATCH: &str = "application/json-patch+json";
const SSA_QUERY: &str = "fieldManager=cricalgo&force=true";

#[tokio::test]
async fn apply_sends_every_manifest_in_kustomization_order_with_field_manager_cricalgo() {
    let manifests = manifests::load(&manifest_dir()).unwrap();
    let ns = "/api/v1/namespaces/cricalgo-staging";
    let apps = "/apis/apps/v1/namespaces/cricalgo-staging";
    let expected_paths = [
        ns.to_owned(),
        format!("{ns}/configmaps/cricalgo-config"),
        format!("{apps}/deployments/app"),
        format!("{apps}/deployments/worker"),
        format!("{ns}/services/app"),
        "/apis/policy/v1/namespaces/cricalgo-staging/poddisruptionbudgets/app".to_owned(),
        "/apis/autoscaling/v2/namespaces/cricalgo-staging/horizontalpodautoscalers/app".to_owned(),
        "/apis/autoscaling/v2/namespaces/cricalgo-staging/horizontalpodautoscalers/worker"
            .to_owned(),
    ];
    assert_eq!(manifests.len(), expected_paths.len());
    let script = manifests
        .iter()
        .zip(&expected_paths)
        .map(|(manifest, path)| {
            let sent = manifest.object.clone();
            let kind = manifest.kind().to_owned();
            Exchange::patch(
                &format!("{path}?{SSA_QUERY}"),
                APPLY,
                move |body| {
                    assert_eq!(body, &sent, "apply body of {kind}");
                    if kind == "Deployment" {
                        assert!(body["spec"].get("replicas").is_none());
                    }
                },
                applied(manifest.object.clone()),
            )
        })
        .collect();
    let (client, server) = mock_client(script);
    let done = cluster::apply(&client, &manifests, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(done[0], "namespace/cricalgo-staging");
    assert_eq!(done[2], "deployment/app");
    assert_eq!(done.len(), 8);
    server.await.unwrap();
}

#[tokio::test]
async fn dry_run_apply_asks_the_server_for_a_dry_run_into_another_namespace() {
    let manifests =
        manifests::retarget(&manifests::load(&manifest_dir()).unwrap(), "team-b").unwrap();
    let script = vec![
        Exchange::patch(
            &format!("/api/v1/namespaces/team-b?dryRun=All&{SSA_QUERY}"),
            APPLY,
            |body| assert_eq!(body["metadata"]["name"], "team-b"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}),
        ),
        Exchange::patch(
            &format!("/api/v1/namespaces/team-b/configmaps/cricalgo-config?dryRun=All&{SSA_QUERY}"),
            APPLY,
            |body| assert_eq!(body["metadata"]["namespace"], "team-b"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cricalgo-config", "namespace": "team-b"}}),
        ),
    ];
    let (client, server) = mock_client(script);
    let err = cluster::apply(&client, &manifests[..3], ApplyOptions { dry_run: true })
        .await
        .unwrap_err();
    server.await.unwrap();
    // The third request found no scripted answer: the mock is gone, and the error names the object.
    assert!(
        err.to_string()
            .starts_with("failed to apply deployment/app from `app-deployment.yaml`"),
        "{err}"
    );
}

#[tokio::test]
async fn apply_reports_the_api_servers_refusal_with_the_object_and_file() {
    let manifests = manifests::load(&manifest_dir()).unwrap();
    let script = vec![
        Exchange::patch(
            &format!("/api/v1/namespaces/cricalgo-staging?{SSA_QUERY}"),
            APPLY,
            |_| {},
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "namespaces \"cricalgo-staging\" is forbidden: User \"ci\" cannot patch resource \"namespaces\" in API group \"\" at the cluster scope",
                "reason": "Forbidden", "details": {"name": "cricalgo-staging", "kind": "namespaces"}, "code": 403}),
        )
        .status(StatusCode::FORBIDDEN),
    ];
    let (client, server) = mock_client(script);
    let err = cluster::apply(&client, &manifests, ApplyOptions::default())
        .await
        .unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "failed to apply namespace/cricalgo-staging from `namespace.yaml`: namespaces \"cricalgo-staging\" is forbidden: User \"ci\" cannot patch resource \"namespaces\" in API group \"\" at the cluster scope (HTTP 403, Forbidden)"
    );
}

#[tokio::test]
async fn a_missing_secret_is_reported_before_waiting_for_pods_that_cannot_start() {
    let manifests = manifests::load(&manifest_dir()).unwrap();
    assert_eq!(
        cluster::required_secrets(&manifests),
        [("cricalgo-staging".to_owned(), "cricalgo-secrets".to_owned())]
    );
    let script = vec![
        Exchange::get(
            "/api/v1/namespaces/cricalgo-staging/secrets/cricalgo-secrets",
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "secrets \"cricalgo-secrets\" not found", "reason": "NotFound",
                "details": {"name": "cricalgo-secrets", "kind": "secrets"}, "code": 404}),
        )
        .status(StatusCode::NOT_FOUND),
    ];
    let (client, server) = mock_client(script);
    let err = cluster::check_secrets(&client, &manifests)
        .await
        .unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, ClusterError::MissingSecret { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("create it from `k8s/secret.template.yaml`"),
        "{err}"
    );
}

fn with_status(mut deployment: Value, generation: i64, status: Value) -> Value {
    deployment["metadata"]["generation"] = json!(generation);
    deployment["status"] = status;
    deployment
}

#[tokio::test]
async fn wait_polls_until_kubectls_rules_say_rolled_out() {
    let app = fixture("deployment-app.json");
    let path = "/apis/apps/v1/namespaces/cricalgo-staging/deployments/app";
    let script = vec![
        Exchange::get(
            path,
            with_status(
                app.clone(),
                3,
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            ),
        ),
        Exchange::get(
            path,
            with_status(
                app.clone(),
                3,
                json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
            ),
        ),
        Exchange::get(
            path,
            with_status(
                app.clone(),
                3,
                json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            ),
        ),
        Exchange::get(
            path,
            with_status(
                app,
                3,
                json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            ),
        ),
    ];
    let (client, server) = mock_client(script);
    let mut seen = Vec::new();
    cluster::wait_for_rollout(
        &client,
        "cricalgo-staging",
        "app",
        fast_wait(),
        &mut |line| seen.push(line.to_owned()),
    )
    .await
    .unwrap();
    server.await.unwrap();
    assert_eq!(
        seen,
        [
            "waiting for deployment `app` spec update to be observed",
            "waiting for deployment `app` rollout to finish: 1 out of 3 new replicas have been updated",
            "waiting for deployment `app` rollout to finish: 2 of 3 updated replicas are available",
            "deployment `app` successfully rolled out",
        ]
    );
}

#[tokio::test]
async fn wait_fails_on_progress_deadline_exceeded() {
    let script = vec![Exchange::get(
        "/apis/apps/v1/namespaces/cricalgo-staging/deployments/worker",
        with_status(
            fixture("deployment-worker.json"),
            3,
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"worker-6b7c8d9f4\" has timed out progressing."}]}),
        ),
    )];
    let (client, server) = mock_client(script);
    let err = cluster::wait_for_rollout(
        &client,
        "cricalgo-staging",
        "worker",
        fast_wait(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "rollout of deployment `worker` failed: deployment `worker` exceeded its progress deadline; see `cricalgo k8s status` for events"
    );
}

const APP_SELECTOR: &str =
    "labelSelector=app.kubernetes.io/component=app,app.kubernetes.io/name=cricalgo";
const WORKER_SELECTOR: &str =
    "labelSelector=app.kubernetes.io/component=worker,app.kubernetes.io/name=cricalgo";

#[tokio::test]
async fn rollback_plans_both_deployments_then_patches_then_waits() {
    let apps = "/apis/apps/v1/namespaces/cricalgo-staging";
    let app = fixture("deployment-app.json");
    let worker = fixture("deployment-worker.json");
    let script = vec![
        Exchange::get(&format!("{apps}/deployments/app"), app.clone()),
        Exchange::get(
            &format!("{apps}/replicasets?{APP_SELECTOR}"),
            fixture("replicasets-app.json"),
        ),
        Exchange::get(&format!("{apps}/deployments/worker"), worker.clone()),
        Exchange::get(
            &format!("{apps}/replicasets?{WORKER_SELECTOR}"),
            fixture("replicasets-worker.json"),
        ),
        Exchange::patch(
            &format!("{apps}/deployments/app"),
            JSON_PATCH,
            |patch| {
                assert_eq!(patch[0]["op"], "replace");
                assert_eq!(patch[0]["path"], "/spec/template");
                assert_eq!(
                    patch[0]["value"]["spec"]["containers"][0]["image"],
                    "cricalgo-app:0.1.0"
                );
                assert!(
                    patch[0]["value"]["metadata"]["labels"]
                        .get("pod-template-hash")
                        .is_none()
                );
                assert_eq!(patch[1]["path"], "/metadata/annotations");
            },
            with_status(app.clone(), 3, app["status"].clone()),
        ),
        Exchange::patch(
            &format!("{apps}/deployments/worker"),
            JSON_PATCH,
            |patch| {
                assert_eq!(
                    patch[0]["value"]["spec"]["containers"][0]["image"],
                    "cricalgo-app:0.1.0"
                );
            },
            with_status(worker.clone(), 3, worker["status"].clone()),
        ),
        Exchange::get(
            &format!("{apps}/deployments/app"),
            with_status(
                app.clone(),
                3,
                json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            ),
        ),
        Exchange::get(
            &format!("{apps}/deployments/worker"),
            with_status(
                worker.clone(),
                3,
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
            ),
        ),
    ];
    let (client, server) = mock_client(script);
    let outcomes = cluster::rollback(
        &client,
        "cricalgo-staging",
        &["app", "worker"],
        None,
        fast_wait(),
        &mut |_| {},
    )
    .await
    .unwrap();
    server.await.unwrap();
    assert_eq!(
        outcomes,
        [
            RollbackOutcome::RolledBack {
                name: "app".into(),
                from: Some(2),
                to: 1
            },
            RollbackOutcome::RolledBack {
                name: "worker".into(),
                from: Some(2),
                to: 1
            },
        ]
    );
}

#[tokio::test]
async fn rollback_refuses_a_paused_worker_before_patching_anything() {
    let apps = "/apis/apps/v1/namespaces/cricalgo-staging";
    let script = vec![
        Exchange::get(
            &format!("{apps}/deployments/app"),
            fixture("deployment-app.json"),
        ),
        Exchange::get(
            &format!("{apps}/replicasets?{APP_SELECTOR}"),
            fixture("replicasets-app.json"),
        ),
        Exchange::get(
            &format!("{apps}/deployments/worker"),
            fixture("deployment-worker-paused.json"),
        ),
        Exchange::get(
            &format!("{apps}/replicasets?{WORKER_SELECTOR}"),
            fixture("replicasets-worker.json"),
        ),
    ];
    let (client, server) = mock_client(script);
    let err = cluster::rollback(
        &client,
        "cricalgo-staging",
        &["app", "worker"],
        None,
        fast_wait(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, ClusterError::Undo(_)), "{err}");
    assert!(err.to_string().contains("is paused"), "{err}");
}

#[tokio::test]
async fn rollback_without_history_is_refused() {
    let apps = "/apis/apps/v1/namespaces/cricalgo-staging";
    let script = vec![
        Exchange::get(
            &format!("{apps}/deployments/app"),
            fixture("deployment-app-first.json"),
        ),
        Exchange::get(
            &format!("{apps}/replicasets?{APP_SELECTOR}"),
            fixture("replicasets-app-first.json"),
        ),
    ];
    let (client, server) = mock_client(script);
    let err = cluster::rollback(
        &client,
        "cricalgo-staging",
        &["app"],
        None,
        fast_wait(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    server.await.unwrap();
    assert_eq!(
        err.to_string(),
        "no rollout history found for deployment `app`: there is no earlier revision to roll back to"
    );
}

#[tokio::test]
async fn status_reads_deployments_hpas_and_events() {
    let deployments = json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": "48400"},
        "items": [fixture("deployment-app.json"), fixture("deployment-worker.json")]});
    let script = vec![
        Exchange::get(
            "/apis/apps/v1/namespaces/cricalgo-staging/deployments",
            deployments,
        ),
        Exchange::get(
            "/apis/autoscaling/v2/namespaces/cricalgo-staging/horizontalpodautoscalers",
            fixture("hpas.json"),
        ),
        Exchange::get(
            "/api/v1/namespaces/cricalgo-staging/events",
            fixture("events.json"),
        ),
    ];
    let (client, server) = mock_client(script);
    let report = cluster::status(&client, "cricalgo-staging").await.unwrap();
    server.await.unwrap();
    assert_eq!(report.deployments.len(), 2);
    assert_eq!(report.hpas.len(), 2);
    assert_eq!(report.events.len(), 4);
    assert_eq!(report.deployments[1].rollout, "complete");
}

#[tokio::test]
async fn an_unreachable_api_server_is_a_clear_error() {
    // A port nothing listens on: bind one, then drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let config = kube::Config::new(url.parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let err = cluster::check_reachable(&client, &url, Duration::from_secs(5))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the Kubernetes API server at `{url}`: "
        )),
        "{text}"
    );
    assert!(
        text.ends_with(
            "check that the cluster is running and `kubectl config current-context` names it"
        ),
        "{text}"
    );
}
