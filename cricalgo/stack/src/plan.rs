//! Pure planning: dependency order, config hashes, names, labels and the Engine API container
//! body for one replica (only fields Engine API 1.41 knows).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::compose::{MountSource, ProjectSpec, ServiceSpec};

/// Label keys on everything the engine creates.
pub mod labels {
    pub const PROJECT: &str = "io.cricalgo.project";
    pub const SERVICE: &str = "io.cricalgo.service";
    pub const NUMBER: &str = "io.cricalgo.number";
    pub const CONFIG_HASH: &str = "io.cricalgo.config-hash";
    pub const IMAGE_ID: &str = "io.cricalgo.image-id";
    pub const REVISION: &str = "io.cricalgo.revision";
    /// Set in the compose file on a service that must reload (signal value) when a service it
    /// depends on got new containers (nginx: `SIGHUP` re-resolves the app names).
    pub const RELOAD_SIGNAL: &str = "io.cricalgo.reload-signal";
}

/// Services in dependency order (dependencies first, ties by name); an error names a cycle.
pub fn order(spec: &ProjectSpec) -> Result<Vec<String>, String> {
    let mut done: Vec<String> = Vec::new();
    let mut remaining: BTreeMap<&String, &ServiceSpec> = spec.services.iter().collect();
    while !remaining.is_empty() {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, service)| service.depends_on.keys().all(|dep| done.contains(dep)))
            .map(|(name, _)| (*name).clone())
            .collect();
        if ready.is_empty() {
            let names: Vec<&str> = remaining.keys().map(|name| name.as_str()).collect();
            return Err(format!(
                "dependency cycle between services `{}`",
                names.join("`, `")
            ));
        }
        for name in ready {
            remaining.remove(&name);
            done.push(name);
        }
    }
    Ok(done)
}

/// The network every container joins.
pub fn network_name(project: &str) -> String {
    format!("{project}_default")
}

/// A named volume's engine name.
pub fn volume_name(project: &str, volume: &str) -> String {
    format!("{project}_{volume}")
}

/// A replica's container name (`number` from 1).
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// Hash of everything that shapes a replica (replica count excluded): a container whose label
/// differs is recreated, an equal one is kept.
pub fn config_hash(project: &str, service: &ServiceSpec, image_id: &str) -> String {
    let mut shape = service.clone();
    shape.replicas = 0;
    // Derived from other services (who waits for this one), not from this container.
    shape.one_shot = false;
    let json = serde_json::to_vec(&(project, &shape, image_id)).expect("spec serializes");
    hex::encode(Sha256::digest(json))[..16].to_owned()
}

/// Everything one replica needs, already decided.
pub struct Replica<'a> {
    pub project: &'a str,
    pub service_name: &'a str,
    pub service: &'a ServiceSpec,
    pub number: u32,
    pub image: &'a str,
    pub image_id: &'a str,
    pub config_hash: &'a str,
    pub revision: u64,
}

fn nanos(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX / 1_000_000) * 1_000_000
}

