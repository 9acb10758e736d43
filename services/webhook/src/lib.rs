//! The deposit webhook app. The request path verifies the signature over the exact received
//! bytes, parses, writes the inbox row (one `INSERT … ON CONFLICT DO NOTHING … RETURNING`),
//! nudges the queue and answers; no user lookup, no crediting, no provider calls.

pub mod signature;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use cricalgo_common::config::{self, ConfigError, DbSettings, LogFormat, Secret, Source};
use cricalgo_common::deposit::{self, PayloadError};
use cricalgo_common::inbox::{self, Accepted};
use cricalgo_common::metrics::WebhookMetrics;
use cricalgo_common::queue::{self, Streams};

use crate::signature::Verifier;

/// Seconds a client is told to wait before retrying a 503.
pub const RETRY_AFTER_SECS: u64 = 5;
/// Deadline for the queue nudge; past it the sweeper re-enqueues the stored deposit.
pub const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(1);

/// The app's configuration, from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, `DB_POOL_SIZE`, `DB_MAX_OVERFLOW`, `DB_POOL_TIMEOUT`.
    pub db: DbSettings,
    /// `REDIS_URL`.
    pub redis_url: Secret,
    /// `WEBHOOK_SECRET` (optional).
    pub verifier: Verifier,
    /// `PORT` (default 8000).
    pub port: u16,
    /// `DB_REQUEST_TIMEOUT` (default 2 s): the request's own deadline for the inbox write.
    pub request_timeout: Duration,
    /// `WEBHOOK_MAX_BODY_BYTES` (default 64 KiB).
    pub max_body_bytes: usize,
    /// `DEPOSIT_STREAM` (default `deposits`).
    pub streams: Streams,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl Config {
    /// Reads and validates the configuration; the error names the variable.
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            db: DbSettings::from_env(env)?,
            redis_url: config::required_secret(env, "REDIS_URL", "a redis:// URL")?,
            verifier: Verifier::from_secret(env.get("WEBHOOK_SECRET").map(Secret::new).as_ref())?,
            port: port(env)?,
            request_timeout: config::seconds(env, "DB_REQUEST_TIMEOUT", Duration::from_secs(2))?,
            max_body_bytes: config::parsed(
                env,
                "WEBHOOK_MAX_BODY_BYTES",
                64 * 1024,
                "a positive number of bytes",
                |n: &usize| *n > 0 && *n <= 64 * 1024 * 1024,
            )?,
            streams: Streams::from_env(env),
            log_format: config::log_format(env)?,
        })
    }
}

/// `PORT` (default 8000).
pub fn port(env: &dyn Source) -> Result<u16, ConfigError> {
    config::parsed(env, "PORT", 8000, "a TCP port (0-65535)", |_| true)
}

