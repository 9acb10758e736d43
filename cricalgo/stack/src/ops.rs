//! The other commands: `down`, `status`, `logs`, and the run-artifact helpers (`snapshot` for
//! `stack.json`, `write_service_logs` for `logs/<service>.log`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::{
    ListNetworksOptions, ListVolumesOptions, LogsOptions, RemoveVolumeOptions,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::engine::{
    connect, docker_err, is_not_found, label, project_containers, remove_container, summary_name,
};
use crate::plan::labels;
use crate::{Event, StackError, Target};

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// `cricalgo staging down`: removes exactly this project's containers and network (and its
/// volumes with `volumes`), found by the `io.cricalgo.project` label.
pub async fn down(target: &Target, volumes: bool) -> Result<DownReport, StackError> {
    let docker = connect().await?;
    let project = &target.project;
    let mut report = DownReport::default();
    let mut removals = JoinSet::new();
    for container in project_containers(&docker, project).await? {
        let name = summary_name(&container);
        let docker = docker.clone();
        removals.spawn(async move { remove_container(&docker, &name).await.map(|()| name) });
    }
    while let Some(joined) = removals.join_next().await {
        let name = joined.expect("removal task panicked")?;
        target.emit(Event::Note(format!("removed container `{name}`")));
        report.containers.push(name);
    }
    report.containers.sort();
    let filter = HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={project}", labels::PROJECT)],
    )]);
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter.clone()),
        }))
        .await
        .map_err(docker_err("failed to list networks"))?;
    for network in networks {
        let name = network.name.unwrap_or_default();
        match docker.remove_network(&name).await {
            Ok(()) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => {
                return Err(docker_err(format!("failed to remove network `{name}`"))(
                    err,
                ));
            }
        }
        target.emit(Event::Note(format!("removed network `{name}`")));
        report.networks.push(name);
    }
    if volumes {
        let list = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filter),
            }))
            .await
            .map_err(docker_err("failed to list volumes"))?;
        for volume in list.volumes.unwrap_or_default() {
            match docker
                .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {}
                Err(err) if is_not_found(&err) => {}
                Err(err) => {
                    return Err(docker_err(format!(
                        "failed to remove volume `{}`",
                        volume.name
                    ))(err));
                }
            }
            target.emit(Event::Note(format!("removed volume `{}`", volume.name)));
            report.volumes.push(volume.name);
        }
    }
    Ok(report)
}

/// One container as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStatus {
    pub service: String,
    pub container: String,
    pub number: u32,
    pub state: String,
    pub health: String,
    pub ports: Vec<String>,
    pub image: String,
    pub image_id: String,
    pub config_hash: String,
    pub revision: Option<u64>,
}

/// `cricalgo staging status`: every container of the project, by service and number.
pub async fn status(target: &Target) -> Result<Vec<ContainerStatus>, StackError> {
    let docker = connect().await?;
    status_with(&docker, &target.project).await
}

