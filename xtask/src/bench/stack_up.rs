//! B5 `cargo xtask bench stack-up`: `cricalgo staging up` from no containers to all healthy and
//! ready through nginx, against `docker-compose up -d` plus polling until every container is
//! healthy and nginx answers `/api/v1/ready`, on the same file and images, alternating; the median
//! ratio is the result (target ≤ 0.8).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{cmd, root};

const OURS: &str = "cricalgo-bench";
const THEIRS: &str = "cricalgobenchdc";
const NGINX_PORT: &str = "18100";
const PROMETHEUS_PORT: &str = "19190";

#[derive(Debug, Args)]
pub struct StackUpArgs {
    /// Rounds; each round times both sides once, in alternating order.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Per-start deadline in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

pub fn run(args: StackUpArgs) -> anyhow::Result<()> {
    let root = root();
    let file = root.join("compose/docker-compose.staging.yml");
    anyhow::ensure!(
        root.join("compose/.env").is_file(),
        "`compose/.env` is missing: run `cargo xtask images` first"
    );
    cmd("cargo", &["build", "--release", "-p", "cricalgo"])?;
    let cricalgo = root.join("target/release/cricalgo");
    let state = root.join("target/bench-stack-up");
    let timeout = Duration::from_secs(args.timeout);

    teardown(&cricalgo, &state, &file)?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..args.rounds {
        // Alternate which side goes first so warm caches favour neither.
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            let elapsed = if side == 0 {
                time_ours(&cricalgo, &state, &file, timeout)?
            } else {
                time_theirs(&file, timeout)?
            };
            eprintln!(
                "round {}: {} {:.2}s",
                round + 1,
                if side == 0 {
                    "cricalgo staging up"
                } else {
                    "docker-compose up -d + poll"
                },
                elapsed.as_secs_f64()
            );
            if side == 0 { &mut ours } else { &mut theirs }.push(elapsed.as_secs_f64());
            teardown(&cricalgo, &state, &file)?;
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let (ours_median, theirs_median) = (median(&ours), median(&theirs));
    let ratio = ours_median / theirs_median;
    println!("| side | runs (s) | median (s) |");
    println!("|---|---|---|");
    let runs = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| cricalgo staging up | {} | {ours_median:.2} |",
        runs(&ours)
    );
    println!(
        "| docker-compose up -d + poll | {} | {theirs_median:.2} |",
        runs(&theirs)
    );
    println!(
        "B5 ratio (cricalgo / docker-compose, medians): {ratio:.2} (target <= 0.80: {})",
        if ratio <= 0.8 { "met" } else { "NOT met" }
    );
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let out = root.join(format!("artifacts/bench_stack-up_{stamp}.json"));
    std::fs::create_dir_all(root.join("artifacts"))?;
    let json = serde_json::json!({
        "bench": "stack-up",
        "id": "B5",
        "rounds": args.rounds,
        "cricalgo_seconds": ours,
        "docker_compose_seconds": theirs,
        "cricalgo_median_seconds": ours_median,
        "docker_compose_median_seconds": theirs_median,
        "ratio": ratio,
        "target": 0.8,
        "met": ratio <= 0.8,
        "conditions": "same compose file and local images; from no containers to every container healthy and GET /api/v1/ready through nginx = 200; volumes removed between runs",
    });
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn ours_command(cricalgo: &Path, state: &Path) -> Command {
    let mut command = Command::new(cricalgo);
    command
        .env("CRICALGO_PROJECT", OURS)
        .env("CRICALGO_STATE_DIR", state)
        .env("NGINX_PORT", NGINX_PORT)
        .env("PROMETHEUS_PORT", PROMETHEUS_PORT)
        .stdin(Stdio::null());
    command
}

fn compose_command(file: &Path) -> Command {
    let mut command = Command::new("docker-compose");
    command
        .args(["-p", THEIRS, "-f"])
        .arg(file)
        .env("NGINX_PORT", NGINX_PORT)
        .env("PROMETHEUS_PORT", PROMETHEUS_PORT)
        .stdin(Stdio::null());
    command
}

fn quiet(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("failed to run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn teardown(cricalgo: &Path, state: &Path, file: &Path) -> anyhow::Result<()> {
    let mut down = ours_command(cricalgo, state);
    down.args(["staging", "down", "--volumes"]);
    quiet(down, "`cricalgo staging down --volumes`")?;
    let mut down = compose_command(file);
    down.args(["down", "-v", "--remove-orphans"]);
    quiet(down, "`docker-compose down -v`")?;
    let _ = std::fs::remove_dir_all(state);
    Ok(())
}

fn time_ours(
    cricalgo: &Path,
    state: &Path,
    file: &Path,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let mut up = ours_command(cricalgo, state);
    up.args(["staging", "up", "-f"])
        .arg(file)
        .args(["--timeout", &format!("{}s", timeout.as_secs())]);
    let started = Instant::now();
    quiet(up, "`cricalgo staging up`")?;
    Ok(started.elapsed())
}

fn time_theirs(file: &Path, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut up = compose_command(file);
    up.args(["up", "-d"]);
    quiet(up, "`docker-compose up -d`")?;
    let filter = format!("label=com.docker.compose.project={THEIRS}");
    loop {
        let output = Command::new("docker")
            .args(["ps", "-a", "--filter", &filter, "--format", "{{.Status}}"])
            .output()?;
        let statuses = String::from_utf8_lossy(&output.stdout).into_owned();
        let healthy = !statuses.trim().is_empty()
            && statuses
                .lines()
                .all(|s| s.contains("(healthy)") || s.starts_with("Exited (0)"));
        if healthy && ready() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("docker-compose stack not healthy after {timeout:?}:\n{statuses}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET /api/v1/ready` through nginx answers 200.
fn ready() -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(format!("127.0.0.1:{NGINX_PORT}")) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    if stream
        .write_all(b"GET /api/v1/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
