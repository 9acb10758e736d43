//! The manifests in `k8s/`: read through `kustomization.yaml`, checked, and re-targeted at a namespace.
//!
//! `kustomization.yaml` is the list of what gets applied, in order; only its `resources` and
//! `namespace` fields are supported, so `kubectl apply -k k8s/` and `cricalgo k8s apply` see exactly
//! the same objects. Everything here is pure apart from reading files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::ApiResource;
use serde::Deserialize;
use serde_json::Value;

/// The file that lists the manifests to apply.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// What went wrong while reading or checking the manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read.
    #[error("failed to read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML or not the expected shape.
    #[error("`{path}` is not a valid manifest: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A document lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("document {index} of `{path}` has no `{field}`")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// Position of the document in the file, from 0.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// A kind that `cricalgo k8s apply` does not know how to address.
    #[error(
        "`{path}` holds `{api_version}` `{kind}`, which `cricalgo k8s apply` does not handle; use one of the kinds in k8s/README.md"
    )]
    UnsupportedKind {
        /// The file.
        path: PathBuf,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// An HPA whose `scaleTargetRef` names no Deployment in `k8s/`.
    #[error(
        "HPA `{hpa}` in `{path}` targets {kind} `{target}`, which is not defined in the manifests; fix `scaleTargetRef`"
    )]
    HpaTargetMissing {
        /// The HPA's name.
        hpa: String,
        /// The file holding the HPA.
        path: PathBuf,
        /// The target kind.
        kind: String,
        /// The target name.
        target: String,
    },
    /// A Deployment scaled by an HPA also sets `spec.replicas`, so every apply would fight the HPA.
    #[error(
        "Deployment `{name}` in `{path}` sets `spec.replicas` although an HPA scales it; remove the field"
    )]
    ReplicasWithHpa {
        /// The Deployment.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// Two documents define the same object.
    #[error("{kind} `{name}` is defined twice (second time in `{path}`)")]
    Duplicate {
        /// The kind.
        kind: String,
        /// The name.
        name: String,
        /// The file of the second definition.
        path: PathBuf,
    },
}

/// `kustomization.yaml`, restricted to the fields both kubectl and cricalgo honour.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    /// Always `kustomize.config.k8s.io/v1beta1`.
    pub api_version: String,
    /// Always `Kustomization`.
    pub kind: String,
    /// The namespace every namespaced object is placed in.
    pub namespace: Option<String>,
    /// Manifest files relative to the kustomization, in apply order.
    pub resources: Vec<String>,
}

/// One Kubernetes object read from a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it came from, relative to the manifest folder.
    pub path: PathBuf,
    /// The object as JSON, exactly as written (plus the kustomization's namespace).
    pub object: Value,
}

impl Manifest {
    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }

    /// How the API addresses this kind, and whether it is namespaced.
    pub fn api_resource(&self) -> Result<(ApiResource, bool), ManifestError> {
        resource_for(self.api_version(), self.kind()).ok_or_else(|| {
            ManifestError::UnsupportedKind {
                path: self.path.clone(),
                api_version: self.api_version().to_owned(),
                kind: self.kind().to_owned(),
            }
        })
    }

    /// `kind/name`, the way kubectl names objects.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind().to_lowercase(), self.name())
    }
}

/// The API resource for each kind the manifests may use, and whether it is namespaced.
pub fn resource_for(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    let resource = match (api_version, kind) {
        ("v1", "Namespace") => (ApiResource::erase::<Namespace>(&()), false),
        ("v1", "ConfigMap") => (ApiResource::erase::<ConfigMap>(&()), true),
        ("v1", "Secret") => (ApiResource::erase::<Secret>(&()), true),
        ("v1", "Service") => (ApiResource::erase::<Service>(&()), true),
        ("apps/v1", "Deployment") => (ApiResource::erase::<Deployment>(&()), true),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            (ApiResource::erase::<HorizontalPodAutoscaler>(&()), true)
        }
        ("policy/v1", "PodDisruptionBudget") => {
            (ApiResource::erase::<PodDisruptionBudget>(&()), true)
        }
        _ => return None,
    };
    Some(resource)
}