async fn status_with(docker: &Docker, project: &str) -> Result<Vec<ContainerStatus>, StackError> {
    let mut rows: Vec<ContainerStatus> = project_containers(docker, project)
        .await?
        .iter()
        .map(|c| {
            let status = c.status.clone().unwrap_or_default();
            let health = if status.contains("(healthy)") {
                "healthy"
            } else if status.contains("(unhealthy)") {
                "unhealthy"
            } else if status.contains("(health: starting)") {
                "starting"
            } else {
                "-"
            };
            ContainerStatus {
                service: label(c, labels::SERVICE).unwrap_or("?").to_owned(),
                container: summary_name(c),
                number: label(c, labels::NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                health: health.to_owned(),
                ports: c
                    .ports
                    .iter()
                    .flatten()
                    .filter_map(|p| {
                        Some(format!(
                            "{}:{}->{}",
                            p.ip.as_deref().unwrap_or("?"),
                            p.public_port?,
                            p.private_port
                        ))
                    })
                    .collect(),
                image: c.image.clone().unwrap_or_default(),
                image_id: c.image_id.clone().unwrap_or_default(),
                config_hash: label(c, labels::CONFIG_HASH).unwrap_or("").to_owned(),
                revision: label(c, labels::REVISION).and_then(|r| r.parse().ok()),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    Ok(rows)
}

/// The stack at one moment, for `stack.json` in a run folder.
#[derive(Debug, Clone, Serialize)]
pub struct StackSnapshot {
    pub project: String,
    pub captured_at: String,
    /// The latest recorded revision, if any.
    pub revision: Option<u64>,
    pub containers: Vec<ContainerStatus>,
    /// Healthy (or completed one-shot) containers over all containers.
    pub all_healthy: bool,
}

/// Captures [`StackSnapshot`] (services, containers, image ids, config hashes, health).
pub async fn snapshot(target: &Target) -> Result<StackSnapshot, StackError> {
    let docker = connect().await?;
    let containers = status_with(&docker, &target.project).await?;
    let revision = crate::revision::list(&target.state_dir, &target.project)?
        .last()
        .map(|r| r.number);
    let all_healthy = !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.health == "healthy" || (c.state == "exited" && c.health == "-"));
    Ok(StackSnapshot {
        project: target.project.clone(),
        captured_at: chrono::Utc::now().to_rfc3339(),
        revision,
        containers,
        all_healthy,
    })
}

/// Receives `(container, line)` pairs from [`logs`].
pub type LineSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Options of `logs`.
#[derive(Clone)]
pub struct LogOptions {
    /// Services to show; empty means all.
    pub services: Vec<String>,
    pub follow: bool,
    /// Last N lines per container (`None`: all).
    pub tail: Option<u64>,
    /// Only lines newer than this.
    pub since: Option<Duration>,
    pub sink: LineSink,
}

fn unix_seconds(time: SystemTime) -> i32 {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// `cricalgo staging logs`: multiplexes containers' logs line by line; with `follow`, also picks
/// up containers that start later, until the caller drops the future.
pub async fn logs(target: &Target, options: LogOptions) -> Result<(), StackError> {
    let docker = connect().await?;
    let since = options
        .since
        .map(|ago| unix_seconds(SystemTime::now() - ago))
        .unwrap_or(0);
    let mut seen: HashSet<String> = HashSet::new();
    let mut streams = JoinSet::new();
    loop {
        for container in project_containers(&docker, &target.project).await? {
            let service = label(&container, labels::SERVICE).unwrap_or("").to_owned();
            if !options.services.is_empty() && !options.services.contains(&service) {
                continue;
            }
            let id = container.id.clone().unwrap_or_default();
            if !seen.insert(id.clone()) {
                continue;
            }
            let name = summary_name(&container);
            let docker = docker.clone();
            let sink = options.sink.clone();
            let query = LogsOptions {
                follow: options.follow,
                stdout: true,
                stderr: true,
                since,
                tail: options
                    .tail
                    .map_or_else(|| "all".to_owned(), |n| n.to_string()),
                ..Default::default()
            };
            streams.spawn(async move {
                let mut stream = docker.logs(&id, Some(query));
                let mut pending = String::new();
                while let Some(Ok(chunk)) = stream.next().await {
                    pending.push_str(&chunk.to_string());
                    while let Some(at) = pending.find('\n') {
                        sink(&name, pending[..at].trim_end_matches('\r'));
                        pending.drain(..=at);
                    }
                }
                if !pending.is_empty() {
                    sink(&name, &pending);
                }
            });
        }
        if !options.follow {
            while streams.join_next().await.is_some() {}
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes `<dir>/<service>.log` for every service: each container's lines between `since` and
/// `until`, prefixed with the container name (the run window of a load test).
pub async fn write_service_logs(
    target: &Target,
    dir: &Path,
    since: SystemTime,
    until: SystemTime,
) -> Result<Vec<std::path::PathBuf>, StackError> {
    let docker = connect().await?;
    std::fs::create_dir_all(dir).map_err(|source| StackError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut by_service: BTreeMap<String, String> = BTreeMap::new();
    for container in project_containers(&docker, &target.project).await? {
        let service = label(&container, labels::SERVICE)
            .unwrap_or("unknown")
            .to_owned();
        let name = summary_name(&container);
        let mut stream = docker.logs(
            container.id.as_deref().unwrap_or(&name),
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                timestamps: true,
                since: unix_seconds(since),
                until: unix_seconds(until + Duration::from_secs(1)),
                ..Default::default()
            }),
        );
        let text = by_service.entry(service).or_default();
        let mut raw = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            raw.push_str(&chunk.to_string());
        }
        for line in raw.lines() {
            text.push_str(&name);
            text.push_str(" | ");
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut written = Vec::new();
    for (service, text) in by_service {
        let path = dir.join(format!("{service}.log"));
        std::fs::write(&path, text).map_err(|source| StackError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
