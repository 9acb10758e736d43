//! Convergence through the Engine API: connect (version negotiated), resolve images, check ports,
//! create/keep/recreate replicas by config hash in dependency order with health gating, reload
//! what needs it, probe readiness through the load balancer, record the revision.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerStateStatusEnum, ContainerSummary, HealthStatusEnum, NetworkCreateRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, ListNetworksOptions,
    LogsOptions, RemoveContainerOptions,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::compose::{Condition, ProjectSpec, ServiceSpec};
use crate::plan::{self, Replica, labels};
use crate::revision::{self, Revision};
use crate::{Event, Probe, StackError, Target, UpOptions};

/// How often container state is polled while waiting.
const POLL: Duration = Duration::from_millis(200);

/// How long a service without a healthcheck must stay running to count as up.
const STABLE: Duration = Duration::from_secs(1);

/// Time since an Engine API `StartedAt` timestamp (zero when unknown).
fn running_for(started_at: Option<&str>) -> Duration {
    started_at
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .and_then(|at| {
            (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

/// What happened to one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Kept,
    Started,
    Created,
    Recreated,
    Removed,
}

/// What happened to one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceOutcome {
    pub service: String,
    pub replicas: Vec<(String, Outcome)>,
    pub ready_after_ms: u64,
}

impl ServiceOutcome {
    fn changed(&self) -> bool {
        self.replicas
            .iter()
            .any(|(_, outcome)| *outcome != Outcome::Kept)
    }
}

/// The result of `up`, `scale` or `rollback`.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub project: String,
    /// The revision the stack now runs.
    pub revision: u64,
    /// True when this convergence recorded a new revision.
    pub new_revision: bool,
    pub services: Vec<ServiceOutcome>,
    pub orphans: Vec<String>,
    pub elapsed_ms: u64,
}

impl UpReport {
    /// True when no container was created, started, recreated or removed.
    pub fn unchanged(&self) -> bool {
        !self.services.iter().any(ServiceOutcome::changed)
    }
}

/// Connects to `DOCKER_HOST` (or the default socket) and negotiates the API version down to the
/// daemon's (Debian's Docker 20.10 speaks 1.41).
pub(crate) async fn connect() -> Result<Docker, StackError> {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
    let unreachable = |message: String| StackError::DaemonUnreachable {
        host: host.clone(),
        message,
    };
    let docker = Docker::connect_with_host(&host).map_err(|err| unreachable(err.to_string()))?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| unreachable("no answer within 10s".into()))?
        .map_err(|err| unreachable(err.to_string()))?;
    Ok(docker)
}

pub(crate) fn docker_err(context: impl Into<String>) -> impl FnOnce(DockerError) -> StackError {
    let context = context.into();
    move |source| StackError::Docker { context, source }
}

pub(crate) fn is_not_found(err: &DockerError) -> bool {
    matches!(
        err,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Every container of the project (any state).
pub(crate) async fn project_containers(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ContainerSummary>, StackError> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={project}", labels::PROJECT)],
    )]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(docker_err("failed to list containers"))
}

pub(crate) fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container.labels.as_ref()?.get(key).map(String::as_str)
}

pub(crate) fn summary_name(container: &ContainerSummary) -> String {
    container
        .names
        .as_ref()
        .and_then(|names| names.first())
        .map(|name| name.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| container.id.clone().unwrap_or_default())
}

