//! B1 and B2: the load engine against `wrk` and `oha`, and its memory over a long max-rate run.
//!
//! B1: one local target (nginx answering `200 ok` from memory, one worker) pinned to core 0, each
//! generator pinned to core 1 with `taskset`, the same connections and duration, rounds
//! alternating the order; the table shows each generator's median requests/s and cricalgo's
//! ratio to each peer (bar: ≥ 1.0).
//!
//! B2: cricalgo at max rate for a long run; RSS sampled every second from `/proc`; growth from the
//! first minute to the end (bar: < 10 %) and the peak (bar: < 64 MiB).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::util;

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Rounds of B1 (each round runs every generator once).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per B1 run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Connections (VUs) for every generator.
    #[arg(long, default_value_t = 50)]
    connections: u64,
    /// Seconds of the B2 memory run (0 skips B2).
    #[arg(long, default_value_t = 150)]
    memory_secs: u64,
    /// `oha` binary (default: on PATH, else `target/bench-tools/bin/oha`, installed with
    /// `cargo install oha --locked --root target/bench-tools` when missing).
    #[arg(long)]
    oha: Option<PathBuf>,
    /// Skip building the release binary (use the one in `target/release`).
    #[arg(long)]
    no_build: bool,
}

struct Target {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// nginx with one worker answering `200 ok` from memory, pinned to core 0.
fn start_target(root: &Path) -> anyhow::Result<Target> {
    let port = free_port()?;
    let dir = root.join("target/bench-loadgen-nginx");
    std::fs::create_dir_all(dir.join("logs"))?;
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log {dir}/logs/error.log crit;\npid {dir}/nginx.pid;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 10000000;\n  keepalive_timeout 120s;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  server {{\n    listen 127.0.0.1:{port} reuseport;\n    location / {{ return 200 'ok'; }}\n  }}\n}}\n",
        dir = dir.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = Command::new("taskset")
        .args(["-c", "0", "nginx", "-c"])
        .arg(&conf_path)
        .arg("-p")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to start nginx (install the `nginx-light` Debian package)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nginx did not listen on 127.0.0.1:{port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Target {
        child,
        port,
        _dir: dir,
    })
}

fn find_oha(root: &Path, given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("oha"))
            .find(|p| p.is_file())
    }) {
        return Ok(path);
    }
    let tools = root.join("target/bench-tools");
    let local = tools.join("bin/oha");
    if !local.is_file() {
        util::cmd(
            "cargo",
            &[
                "install",
                "oha",
                "--locked",
                "--root",
                tools.to_str().context("tools path is not UTF-8")?,
            ],
        )?;
    }
    Ok(local)
}

/// Runs `command` and returns its stdout; fails with its stderr.
fn output(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run {command:?}"))?;
    if !out.status.success() && out.status.code() != Some(99) {
        bail!(
            "{command:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pinned(program: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", "1"]).arg(program);
    command
}

fn run_cricalgo(
    cricalgo: &Path,
    url: &str,
    conns: u64,
    secs: u64,
    out: &Path,
) -> anyhow::Result<f64> {
    let _ = std::fs::remove_dir_all(out);
    output(
        pinned(cricalgo)
            .args(["perf", "run", "--url", url, "--vus"])
            .arg(conns.to_string())
            .arg("--duration")
            .arg(format!("{secs}s"))
            .arg("--out")
            .arg(out),
    )?;
    let text = std::fs::read_to_string(out.join("summary.json"))?;
    let summary: serde_json::Value = serde_json::from_str(&text)?;
    let failed = summary["metrics"]["http_req_failed"]["passes"]
        .as_f64()
        .unwrap_or(0.0);
    if failed > 0.0 {
        bail!("cricalgo saw {failed} failed requests against the bench target");
    }
    summary["metrics"]["http_reqs"]["rate"]
        .as_f64()
        .context("summary.json has no `http_reqs.rate`")
}

fn run_wrk(url: &str, conns: u64, secs: u64) -> anyhow::Result<f64> {
    let text = output(
        pinned(Path::new("wrk"))
            .args(["-t1", "-c"])
            .arg(conns.to_string())
            .arg("-d")
            .arg(format!("{secs}s"))
            .arg(url),
    )?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("wrk saw errors against the bench target:\n{text}");
    }
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no `Requests/sec:` in wrk's output:\n{text}"))
}

