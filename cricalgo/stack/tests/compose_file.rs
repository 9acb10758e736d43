//! The shipped compose file: parsed by our loader (services, replicas, loopback ports, Postgres
//! sized for every pool, the nginx reload label) and accepted by `docker-compose config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cricalgo_stack::compose::{self, Condition, LoadOptions, MountSource};

fn compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compose/docker-compose.staging.yml")
}

fn load(vars: &[(&str, &str)]) -> cricalgo_stack::ProjectSpec {
    // An explicit empty env file: the developer's `compose/.env` must not change the assertions.
    let empty = tempfile::NamedTempFile::new().unwrap();
    compose::load(&LoadOptions {
        file: compose_file(),
        env_file: Some(empty.path().to_path_buf()),
        project: "t".into(),
        environment: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    })
    .unwrap()
}

#[test]
fn shipped_file_has_the_staging_services() {
    let spec = load(&[]);
    let names: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "app1",
            "app2",
            "app3",
            "nginx",
            "postgres",
            "prometheus",
            "redis",
            "seed",
            "worker"
        ]
    );
    let worker = &spec.services["worker"];
    assert_eq!(worker.replicas, 4);
    assert!(worker.aliases.contains(&"worker".to_owned()));
    assert_eq!(worker.environment["METRICS_PORT"], "9100");
    for app in ["app1", "app2", "app3"] {
        let service = &spec.services[app];
        assert_eq!(service.environment["PORT"], "8000");
        assert_eq!(
            service.healthcheck.as_ref().unwrap().test,
            ["CMD", "cricalgo-webhook", "healthcheck"]
        );
        assert_eq!(service.depends_on["postgres"], Condition::ServiceHealthy);
        assert_eq!(
            service.depends_on["seed"],
            Condition::ServiceCompletedSuccessfully
        );
    }
    assert!(spec.services["seed"].is_one_shot());
    assert!(!spec.services["postgres"].is_one_shot());
    assert_eq!(
        spec.services["nginx"].labels["io.cricalgo.reload-signal"],
        "SIGHUP"
    );
    // Published only on loopback: nginx 8000 and Prometheus 9090; nothing else.
    let published: Vec<(String, String, u16)> = spec
        .services
        .iter()
        .flat_map(|(name, s)| {
            s.ports
                .iter()
                .map(move |p| (name.clone(), p.host_ip.clone(), p.host_port))
        })
        .collect();
    assert_eq!(
        published,
        [
            ("nginx".to_owned(), "127.0.0.1".to_owned(), 8000),
            ("prometheus".to_owned(), "127.0.0.1".to_owned(), 9090)
        ]
    );
    // Prometheus loads the monitoring folder read-only.
    let mount = &spec.services["prometheus"].volumes[0];
    assert!(mount.read_only);
    assert!(
        matches!(&mount.source, MountSource::Bind(path) if path.ends_with("monitoring/prometheus"))
    );
}

#[test]
fn postgres_is_sized_for_every_pool() {
    for workers in [4u32, 8] {
        let spec = load(&[("WORKER_REPLICAS", &workers.to_string())]);
        let command = spec.services["postgres"].command.clone().unwrap();
        let max: u32 = command
            .iter()
            .find_map(|arg| arg.strip_prefix("max_connections="))
            .expect("postgres gets max_connections")
            .parse()
            .unwrap();
        let pool = |name: &str| -> u32 {
            let env = &spec.services[name].environment;
            env["DB_POOL_SIZE"].parse::<u32>().unwrap()
                + env["DB_MAX_OVERFLOW"].parse::<u32>().unwrap()
        };
        let needed = pool("app1") + pool("app2") + pool("app3") + workers * pool("worker");
        assert!(
            max >= needed + 10,
            "max_connections {max} < {needed} pool connections + headroom at {workers} workers"
        );
    }
}

#[test]
fn variables_override_images_and_ports() {
    let spec = load(&[("APP_IMAGE", "cricalgo-app:abc"), ("NGINX_PORT", "18000")]);
    assert_eq!(spec.services["app2"].image, "cricalgo-app:abc");
    assert_eq!(spec.services["worker"].image, "cricalgo-app:abc");
    assert_eq!(spec.services["nginx"].ports[0].host_port, 18000);
}

#[test]
fn typo_in_shipped_file_names_file_and_key() {
    let text = std::fs::read_to_string(compose_file()).unwrap().replacen(
        "    healthcheck:\n      test: [\"CMD\", \"redis-cli\"",
        "    helthcheck:\n      test: [\"CMD\", \"redis-cli\"",
        1,
    );
    assert!(text.contains("helthcheck"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.yml");
    std::fs::write(&file, text).unwrap();
    let err = compose::parse(
        &std::fs::read_to_string(&file).unwrap(),
        &file,
        &compose_file().parent().unwrap().canonicalize().unwrap(),
        "t",
        &HashMap::new(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("typo.yml"), "{message}");
    assert!(message.contains("services.redis"), "{message}");
    assert!(message.contains("unknown field `helthcheck`"), "{message}");
    assert!(err.is_config());
}

#[test]
fn docker_compose_accepts_the_file() {
    let output = Command::new("docker-compose")
        .args(["-f"])
        .arg(compose_file())
        .args(["config", "-q"])
        .output()
        .expect("`docker-compose` must be installed (Debian package `docker-compose`; `.ci/run` installs it)");
    assert!(
        output.status.success(),
        "docker-compose config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