/// The create body for one replica.
pub fn container_body(replica: &Replica<'_>) -> ContainerCreateBody {
    let service = replica.service;
    let mut container_labels: HashMap<String, String> =
        service.labels.clone().into_iter().collect();
    for (key, value) in [
        (labels::PROJECT, replica.project.to_owned()),
        (labels::SERVICE, replica.service_name.to_owned()),
        (labels::NUMBER, replica.number.to_string()),
        (labels::CONFIG_HASH, replica.config_hash.to_owned()),
        (labels::IMAGE_ID, replica.image_id.to_owned()),
        (labels::REVISION, replica.revision.to_string()),
    ] {
        container_labels.insert(key.to_owned(), value);
    }
    let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut exposed = Vec::new();
    for port in &service.ports {
        let key = format!("{}/tcp", port.container_port);
        exposed.push(key.clone());
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(port.host_ip.clone()),
                host_port: Some(port.host_port.to_string()),
            });
    }
    let mounts: Vec<Mount> = service
        .volumes
        .iter()
        .map(|mount| match &mount.source {
            MountSource::Volume(name) => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume_name(replica.project, name)),
                target: Some(mount.target.clone()),
                read_only: Some(mount.read_only),
                ..Default::default()
            },
            MountSource::Bind(path) => Mount {
                typ: Some(MountType::BIND),
                source: Some(path.to_string_lossy().into_owned()),
                target: Some(mount.target.clone()),
                read_only: Some(mount.read_only),
                ..Default::default()
            },
        })
        .collect();
    let restart = match service.restart.as_str() {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    let network = network_name(replica.project);
    let mut aliases = vec![replica.service_name.to_owned()];
    aliases.extend(service.aliases.iter().cloned());
    aliases.dedup();
    let endpoints = HashMap::from([(
        network.clone(),
        EndpointSettings {
            aliases: Some(aliases),
            ..Default::default()
        },
    )]);
    ContainerCreateBody {
        hostname: Some(if service.replicas > 1 {
            format!("{}-{}", replica.service_name, replica.number)
        } else {
            replica.service_name.to_owned()
        }),
        image: Some(replica.image.to_owned()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: Some(
            service
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(container_labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: service.healthcheck.as_ref().map(|health| HealthConfig {
            test: Some(health.test.clone()),
            interval: Some(nanos(health.interval_ms)),
            timeout: Some(nanos(health.timeout_ms)),
            retries: Some(i64::from(health.retries)),
            start_period: Some(nanos(health.start_period_ms)),
            // `start_interval` is Engine API 1.44: never sent.
            start_interval: None,
        }),
        host_config: Some(HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            restart_policy: Some(RestartPolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{Condition, PortSpec};

    fn service(depends: &[&str]) -> ServiceSpec {
        ServiceSpec {
            image: "img".into(),
            command: None,
            entrypoint: None,
            environment: BTreeMap::new(),
            labels: BTreeMap::new(),
            ports: vec![PortSpec {
                host_ip: "127.0.0.1".into(),
                host_port: 8000,
                container_port: 80,
            }],
            volumes: Vec::new(),
            healthcheck: None,
            depends_on: depends
                .iter()
                .map(|d| ((*d).to_owned(), Condition::ServiceHealthy))
                .collect(),
            restart: "no".into(),
            replicas: 1,
            aliases: Vec::new(),
            one_shot: false,
        }
    }

    #[test]
    fn order_puts_dependencies_first() {
        let spec = ProjectSpec {
            name: "p".into(),
            services: BTreeMap::from([
                ("nginx".into(), service(&["app"])),
                ("app".into(), service(&["db"])),
                ("db".into(), service(&[])),
            ]),
            volumes: Vec::new(),
        };
        assert_eq!(order(&spec).unwrap(), ["db", "app", "nginx"]);
    }

    #[test]
    fn hash_ignores_replicas_but_not_config() {
        let a = service(&[]);
        let mut b = a.clone();
        b.replicas = 5;
        assert_eq!(
            config_hash("p", &a, "sha256:1"),
            config_hash("p", &b, "sha256:1")
        );
        assert_ne!(
            config_hash("p", &a, "sha256:1"),
            config_hash("p", &a, "sha256:2")
        );
        b.environment.insert("X".into(), "1".into());
        assert_ne!(
            config_hash("p", &a, "sha256:1"),
            config_hash("p", &b, "sha256:1")
        );
    }

    #[test]
    fn body_binds_loopback_and_labels() {
        let spec = service(&[]);
        let body = container_body(&Replica {
            project: "p",
            service_name: "nginx",
            service: &spec,
            number: 1,
            image: "img",
            image_id: "sha256:1",
            config_hash: "h",
            revision: 3,
        });
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let binding = &bindings["80/tcp"].as_ref().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::PROJECT], "p");
        assert_eq!(labels[labels::REVISION], "3");
    }
}
