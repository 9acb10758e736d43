//! `cricalgo k8s`: apply the Kubernetes manifests and show their status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets};
use cricalgo_k8s::cluster::{self, ApplyOptions, WaitOptions};
use cricalgo_k8s::manifests::{self, Manifest};
use cricalgo_k8s::status::StatusReport;

use crate::Exit;
use crate::exit::usage;

/// The manifest folder, relative to the repository root.
pub const K8S_DIR: &str = "k8s";
/// The namespace when neither `--namespace` nor the kustomization names one.
pub const DEFAULT_NAMESPACE: &str = "cricalgo-staging";
/// How long the API server gets to answer the first request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Apply the Kubernetes manifests and show their status.
///
/// The cluster is the one kube resolves: `KUBECONFIG` (or `~/.kube/config`) and its current
/// context, else the in-cluster service account. Nothing shells out to kubectl.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cricalgo k8s apply --dry-run\n  cricalgo k8s apply --namespace cricalgo-dev\n  cricalgo k8s status --json | jq '.deployments'\n\nExit codes: 0 success, 1 no cluster reachable, API error or failed rollout, 2 invalid manifests or flags, 130 interrupted."
)]
pub struct K8sArgs {
    #[command(subcommand)]
    command: K8sCommand,
}

#[derive(Debug, Subcommand)]
enum K8sCommand {
    /// Server-side apply every manifest of `k8s/kustomization.yaml` (field manager `cricalgo`),
    /// then wait for each Deployment's rollout like `kubectl rollout status`.
    #[command(
        after_help = "Example:\n  cricalgo k8s apply --namespace cricalgo-staging --timeout 10m"
    )]
    Apply(ApplyArgs),
    /// Deployments (desired/updated/available, revision), HPAs (current/desired, metrics) and
    /// recent events.
    #[command(after_help = "Example:\n  cricalgo k8s status --namespace cricalgo-staging")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// Deploy into this namespace instead of the manifests' own (the Namespace object is renamed).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Server-side dry run: the API server validates and defaults every object, nothing is stored
    /// and no rollout is awaited.
    #[arg(long)]
    dry_run: bool,
    /// The manifest folder (holding kustomization.yaml).
    #[arg(long, env = "CRICALGO_K8S_DIR")]
    dir: Option<PathBuf>,
    /// How long to wait for each rollout (`90s`, `10m`).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The namespace (default: the manifests' namespace).
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// The manifest folder, to find the default namespace.
    #[arg(long, env = "CRICALGO_K8S_DIR")]
    dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// `90s`, `10m`, `1h` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. `90s` or `10m`"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => {
            return Err(format!(
                "`{text}` is not a duration; use e.g. `90s` or `10m`"
            ));
        }
    };
    if seconds == 0 {
        return Err("the duration must be longer than 0s".to_owned());
    }
    Ok(Duration::from_secs(seconds))
}

pub async fn run(args: K8sArgs) -> anyhow::Result<Exit> {
    match args.command {
        K8sCommand::Apply(args) => interruptible(apply(args)).await,
        K8sCommand::Status(args) => status(args).await,
    }
}

/// Stops the command on Ctrl-C (exit 130); what was applied stays applied.
pub async fn interruptible(
    work: impl std::future::Future<Output = anyhow::Result<Exit>>,
) -> anyhow::Result<Exit> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("cricalgo: interrupted; the cluster keeps whatever was already sent to it");
            Ok(Exit::Interrupted)
        }
    }
}

/// The manifest folder: the flag, else `k8s/` at the repository root.
pub fn manifest_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| super::staging::repo_root().join(K8S_DIR))
}

/// Reads and checks the manifests (a broken manifest is a usage error: exit 2).
pub fn load_manifests(dir: &Path, namespace: Option<&str>) -> anyhow::Result<Vec<Manifest>> {
    let loaded = manifests::load(dir)
        .map_err(usage)
        .with_context(|| format!("failed to read the manifests in `{}`", dir.display()))?;
    match namespace {
        Some(namespace) => Ok(manifests::retarget(&loaded, namespace).map_err(usage)?),
        None => Ok(loaded),
    }
}

