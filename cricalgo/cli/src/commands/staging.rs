//! `cricalgo staging`: the staging stack through the Docker Engine API.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cricalgo_stack::{
    Event, LoadOptions, LogOptions, Probe, StackError, Target, UpOptions, UpReport,
};

use crate::Exit;
use crate::exit::usage;

/// The compose file, relative to the repository root.
pub const COMPOSE_FILE: &str = "compose/docker-compose.staging.yml";

/// The nginx-fronted staging stack, through the Docker Engine API.
///
/// The project name comes from `CRICALGO_PROJECT` (default `cricalgo`), revisions are kept under
/// `CRICALGO_STATE_DIR` (default `<repository>/.cricalgo`), the Docker daemon from `DOCKER_HOST`
/// (default `unix:///var/run/docker.sock`).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask images && cricalgo staging up\n  cricalgo staging scale worker=2\n  cricalgo staging logs app1 nginx --follow --since 10m\n  cricalgo staging down --volumes\n\nExit codes: 0 success, 1 operational error (Docker unreachable, stack unhealthy), 2 invalid compose file or flag, 130 interrupted."
)]
pub struct StagingArgs {
    #[command(subcommand)]
    command: StagingCommand,
}

#[derive(Debug, Subcommand)]
enum StagingCommand {
    /// Create or converge the stack; returns when every service is healthy and nginx answers
    /// `GET /api/v1/ready` with 200.
    #[command(after_help = "Example:\n  cricalgo staging up --scale worker=6 --timeout 240s")]
    Up(UpArgs),
    /// Remove this project's containers and network (and volumes with `--volumes`).
    #[command(after_help = "Example:\n  cricalgo staging down --volumes")]
    Down {
        /// Also remove the project's named volumes (Postgres data).
        #[arg(long)]
        volumes: bool,
    },
    /// Service, container, state, health, ports, image and revision of every container.
    #[command(after_help = "Example:\n  cricalgo staging status --json | jq '.[].health'")]
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Container logs, prefixed with the container name.
    #[command(after_help = "Example:\n  cricalgo staging logs worker --tail 50 --follow")]
    Logs {
        /// Services to show (all when none).
        services: Vec<String>,
        /// Keep streaming, including containers that start later.
        #[arg(long)]
        follow: bool,
        /// Last N lines per container.
        #[arg(long)]
        tail: Option<u64>,
        /// Only lines newer than this (`10m`, `30s`).
        #[arg(long)]
        since: Option<String>,
    },
    /// Change replica counts of the running revision (`SVC=N`).
    #[command(after_help = "Example:\n  cricalgo staging scale worker=2")]
    Scale {
        /// `SERVICE=N` pairs.
        #[arg(required = true)]
        changes: Vec<String>,
        #[command(flatten)]
        file: FileArgs,
        /// Deadline for convergence and health.
        #[arg(long, default_value = "180s")]
        timeout: String,
    },
}

#[derive(Debug, Args)]
pub struct FileArgs {
    /// Compose file (default: `compose/docker-compose.staging.yml` of the repository).
    #[arg(short = 'f', long = "file", env = "CRICALGO_COMPOSE_FILE")]
    pub file: Option<PathBuf>,
    /// Variables file (default: `.env` beside the compose file).
    #[arg(long)]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    file: FileArgs,
    /// Build the local images first (`cargo xtask images`).
    #[arg(long)]
    build: bool,
    /// Replica count override, `SERVICE=N` (repeatable).
    #[arg(long = "scale")]
    scale: Vec<String>,
    /// Deadline for convergence, health and readiness.
    #[arg(long, default_value = "180s")]
    timeout: String,
}

pub async fn run(args: StagingArgs) -> anyhow::Result<Exit> {
    let target = target();
    match args.command {
        StagingCommand::Up(up) => {
            let timeout = parse_timeout(&up.timeout)?;
            let options = up_options(&up.file, parse_scale(&up.scale)?, timeout, true)?;
            if up.build {
                build_images(&options.load.file)?;
            }
            interruptible(async {
                let report = cricalgo_stack::up(&target, &options)
                    .await
                    .map_err(stack_error)?;
                print_report(&report, "up");
                Ok(Exit::Success)
            })
            .await
        }
        StagingCommand::Scale {
            changes,
            file,
            timeout,
        } => {
            let timeout = parse_timeout(&timeout)?;
            let changes = parse_scale(&changes)?;
            // The running revision is scaled; the file is read only when none is recorded yet.
            let options = up_options(&file, Vec::new(), timeout, false)?;
            interruptible(async {
                let report = cricalgo_stack::scale(&target, &options, &changes)
                    .await
                    .map_err(stack_error)?;
                print_report(&report, "scale");
                Ok(Exit::Success)
            })
            .await
        }
        StagingCommand::Down { volumes } => {
            let report = cricalgo_stack::down(&target, volumes)
                .await
                .map_err(stack_error)?;
            eprintln!(
                "removed {} containers, {} networks, {} volumes of project `{}`",
                report.containers.len(),
                report.networks.len(),
                report.volumes.len(),
                target.project
            );
            Ok(Exit::Success)
        }
        StagingCommand::Status { json } => {
            let rows = cricalgo_stack::status(&target).await.map_err(stack_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("project `{}` has no containers", target.project);
            } else {
                print_status(&rows);
            }
            Ok(Exit::Success)
        }
        StagingCommand::Logs {
            services,
            follow,
            tail,
            since,
        } => {
            let since = since
                .map(|text| {
                    cricalgo_stack::compose::parse_duration(&text)
                        .map_err(|message| usage(anyhow::anyhow!("invalid `--since`: {message}")))
                })
                .transpose()?;
            let options = LogOptions {
                services,
                follow,
                tail,
                since,
                sink: Arc::new(|container: &str, line: &str| {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{container:<22} | {line}");
                }),
            };
            interruptible(async {
                cricalgo_stack::logs(&target, options)
                    .await
                    .map_err(stack_error)?;
                Ok(Exit::Success)
            })
            .await
        }
    }
}

