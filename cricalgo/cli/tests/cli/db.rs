//! `cricalgo db migrate` and `cricalgo db seed` against a fresh database on the test Postgres.

use std::process::Command;

use cricalgo_common::testing::TestDb;

fn cricalgo(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cricalgo"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run cricalgo");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn db_migrate_and_seed_are_idempotent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::create());
    let (code, stdout, stderr) = cricalgo(&["db", "migrate", "--database-url", &db.url]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "migrations applied\n"),
        "{stderr}"
    );
    for _ in 0..2 {
        let (code, stdout, stderr) =
            cricalgo(&["db", "seed", "--database-url", &db.url, "--users", "7"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            stdout,
            "7 test users present (telegram_id 100001..=100007)\n"
        );
    }
    runtime.block_on(db.drop_database());
}

#[test]
fn db_errors_are_clear() {
    let (code, _, stderr) = cricalgo(&[
        "db",
        "migrate",
        "--database-url",
        "postgres://u:hunter2@127.0.0.1:1/x",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("cricalgo: failed to connect to Postgres"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (code, _, stderr) = cricalgo(&["db", "seed"]);
    assert_eq!(code, 2, "missing URL is a usage error: {stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    let (code, _, stderr) = cricalgo(&["db", "migrate", "--database-url", "notaurl"]);
    assert_eq!(
        code, 2,
        "a URL that is not postgres:// is a usage error: {stderr}"
    );
    assert!(
        stderr.contains("`--database-url`") && stderr.contains("postgres://"),
        "{stderr}"
    );
}