/// The namespace to act on: the flag, else the manifests', else `cricalgo-staging`.
pub fn namespace(flag: Option<String>, dir: &Path) -> String {
    flag.or_else(|| {
        manifests::read_kustomization(dir)
            .ok()
            .and_then(|k| k.namespace)
    })
    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

async fn apply(args: ApplyArgs) -> anyhow::Result<Exit> {
    let dir = manifest_dir(args.dir);
    let manifests = load_manifests(&dir, args.namespace.as_deref())?;
    let client = cluster::connect(CONNECT_TIMEOUT).await?;
    let applied = cluster::apply(
        &client,
        &manifests,
        ApplyOptions {
            dry_run: args.dry_run,
        },
    )
    .await?;
    let how = if args.dry_run {
        "validated (server-side dry run, nothing stored)"
    } else {
        "applied (server-side, field manager `cricalgo`)"
    };
    for name in &applied {
        println!("{name} {how}");
    }
    if args.dry_run {
        return Ok(Exit::Success);
    }
    cluster::check_secrets(&client, &manifests).await?;
    let wait = WaitOptions {
        timeout: args.timeout,
        ..WaitOptions::default()
    };
    for deployment in manifests.iter().filter(|m| m.kind() == "Deployment") {
        let namespace = deployment.namespace().unwrap_or(DEFAULT_NAMESPACE);
        cluster::wait_for_rollout(&client, namespace, deployment.name(), wait, &mut |line| {
            println!("{line}")
        })
        .await?;
    }
    Ok(Exit::Success)
}

async fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let dir = manifest_dir(args.dir);
    let namespace = namespace(args.namespace, &dir);
    let client = cluster::connect(CONNECT_TIMEOUT).await?;
    let report = cluster::status(&client, &namespace).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_status(&report));
    }
    Ok(Exit::Success)
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.to_vec());
    table
}

/// The status as three plain tables.
pub fn render_status(report: &StatusReport) -> String {
    let mut out = format!("namespace {}\n\n", report.namespace);
    if report.deployments.is_empty() {
        out.push_str("no deployments; run `cricalgo k8s apply`\n");
    } else {
        let mut deployments = table(&[
            "DEPLOYMENT",
            "DESIRED",
            "UPDATED",
            "AVAILABLE",
            "REVISION",
            "ROLLOUT",
        ]);
        for row in &report.deployments {
            deployments.add_row(vec![
                row.name.clone(),
                row.desired.to_string(),
                row.updated.to_string(),
                row.available.to_string(),
                row.revision.map_or("-".to_owned(), |r| r.to_string()),
                row.rollout.clone(),
            ]);
        }
        out.push_str(&format!("{deployments}\n"));
    }
    if !report.hpas.is_empty() {
        let mut hpas = table(&[
            "HPA", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "METRICS", "PROBLEMS",
        ]);
        for row in &report.hpas {
            hpas.add_row(vec![
                row.name.clone(),
                row.target.clone(),
                row.min.to_string(),
                row.max.to_string(),
                row.current.to_string(),
                row.desired.to_string(),
                row.metrics.join("; "),
                if row.problems.is_empty() {
                    "-".to_owned()
                } else {
                    row.problems.join("; ")
                },
            ]);
        }
        out.push_str(&format!("\n{hpas}\n"));
    }
    if !report.events.is_empty() {
        let mut events = table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]);
        for row in &report.events {
            events.add_row(vec![
                row.last_seen.clone().unwrap_or_else(|| "-".to_owned()),
                row.kind.clone(),
                row.reason.clone(),
                row.object.clone(),
                row.count.to_string(),
                row.message.clone(),
            ]);
        }
        out.push_str(&format!("\n{events}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_renders_three_plain_tables() {
        use cricalgo_k8s::status::{DeploymentRow, EventRow, HpaRow};
        let report = StatusReport {
            namespace: "cricalgo-staging".into(),
            deployments: vec![DeploymentRow {
                name: "app".into(),
                desired: 4,
                updated: 2,
                available: 3,
                revision: Some(5),
                rollout: "waiting for deployment `app` rollout to finish: 2 out of 4 new replicas have been updated".into(),
            }],
            hpas: vec![HpaRow {
                name: "worker".into(),
                target: "Deployment/worker".into(),
                min: 2,
                max: 10,
                current: 2,
                desired: 3,
                metrics: vec!["cpu: 12% / 60%".into(), "deposit_queue_depth: 55 / 20 (avg)".into()],
                problems: vec![],
            }],
            events: vec![EventRow {
                last_seen: Some("2026-12-01T14:12:30Z".into()),
                kind: "Normal".into(),
                reason: "SuccessfulRescale".into(),
                object: "HorizontalPodAutoscaler/worker".into(),
                message: "New size: 3".into(),
                count: 1,
            }],
        };
        let text = render_status(&report);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines[0], "namespace cricalgo-staging");
        assert!(lines[2].split_whitespace().eq([
            "DEPLOYMENT",
            "DESIRED",
            "UPDATED",
            "AVAILABLE",
            "REVISION",
            "ROLLOUT"
        ]));
        assert!(lines[3].starts_with(" app"), "{text}");
        assert!(
            lines[3].contains(" 4 ") && lines[3].contains(" 5 "),
            "{text}"
        );
        assert!(
            text.contains("deposit_queue_depth: 55 / 20 (avg)"),
            "{text}"
        );
        assert!(text.contains("SuccessfulRescale"), "{text}");
        let empty = StatusReport {
            namespace: "x".into(),
            deployments: vec![],
            hpas: vec![],
            events: vec![],
        };
        assert_eq!(
            render_status(&empty),
            "namespace x\n\nno deployments; run `cricalgo k8s apply`\n"
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
