//! Helpers for the services' integration tests and benchmarks (feature `testing`): a fresh,
//! migrated database per test, a private stream name per test, and waiting on a condition with a
//! deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::config::DbSettings;

/// `CRICALGO_TEST_DATABASE_URL`, or a panic saying how to set it.
pub fn database_url() -> String {
    std::env::var("CRICALGO_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "`CRICALGO_TEST_DATABASE_URL` is not set; point it at a Postgres server, e.g. \
             postgres://postgres:postgres@127.0.0.1:5432/postgres (`.ci/run` starts one)"
        )
    })
}

/// `CRICALGO_TEST_REDIS_URL`, or a panic saying how to set it.
pub fn redis_url() -> String {
    std::env::var("CRICALGO_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "`CRICALGO_TEST_REDIS_URL` is not set; point it at a Redis server, e.g. redis://127.0.0.1:6379 \
             (`.ci/run` starts one)"
        )
    })
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |at| scheme_end + at);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A database of one test's own, migrated.
pub struct TestDb {
    /// Its URL (for child processes).
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates and migrates a new database on the server at `admin_url`.
    pub async fn create_on(admin_url: &str) -> TestDb {
        let name = format!("cricalgo_test_{}", Uuid::new_v4().simple());
        let admin = crate::db::connect(admin_url)
            .await
            .expect("test Postgres reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create the test database");
        admin.close().await;
        let url = with_database(admin_url, &name);
        let mut settings = DbSettings::for_url(&url);
        settings.pool_size = 10;
        settings.max_overflow = 0;
        let pool = crate::db::pool(&settings).expect("pool");
        crate::db::migrate(&pool)
            .await
            .expect("migrate the test database");
        TestDb {
            url,
            pool,
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// A fresh database on `CRICALGO_TEST_DATABASE_URL`.
    pub async fn create() -> TestDb {
        Self::create_on(&database_url()).await
    }

    /// Drops the database (call at the end of a passing test; a failing one leaves it to look at).
    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(admin) = crate::db::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

/// A stream name of one test's own.
pub fn unique_stream() -> String {
    format!("test:{}:deposits", Uuid::new_v4().simple())
}

/// Polls `condition` until it holds or `deadline` passes (then panics naming `what`).
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on loopback")
}

/// A Postgres cluster of one test's own (for fault tests that stop it), on a free port, in a
/// temporary folder. Runs the server as the `postgres` OS user when the tests run as root.
pub struct PrivatePostgres {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    /// Its port.
    pub port: u16,
    data: std::path::PathBuf,
    _dir: tempfile_dir::Dir,
}

/// Binaries of the Debian Postgres 15 packages.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres_user(program: &str, args: &[&str]) -> std::process::Command {
    let path = format!("{PG_BIN}/{program}");
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    if is_root {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--", &path]).args(args);
        command
    } else {
        let mut command = std::process::Command::new(path);
        command.args(args);
        command
    }
}

fn run_checked(mut command: std::process::Command, what: &str) {
    let output = command.output().unwrap_or_else(|err| {
        panic!("failed to run {what} ({command:?}): {err}; is postgresql-15 installed?")
    });
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivatePostgres {
    /// `initdb` and start a cluster (trust auth on loopback).
    pub fn start() -> PrivatePostgres {
        let dir = tempfile_dir::Dir::new("cricalgo-pg");
        let data = dir.path().join("data");
        let port = free_port();
        let data_text = data.to_string_lossy().into_owned();
        run_checked(
            as_postgres_user(
                "initdb",
                &[
                    "-D",
                    &data_text,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            ),
            "initdb",
        );
        let pg = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            data,
            _dir: dir,
        };
        pg.start_server();
        pg
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_server(&self) {
        let data = self.data.to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.data.to_string_lossy()
        );
        run_checked(
            as_postgres_user(
                "pg_ctl",
                &[
                    "-D",
                    &data,
                    "-o",
                    &options,
                    "-l",
                    &format!("{data}/server.log"),
                    "-w",
                    "start",
                ],
            ),
            "pg_ctl start",
        );
    }

    /// Stops the server (fast mode: running transactions are aborted).
    pub fn stop_server(&self) {
        let data = self.data.to_string_lossy().into_owned();
        run_checked(
            as_postgres_user("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ =
            as_postgres_user("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

/// A Redis server of one test's own (for fault tests that restart it), on a free port, without
/// persistence (a restart loses everything, the worst case).
pub struct PrivateRedis {
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts `redis-server` and waits until it answers.
    pub fn start() -> PrivateRedis {
        let port = free_port();
        let mut redis = PrivateRedis {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: None,
        };
        redis.start_server();
        redis
    }

    /// Starts the server (again) on the same port.
    pub fn start_server(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("failed to start `redis-server`; is the redis-server package installed?");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill_server();
    }
}

/// A temporary folder removed on drop, readable by the `postgres` OS user.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> Dir {
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).expect("create a temporary folder");
            let _ = std::process::Command::new("chown")
                .args(["postgres:postgres", &path.to_string_lossy()])
                .output();
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
