//! `cricalgo staging` against the real Docker engine: clear errors (typo'd key, missing image,
//! unreachable daemon, port taken), and the whole life of a stack — Ctrl-C during `up`, `up`,
//! nginx `/health`, a deposit credited through nginx, a second `up` that changes nothing, scale
//! 4→2, F4 (an app killed under load), rollback, `down --volumes` leaving nothing behind.
//! Needs the images of `cargo xtask images` (CI builds them before the tests).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PROJECT: &str = "cricalgo-e2e";
const NGINX_PORT: u16 = 18000;
const PROMETHEUS_PORT: u16 = 19090;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compose_file() -> PathBuf {
    repo().join("compose/docker-compose.staging.yml")
}

/// The binary with a private project, state folder and ports.
fn cricalgo(project: &str, state: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cricalgo"));
    command
        .env("CRICALGO_PROJECT", project)
        .env("CRICALGO_STATE_DIR", state)
        .env("NGINX_PORT", NGINX_PORT.to_string())
        .env("PROMETHEUS_PORT", PROMETHEUS_PORT.to_string())
        .env_remove("CRICALGO_COMPOSE_FILE")
        .current_dir(state);
    command
}

fn run(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("cricalgo runs")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn up(project: &str, state: &Path, extra: &[&str]) -> Output {
    let mut command = cricalgo(project, state);
    command
        .args(["staging", "up", "-f"])
        .arg(compose_file())
        .args(["--timeout", "300s"])
        .args(extra);
    run(command)
}

#[test]
fn typo_in_compose_file_is_a_usage_error_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(compose_file()).unwrap();
    let typo = original.replacen(
        "    restart: unless-stopped\n",
        "    restart_policy: unless-stopped\n",
        1,
    );
    let compose_dir = dir.path().join("compose");
    std::fs::create_dir_all(&compose_dir).unwrap();
    std::fs::write(compose_dir.join("nginx.conf"), "").unwrap();
    std::fs::create_dir_all(dir.path().join("monitoring/prometheus")).unwrap();
    let file = compose_dir.join("typo.yml");
    std::fs::write(&file, typo).unwrap();
    let mut command = cricalgo("cricalgo-typo", dir.path());
    command.args(["staging", "up", "-f"]).arg(&file);
    let output = run(command);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(all.contains("typo.yml"), "{all}");
    assert!(all.contains("services.postgres"), "{all}");
    assert!(all.contains("restart_policy"), "{all}");
}

#[test]
fn missing_image_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = cricalgo("cricalgo-noimage", dir.path());
    command
        .env("APP_IMAGE", "cricalgo-app:no-such-tag")
        .args(["staging", "up", "-f"])
        .arg(compose_file());
    let output = run(command);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(all.contains("cricalgo-app:no-such-tag"), "{all}");
    assert!(all.contains("cargo xtask images"), "{all}");
}

#[test]
fn unreachable_daemon_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-docker.sock");
    let mut command = cricalgo("cricalgo-nodaemon", dir.path());
    command
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .args(["staging", "status"]);
    let output = run(command);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(all.contains("not reachable"), "{all}");
    assert!(all.contains("no-docker.sock"), "{all}");
}

#[test]
fn taken_port_is_reported_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut command = cricalgo("cricalgo-porttaken", dir.path());
    command
        .env("NGINX_PORT", port.to_string())
        .args(["staging", "up", "-f"])
        .arg(compose_file());
    let output = run(command);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(all.contains(&format!("127.0.0.1:{port}")), "{all}");
    assert!(all.contains("already in use"), "{all}");
    assert!(
        docker_lines(&[
            "ps",
            "-aq",
            "--filter",
            "label=io.cricalgo.project=cricalgo-porttaken"
        ])
        .is_empty()
    );
}

/// `docker …` output lines (the CLI only reads; the engine under test is bollard).
fn docker_lines(args: &[&str]) -> Vec<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// One HTTP/1.1 exchange on a fresh connection: status and body.
fn http(method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", NGINX_PORT)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not HTTP: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn deposit(tx_hash: &str) -> Result<(u16, String), String> {
    let body = format!(
        r#"{{"tx_hash":"{tx_hash}","amount":"12.5","confirmations":6,"metadata":{{"telegram_id":100001}}}}"#
    );
    http("POST", "/api/v1/webhooks/bep20", Some(&body))
}

fn tx_id(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    value["tx_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no tx_id in {body}"))
        .to_owned()
}

fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !check() {
        assert!(
            Instant::now() < until,
            "{what} not reached within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn status_json(state: &Path) -> Vec<serde_json::Value> {
    let mut command = cricalgo(PROJECT, state);
    command.args(["staging", "status", "--json"]);
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn count(rows: &[serde_json::Value], service: &str) -> usize {
    rows.iter().filter(|r| r["service"] == service).count()
}

/// Takes the project down (volumes too) even when an assertion failed half-way.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut command = cricalgo(PROJECT, &self.0);
        command.args(["staging", "down", "--volumes"]);
        let _ = run(command);
    }
}

#[test]
fn staging_stack_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    let _cleanup = Cleanup(state.clone());

    // Ctrl-C during `up`: exit 130, and the next `up` converges from what was left.
    let mut command = cricalgo(PROJECT, &state);
    command
        .args(["staging", "up", "-f"])
        .arg(compose_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let filter = format!("label=io.cricalgo.project={PROJECT}");
    wait_until("a first container", Duration::from_secs(60), || {
        !docker_lines(&["ps", "-aq", "--filter", &filter]).is_empty()
    });
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C during up exits 130");

    let output = up(PROJECT, &state, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("recorded revision 1"),
        "{}",
        text(&output)
    );

    // nginx answers /health itself; a deposit through nginx is accepted and credited.
    assert_eq!(http("GET", "/health", None).unwrap().0, 200);
    let (code, body) = deposit("e2e-first-deposit").unwrap();
    assert_eq!(code, 202, "{body}");
    let id = tx_id(&body);
    wait_until("deposit credited", Duration::from_secs(60), || {
        http("GET", &format!("/api/v1/deposits/{id}"), None)
            .is_ok_and(|(code, body)| code == 200 && body.contains(r#""status":"credited""#))
    });

    // A second `up` changes nothing.
    let output = up(PROJECT, &state, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("nothing changed"),
        "{}",
        text(&output)
    );

    // Scale workers 4 → 2 (a new revision).
    let rows = status_json(&state);
    assert_eq!(count(&rows, "worker"), 4);
    assert!(
        rows.iter()
            .all(|r| r["health"] == "healthy" || r["service"] == "seed"),
        "{rows:?}"
    );
    let mut command = cricalgo(PROJECT, &state);
    command.args(["staging", "scale", "worker=2"]);
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(count(&status_json(&state), "worker"), 2);

    // F4: kill one app under a bounded load through nginx; < 1 % errors, nothing accepted lost.
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(12);
    let mut clients = Vec::new();
    for client in 0..16 {
        let (accepted, errors, sent) = (accepted.clone(), errors.clone(), sent.clone());
        clients.push(std::thread::spawn(move || {
            for n in 0..400 {
                if Instant::now() >= stop_at {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                match deposit(&format!("e2e-f4-{client}-{n}")) {
                    Ok((202, body)) => accepted.lock().unwrap().push(tx_id(&body)),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    wait_until("load running", Duration::from_secs(10), || {
        sent.load(Ordering::Relaxed) > 200
    });
    let killed = Command::new("docker")
        .args(["kill", &format!("{PROJECT}-app2-1")])
        .output()
        .unwrap();
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    for client in clients {
        client.join().unwrap();
    }
    let (sent, errors) = (sent.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    assert!(sent > 500, "only {sent} requests sent");
    assert!(
        (errors as f64) < 0.01 * sent as f64,
        "{errors} errors out of {sent} requests with one app killed"
    );
    let accepted = accepted.lock().unwrap().clone();
    for id in &accepted {
        let (code, body) = http("GET", &format!("/api/v1/deposits/{id}"), None).unwrap();
        assert_eq!(code, 200, "accepted deposit {id} lost: {body}");
    }

    // Rollback to revision 1 (4 workers), healthy again through nginx.
    let mut command = cricalgo(PROJECT, &state);
    command.args(["rollback", "--compose"]);
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output));
    let rows = status_json(&state);
    assert_eq!(count(&rows, "worker"), 4, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["health"] == "healthy" || r["service"] == "seed"),
        "{rows:?}"
    );
    assert_eq!(http("GET", "/api/v1/ready", None).unwrap().0, 200);

    // down --volumes: no container, network or volume of the project is left.
    let mut command = cricalgo(PROJECT, &state);
    command.args(["staging", "down", "--volumes"]);
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output));
    assert!(docker_lines(&["ps", "-aq", "--filter", &filter]).is_empty());
    assert!(docker_lines(&["network", "ls", "-q", "--filter", &filter]).is_empty());
    assert!(docker_lines(&["volume", "ls", "-q", "--filter", &filter]).is_empty());
}