/// Reads and checks `kustomization.yaml` in `dir`.
pub fn read_kustomization(dir: &Path) -> Result<Kustomization, ManifestError> {
    let path = dir.join(KUSTOMIZATION);
    let text = read(&path)?;
    let kustomization: Kustomization =
        serde_yaml::from_str(&text).map_err(|err| ManifestError::Parse {
            path: path.clone(),
            message: err.to_string(),
        })?;
    if kustomization.kind != "Kustomization" {
        return Err(ManifestError::Parse {
            path,
            message: format!("kind is `{}`, expected `Kustomization`", kustomization.kind),
        });
    }
    Ok(kustomization)
}

/// Reads every resource listed in `dir/kustomization.yaml`, in order, places namespaced objects
/// in the kustomization's namespace and checks the set (see [`check`]).
pub fn load(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let kustomization = read_kustomization(dir)?;
    let mut manifests = Vec::new();
    for resource in &kustomization.resources {
        manifests.extend(read_file(dir, Path::new(resource))?);
    }
    if let Some(namespace) = &kustomization.namespace {
        for manifest in &mut manifests {
            let (_, namespaced) = manifest.api_resource()?;
            if namespaced {
                manifest.object["metadata"]["namespace"] = Value::String(namespace.clone());
            }
        }
    }
    check(&manifests)?;
    Ok(manifests)
}

/// Reads every document of one manifest file (`relative` to `dir`), skipping empty documents.
pub fn read_file(dir: &Path, relative: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let path = dir.join(relative);
    let text = read(&path)?;
    let mut manifests = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let object = Value::deserialize(document).map_err(|err| ManifestError::Parse {
            path: path.clone(),
            message: err.to_string(),
        })?;
        if object.is_null() {
            continue;
        }
        let manifest = Manifest {
            path: relative.to_path_buf(),
            object,
        };
        for (field, present) in [
            ("apiVersion", !manifest.api_version().is_empty()),
            ("kind", !manifest.kind().is_empty()),
            ("metadata.name", !manifest.name().is_empty()),
        ] {
            if !present {
                return Err(ManifestError::MissingField {
                    path: path.clone(),
                    index,
                    field,
                });
            }
        }
        manifests.push(manifest);
    }
    Ok(manifests)
}