/// The last `lines` lines a container wrote.
pub(crate) async fn last_logs(docker: &Docker, container: &str, lines: usize) -> String {
    let mut stream = docker.logs(
        container,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    let text = text.trim_end();
    if text.is_empty() {
        "  (no output)".to_owned()
    } else {
        text.lines()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `cricalgo staging up`: converge to the compose file.
pub async fn up(target: &Target, options: &UpOptions) -> Result<UpReport, StackError> {
    let mut spec = crate::compose::load(&options.load)?;
    apply_scale(&mut spec, &options.scale)?;
    let docker = connect().await?;
    let image_ids = resolve_images(&docker, &spec, None).await?;
    converge(
        &docker,
        target,
        &spec,
        &image_ids,
        "up",
        None,
        options.timeout,
        options.ready.as_ref(),
    )
    .await
}

/// `cricalgo staging scale SVC=N…`: the running revision with other replica counts.
pub async fn scale(
    target: &Target,
    options: &UpOptions,
    changes: &[(String, u32)],
) -> Result<UpReport, StackError> {
    let revisions = revision::list(&target.state_dir, &target.project)?;
    let docker = connect().await?;
    let (mut spec, image_ids) = match revisions.last() {
        Some(latest) => (latest.spec.clone(), latest.image_ids.clone()),
        None => {
            let spec = crate::compose::load(&options.load)?;
            let ids = resolve_images(&docker, &spec, None).await?;
            (spec, ids)
        }
    };
    apply_scale(&mut spec, changes)?;
    let image_ids = resolve_images(&docker, &spec, Some(&image_ids)).await?;
    converge(
        &docker,
        target,
        &spec,
        &image_ids,
        "scale",
        None,
        options.timeout,
        options.ready.as_ref(),
    )
    .await
}

/// `cricalgo rollback --compose`: re-converge to the revision before the running one and wait for
/// health again (recorded as a new revision, like `kubectl rollout undo`).
pub async fn rollback(
    target: &Target,
    timeout: Duration,
    ready: Option<&Probe>,
) -> Result<UpReport, StackError> {
    let revisions = revision::list(&target.state_dir, &target.project)?;
    let [.., previous, _current] = revisions.as_slice() else {
        return Err(StackError::NoPreviousRevision {
            project: target.project.clone(),
            count: revisions.len(),
        });
    };
    target.emit(Event::Note(format!(
        "rolling back `{}` to revision {}",
        target.project, previous.number
    )));
    let docker = connect().await?;
    let image_ids = resolve_images(&docker, &previous.spec, Some(&previous.image_ids)).await?;
    converge(
        &docker,
        target,
        &previous.spec,
        &image_ids,
        "rollback",
        Some(previous.number),
        timeout,
        ready,
    )
    .await
}

fn apply_scale(spec: &mut ProjectSpec, changes: &[(String, u32)]) -> Result<(), StackError> {
    for (name, replicas) in changes {
        let known = spec.services.keys().cloned().collect::<Vec<_>>().join(", ");
        let service = spec
            .services
            .get_mut(name)
            .ok_or_else(|| StackError::UnknownService {
                service: name.clone(),
                known,
            })?;
        service.replicas = *replicas;
    }
    Ok(())
}

/// Image id per service; with `pinned`, a recorded id wins (a rollback runs exactly its images).
async fn resolve_images(
    docker: &Docker,
    spec: &ProjectSpec,
    pinned: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, StackError> {
    let mut ids = BTreeMap::new();
    for (name, service) in &spec.services {
        let wanted = pinned
            .and_then(|ids| ids.get(name))
            .cloned()
            .unwrap_or_else(|| service.image.clone());
        match docker.inspect_image(&wanted).await {
            Ok(image) => {
                ids.insert(name.clone(), image.id.unwrap_or(wanted));
            }
            Err(err) if is_not_found(&err) => {
                return Err(StackError::ImageMissing {
                    service: name.clone(),
                    image: wanted,
                });
            }
            Err(err) => {
                return Err(docker_err(format!("failed to inspect image `{wanted}`"))(
                    err,
                ));
            }
        }
    }
    Ok(ids)
}

/// What each service task reports to its dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Started,
    Healthy,
    Completed,
    Failed,
}

#[allow(clippy::too_many_arguments)]
async fn converge(
    docker: &Docker,
    target: &Target,
    spec: &ProjectSpec,
    image_ids: &BTreeMap<String, String>,
    source: &str,
    restores: Option<u64>,
    timeout: Duration,
    ready: Option<&Probe>,
) -> Result<UpReport, StackError> {
    let started = Instant::now();
    let project = &target.project;
    let spec = ProjectSpec {
        name: project.clone(),
        ..spec.clone()
    };
    let revisions = revision::list(&target.state_dir, project)?;
    let hashes: BTreeMap<String, String> = spec
        .services
        .iter()
        .map(|(name, service)| {
            (
                name.clone(),
                plan::config_hash(project, service, &image_ids[name]),
            )
        })
        .collect();
    let latest = revisions.last();
    let new_revision = !latest.is_some_and(|r| r.same_content(&spec, image_ids));
    let revision_number = if new_revision {
        revision::next_number(&revisions)
    } else {
        latest.map_or(1, |r| r.number)
    };

    let existing = project_containers(docker, project).await?;
    let orphans: Vec<String> = existing
        .iter()
        .filter(|c| label(c, labels::SERVICE).is_none_or(|s| !spec.services.contains_key(s)))
        .map(summary_name)
        .collect();
    for orphan in &orphans {
        target.emit(Event::Note(format!(
            "orphan container `{orphan}` (its service is not in the compose file); `cricalgo staging down` removes it"
        )));
    }
    check_ports(&spec, &existing)?;
    ensure_network(docker, project).await?;
    for volume in &spec.volumes {
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(plan::volume_name(project, volume)),
                labels: Some(HashMap::from([(
                    labels::PROJECT.to_owned(),
                    project.clone(),
                )])),
                ..Default::default()
            })
            .await
            .map_err(docker_err(format!("failed to create volume `{volume}`")))?;
    }

    let order = plan::order(&spec).expect("validated at load");
    let mut senders: HashMap<String, watch::Sender<Phase>> = HashMap::new();
    let mut receivers: HashMap<String, watch::Receiver<Phase>> = HashMap::new();
    for name in &order {
        let (tx, rx) = watch::channel(Phase::Pending);
        senders.insert(name.clone(), tx);
        receivers.insert(name.clone(), rx);
    }
    let receivers = Arc::new(receivers);
    let existing = Arc::new(existing);
    let spec = Arc::new(spec);
    let mut tasks: JoinSet<(String, Result<ServiceOutcome, StackError>)> = JoinSet::new();
    for name in &order {
        let task = ServiceTask {
            docker: docker.clone(),
            target: target.clone(),
            spec: spec.clone(),
            name: name.clone(),
            image_id: image_ids[name].clone(),
            config_hash: hashes[name].clone(),
            revision: revision_number,
            existing: existing.clone(),
            receivers: receivers.clone(),
            sender: senders.remove(name).expect("one sender per service"),
            started,
        };
        tasks.spawn(async move {
            let name = task.name.clone();
            let result = task.run().await;
            (name, result)
        });
    }

    let deadline = started + timeout;
    let mut outcomes: BTreeMap<String, ServiceOutcome> = BTreeMap::new();
    let mut failure: Option<StackError> = None;
    while !tasks.is_empty() {
        let next = tokio::time::timeout_at(deadline.into(), tasks.join_next()).await;
        match next {
            Err(_) => {
                let pending: Vec<&String> = order
                    .iter()
                    .filter(|n| !outcomes.contains_key(*n))
                    .collect();
                tasks.abort_all();
                return Err(StackError::Timeout {
                    what: pending
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join("`, `"),
                    waited: timeout,
                    last: "still starting".to_owned(),
                });
            }
            Ok(None) => break,
            // Tasks aborted after the first failure end as cancelled.
            Ok(Some(Err(join))) if join.is_cancelled() => {}
            Ok(Some(Err(join))) => std::panic::resume_unwind(join.into_panic()),
            Ok(Some(Ok((name, result)))) => match result {
                Ok(outcome) => {
                    outcomes.insert(name, outcome);
                }
                Err(err) => {
                    // Fail fast: the first real failure wins; dependents report it too.
                    if failure.is_none()
                        || matches!(failure, Some(StackError::DependencyFailed { .. }))
                    {
                        failure = Some(err);
                    }
                    if !matches!(failure, Some(StackError::DependencyFailed { .. })) {
                        tasks.abort_all();
                    }
                }
            },
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }

    // A kept container that resolves names at load (nginx) reloads when its dependencies moved.
    for (name, service) in &spec.services {
        let Some(signal) = service.labels.get(labels::RELOAD_SIGNAL) else {
            continue;
        };
        let own = &outcomes[name];
        let moved = service
            .depends_on
            .keys()
            .any(|dep| outcomes.get(dep).is_some_and(ServiceOutcome::changed));
        if moved {
            for (container, outcome) in &own.replicas {
                if *outcome == Outcome::Kept {
                    docker
                        .kill_container(
                            container,
                            Some(KillContainerOptions {
                                signal: signal.clone(),
                            }),
                        )
                        .await
                        .map_err(docker_err(format!("failed to signal `{container}`")))?;
                    target.emit(Event::Note(format!(
                        "sent {signal} to `{container}` (its upstream containers changed)"
                    )));
                }
            }
        }
    }

    if let Some(url) = ready.and_then(|probe| probe.url(&spec)) {
        wait_ready(&url, deadline, timeout).await?;
        target.emit(Event::Note(format!("`{url}` answered 200")));
    }

    if new_revision {
        let revision = Revision {
            number: revision_number,
            recorded_at: chrono::Utc::now().to_rfc3339(),
            source: source.to_owned(),
            restores,
            spec: (*spec).clone(),
            image_ids: image_ids.clone(),
            config_hashes: hashes,
        };
        revision::write(&target.state_dir, project, &revision)?;
    }
    Ok(UpReport {
        project: project.clone(),
        revision: revision_number,
        new_revision,
        services: order
            .iter()
            .filter_map(|name| outcomes.remove(name))
            .collect(),
        orphans,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Fails early and clearly when a port this stack publishes is held by someone else. A service
/// that already has a container of this project (in any state: an interrupted `up` may leave one
/// whose port is bound while it is still starting) holds its ports itself; starting it reports a
/// real clash.
fn check_ports(spec: &ProjectSpec, existing: &[ContainerSummary]) -> Result<(), StackError> {
    let ours: Vec<u16> = existing
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.public_port)
        .collect();
    for (name, service) in &spec.services {
        if existing
            .iter()
            .any(|c| label(c, labels::SERVICE) == Some(name.as_str()))
        {
            continue;
        }
        for port in &service.ports {
            if ours.contains(&port.host_port) {
                continue;
            }
            let address = format!("{}:{}", port.host_ip, port.host_port);
            if std::net::TcpListener::bind(&address).is_err() {
                return Err(StackError::PortInUse {
                    service: name.clone(),
                    address,
                });
            }
        }
    }
    Ok(())
}

async fn ensure_network(docker: &Docker, project: &str) -> Result<(), StackError> {
    let name = plan::network_name(project);
    let filters = HashMap::from([("name".to_owned(), vec![name.clone()])]);
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(docker_err("failed to list networks"))?;
    if networks.iter().any(|n| n.name.as_deref() == Some(&name)) {
        return Ok(());
    }
    docker
        .create_network(NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(HashMap::from([(
                labels::PROJECT.to_owned(),
                project.to_owned(),
            )])),
            ..Default::default()
        })
        .await
        .map_err(docker_err(format!("failed to create network `{name}`")))?;
    Ok(())
}

/// GET `url` until it answers 200 or the deadline passes.
async fn wait_ready(url: &str, deadline: Instant, timeout: Duration) -> Result<(), StackError> {
    loop {
        let last = match http_status(url).await {
            Ok(200) => return Ok(()),
            Ok(status) => format!("status {status}"),
            Err(err) => err,
        };
        if Instant::now() >= deadline {
            return Err(StackError::Timeout {
                what: url.to_owned(),
                waited: timeout,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Status code of a plain `GET` over HTTP/1.0 (loopback readiness probes only).
pub async fn http_status(url: &str) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|err| format!("connect to {authority}: {err}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|err| err.to_string())?;
        let mut head = [0u8; 64];
        let mut read = 0;
        while read < 12 {
            let n = stream
                .read(&mut head[read..])
                .await
                .map_err(|err| err.to_string())?;
            if n == 0 {
                break;
            }
            read += n;
        }
        let text = String::from_utf8_lossy(&head[..read]);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: `{text}`"))
    };
    tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .map_err(|_| "no answer within 3s".to_owned())?
}

struct ServiceTask {
    docker: Docker,
    target: Target,
    spec: Arc<ProjectSpec>,
    name: String,
    image_id: String,
    config_hash: String,
    revision: u64,
    existing: Arc<Vec<ContainerSummary>>,
    receivers: Arc<HashMap<String, watch::Receiver<Phase>>>,
    sender: watch::Sender<Phase>,
    started: Instant,
}

impl ServiceTask {
    fn emit(&self, phase: impl Into<String>) {
        self.target.emit(Event::Service {
            service: self.name.clone(),
            phase: phase.into(),
            elapsed: self.started.elapsed(),
        });
    }

    async fn run(self) -> Result<ServiceOutcome, StackError> {
        let result = self.converge().await;
        self.sender.send_replace(match &result {
            Ok(_) if self.service().is_one_shot() => Phase::Completed,
            Ok(_) => Phase::Healthy,
            Err(_) => Phase::Failed,
        });
        if let Err(err) = &result
            && !matches!(err, StackError::DependencyFailed { .. })
        {
            self.emit("failed");
        }
        result
    }

    fn service(&self) -> &ServiceSpec {
        &self.spec.services[&self.name]
    }

    async fn converge(&self) -> Result<ServiceOutcome, StackError> {
        let service = self.service();
        for (dependency, condition) in &service.depends_on {
            self.emit(format!("waiting for {dependency} ({condition})"));
            let mut rx = self.receivers[dependency].clone();
            let reached = rx
                .wait_for(|phase| {
                    *phase == Phase::Failed
                        || match condition {
                            Condition::ServiceStarted => *phase != Phase::Pending,
                            Condition::ServiceHealthy => {
                                matches!(phase, Phase::Healthy | Phase::Completed)
                            }
                            Condition::ServiceCompletedSuccessfully => *phase == Phase::Completed,
                        }
                })
                .await
                .map(|phase| *phase);
            if !matches!(reached, Ok(phase) if phase != Phase::Failed) {
                return Err(StackError::DependencyFailed {
                    service: self.name.clone(),
                    dependency: dependency.clone(),
                });
            }
        }

        let project = &self.target.project;
        let mut replicas = Vec::new();
        let mut ours: Vec<&ContainerSummary> = self
            .existing
            .iter()
            .filter(|c| label(c, labels::SERVICE) == Some(self.name.as_str()))
            .collect();
        ours.sort_by_key(|c| label(c, labels::NUMBER).and_then(|n| n.parse::<u32>().ok()));
        // Extra replicas first (scale down), then each wanted number.
        for container in &ours {
            let number: u32 = label(container, labels::NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            if number > service.replicas {
                let name = summary_name(container);
                self.remove(&name).await?;
                replicas.push((name, Outcome::Removed));
            }
        }
        let mut changes = JoinSet::new();
        for number in 1..=service.replicas {
            let found = ours
                .iter()
                .find(|c| label(c, labels::NUMBER) == Some(number.to_string().as_str()))
                .map(|c| (*c).clone());
            let task = ReplicaTask {
                docker: self.docker.clone(),
                project: project.clone(),
                spec: self.spec.clone(),
                name: self.name.clone(),
                image_id: self.image_id.clone(),
                config_hash: self.config_hash.clone(),
                revision: self.revision,
                number,
            };
            changes.spawn(async move { task.converge(found).await });
        }
        let mut running = Vec::new();
        while let Some(joined) = changes.join_next().await {
            let (container, outcome) = joined.expect("replica task panicked")?;
            running.push(container.clone());
            replicas.push((container, outcome));
        }
        replicas.sort();
        let verb = summarize(&replicas);
        self.emit(verb);
        self.sender.send_replace(Phase::Started);
        self.wait(&running).await?;
        Ok(ServiceOutcome {
            service: self.name.clone(),
            replicas,
            ready_after_ms: self.started.elapsed().as_millis() as u64,
        })
    }

    async fn remove(&self, container: &str) -> Result<(), StackError> {
        remove_container(&self.docker, container).await
    }

    /// Polls until every replica is healthy (or done, for a one-shot); fails fast otherwise.
    async fn wait(&self, containers: &[String]) -> Result<(), StackError> {
        let service = self.service();
        let has_health = service
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"));
        let mut announced_health = false;
        loop {
            let mut ready = 0;
            for container in containers {
                let inspect = self
                    .docker
                    .inspect_container(container, None)
                    .await
                    .map_err(docker_err(format!("failed to inspect `{container}`")))?;
                let state = inspect.state.unwrap_or_default();
                let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
                let health = state
                    .health
                    .and_then(|h| h.status)
                    .unwrap_or(HealthStatusEnum::NONE);
                let exited = matches!(
                    status,
                    ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD
                );
                let code = state.exit_code.unwrap_or(-1);
                if service.is_one_shot() {
                    if exited && code == 0 {
                        ready += 1;
                        continue;
                    }
                    if exited {
                        return Err(self.exited(container, code).await);
                    }
                    continue;
                }
                // A service that is never restarted may finish: exit 0 is done, not a failure.
                if exited && code == 0 && service.restart == "no" {
                    ready += 1;
                    continue;
                }
                if exited || status == ContainerStateStatusEnum::RESTARTING {
                    return Err(self.exited(container, code).await);
                }
                if has_health {
                    match health {
                        HealthStatusEnum::HEALTHY => ready += 1,
                        HealthStatusEnum::UNHEALTHY => {
                            return Err(StackError::Unhealthy {
                                service: self.name.clone(),
                                container: container.clone(),
                                logs: last_logs(&self.docker, container, 20).await,
                            });
                        }
                        _ => {}
                    }
                } else if status == ContainerStateStatusEnum::RUNNING
                    && running_for(state.started_at.as_deref()) >= STABLE
                {
                    // Without a healthcheck, "up" means it stayed up for a moment: a process that
                    // crashes at once is reported, not waved through.
                    ready += 1;
                }
            }
            if ready == containers.len() {
                self.emit(if service.is_one_shot() {
                    "completed"
                } else if has_health {
                    "healthy"
                } else {
                    "running"
                });
                return Ok(());
            }
            if !announced_health {
                self.emit(if service.is_one_shot() {
                    "running"
                } else {
                    "starting"
                });
                announced_health = true;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn exited(&self, container: &str, code: i64) -> StackError {
        StackError::Exited {
            service: self.name.clone(),
            container: container.to_owned(),
            code,
            logs: last_logs(&self.docker, container, 20).await,
        }
    }
}

fn summarize(replicas: &[(String, Outcome)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, outcome) in replicas {
        let word = match outcome {
            Outcome::Kept => "unchanged",
            Outcome::Started => "started",
            Outcome::Created => "created",
            Outcome::Recreated => "recreated",
            Outcome::Removed => "removed",
        };
        *counts.entry(word).or_default() += 1;
    }
    counts
        .iter()
        .map(|(word, count)| format!("{count} {word}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn remove_container(docker: &Docker, container: &str) -> Result<(), StackError> {
    match docker
        .remove_container(
            container,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(err) if is_not_found(&err) => Ok(()),
        Err(err) => Err(docker_err(format!("failed to remove `{container}`"))(err)),
    }
}

struct ReplicaTask {
    docker: Docker,
    project: String,
    spec: Arc<ProjectSpec>,
    name: String,
    image_id: String,
    config_hash: String,
    revision: u64,
    number: u32,
}

impl ReplicaTask {
    async fn converge(
        self,
        found: Option<ContainerSummary>,
    ) -> Result<(String, Outcome), StackError> {
        let service = &self.spec.services[&self.name];
        let container = plan::container_name(&self.project, &self.name, self.number);
        let mut outcome = Outcome::Created;
        if let Some(found) = &found {
            let name = summary_name(found);
            if label(found, labels::CONFIG_HASH) == Some(self.config_hash.as_str()) {
                let state = found.state.map(|s| s.to_string()).unwrap_or_default();
                let done = (service.is_one_shot() || service.restart == "no")
                    && state == "exited"
                    && found
                        .status
                        .as_deref()
                        .is_some_and(|s| s.starts_with("Exited (0)"));
                if state == "running" || done {
                    return Ok((name, Outcome::Kept));
                }
                if state == "created" || state == "exited" {
                    // Left behind by an interrupted `up`, or stopped: start it as it is.
                    if !service.is_one_shot() {
                        match self.start(&name).await {
                            Ok(()) => return Ok((name, Outcome::Started)),
                            // The daemon drops a container whose create request was cut off
                            // (Ctrl-C) a moment after listing it: create it afresh.
                            Err(StackError::Docker { source, .. }) if is_not_found(&source) => {}
                            Err(err) => return Err(err),
                        }
                    }
                }
            }
            remove_container(&self.docker, &name).await?;
            outcome = Outcome::Recreated;
        } else {
            // A stale container with our name but without our labels would block the create.
            remove_container(&self.docker, &container).await?;
        }
        // Create from the image name when it still points at the pinned id (readable `docker
        // ps`), else from the id itself (a rollback whose tag has moved on).
        let image = match self.docker.inspect_image(&service.image).await {
            Ok(image) if image.id.as_deref() == Some(self.image_id.as_str()) => {
                service.image.clone()
            }
            _ => self.image_id.clone(),
        };
        let body = plan::container_body(&Replica {
            project: &self.project,
            service_name: &self.name,
            service,
            number: self.number,
            image: &image,
            image_id: &self.image_id,
            config_hash: &self.config_hash,
            revision: self.revision,
        });
        self.docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(container.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(docker_err(format!("failed to create `{container}`")))?;
        self.start(&container).await?;
        Ok((container, outcome))
    }

    async fn start(&self, container: &str) -> Result<(), StackError> {
        self.docker
            .start_container(container, None)
            .await
            .map_err(|source| {
                let message = source.to_string();
                if message.contains("address already in use")
                    || message.contains("port is already allocated")
                {
                    StackError::PortInUse {
                        service: self.name.clone(),
                        address: message,
                    }
                } else {
                    StackError::Docker {
                        context: format!("failed to start `{container}`"),
                        source,
                    }
                }
            })
    }
}
