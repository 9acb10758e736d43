//! The Postgres pool, the embedded migrations and the idempotent test users.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DbSettings;

/// The first test user's `telegram_id`; `seed` creates `SEED_TELEGRAM_ID_BASE + 1 ..= + users`.
pub const SEED_TELEGRAM_ID_BASE: i64 = 100_000;

/// A pool whose connections open lazily (a service starts even while Postgres is still booting).
/// `max_connections = DB_POOL_SIZE + DB_MAX_OVERFLOW`, `acquire_timeout = DB_POOL_TIMEOUT`.
pub fn pool(settings: &DbSettings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings
        .url
        .expose()
        .parse()
        // The sqlx error may quote the URL, which holds the password: keep it out.
        .map_err(|_| anyhow::anyhow!("`DATABASE_URL` is not a valid postgres:// URL"))?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections())
        .min_connections(0)
        .acquire_timeout(settings.pool_timeout)
        // A dead connection fails its query, which the services turn into a 503 or a retry; a
        // ping before every checkout would cost a round trip per request.
        .test_before_acquire(false)
        .connect_lazy_with(options.application_name("cricalgo")))
}

/// Connects now (one connection, then lazily more), so a wrong URL fails at once.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let mut settings = DbSettings::for_url(url);
    settings.pool_timeout = Duration::from_secs(10);
    let pool = pool(&settings)?;
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .context("failed to connect to Postgres; check the URL and that the server is running")?;
    Ok(pool)
}

/// Applies the embedded migrations. Idempotent; sqlx holds a Postgres advisory lock for the
/// duration, so several instances starting at once apply each migration exactly once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .context("failed to apply the database migrations")
}

/// `migrate`, retried until `patience` runs out: a service container may start before Postgres
/// accepts connections.
pub async fn migrate_with_patience(pool: &PgPool, patience: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        match migrate(pool).await {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() < deadline => {
                tracing::warn!(error = %format!("{err:#}"), "database not ready, retrying migrations");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Creates `users` test users (telegram_id 100001..=100000+users, username `loadtest_<n>`) with
/// their wallets. Idempotent: existing users and wallets are kept as they are. Returns how many
/// of them exist afterwards.
pub async fn seed(pool: &PgPool, users: u32) -> anyhow::Result<u64> {
    let mut tx = pool
        .begin()
        .await
        .context("failed to start the seed transaction")?;
    sqlx::query(
        "INSERT INTO users (telegram_id, username)
         SELECT $1 + g, 'loadtest_' || g FROM generate_series(1, $2::bigint) AS g
         ON CONFLICT (telegram_id) DO NOTHING",
    )
    .bind(SEED_TELEGRAM_ID_BASE)
    .bind(i64::from(users))
    .execute(&mut *tx)
    .await
    .context("failed to insert the test users")?;
    let wallets = sqlx::query(
        "INSERT INTO wallets (user_id)
         SELECT id FROM users WHERE telegram_id BETWEEN $1 + 1 AND $1 + $2::bigint
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(SEED_TELEGRAM_ID_BASE)
    .bind(i64::from(users))
    .execute(&mut *tx)
    .await
    .context("failed to create the test users' wallets")?;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM users WHERE telegram_id BETWEEN $1 + 1 AND $1 + $2::bigint",
    )
    .bind(SEED_TELEGRAM_ID_BASE)
    .bind(i64::from(users))
    .fetch_one(&mut *tx)
    .await
    .context("failed to count the test users")?;
    tx.commit()
        .await
        .context("failed to commit the test users")?;
    tracing::debug!(new_wallets = wallets.rows_affected(), "seeded test users");
    Ok(count.try_into().unwrap_or(0))
}
