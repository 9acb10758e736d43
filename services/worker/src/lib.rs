//! The deposit worker: reads deposit ids from the Redis stream with a consumer group, credits
//! each in one Postgres transaction, acknowledges; retries with backoff, dead-letters after
//! `MAX_ATTEMPTS`, reclaims entries of dead consumers (`XAUTOCLAIM`), sweeps inbox rows that
//! never reached the queue, and serves its metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use redis::aio::ConnectionManager;
use redis::streams::StreamId;
use sqlx::PgPool;
use tokio::sync::watch;

use cricalgo_common::config::{self, ConfigError, DbSettings, LogFormat, Secret, Source};
use cricalgo_common::credit::{self, CreditError};
use cricalgo_common::metrics::WorkerMetrics;
use cricalgo_common::queue::{self, Streams};

/// The worker's configuration, from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, `DB_POOL_SIZE`, `DB_MAX_OVERFLOW`, `DB_POOL_TIMEOUT`.
    pub db: DbSettings,
    /// `REDIS_URL`.
    pub redis_url: Secret,
    /// `DEPOSIT_STREAM` (default `deposits`; the DLQ is `<stream>:dlq`).
    pub streams: Streams,
    /// `METRICS_PORT` (default 9100).
    pub metrics_port: u16,
    /// `WORKER_CONCURRENCY` (default 4): readers, each on its own Redis connection.
    pub concurrency: usize,
    /// `CONFIRMATION_THRESHOLD` (default 3).
    pub threshold: i64,
    /// `MAX_ATTEMPTS` (default 5).
    pub max_attempts: u32,
    /// `RECLAIM_IDLE_SECS` (default 30).
    pub reclaim_idle: Duration,
    /// `SWEEP_GRACE_SECS` (default 30).
    pub sweep_grace: Duration,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// The consumer name prefix (host name, process id and a random suffix).
    pub consumer: String,
}

impl Config {
    /// Reads and validates the configuration; the error names the variable.
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            db: DbSettings::from_env(env)?,
            redis_url: config::required_secret(env, "REDIS_URL", "a redis:// URL")?,
            streams: Streams::from_env(env),
            metrics_port: metrics_port(env)?,
            concurrency: config::parsed(
                env,
                "WORKER_CONCURRENCY",
                4,
                "an integer from 1 to 256",
                |n: &usize| (1..=256).contains(n),
            )?,
            threshold: config::parsed(
                env,
                "CONFIRMATION_THRESHOLD",
                3,
                "an integer >= 0",
                |n: &i64| *n >= 0,
            )?,
            max_attempts: config::parsed(env, "MAX_ATTEMPTS", 5, "an integer >= 1", |n: &u32| {
                *n >= 1
            })?,
            reclaim_idle: config::seconds(env, "RECLAIM_IDLE_SECS", Duration::from_secs(30))?,
            sweep_grace: config::seconds(env, "SWEEP_GRACE_SECS", Duration::from_secs(30))?,
            log_format: config::log_format(env)?,
            consumer: consumer_name(),
        })
    }
}

/// `METRICS_PORT` (default 9100).
pub fn metrics_port(env: &dyn Source) -> Result<u16, ConfigError> {
    config::parsed(env, "METRICS_PORT", 9100, "a TCP port (0-65535)", |_| true)
}

fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

struct Worker {
    pool: PgPool,
    control: ConnectionManager,
    config: Config,
    metrics: WorkerMetrics,
    shutdown: watch::Receiver<bool>,
}