/// `cricalgo rollback --compose`: re-converge to the previous revision and wait for health
/// through nginx again; refuses (exit 1) when there is no earlier revision.
pub async fn rollback(timeout: Duration) -> anyhow::Result<Exit> {
    let target = target();
    interruptible(async {
        let report = cricalgo_stack::rollback(&target, timeout, Some(&Probe::nginx_ready()))
            .await
            .map_err(stack_error)?;
        print_report(&report, "rollback");
        Ok(Exit::Success)
    })
    .await
}

/// Ctrl-C stops the command; an interrupted `up` leaves containers the next `up` converges from.
async fn interruptible(
    work: impl std::future::Future<Output = anyhow::Result<Exit>>,
) -> anyhow::Result<Exit> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("cricalgo: interrupted; run the same command again to converge from where it stopped");
            Ok(Exit::Interrupted)
        }
    }
}

/// Maps library errors to exit codes: configuration problems exit 2, the rest 1.
pub fn stack_error(err: StackError) -> anyhow::Error {
    if err.is_config() {
        usage(err)
    } else {
        err.into()
    }
}

/// The repository root: the nearest folder at or above the working directory holding the compose
/// file (else the working directory).
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join(COMPOSE_FILE).is_file())
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

/// The project this process acts on, with progress lines on stderr.
pub fn target() -> Target {
    let project = std::env::var("CRICALGO_PROJECT")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "cricalgo".to_owned());
    let state_dir = std::env::var_os("CRICALGO_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cricalgo"));
    Target {
        project,
        state_dir,
        reporter: Arc::new(|event| match event {
            Event::Service {
                service,
                phase,
                elapsed,
            } => eprintln!("[{:>6.1}s] {service:<12} {phase}", elapsed.as_secs_f64()),
            Event::Note(note) => eprintln!("          {note}"),
        }),
    }
}

/// Load and readiness options from the file flags.
pub fn up_options(
    file: &FileArgs,
    scale: Vec<(String, u32)>,
    timeout: Duration,
    required: bool,
) -> anyhow::Result<UpOptions> {
    let path = file
        .file
        .clone()
        .unwrap_or_else(|| repo_root().join(COMPOSE_FILE));
    if required && !path.is_file() {
        return Err(usage(anyhow::anyhow!(
            "compose file `{}` not found; run from the repository or pass `-f FILE`",
            path.display()
        )));
    }
    Ok(UpOptions {
        load: LoadOptions {
            file: path,
            env_file: file.env_file.clone(),
            project: String::new(),
            environment: std::env::vars().collect::<HashMap<_, _>>(),
        },
        scale,
        timeout,
        ready: Some(Probe::nginx_ready()),
    })
}

fn parse_timeout(text: &str) -> anyhow::Result<Duration> {
    cricalgo_stack::compose::parse_duration(text)
        .map_err(|message| usage(anyhow::anyhow!("invalid `--timeout`: {message}")))
}

fn parse_scale(pairs: &[String]) -> anyhow::Result<Vec<(String, u32)>> {
    pairs
        .iter()
        .map(|pair| {
            let (service, count) = pair.split_once('=').ok_or_else(|| {
                usage(anyhow::anyhow!(
                    "`{pair}` is not `SERVICE=N` (e.g. `worker=2`)"
                ))
            })?;
            let count: u32 = count.parse().map_err(|_| {
                usage(anyhow::anyhow!(
                    "`{count}` in `{pair}` is not a replica count"
                ))
            })?;
            Ok((service.to_owned(), count))
        })
        .collect()
}

fn build_images(compose_file: &Path) -> anyhow::Result<()> {
    let root = compose_file
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(repo_root);
    eprintln!("$ cargo xtask images");
    let status = std::process::Command::new("cargo")
        .args(["xtask", "images"])
        .current_dir(&root)
        .status()
        .context("failed to run `cargo xtask images` (`--build` needs the repository and cargo)")?;
    anyhow::ensure!(
        status.success(),
        "`cargo xtask images` failed with {status}"
    );
    Ok(())
}

fn print_report(report: &UpReport, verb: &str) {
    for service in &report.services {
        let names: Vec<String> = service
            .replicas
            .iter()
            .map(|(container, outcome)| {
                format!(
                    "{container} ({})",
                    serde_json::to_value(outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                )
            })
            .collect();
        eprintln!("  {:<12} {}", service.service, names.join(", "));
    }
    let revision = if report.new_revision {
        format!("recorded revision {}", report.revision)
    } else {
        format!("revision {} (unchanged)", report.revision)
    };
    println!(
        "staging {verb}: project `{}` healthy in {:.1}s, {revision}{}",
        report.project,
        report.elapsed_ms as f64 / 1000.0,
        if report.unchanged() {
            ", nothing changed"
        } else {
            ""
        }
    );
}

fn print_status(rows: &[cricalgo_stack::ContainerStatus]) {
    let header = [
        "SERVICE",
        "CONTAINER",
        "STATE",
        "HEALTH",
        "PORTS",
        "IMAGE",
        "REVISION",
    ];
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            [
                row.service.clone(),
                row.container.clone(),
                row.state.clone(),
                row.health.clone(),
                if row.ports.is_empty() {
                    "-".into()
                } else {
                    row.ports.join(",")
                },
                row.image.clone(),
                row.revision.map_or("-".into(), |r| r.to_string()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &table {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(header.to_vec()));
    for row in &table {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}
