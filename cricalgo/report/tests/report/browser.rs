//! The report opened in a real headless browser (Debian's `chromium`): it renders, logs nothing
//! to the console, shows the banner `verdict.json` asks for, and leaves a screenshot under
//! `artifacts/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cricalgo_report::finish_run_folder;

use crate::fixtures::{Outcome, info, write_run};

const CHROMIUM: &str = "chromium";

struct Rendered {
    dom: String,
    console: Vec<String>,
}

/// Runs headless chromium on a file with a deadline; returns the DOM and console lines.
fn chromium(page: &Path, extra: &[String]) -> Rendered {
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(CHROMIUM)
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
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start `{CHROMIUM}` ({e}); install Debian's `chromium` package (.ci/run does)"));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`{CHROMIUM}` did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(err.path()).unwrap();
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    Rendered {
        dom: std::fs::read_to_string(out.path()).unwrap(),
        console: stderr
            .lines()
            .filter(|l| l.contains("CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

fn check_in_browser(outcome: Outcome, verdict: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), outcome);
    finish_run_folder(dir.path(), &info(outcome)).unwrap();
    let page = dir.path().join("report.html");

    let rendered = chromium(&page, &["--dump-dom".to_string()]);
    assert!(
        rendered.console.is_empty(),
        "console output: {:#?}",
        rendered.console
    );
    assert!(
        rendered.dom.contains(&format!(
            "id=\"verdict-banner\" class=\"banner {verdict}\" data-verdict=\"{verdict}\""
        )),
        "banner for `{verdict}` not rendered"
    );
    assert!(rendered.dom.contains("<svg"), "plots not in the DOM");

    let shot = screenshots_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let rendered = chromium(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,5200".to_string(),
            "--hide-scrollbars".to_string(),
        ],
    );
    assert!(
        rendered.console.is_empty(),
        "console output: {:#?}",
        rendered.console
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
    // Keep the page beside its screenshot so a person can open both.
    std::fs::copy(&page, shot.with_extension("html")).unwrap();
}

#[test]
fn passed_report_renders_in_chromium_without_console_output() {
    check_in_browser(Outcome::Passed, "passed", "synthetic-passed");
}

#[test]
fn failed_report_renders_in_chromium_with_a_failed_banner() {
    check_in_browser(Outcome::Failed, "failed", "synthetic-failed");
}

#[test]
fn the_console_check_catches_a_console_error() {
    // Proves the check above can fail: a page that logs is caught.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><title>x</title><script>console.error('canary-7f3a')</script>",
    )
    .unwrap();
    let rendered = chromium(&page, &["--dump-dom".to_string()]);
    assert!(
        rendered.console.iter().any(|l| l.contains("canary-7f3a")),
        "{:#?}",
        rendered.console
    );
}