struct Inner {
    pool: PgPool,
    redis: redis::aio::ConnectionManager,
    streams: Streams,
    verifier: Verifier,
    metrics: WebhookMetrics,
    request_timeout: Duration,
    max_body_bytes: usize,
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// Connects (lazily), migrates and builds the router.
pub async fn build(config: &Config) -> anyhow::Result<Router> {
    let pool = cricalgo_common::db::pool(&config.db)?;
    cricalgo_common::db::migrate_with_patience(&pool, Duration::from_secs(60)).await?;
    let redis = queue::manager(config.redis_url.expose(), ENQUEUE_TIMEOUT)?;
    let state = AppState(Arc::new(Inner {
        pool,
        redis,
        streams: config.streams.clone(),
        verifier: config.verifier.clone(),
        metrics: WebhookMetrics::new(),
        request_timeout: config.request_timeout,
        max_body_bytes: config.max_body_bytes,
    }));
    Ok(router(state))
}

/// The routes, with the HTTP metrics layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/webhooks/bep20", post(receive))
        .route("/api/v1/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/webhooks/health", get(webhooks_health))
        .route("/api/v1/deposits/{tx_id}", get(deposit_status))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A request the app answers with something other than success; one place maps each to its
/// status and JSON body.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    /// Malformed or missing input.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but unacceptable values.
    #[error("{0}")]
    Unprocessable(String),
    #[error("invalid signature")]
    Unauthorized,
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The client stopped sending the body it announced.
    #[error("the body did not arrive within {0} s")]
    BodyTimeout(u64),
    /// The durable store did not answer in time; the cause is logged, not sent.
    #[error("deposit store unavailable, retry later")]
    Unavailable,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        };
        let mut response = (
            status,
            axum::Json(json!({"ok": false, "error": self.to_string()})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<PayloadError> for ApiError {
    fn from(err: PayloadError) -> Self {
        match err {
            PayloadError::Invalid(_) => Self::Unprocessable(err.to_string()),
            PayloadError::Missing | PayloadError::Malformed(_) | PayloadError::NotAnObject => {
                Self::BadRequest(err.to_string())
            }
        }
    }
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let (outcome, response) = match accept(&state, &headers, body, started).await {
        Ok(answer) => answer,
        Err(err) => {
            let outcome = match err {
                ApiError::Unauthorized => "unauthorized",
                ApiError::TooLarge(_) => "too_large",
                ApiError::Unavailable => "unavailable",
                _ => "invalid",
            };
            (outcome, err.into_response())
        }
    };
    state
        .0
        .metrics
        .webhook_requests
        .with_label_values(&[outcome])
        .inc();
    response
}

async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<(&'static str, Response), ApiError> {
    let app = &state.0;
    let raw = read_limited(headers, body, app.max_body_bytes).await?;
    let now = chrono::Utc::now().timestamp();
    if !app.verifier.verify(headers, &raw, now) {
        tracing::warn!(bytes = raw.len(), "webhook signature missing or invalid");
        return Err(ApiError::Unauthorized);
    }
    let deposit = deposit::parse(&raw)?;
    let accepted = match tokio::time::timeout(
        app.request_timeout,
        inbox::accept(&app.pool, &deposit, &raw),
    )
    .await
    {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(err)) => {
            tracing::error!(error = %err, tx_hash = %deposit.tx_hash, "inbox write failed");
            return Err(ApiError::Unavailable);
        }
        Err(_) => {
            tracing::error!(timeout_ms = app.request_timeout.as_millis() as u64, tx_hash = %deposit.tx_hash,
                "inbox write timed out");
            return Err(ApiError::Unavailable);
        }
    };
    let accepted_response = |tx_id: Uuid, duplicate: bool| {
        let body = if duplicate {
            json!({"ok": true, "tx_id": tx_id, "duplicate": true})
        } else {
            json!({"ok": true, "tx_id": tx_id})
        };
        (StatusCode::ACCEPTED, axum::Json(body)).into_response()
    };
    match accepted {
        Accepted::New(tx_id) => {
            nudge(state, tx_id, &deposit.tx_hash, started).await;
            Ok(("accepted", accepted_response(tx_id, false)))
        }
        Accepted::Duplicate {
            tx_id,
            raised,
            requeue,
        } => {
            if requeue {
                nudge(state, tx_id, &deposit.tx_hash, started).await;
            }
            let outcome = if raised {
                "confirmations_updated"
            } else {
                "duplicate"
            };
            Ok((outcome, accepted_response(tx_id, true)))
        }
        Accepted::Conflict { tx_id, stored } => {
            tracing::warn!(%tx_id, tx_hash = %deposit.tx_hash, stored = %stored, received = %deposit.amount,
                "deposit_amount_mismatch");
            let body = json!({
                "ok": false,
                "error": format!("amount {} differs from the stored amount {} for this tx_hash", deposit.amount, stored.normalize()),
                "tx_id": tx_id,
            });
            Ok((
                "amount_mismatch",
                (StatusCode::CONFLICT, axum::Json(body)).into_response(),
            ))
        }
    }
}

/// Puts the deposit on the queue after its row committed. A failure is counted and logged, not
/// answered: the deposit is durable and the sweeper re-enqueues it.
async fn nudge(state: &AppState, tx_id: Uuid, tx_hash: &str, started: Instant) {
    let app = &state.0;
    let mut redis = app.redis.clone();
    match tokio::time::timeout(
        ENQUEUE_TIMEOUT,
        queue::enqueue(&mut redis, &app.streams, tx_id),
    )
    .await
    {
        Ok(Ok(_)) => {
            let enqueue_ms = started.elapsed().as_millis() as u64;
            tracing::info!(%tx_id, tx_hash, enqueue_ms, "deposit_enqueued");
        }
        Ok(Err(err)) => {
            app.metrics.enqueue_failed.inc();
            tracing::warn!(%tx_id, tx_hash, error = %err, "deposit_enqueue_failed");
        }
        Err(_) => {
            app.metrics.enqueue_failed.inc();
            tracing::warn!(%tx_id, tx_hash, error = "timed out", "deposit_enqueue_failed");
        }
    }
}

/// How long a client may take to send a whole body: a stalled sender (a `Content-Length` larger
/// than what arrives) gets a 408 instead of holding a connection and a task forever.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads at most `limit` bytes within [`BODY_READ_TIMEOUT`]. Larger bodies (declared or chunked)
/// are a 413; what the client still sends is drained for a moment so it can read the answer.
async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut too_large = declared.is_some_and(|length| length > limit as u64);
    let mut buffer = Vec::with_capacity(declared.map_or(1024, |n| n.min(limit as u64) as usize));
    let mut drained = 0usize;
    let drain_deadline = Instant::now() + Duration::from_secs(2);
    let read_deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let Ok(next) = tokio::time::timeout_at(read_deadline, next).await else {
            return Err(ApiError::BodyTimeout(BODY_READ_TIMEOUT.as_secs()));
        };
        let Some(frame) = next else {
            break;
        };
        let frame =
            frame.map_err(|err| ApiError::BadRequest(format!("failed to read the body: {err}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if too_large {
            drained += data.len();
            if drained > 16 * 1024 * 1024 || Instant::now() > drain_deadline {
                break;
            }
            continue;
        }
        if buffer.len() + data.len() > limit {
            too_large = true;
            buffer = Vec::new();
            continue;
        }
        buffer.extend_from_slice(&data);
    }
    if too_large {
        return Err(ApiError::TooLarge(limit));
    }
    Ok(Bytes::from(buffer))
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn webhooks_health(State(state): State<AppState>) -> Response {
    axum::Json(json!({"status": "ok", "signature_required": state.0.verifier.required()}))
        .into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    let app = &state.0;
    let deadline = app.request_timeout;
    let postgres = matches!(
        tokio::time::timeout(deadline, sqlx::query("SELECT 1").execute(&app.pool)).await,
        Ok(Ok(_))
    );
    let mut redis = app.redis.clone();
    let ping: Result<redis::RedisResult<String>, _> =
        tokio::time::timeout(deadline, redis::cmd("PING").query_async(&mut redis)).await;
    let redis_ok = matches!(ping, Ok(Ok(_)));
    if postgres && redis_ok {
        return axum::Json(json!({"status": "ready"})).into_response();
    }
    let failing: Vec<&str> = [("postgres", postgres), ("redis", redis_ok)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"status": "unavailable", "failing": failing})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

async fn deposit_status(State(state): State<AppState>, Path(tx_id): Path<String>) -> Response {
    let Ok(tx_id) = Uuid::parse_str(&tx_id) else {
        return ApiError::NotFound.into_response();
    };
    let app = &state.0;
    match tokio::time::timeout(app.request_timeout, inbox::view(&app.pool, tx_id)).await {
        Ok(Ok(Some(view))) => axum::Json(view).into_response(),
        Ok(Ok(None)) => ApiError::NotFound.into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "deposit status query failed");
            ApiError::Unavailable.into_response()
        }
        Err(_) => ApiError::Unavailable.into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let app = &state.0;
    cricalgo_common::metrics::observe_pool(&app.metrics.pool, &app.pool);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

/// Records `http_requests_total` and `http_server_request_duration_seconds` per route template.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let method = if method == Method::GET || method == Method::POST {
        method.as_str()
    } else {
        "OTHER"
    };
    let labels = [method, route.as_str(), status.as_str()];
    let metrics = &state.0.metrics;
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The binary: `cricalgo-webhook` serves, `cricalgo-webhook healthcheck` probes the local process.
pub fn main_with_args(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("healthcheck") => {
            let port = port(&config::ProcessEnv)?;
            cricalgo_common::health::probe(port, "/api/v1/health", Duration::from_secs(3))
        }
        Some(other) => anyhow::bail!(
            "unknown argument `{other}`; run without arguments to serve, or `healthcheck`"
        ),
        None => {
            let config = Config::from_env(&config::ProcessEnv)?;
            config::init_logging(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let router = build(&config).await?;
                let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port))
                    .await
                    .map_err(|err| {
                        anyhow::anyhow!("failed to listen on port {} (`PORT`): {err}", config.port)
                    })?;
                tracing::info!(
                    port = config.port,
                    signature_required = config.verifier.required(),
                    "webhook listening"
                );
                serve(
                    listener,
                    router,
                    cricalgo_common::shutdown::signal("finishing in-flight requests"),
                )
                .await?;
                tracing::info!("webhook stopped");
                Ok(())
            })
        }
    }
}