fn run_oha(oha: &Path, url: &str, conns: u64, secs: u64) -> anyhow::Result<f64> {
    let text = output(
        pinned(oha)
            .args(["--no-tui", "-c"])
            .arg(conns.to_string())
            .arg("-z")
            .arg(format!("{secs}s"))
            .arg(url),
    )?;
    text.lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no `Requests/sec:` in oha's output:\n{text}"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let root = util::root();
    if !args.no_build {
        util::cmd("cargo", &["build", "--release", "-p", "cricalgo"])?;
    }
    let cricalgo = root.join("target/release/cricalgo");
    let oha = find_oha(&root, args.oha.clone())?;
    let target = start_target(&root)?;
    let url = format!("http://127.0.0.1:{}/", target.port);
    let scratch = root.join("target/bench-loadgen-runs");
    std::fs::create_dir_all(&scratch)?;
    let (conns, secs) = (args.connections, args.secs);
    eprintln!(
        "B1: target nginx (1 worker) on core 0, generators on core 1, {conns} connections, {secs} s, {} rounds",
        args.rounds
    );
    let mut native = Vec::new();
    let mut wrk = Vec::new();
    let mut oha_rps = Vec::new();
    for round in 0..args.rounds {
        // Rotate the order so no generator always runs first (warm caches, thermal state).
        for slot in 0..3 {
            match (slot + round) % 3 {
                0 => native.push(run_cricalgo(
                    &cricalgo,
                    &url,
                    conns,
                    secs,
                    &scratch.join("b1"),
                )?),
                1 => wrk.push(run_wrk(&url, conns, secs)?),
                _ => oha_rps.push(run_oha(&oha, &url, conns, secs)?),
            }
        }
        eprintln!(
            "  round {}: cricalgo {:.0}/s, wrk {:.0}/s, oha {:.0}/s",
            round + 1,
            native.last().copied().unwrap_or(0.0),
            wrk.last().copied().unwrap_or(0.0),
            oha_rps.last().copied().unwrap_or(0.0)
        );
    }
    let (m_native, m_wrk, m_oha) = (median(&native), median(&wrk), median(&oha_rps));

    let mut b2 = serde_json::Value::Null;
    if args.memory_secs > 0 {
        eprintln!(
            "B2: cricalgo at max rate for {} s, RSS every second",
            args.memory_secs
        );
        let out = scratch.join("b2");
        let _ = std::fs::remove_dir_all(&out);
        let mut child = pinned(&cricalgo)
            .args(["perf", "run", "--url", &url, "--vus"])
            .arg(conns.to_string())
            .arg("--duration")
            .arg(format!("{}s", args.memory_secs))
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // `taskset` execs the program, so the pid is cricalgo's.
        let pid = child.id();
        let started = Instant::now();
        let mut samples: Vec<(f64, u64)> = Vec::new();
        while child.try_wait()?.is_none() {
            if let Some(kib) = rss_kib(pid) {
                samples.push((started.elapsed().as_secs_f64(), kib));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let after_minute = samples
            .iter()
            .find(|(t, _)| *t >= 60.0)
            .map(|(_, kib)| *kib)
            .unwrap_or(0);
        let end = samples.last().map(|(_, kib)| *kib).unwrap_or(0);
        let peak = samples.iter().map(|(_, kib)| *kib).max().unwrap_or(0);
        let growth = if after_minute > 0 {
            (end as f64 - after_minute as f64) / after_minute as f64 * 100.0
        } else {
            0.0
        };
        b2 = serde_json::json!({
            "secs": args.memory_secs,
            "rss_after_first_minute_mib": after_minute as f64 / 1024.0,
            "rss_end_mib": end as f64 / 1024.0,
            "rss_peak_mib": peak as f64 / 1024.0,
            "growth_percent": growth,
            "flat": growth < 10.0,
            "under_64_mib": (peak as f64 / 1024.0) < 64.0,
            "samples_kib": samples.iter().map(|(t, kib)| serde_json::json!([t.round(), kib])).collect::<Vec<_>>(),
        });
    }
    drop(target);

    println!(
        "B1 loadgen: requests/s, median of {} rounds ({conns} connections, {secs} s, target and generator pinned to separate cores)",
        args.rounds
    );
    println!("| generator | median req/s | runs | cricalgo ratio |");
    println!("|---|---|---|---|");
    println!(
        "| cricalgo | {m_native:.0} | {:?} | 1.00 |",
        native.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
    println!(
        "| wrk | {m_wrk:.0} | {:?} | {:.2} |",
        wrk.iter().map(|v| v.round()).collect::<Vec<_>>(),
        m_native / m_wrk
    );
    println!(
        "| oha | {m_oha:.0} | {:?} | {:.2} |",
        oha_rps.iter().map(|v| v.round()).collect::<Vec<_>>(),
        m_native / m_oha
    );
    if !b2.is_null() {
        println!(
            "B2 memory: RSS after 1 min {:.1} MiB, at end {:.1} MiB, peak {:.1} MiB, growth {:.1} %",
            b2["rss_after_first_minute_mib"].as_f64().unwrap_or(0.0),
            b2["rss_end_mib"].as_f64().unwrap_or(0.0),
            b2["rss_peak_mib"].as_f64().unwrap_or(0.0),
            b2["growth_percent"].as_f64().unwrap_or(0.0)
        );
    }
    let report = serde_json::json!({
        "bench": "loadgen",
        "at": chrono::Utc::now().to_rfc3339(),
        "conditions": {
            "target": "nginx, 1 worker, `return 200 'ok'`, pinned to core 0",
            "generators_core": 1,
            "connections": conns,
            "secs": secs,
            "rounds": args.rounds,
        },
        "b1": {
            "cricalgo_rps": native,
            "wrk_rps": wrk,
            "oha_rps": oha_rps,
            "median": { "cricalgo": m_native, "wrk": m_wrk, "oha": m_oha },
            "ratio": { "vs_wrk": m_native / m_wrk, "vs_oha": m_native / m_oha },
        },
        "b2": b2,
    });
    let artifacts = root.join("artifacts");
    std::fs::create_dir_all(&artifacts)?;
    let path = artifacts.join(format!(
        "bench_loadgen_{}.json",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    let mut file = std::fs::File::create(&path)?;
    file.write_all(serde_json::to_string_pretty(&report)?.as_bytes())?;
    file.write_all(b"\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
