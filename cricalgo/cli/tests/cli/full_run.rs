//! `cricalgo perf full-run` and `perf compare`: the built binary end to end.
//!
//! - against the real services started here on free ports (Postgres and Redis from
//!   `CRICALGO_TEST_DATABASE_URL` / `CRICALGO_TEST_REDIS_URL`), with `--no-stack`: a passed run, a
//!   failed run, an interrupted run, `perf check` and `perf compare` on their folders, and no
//!   secret (webhook secret, a database role's password) anywhere in a folder;
//! - on the real staging stack through Docker (its own project and ports): every file of the
//!   artifacts spec, checksums, one verdict everywhere, the report in headless chromium.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cricalgo_report::audit::{FolderKind, audit, files_containing};

const WEBHOOK_SECRET: &str = "whsec-fullrun-3f9c27d1b8";

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_cricalgo"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn service_bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "`{}` is missing: build it with `cargo build --bins` in the same profile (CI builds every binary first)",
        path.display()
    );
    path
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("`{name}` is not set: export it (see `.ci/run`) to run the full-run tests")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check() {
        assert!(
            Instant::now() < end,
            "{what} did not happen within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn psql(admin_url: &str, sql: &str) {
    let output = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("`psql` runs (Debian's postgresql-client, installed by .ci/run)");
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The webhook and the worker on free ports, on a fresh database owned by a role with its own
/// password; stopped on drop.
struct Services {
    children: Vec<Child>,
    port: u16,
    db_password: String,
    admin_url: String,
    database: String,
    role: String,
}

impl Services {
    fn start() -> Services {
        let admin_url = env_var("CRICALGO_TEST_DATABASE_URL");
        let redis_url = env_var("CRICALGO_TEST_REDIS_URL");
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("fullrun_{}", &suffix[..12]);
        let role = format!("fullrun_role_{}", &suffix[..12]);
        let db_password = format!("dbpw-{}", &suffix[12..]);
        psql(
            &admin_url,
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{db_password}'"),
        );
        psql(
            &admin_url,
            &format!("CREATE DATABASE {database} OWNER {role}"),
        );
        let base = admin_url.rsplit_once('@').unwrap().1;
        let host = base.rsplit_once('/').unwrap().0;
        let database_url = format!("postgres://{role}:{db_password}@{host}/{database}");
        let seed = Command::new(env!("CARGO_BIN_EXE_cricalgo"))
            .args(["db", "seed", "--users", "60"])
            .env("DATABASE_URL", &database_url)
            .output()
            .unwrap();
        assert!(
            seed.status.success(),
            "db seed failed: {}",
            String::from_utf8_lossy(&seed.stderr)
        );
        let port = free_port();
        let stream = format!("fullrun-{}", &suffix[..12]);
        let common = |command: &mut Command| {
            command
                .env("DATABASE_URL", &database_url)
                .env("REDIS_URL", &redis_url)
                .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
                .env("DEPOSIT_STREAM", &stream)
                .env("LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        };
        let mut webhook = Command::new(service_bin("cricalgo-webhook"));
        common(&mut webhook);
        webhook.env("PORT", port.to_string());
        let mut worker = Command::new(service_bin("cricalgo-worker"));
        common(&mut worker);
        worker.env("METRICS_PORT", free_port().to_string());
        let services = Services {
            children: vec![webhook.spawn().unwrap(), worker.spawn().unwrap()],
            port,
            db_password,
            admin_url,
            database,
            role,
        };
        wait_until(
            "the webhook answering /api/v1/ready",
            Duration::from_secs(60),
            || http_status(port, "/api/v1/ready") == Some(200),
        );
        services
    }

    fn target(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
                "-c",
                &format!("DROP ROLE IF EXISTS {}", self.role),
            ])
            .output();
    }
}

fn scenario() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../load/scenarios/webhook.json")
        .to_string_lossy()
        .into_owned()
}

fn cricalgo(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cricalgo"));
    command
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("CRICALGO_ARTIFACTS_DIR")
        .env_remove("CRICALGO_TARGET");
    command
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Short phases against the local services; `extra` adds flags.
fn short_run(services: &Services, out: &Path, extra: &[&str]) -> Output {
    let closed = free_port().to_string();
    cricalgo(out.parent().unwrap())
        .args([
            "perf",
            "full-run",
            "--no-stack",
            "--scenario",
            &scenario(),
            "--target",
            &services.target(),
            "--prometheus",
            &format!("http://127.0.0.1:{closed}"),
            "--vus",
            "4",
            "--duration",
            "4s",
            "--smoke-vus",
            "2",
            "--smoke-duration",
            "2s",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn no_secrets(dir: &Path, services: &Services) {
    let hits = files_containing(dir, &[WEBHOOK_SECRET, &services.db_password]);
    assert!(hits.is_empty(), "secrets found in the run folder: {hits:?}");
}

fn verdict_of(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("verdict.json")).unwrap()).unwrap()
}

#[test]
fn full_run_against_local_services_passes_fails_and_is_interrupted_consistently() {
    let services = Services::start();
    let work = tempfile::tempdir().unwrap();
    let artifacts = work.path().join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    // Passed: exit 0, every file, one verdict everywhere.
    let passed = artifacts.join("perf_full_run_20250920T143543Z");
    let output = short_run(&services, &passed, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let problems = audit(&passed, FolderKind::FullRunNoStack);
    assert!(problems.is_empty(), "{problems:#?}\n{}", text(&output));
    let verdict = verdict_of(&passed);
    assert_eq!(verdict["verdict"], "passed");
    assert_eq!(verdict["phases"]["smoke"]["verdict"], "passed");
    assert_eq!(
        verdict["phases"]["smoke"]["checks"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("PASSED"));
    no_secrets(&passed, &services);

    // Failed: an impossible latency threshold; exit 99 and "failed" everywhere.
    let failed = artifacts.join("perf_full_run_20250920T150000Z");
    let output = short_run(
        &services,
        &failed,
        &["--threshold", "http_req_duration: p(50)<0.001"],
    );
    assert_eq!(output.status.code(), Some(99), "{}", text(&output));
    let problems = audit(&failed, FolderKind::FullRunNoStack);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(verdict_of(&failed)["verdict"], "failed");
    let junit = std::fs::read_to_string(failed.join("junit.xml")).unwrap();
    assert!(
        junit.contains("p(50)&lt;0.001") || junit.contains("p(50)<0.001"),
        "{junit}"
    );
    no_secrets(&failed, &services);

    // `perf check` on the folders agrees with the exit codes; with no path it reads the newest.
    let check = cricalgo(work.path())
        .args(["perf", "check", passed.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    // `verdict.json` is exactly what `perf check --json` prints for the folder.
    let check = cricalgo(work.path())
        .args(["perf", "check", passed.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(doc, verdict_of(&passed), "{}", text(&check));
    let check = cricalgo(work.path())
        .args(["perf", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(99),
        "newest is the failed run: {}",
        text(&check)
    );
    let doc: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(doc["verdict"], verdict_of(&failed)["verdict"]);

    // `perf compare` prints and writes the deltas and the verdict change.
    let compare_out = work.path().join("compare");
    let compare = cricalgo(work.path())
        .args([
            "perf",
            "compare",
            passed.to_str().unwrap(),
            failed.to_str().unwrap(),
            "--out",
            compare_out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(compare.status.code(), Some(0), "{}", text(&compare));
    let printed = String::from_utf8_lossy(&compare.stdout);
    assert!(
        printed.contains("Verdict changed: **passed → failed**"),
        "{printed}"
    );
    assert!(printed.contains("| throughput_rps |"), "{printed}");
    assert!(compare_out.join("compare.json").is_file());
    let missing = cricalgo(work.path())
        .args(["perf", "compare", "no-such-run", failed.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));

    // Interrupted during the load: exit 130, folder written and marked incomplete everywhere.
    let interrupted = artifacts.join("perf_full_run_20250920T160000Z");
    let closed = free_port().to_string();
    let mut child = cricalgo(work.path())
        .args([
            "perf",
            "full-run",
            "--no-stack",
            "--scenario",
            &scenario(),
            "--target",
            &services.target(),
            "--prometheus",
            &format!("http://127.0.0.1:{closed}"),
            "--vus",
            "4",
            "--duration",
            "5m",
            "--smoke-vus",
            "2",
            "--smoke-duration",
            "2s",
            "--out",
            interrupted.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the load phase is running (the engine says so on stderr).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    wait_until("the load phase starting", Duration::from_secs(90), || {
        let text = seen.lock().unwrap();
        text.find("== load")
            .is_some_and(|at| text[at..].contains("t=5s"))
    });
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let end = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < end,
            "full-run did not stop within 90 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    let stderr = seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let problems = audit(&interrupted, FolderKind::FullRunNoStack);
    assert!(problems.is_empty(), "{problems:#?}\n{stderr}");
    let manifest = cricalgo_report::verify_manifest(&interrupted).unwrap();
    assert!(manifest.info.incomplete);
    assert_eq!(verdict_of(&interrupted)["incomplete"], true);
    let html = std::fs::read_to_string(interrupted.join("report.html")).unwrap();
    assert!(html.contains("id=\"incomplete\""));
    let check = cricalgo(work.path())
        .args(["perf", "check", interrupted.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(99),
        "an incomplete run fails the gate: {}",
        text(&check)
    );
    no_secrets(&interrupted, &services);
}

#[test]
fn full_run_refuses_bad_flags_before_touching_anything() {
    let work = tempfile::tempdir().unwrap();
    let output = cricalgo(work.path())
        .args([
            "perf",
            "full-run",
            "--no-stack",
            "--threshold",
            "http_req_duration: p(95)<<4000",
            "--scenario",
            &scenario(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        !work.path().join("artifacts").exists(),
        "no run folder for a usage error"
    );
    let output = cricalgo(work.path())
        .args([
            "perf",
            "full-run",
            "--no-stack",
            "--scenario",
            "no-such-file.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Headless chromium on a page: `--dump-dom` output and the console lines on stderr.
fn chromium(page: &Path, extra: &[String]) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`chromium` runs (Debian's package, installed by .ci/run)");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let end = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let console = err
        .join()
        .unwrap()
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    (out.join().unwrap(), console)
}

/// The project's containers (by label), running or not.
fn project_containers(project: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=io.cricalgo.project={project}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("the `docker` client runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Takes the test's stack down even when an assertion failed.
struct StackGuard {
    project: String,
    state: PathBuf,
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        // Also removes the project's Postgres volume, which `full-run` keeps.
        let _ = Command::new(env!("CARGO_BIN_EXE_cricalgo"))
            .args(["staging", "down", "--volumes"])
            .current_dir(repo())
            .env("CRICALGO_PROJECT", &self.project)
            .env("CRICALGO_STATE_DIR", &self.state)
            .output();
    }
}

#[test]
fn full_run_on_the_staging_stack_writes_every_file_with_one_verdict() {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let project = format!("crfullrun{}", &suffix[..8]);
    let state = tempfile::tempdir().unwrap();
    let _guard = StackGuard {
        project: project.clone(),
        state: state.path().to_path_buf(),
    };
    let nginx = free_port();
    let prometheus = free_port();
    let db_password = format!("pgpw-{}", &suffix[8..20]);
    let artifacts = repo().join("artifacts");
    let out =
        cricalgo_report::folder::create_run_dir(&artifacts, "perf_full_run", chrono::Utc::now())
            .unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_cricalgo"))
        .args([
            "perf",
            "full-run",
            "--vus",
            "20",
            "--duration",
            "20s",
            "--smoke-vus",
            "5",
            "--smoke-duration",
            "5s",
            "--target",
            &format!("http://127.0.0.1:{nginx}"),
            "--prometheus",
            &format!("http://127.0.0.1:{prometheus}"),
            "--up-timeout",
            "300s",
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .env("CRICALGO_PROJECT", &project)
        .env("CRICALGO_STATE_DIR", state.path())
        .env("NGINX_PORT", nginx.to_string())
        .env("PROMETHEUS_PORT", prometheus.to_string())
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("POSTGRES_PASSWORD", &db_password)
        .env_remove("CRICALGO_TARGET")
        .env_remove("CRICALGO_ARTIFACTS_DIR")
        .output()
        .unwrap();
    eprintln!("full-run took {:.0?}\n{}", started.elapsed(), text(&output));
    let verdict = verdict_of(&out);
    let expected = if verdict["verdict"] == "passed" {
        0
    } else {
        99
    };
    assert_eq!(output.status.code(), Some(expected), "{}", text(&output));

    // Every file, checksums, one verdict everywhere (verdict.json, manifest, summary.json flags,
    // JUnit failures, HTML banner, Markdown headline).
    let problems = audit(&out, FolderKind::FullRun);
    assert!(problems.is_empty(), "{problems:#?}\n{}", text(&output));
    for service in [
        "app1",
        "app2",
        "app3",
        "worker",
        "nginx",
        "postgres",
        "redis",
        "prometheus",
    ] {
        assert!(
            out.join(format!("logs/{service}.log")).is_file(),
            "no log for `{service}`"
        );
    }
    // Both phases ran and the smoke phase's functional checks held on the real stack.
    assert_eq!(
        verdict["phases"]["smoke"]["verdict"], "passed",
        "{verdict:#}"
    );
    assert!(verdict["phases"]["load"].is_object());
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"smoke\"") && junit.contains("name=\"load\""),
        "{junit}"
    );
    // The server-side view came from the stack's own Prometheus.
    let prom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("prometheus.json")).unwrap())
            .unwrap();
    assert_eq!(prom["reachable"], true, "{prom:#}");
    assert!(
        prom["request_rate"].as_f64().unwrap_or(0.0) > 0.0,
        "{prom:#}"
    );
    let stack: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stack.json")).unwrap()).unwrap();
    assert_eq!(stack["started_by_this_run"], true);
    // No secret anywhere in the folder.
    let hits = files_containing(&out, &[WEBHOOK_SECRET, &db_password]);
    assert!(hits.is_empty(), "secrets found: {hits:?}");
    // The stack this run started was taken down.
    assert!(
        project_containers(&project).is_empty(),
        "the stack was left running"
    );

    // The report in a real browser: renders, no console output, the banner says the verdict.
    let page = out.join("report.html");
    let word = verdict["verdict"].as_str().unwrap();
    let (dom, console) = chromium(&page, &["--dump-dom".to_string()]);
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(
        dom.contains(&format!("data-verdict=\"{word}\"")),
        "banner does not say `{word}`"
    );
    let shots = artifacts.join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("full-run-staging.png");
    let _ = std::fs::remove_file(&shot);
    let (_, console) = chromium(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,4200".to_string(),
            "--hide-scrollbars".to_string(),
        ],
    );
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "screenshot looks empty"
    );
}