/// Checks a manifest set: every kind is supported, nothing is defined twice, every HPA targets a
/// Deployment in the set, and no HPA-scaled Deployment sets `spec.replicas`.
pub fn check(manifests: &[Manifest]) -> Result<(), ManifestError> {
    let mut seen = BTreeSet::new();
    for manifest in manifests {
        manifest.api_resource()?;
        let key = (
            manifest.kind().to_owned(),
            manifest.namespace().map(str::to_owned),
            manifest.name().to_owned(),
        );
        if !seen.insert(key) {
            return Err(ManifestError::Duplicate {
                kind: manifest.kind().to_owned(),
                name: manifest.name().to_owned(),
                path: manifest.path.clone(),
            });
        }
    }
    for hpa in manifests
        .iter()
        .filter(|m| m.kind() == "HorizontalPodAutoscaler")
    {
        let target = &hpa.object["spec"]["scaleTargetRef"];
        let kind = target["kind"].as_str().unwrap_or_default();
        let name = target["name"].as_str().unwrap_or_default();
        let api_version = target["apiVersion"].as_str().unwrap_or_default();
        let deployment = manifests.iter().find(|m| {
            kind == "Deployment"
                && api_version == "apps/v1"
                && m.kind() == "Deployment"
                && m.name() == name
                && m.namespace() == hpa.namespace()
        });
        match deployment {
            None => {
                return Err(ManifestError::HpaTargetMissing {
                    hpa: hpa.name().to_owned(),
                    path: hpa.path.clone(),
                    kind: format!("{api_version} {kind}"),
                    target: name.to_owned(),
                });
            }
            Some(deployment) if !deployment.object["spec"]["replicas"].is_null() => {
                return Err(ManifestError::ReplicasWithHpa {
                    name: deployment.name().to_owned(),
                    path: deployment.path.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The same manifests placed in `namespace`: namespaced objects move there and the `Namespace`
/// object is renamed, so `--namespace` deploys a complete, separate copy.
pub fn retarget(manifests: &[Manifest], namespace: &str) -> Result<Vec<Manifest>, ManifestError> {
    manifests
        .iter()
        .map(|manifest| {
            let mut manifest = manifest.clone();
            let (_, namespaced) = manifest.api_resource()?;
            if namespaced {
                manifest.object["metadata"]["namespace"] = Value::String(namespace.to_owned());
            } else if manifest.kind() == "Namespace" {
                manifest.object["metadata"]["name"] = Value::String(namespace.to_owned());
            }
            Ok(manifest)
        })
        .collect()
}

/// The namespace the manifests deploy into (that of the first namespaced object).
pub fn namespace_of(manifests: &[Manifest]) -> Option<&str> {
    manifests.iter().find_map(Manifest::namespace)
}

/// Every `.yaml`/`.yml` file under `dir` (recursively, sorted), for validation.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| ManifestError::Read {
            path: folder.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| ManifestError::Read {
                    path: folder.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(path: &str, object: Value) -> Manifest {
        Manifest {
            path: PathBuf::from(path),
            object,
        }
    }

    fn deployment(name: &str, replicas: Option<i32>) -> Manifest {
        let mut object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"a": name}}, "template": {}}
        });
        if let Some(replicas) = replicas {
            object["spec"]["replicas"] = json!(replicas);
        }
        manifest("d.yaml", object)
    }

    fn hpa(name: &str, kind: &str, target: &str) -> Manifest {
        manifest(
            "hpa.yaml",
            json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target}}
            }),
        )
    }

    #[test]
    fn hpa_aimed_at_a_missing_deployment_is_refused() {
        let err = check(&[
            deployment("app", None),
            hpa("worker", "Deployment", "worker"),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, ManifestError::HpaTargetMissing { target, .. } if target == "worker"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "HPA `worker` in `hpa.yaml` targets apps/v1 Deployment `worker`, which is not defined in the manifests; fix `scaleTargetRef`"
        );
    }

    #[test]
    fn hpa_aimed_at_another_kind_is_refused() {
        let err = check(&[deployment("app", None), hpa("app", "StatefulSet", "app")]).unwrap_err();
        assert!(
            matches!(err, ManifestError::HpaTargetMissing { .. }),
            "{err}"
        );
    }

    #[test]
    fn deployment_with_replicas_under_an_hpa_is_refused() {
        let err =
            check(&[deployment("app", Some(3)), hpa("app", "Deployment", "app")]).unwrap_err();
        assert!(
            matches!(err, ManifestError::ReplicasWithHpa { .. }),
            "{err}"
        );
        check(&[deployment("app", None), hpa("app", "Deployment", "app")]).unwrap();
    }

    #[test]
    fn duplicates_and_unknown_kinds_are_refused() {
        let err = check(&[deployment("app", None), deployment("app", None)]).unwrap_err();
        assert!(matches!(err, ManifestError::Duplicate { .. }), "{err}");
        let job = manifest(
            "job.yaml",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}}),
        );
        let err = check(&[job]).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnsupportedKind { .. }),
            "{err}"
        );
    }

    #[test]
    fn retarget_moves_namespaced_objects_and_renames_the_namespace() {
        let namespace = manifest(
            "namespace.yaml",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
        );
        let moved = retarget(&[namespace, deployment("app", None)], "other").unwrap();
        assert_eq!(moved[0].name(), "other");
        assert_eq!(moved[0].namespace(), None);
        assert_eq!(moved[1].namespace(), Some("other"));
        assert_eq!(namespace_of(&moved), Some("other"));
    }

    #[test]
    fn kustomization_with_transformers_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(KUSTOMIZATION),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nimages:\n  - name: x\n",
        )
        .unwrap();
        let err = read_kustomization(dir.path()).unwrap_err();
        assert!(err.to_string().contains("unknown field `images`"), "{err}");
    }

    #[test]
    fn multi_document_files_skip_empty_documents_and_need_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n",
        )
        .unwrap();
        let read = read_file(dir.path(), Path::new("a.yaml")).unwrap();
        assert_eq!(
            read.iter().map(Manifest::name).collect::<Vec<_>>(),
            ["one", "two"]
        );
        std::fs::write(
            dir.path().join("b.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )
        .unwrap();
        let err = read_file(dir.path(), Path::new("b.yaml")).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::MissingField {
                    field: "metadata.name",
                    ..
                }
            ),
            "{err}"
        );
    }
}
