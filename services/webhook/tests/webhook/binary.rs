//! The built `cricalgo-webhook` binary: configuration errors at start name the variable and never
//! print a secret; `healthcheck` answers for a running app and fails when nothing listens.

use std::process::Command;

use crate::harness::App;

const WEBHOOK: &str = env!("CARGO_BIN_EXE_cricalgo-webhook");

#[test]
fn bad_configuration_fails_at_start_naming_the_variable() {
    let url = "postgres://app:hunter2@127.0.0.1:1/db";
    for (pairs, expected) in [
        (
            vec![("REDIS_URL", "redis://x")],
            "`DATABASE_URL` is not set",
        ),
        (vec![("DATABASE_URL", url)], "`REDIS_URL` is not set"),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("PORT", "http"),
            ],
            "`PORT` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("DB_REQUEST_TIMEOUT", "0"),
            ],
            "`DB_REQUEST_TIMEOUT` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("DB_MAX_OVERFLOW", "-1"),
            ],
            "`DB_MAX_OVERFLOW` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("WEBHOOK_MAX_BODY_BYTES", "0"),
            ],
            "`WEBHOOK_MAX_BODY_BYTES` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("WEBHOOK_SECRET", "whsec_hunter2!!"),
            ],
            "`WEBHOOK_SECRET` is invalid",
        ),
    ] {
        let output = Command::new(WEBHOOK)
            .env_clear()
            .envs(pairs.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("hunter2"), "secret leaked: {stderr}");
    }
    let output = Command::new(WEBHOOK).arg("serve-please").output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument `serve-please`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand() {
    let app = App::start(&[]).await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let status = Command::new(WEBHOOK)
        .arg("healthcheck")
        .env("PORT", &port)
        .status()
        .unwrap();
    assert!(status.success());
    let free = cricalgo_common::testing::free_port().to_string();
    let output = Command::new(WEBHOOK)
        .arg("healthcheck")
        .env("PORT", &free)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nothing answers"),
        "{output:?}"
    );
    app.stop().await;
}