/// Runs the worker until `shutdown` resolves; then stops reading, finishes the deposits in hand
/// (or leaves them pending for another worker) and returns. The metrics listener is passed in so
/// tests can use port 0.
pub async fn run(
    config: Config,
    metrics_listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = WorkerMetrics::new();
    let pool = cricalgo_common::db::pool(&config.db)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let metrics_server = tokio::spawn(serve_metrics(
        metrics_listener,
        metrics.clone(),
        pool.clone(),
        stop_rx.clone(),
    ));
    cricalgo_common::db::migrate_with_patience(&pool, Duration::from_secs(60)).await?;
    let control = queue::manager(config.redis_url.expose(), Duration::from_secs(2))?;
    let worker = Arc::new(Worker {
        pool,
        control,
        config,
        metrics,
        shutdown: stop_rx,
    });
    worker
        .ensure_group_patiently(Duration::from_secs(60))
        .await?;
    tracing::info!(
        consumer = %worker.config.consumer,
        stream = %worker.config.streams.stream,
        concurrency = worker.config.concurrency,
        "worker started"
    );
    let mut tasks = Vec::new();
    for index in 0..worker.config.concurrency {
        tasks.push(tokio::spawn(worker.clone().read_loop(index)));
    }
    tasks.push(tokio::spawn(worker.clone().reclaim_loop()));
    tasks.push(tokio::spawn(worker.clone().sweep_loop()));
    tasks.push(tokio::spawn(worker.clone().gauge_loop()));
    for task in tasks {
        let _ = task.await;
    }
    let _ = metrics_server.await;
    worker.pool.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

impl Worker {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps `duration` or until shutdown; returns whether to go on.
    async fn pause(&self, duration: Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => !self.stopping(),
            _ = shutdown.wait_for(|stop| *stop) => false,
        }
    }

    async fn ensure_group_patiently(&self, patience: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            let mut control = self.control.clone();
            match queue::ensure_group(&mut control, &self.config.streams).await {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() < deadline && !self.stopping() => {
                    tracing::warn!(error = %err, "redis not ready, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    anyhow::bail!("failed to create the consumer group on `REDIS_URL`: {err}")
                }
            }
        }
    }

    /// One blocking reader on its own connection.
    async fn read_loop(self: Arc<Self>, index: usize) {
        let consumer = format!("{}-{index}", self.config.consumer);
        let mut connection = None;
        let mut backoff = Duration::from_millis(100);
        while !self.stopping() {
            let conn = match &mut connection {
                Some(conn) => conn,
                None => match queue::dedicated(self.config.redis_url.expose()).await {
                    Ok(conn) => connection.insert(conn),
                    Err(err) => {
                        tracing::warn!(error = %err, "redis connection failed, retrying");
                        if !self.pause(backoff).await {
                            break;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                },
            };
            match queue::read(
                conn,
                &self.config.streams,
                &consumer,
                1,
                Duration::from_secs(1),
            )
            .await
            {
                Ok(entries) => {
                    backoff = Duration::from_millis(100);
                    for entry in entries {
                        self.handle(&entry).await;
                    }
                }
                Err(err) => {
                    if err.code() == Some("NOGROUP") {
                        // Redis restarted without the stream: recreate it.
                        let mut control = self.control.clone();
                        let _ = queue::ensure_group(&mut control, &self.config.streams).await;
                    } else {
                        tracing::warn!(error = %err, "stream read failed, reconnecting");
                        connection = None;
                    }
                    if !self.pause(backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Takes over entries whose consumer stopped answering (killed worker).
    async fn reclaim_loop(self: Arc<Self>) {
        let consumer = format!("{}-reclaim", self.config.consumer);
        let every = (self.config.reclaim_idle / 2).max(Duration::from_millis(200));
        while self.pause(every).await {
            let mut control = self.control.clone();
            match queue::autoclaim(
                &mut control,
                &self.config.streams,
                &consumer,
                self.config.reclaim_idle,
                100,
            )
            .await
            {
                Ok(entries) => {
                    if !entries.is_empty() {
                        tracing::info!(count = entries.len(), "reclaimed abandoned stream entries");
                    }
                    for entry in entries {
                        if self.stopping() {
                            break;
                        }
                        self.handle(&entry).await;
                    }
                }
                Err(err) if err.code() == Some("NOGROUP") => {
                    let _ = queue::ensure_group(&mut control, &self.config.streams).await;
                }
                Err(err) => tracing::warn!(error = %err, "reclaim failed"),
            }
        }
    }

    /// Re-enqueues inbox rows still `received` after the grace period (a lost nudge, a Redis
    /// restart, a worker killed mid-transaction).
    async fn sweep_loop(self: Arc<Self>) {
        let every = (self.config.sweep_grace / 3).max(Duration::from_millis(200));
        while self.pause(every).await {
            let ids = match credit::sweep(&self.pool, self.config.sweep_grace, 500).await {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::warn!(error = %err, "sweep failed");
                    continue;
                }
            };
            if ids.is_empty() {
                continue;
            }
            tracing::info!(count = ids.len(), "sweeper re-enqueued stale deposits");
            let mut control = self.control.clone();
            for tx_id in ids {
                if let Err(err) = queue::enqueue(&mut control, &self.config.streams, tx_id).await {
                    tracing::warn!(%tx_id, error = %err, "sweeper could not enqueue; will retry after the grace period");
                    break;
                }
            }
        }
    }

    /// Refreshes the gauges.
    async fn gauge_loop(self: Arc<Self>) {
        loop {
            cricalgo_common::metrics::observe_pool(&self.metrics.pool, &self.pool);
            let mut control = self.control.clone();
            let stream = queue::length(&mut control, &self.config.streams.stream)
                .await
                .unwrap_or(0);
            if let Ok(dlq) = queue::length(&mut control, &self.config.streams.dlq).await {
                self.metrics
                    .dlq_depth
                    .set(i64::try_from(dlq).unwrap_or(i64::MAX));
            }
            let inbox = credit::awaiting(&self.pool).await.unwrap_or(0);
            // Every stream entry points at an inbox row still `received`; the larger of the two
            // counts each deposit awaiting work once.
            self.metrics
                .queue_depth
                .set(inbox.max(i64::try_from(stream).unwrap_or(i64::MAX)));
            if !self.pause(Duration::from_secs(1)).await {
                break;
            }
        }
    }

    /// Processes one stream entry: credit (with retries), then acknowledge.
    async fn handle(&self, entry: &StreamId) {
        let Some(tx_id) = queue::entry_tx_id(entry) else {
            tracing::warn!(entry = %entry.id, "stream entry without a deposit id, dropping");
            self.ack(&entry.id).await;
            return;
        };
        let started = Instant::now();
        tracing::info!(%tx_id, queue_wait_ms = queue::entry_age_ms(&entry.id), "deposit_task_started");
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match credit::process(&self.pool, tx_id, self.config.threshold).await {
                Ok(outcome) => {
                    self.finish(tx_id, outcome.label(), started);
                    self.ack(&entry.id).await;
                    return;
                }
                Err(err) => {
                    self.metrics.task_failed.inc();
                    let permanent = matches!(err, CreditError::Permanent(_));
                    let error = err.to_string();
                    tracing::warn!(%tx_id, attempt, error = %error, "deposit_task_failed");
                    match credit::record_failure(
                        &self.pool,
                        tx_id,
                        &error,
                        self.config.max_attempts,
                        permanent,
                    )
                    .await
                    {
                        Ok((_, true)) => {
                            tracing::error!(%tx_id, error = %error, alert = true, "deposit_dead_lettered");
                            let mut control = self.control.clone();
                            if let Err(err) = queue::dead_letter(
                                &mut control,
                                &self.config.streams,
                                tx_id,
                                &error,
                            )
                            .await
                            {
                                tracing::error!(%tx_id, error = %err, "failed to write the DLQ entry");
                            }
                            self.finish(tx_id, "failed", started);
                            self.ack(&entry.id).await;
                            return;
                        }
                        Ok((_, false)) => {}
                        Err(record_err) => {
                            tracing::warn!(%tx_id, error = %record_err, "could not record the failed attempt");
                        }
                    }
                    // Retry in place with backoff; past MAX_ATTEMPTS without a database to record
                    // the failure, leave the entry pending: it is reclaimed later.
                    let backoff = Duration::from_millis(100 * 2u64.saturating_pow(attempt.min(6)));
                    if attempt >= self.config.max_attempts || !self.pause(backoff).await {
                        return;
                    }
                }
            }
        }
    }

    fn finish(&self, tx_id: uuid::Uuid, outcome: &str, started: Instant) {
        let elapsed = started.elapsed();
        self.metrics.processed.with_label_values(&[outcome]).inc();
        self.metrics.task_duration.observe(elapsed.as_secs_f64());
        tracing::info!(%tx_id, outcome, duration_ms = elapsed.as_millis() as u64, "deposit_task_completed");
    }

    async fn ack(&self, entry_id: &str) {
        let mut control = self.control.clone();
        if let Err(err) = queue::ack(&mut control, &self.config.streams, entry_id).await {
            tracing::warn!(entry = entry_id, error = %err, "ack failed; the entry will be reclaimed and skipped");
        }
    }
}

async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: WorkerMetrics,
    pool: PgPool,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = Router::new()
        .route(
            "/metrics",
            get(
                |State((metrics, pool)): State<(WorkerMetrics, PgPool)>| async move {
                    cricalgo_common::metrics::observe_pool(&metrics.pool, &pool);
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        metrics.render(),
                    )
                        .into_response()
                },
            ),
        )
        .route("/health", get(|| async { axum::Json(serde_json_ok()) }))
        .with_state((metrics, pool));
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(err) = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %err, "metrics server failed");
    }
}

fn serde_json_ok() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([("status", "ok")])
}

/// The binary: `cricalgo-worker` runs, `cricalgo-worker healthcheck` probes the local process.
pub fn main_with_args(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("healthcheck") => {
            let port = metrics_port(&config::ProcessEnv)?;
            cricalgo_common::health::probe(port, "/health", Duration::from_secs(3))
        }
        Some(other) => anyhow::bail!(
            "unknown argument `{other}`; run without arguments to work, or `healthcheck`"
        ),
        None => {
            let config = Config::from_env(&config::ProcessEnv)?;
            config::init_logging(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.metrics_port))
                    .await
                    .map_err(|err| {
                        anyhow::anyhow!(
                            "failed to listen on port {} (`METRICS_PORT`): {err}",
                            config.metrics_port
                        )
                    })?;
                run(
                    config,
                    listener,
                    cricalgo_common::shutdown::signal("finishing the deposits in hand"),
                )
                .await
            })
        }
    }
}
