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
        settings.pool_size = 20;
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
