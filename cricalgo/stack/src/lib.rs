//! The staging stack: compose-file model, Docker Engine API (bollard) convergence, health gating and compose rollback revisions.
//!
//! Entry points: [`up`], [`down`], [`status`], [`logs`], [`scale`], [`rollback`], plus
//! [`snapshot`] and [`write_service_logs`] for run artifacts. Everything the engine creates carries
//! `io.cricalgo.*` labels; those labels, never names alone, decide what belongs to a project.

pub mod compose;
mod engine;
mod ops;
pub mod plan;
pub mod revision;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use compose::{LoadOptions, ProjectSpec, ServiceSpec};
pub use engine::{Outcome, ServiceOutcome, UpReport, http_status, rollback, scale, up};
pub use ops::{
    ContainerStatus, DownReport, LineSink, LogOptions, StackSnapshot, down, logs, snapshot, status,
    write_service_logs,
};

/// Everything that can go wrong, each carrying the offending value and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The compose file (or `.env`) could not be read.
    #[error("failed to read `{}`", path.display())]
    ComposeRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The compose file is invalid at a key.
    #[error("invalid compose file `{}` at `{key}`: {message}", path.display())]
    ComposeInvalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// No Docker daemon answered.
    #[error(
        "the Docker daemon is not reachable at `{host}` ({message}); start it, or point `DOCKER_HOST` at a running one"
    )]
    DaemonUnreachable { host: String, message: String },
    /// An image the compose file names is not present locally.
    #[error(
        "image `{image}` for service `{service}` is missing; build the local images with `cargo xtask images`"
    )]
    ImageMissing { service: String, image: String },
    /// A published port is held by something outside this project.
    #[error(
        "port `{address}` for service `{service}` is already in use; stop what holds it or change the port in `compose/.env`"
    )]
    PortInUse { service: String, address: String },
    /// A container reported `unhealthy`.
    #[error("service `{service}` is unhealthy (container `{container}`); last log lines:\n{logs}")]
    Unhealthy {
        service: String,
        container: String,
        logs: String,
    },
    /// A container exited when it should run (or a one-shot exited non-zero).
    #[error(
        "service `{service}` exited with code {code} (container `{container}`); last log lines:\n{logs}"
    )]
    Exited {
        service: String,
        container: String,
        code: i64,
        logs: String,
    },
    /// A dependency failed, so this service was not started.
    #[error("service `{service}` was not started: its dependency `{dependency}` failed")]
    DependencyFailed { service: String, dependency: String },
    /// The deadline passed before the stack was ready.
    #[error("`{what}` was not ready after {}s ({last}); raise `--timeout` or look at `cricalgo staging logs`", waited.as_secs())]
    Timeout {
        what: String,
        waited: Duration,
        last: String,
    },
    /// Nothing to roll back to.
    #[error(
        "project `{project}` has no earlier revision to roll back to (revisions: {count}); a revision is recorded by each successful `cricalgo staging up`"
    )]
    NoPreviousRevision { project: String, count: usize },
    /// `scale` named a service the stack does not have.
    #[error("service `{service}` is not in the stack (services: {known})")]
    UnknownService { service: String, known: String },
    /// A revision file could not be read or written.
    #[error("revision store `{}`: {message}", path.display())]
    Revision { path: PathBuf, message: String },
    /// Any other Engine API failure.
    #[error("docker engine: {context}")]
    Docker {
        context: String,
        source: bollard::errors::Error,
    },
    /// A local I/O failure (log files).
    #[error("failed to write `{}`", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StackError {
    /// A configuration error (exit code 2 in the CLI) rather than an operational one.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            StackError::ComposeRead { .. }
                | StackError::ComposeInvalid { .. }
                | StackError::UnknownService { .. }
        )
    }
}

/// One thing that happened, for progress lines (the engine never prints).
#[derive(Debug, Clone)]
pub enum Event {
    /// A service changed phase (`waiting for postgres`, `creating`, `starting`, `healthy`, …).
    Service {
        service: String,
        phase: String,
        elapsed: Duration,
    },
    /// A note about the project (orphans, reloads, readiness).
    Note(String),
}

/// Where progress goes.
pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

/// How to reach the engine and which project to act on.
#[derive(Clone)]
pub struct Target {
    pub project: String,
    /// Folder holding `revisions/<project>/`.
    pub state_dir: PathBuf,
    pub reporter: Reporter,
}

impl Target {
    pub(crate) fn emit(&self, event: Event) {
        (self.reporter)(event);
    }
}

/// Options of `up`.
#[derive(Clone)]
pub struct UpOptions {
    pub load: LoadOptions,
    /// `SERVICE=N` overrides of the replica count.
    pub scale: Vec<(String, u32)>,
    /// Deadline for the whole convergence including readiness.
    pub timeout: Duration,
    /// Probed through the load balancer once every service is healthy (`None` to skip).
    pub ready: Option<Probe>,
}

/// An HTTP readiness probe through a service's first published port.
#[derive(Debug, Clone)]
pub struct Probe {
    pub service: String,
    pub path: String,
}

impl Probe {
    /// `GET /api/v1/ready` through nginx: the stack takes deposits end to end.
    pub fn nginx_ready() -> Probe {
        Probe {
            service: "nginx".to_owned(),
            path: "/api/v1/ready".to_owned(),
        }
    }

    /// The URL on the published address, when the service publishes a port.
    pub fn url(&self, spec: &ProjectSpec) -> Option<String> {
        let port = spec.services.get(&self.service)?.ports.first()?;
        let host = if port.host_ip == "0.0.0.0" {
            "127.0.0.1"
        } else {
            &port.host_ip
        };
        Some(format!("http://{host}:{}{}", port.host_port, self.path))
    }
}
