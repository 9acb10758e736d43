//! B3: webhook capacity, accepted deposits/s through nginx + 3 app processes at a fixed
//! concurrency, against the raw inbox insert (the same SQL through a pool, no HTTP) at the same
//! concurrency, alternating sides for several rounds. The measuring runs in a release-built
//! driver (`services/worker/examples/deposit_bench.rs`); this task builds it, prints the table
//! and writes `artifacts/bench_webhook_<UTC>.json`.

use std::process::Command;

use anyhow::Context;
use clap::Args;

use crate::util::{root, run_with};

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Concurrent senders on each side.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured rounds per side (plus one warm-up round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

pub fn run(args: WebhookArgs) -> anyhow::Result<()> {
    let result = drive(
        "webhook",
        &[
            ("--concurrency", args.concurrency.to_string()),
            ("--rounds", args.rounds.to_string()),
            ("--seconds", args.seconds.to_string()),
        ],
    )?;
    report(
        "webhook",
        result,
        "webhook_via_nginx_3_apps",
        "raw_inbox_insert",
        &format!("B3 at concurrency {}", args.concurrency),
    )
}

/// Builds the release binaries and the driver, runs `driver <bench> <args>` and parses the JSON
/// it prints.
pub(super) fn drive(bench: &str, args: &[(&str, String)]) -> anyhow::Result<serde_json::Value> {
    for var in ["CRICALGO_TEST_DATABASE_URL", "CRICALGO_TEST_REDIS_URL"] {
        if std::env::var(var).is_err() {
            anyhow::bail!(
                "`{var}` is not set; the benchmark needs a Postgres and a Redis (see `.ci/run`)"
            );
        }
    }
    run_with(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "cricalgo-webhook",
        "-p",
        "cricalgo-worker",
        "--bins",
        "--example",
        "deposit_bench",
    ]))?;
    let target = root().join("target").join("release");
    let mut command = Command::new(target.join("examples").join("deposit_bench"));
    command.arg(bench).arg("--bin-dir").arg(&target);
    for (flag, value) in args {
        command.arg(flag).arg(value);
    }
    let output = command
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("failed to run the benchmark driver")?;
    if !output.status.success() {
        anyhow::bail!("the benchmark driver failed with {}", output.status);
    }
    serde_json::from_slice(&output.stdout).context("the benchmark driver printed no JSON result")
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Adds medians and the ratio to the driver's result, prints the table, writes the artifact.
pub(super) fn report(
    name: &str,
    mut result: serde_json::Value,
    ours: &str,
    peer: &str,
    title: &str,
) -> anyhow::Result<()> {
    let rounds = |side: &str| -> Vec<f64> {
        result["sides"][side]["rounds"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(serde_json::Value::as_f64)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ours_rounds, peer_rounds) = (rounds(ours), rounds(peer));
    let (ours_median, peer_median) = (median(&ours_rounds), median(&peer_rounds));
    let ratio = if peer_median > 0.0 {
        ours_median / peer_median
    } else {
        0.0
    };
    let target = result["target_ratio"].as_f64().unwrap_or(0.0);
    result["sides"][ours]["median"] = ours_median.into();
    result["sides"][peer]["median"] = peer_median.into();
    result["ratio"] = ratio.into();
    result["meets_target"] = (ratio >= target).into();
    let now = chrono::Utc::now();
    result["measured_at"] = now.to_rfc3339().into();
    println!("{title}");
    println!("{:<28} {:>12} rounds", "side", "median/s");
    for (side, values, median) in [
        (ours, &ours_rounds, ours_median),
        (peer, &peer_rounds, peer_median),
    ] {
        let list: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
        println!("{side:<28} {median:>12.0} {}", list.join(" "));
    }
    println!("ratio {ratio:.2} (target >= {target})");
    let folder = root().join("artifacts");
    std::fs::create_dir_all(&folder).context("failed to create `artifacts/`")?;
    let path = folder.join(format!(
        "bench_{name}_{}.json",
        now.format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::write(&path, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
