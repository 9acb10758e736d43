//! The shipped manifests in `k8s/`: strict validation against the Kubernetes schemas, HPAs aimed
//! at Deployments that exist, the HPA bounds and targets of the spec, probes on the routes the app
//! really serves, resources on every container, and no secret committed.

use std::path::{Path, PathBuf};
use std::process::Command;

use cricalgo_k8s::manifests::{self, Manifest};
use serde_json::{Value, json};

/// The Kubernetes version the manifests are validated against; `kubernetes-validate` ships its
/// schemas, so this works offline. Keep it equal to the `k8s-openapi` feature in Cargo.toml.
const KUBERNETES_VERSION: &str = "1.35.0";

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k8s")
}

fn load() -> Vec<Manifest> {
    manifests::load(&k8s_dir()).unwrap()
}

fn find<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a Manifest {
    manifests
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` in k8s/"))
}

/// Runs `kubernetes-validate --strict` on `files` (the console script, else the Python module when
/// the script is not on `PATH`); fails loudly when the tool is missing.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let run = |program: &str, prefix: &[&str]| {
        Command::new(program)
            .args(prefix)
            .arg("--strict")
            .args(["--kubernetes-version", KUBERNETES_VERSION])
            .args(files)
            .output()
    };
    let output = run("kubernetes-validate", &[])
        .or_else(|_| run("python3", &["-m", "kubernetes_validate"]))
        .unwrap_or_else(|err| {
            panic!(
                "`kubernetes-validate` could not be run ({err}); install it with `python3 -m pip install kubernetes-validate==1.37.0` (`.ci/run` does)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn every_manifest_validates_strictly_against_the_kubernetes_schemas() {
    let files: Vec<PathBuf> = manifests::yaml_files(&k8s_dir())
        .unwrap()
        .into_iter()
        // Not a Kubernetes object; parsed and checked by `kustomization_lists_everything_but_the_secret_template`.
        .filter(|path| !path.ends_with(manifests::KUSTOMIZATION))
        .collect();
    assert!(files.len() >= 9, "{files:?}");
    let (ok, output) = validate(&files);
    assert!(ok, "kubernetes-validate failed:\n{output}");
    // A missing schema is only a warning for the tool: insist that each file was really checked.
    assert!(!output.contains("Couldn't find schema"), "{output}");
    for file in &files {
        let name = file.strip_prefix(k8s_dir()).unwrap().display().to_string();
        assert!(
            output.contains(&format!("{name} passed"))
                || output.contains(&format!("{} passed", file.display())),
            "`{name}` was not reported as validated:\n{output}"
        );
    }
}

#[test]
fn the_validator_is_strict_about_unknown_fields() {
    // The control: an invented field (`replica` instead of `replicas`) must fail, or the test above
    // proves nothing.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(k8s_dir().join("app-deployment.yaml"))
        .unwrap()
        .replace(
            "  revisionHistoryLimit: 10\n",
            "  revisionHistoryLimit: 10\n  replica: 3\n",
        );
    std::fs::write(&bad, text).unwrap();
    let (ok, output) = validate(&[bad]);
    assert!(!ok, "{output}");
    assert!(output.contains("'replica' was unexpected"), "{output}");
}

#[test]
fn kustomization_lists_everything_but_the_secret_template() {
    let kustomization = manifests::read_kustomization(&k8s_dir()).unwrap();
    assert_eq!(kustomization.namespace.as_deref(), Some("cricalgo-staging"));
    let listed: Vec<PathBuf> = kustomization
        .resources
        .iter()
        .map(|r| k8s_dir().join(r))
        .collect();
    for file in manifests::yaml_files(&k8s_dir()).unwrap() {
        let name = file.file_name().unwrap().to_str().unwrap();
        if name == manifests::KUSTOMIZATION || name == "secret.template.yaml" {
            assert!(!listed.contains(&file), "{name} must not be applied");
        } else {
            assert!(
                listed.contains(&file),
                "{name} is not in kustomization.yaml"
            );
        }
    }
    let loaded = load();
    assert_eq!(manifests::namespace_of(&loaded), Some("cricalgo-staging"));
    assert!(
        loaded
            .iter()
            .all(|m| m.kind() == "Namespace" || m.namespace() == Some("cricalgo-staging"))
    );
}

#[test]
fn every_hpa_targets_a_deployment_defined_in_k8s() {
    let loaded = load();
    let hpas: Vec<&Manifest> = loaded
        .iter()
        .filter(|m| m.kind() == "HorizontalPodAutoscaler")
        .collect();
    assert_eq!(hpas.len(), 2);
    for hpa in hpas {
        let target = &hpa.object["spec"]["scaleTargetRef"];
        assert_eq!(target["apiVersion"], "apps/v1");
        assert_eq!(target["kind"], "Deployment");
        let deployment = find(&loaded, "Deployment", target["name"].as_str().unwrap());
        assert_eq!(deployment.namespace(), hpa.namespace());
        assert!(
            deployment.object["spec"].get("replicas").is_none(),
            "the HPA owns the replica count of `{}`",
            deployment.name()
        );
    }
    // And the check behind it refuses a wrong target (the original's defect).
    let mut broken = loaded.clone();
    for manifest in &mut broken {
        if manifest.kind() == "HorizontalPodAutoscaler" && manifest.name() == "worker" {
            manifest.object["spec"]["scaleTargetRef"]["name"] = json!("celery-worker");
        }
    }
    let err = manifests::check(&broken).unwrap_err();
    assert!(err.to_string().contains("`celery-worker`"), "{err}");
}

fn hpa_file(path: &str) -> Manifest {
    let mut read = manifests::read_file(&k8s_dir(), Path::new(path)).unwrap();
    assert_eq!(read.len(), 1, "{path} holds one HPA");
    read.remove(0)
}

#[test]
fn app_hpa_scales_3_to_12_on_cpu_50_with_explicit_behavior() {
    let hpa = hpa_file("hpa/app-hpa.yaml");
    assert_eq!(hpa.api_version(), "autoscaling/v2");
    let spec = &hpa.object["spec"];
    assert_eq!(spec["scaleTargetRef"]["name"], "app");
    assert_eq!(
        (spec["minReplicas"].as_i64(), spec["maxReplicas"].as_i64()),
        (Some(3), Some(12))
    );
    assert_eq!(
        spec["metrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}])
    );
    for direction in ["scaleUp", "scaleDown"] {
        let behavior = &spec["behavior"][direction];
        assert!(
            behavior["stabilizationWindowSeconds"].is_i64(),
            "{direction}"
        );
        assert!(
            !behavior["policies"].as_array().unwrap().is_empty(),
            "{direction}"
        );
        assert!(behavior["selectPolicy"].is_string(), "{direction}");
    }
}

#[test]
fn worker_hpa_scales_2_to_10_on_cpu_60_and_queue_depth() {
    let hpa = hpa_file("hpa/worker-hpa.yaml");
    let spec = &hpa.object["spec"];
    assert_eq!(spec["scaleTargetRef"]["name"], "worker");
    assert_eq!(
        (spec["minReplicas"].as_i64(), spec["maxReplicas"].as_i64()),
        (Some(2), Some(10))
    );
    let metrics = spec["metrics"].as_array().unwrap();
    assert_eq!(
        metrics[0],
        json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}})
    );
    assert_eq!(metrics[1]["type"], "External");
    assert_eq!(
        metrics[1]["external"]["metric"]["name"],
        "deposit_queue_depth"
    );
    // The metric the HPA reads is one the worker exports.
    assert!(
        cricalgo_common::metrics::WorkerMetrics::new()
            .render()
            .contains("# TYPE deposit_queue_depth gauge")
    );
    for direction in ["scaleUp", "scaleDown"] {
        assert!(
            spec["behavior"][direction]["policies"].is_array(),
            "{direction}"
        );
    }
}

fn container(deployment: &Manifest) -> &Value {
    &deployment.object["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn app_probes_hit_routes_the_webhook_really_serves() {
    let loaded = load();
    let app = container(find(&loaded, "Deployment", "app"));
    assert_eq!(app["livenessProbe"]["httpGet"]["path"], "/api/v1/health");
    assert_eq!(app["readinessProbe"]["httpGet"]["path"], "/api/v1/ready");
    assert_eq!(app["startupProbe"]["httpGet"]["path"], "/api/v1/health");
    assert_eq!(app["ports"][0]["containerPort"], 8000);
    let routes = cricalgo_common::metrics::ROUTES;
    for path in ["/api/v1/health", "/api/v1/ready"] {
        assert!(
            routes
                .iter()
                .any(|(method, route, _)| *method == "GET" && *route == path),
            "the webhook has no GET {path}"
        );
    }
    let worker = container(find(&loaded, "Deployment", "worker"));
    assert_eq!(
        worker["livenessProbe"]["exec"]["command"],
        json!(["cricalgo-worker", "healthcheck"])
    );
    assert_eq!(worker["ports"][0]["containerPort"], 9100);
}

#[test]
fn every_container_has_requests_and_limits() {
    for deployment in load().iter().filter(|m| m.kind() == "Deployment") {
        for container in deployment.object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        container["resources"][bound][resource].is_string(),
                        "{} lacks resources.{bound}.{resource}",
                        deployment.name()
                    );
                }
            }
        }
    }
}

#[test]
fn the_app_service_selects_the_app_pods() {
    let loaded = load();
    let service = find(&loaded, "Service", "app");
    let labels =
        &find(&loaded, "Deployment", "app").object["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service.object["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[key], value, "selector {key}");
    }
    assert_eq!(service.object["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn the_secret_template_holds_no_secret_and_matches_what_the_pods_read() {
    let template = manifests::read_file(&k8s_dir(), Path::new("secret.template.yaml")).unwrap();
    let data = template[0].object["stringData"].as_object().unwrap();
    for (key, value) in data {
        let value = value.as_str().unwrap();
        assert!(
            value.contains("REPLACE_ME")
                || value.contains("USER:PASSWORD@HOST")
                || value.contains("//HOST"),
            "`{key}` looks like a real value: {value}"
        );
    }
    assert!(template[0].object.get("data").is_none());
    let loaded = load();
    let required = cricalgo_k8s::cluster::required_secrets(&loaded);
    assert_eq!(
        required,
        [("cricalgo-staging".to_owned(), template[0].name().to_owned())]
    );
    // Every key a Deployment reads from the Secret is in the template.
    for deployment in loaded.iter().filter(|m| m.kind() == "Deployment") {
        for env in container(deployment)["env"].as_array().unwrap() {
            if let Some(key) = env["valueFrom"]["secretKeyRef"]["key"].as_str() {
                assert!(data.contains_key(key), "template lacks `{key}`");
            }
        }
    }
}

#[test]
fn the_configmap_is_accepted_by_both_services() {
    let loaded = load();
    let data = find(&loaded, "ConfigMap", "cricalgo-config").object["data"].clone();
    let mut env: std::collections::HashMap<String, String> = data
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    env.insert(
        "DATABASE_URL".into(),
        "postgres://u:p@db:5432/cricalgo".into(),
    );
    env.insert("REDIS_URL".into(), "redis://redis:6379".into());
    let app = cricalgo_webhook::Config::from_env(&env).unwrap();
    assert_eq!(app.port, 8000);
    let worker = cricalgo_worker::Config::from_env(&env).unwrap();
    assert_eq!(worker.metrics_port, 9100);
}
