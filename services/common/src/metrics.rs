//! Prometheus metrics of both services: names, labels, explicit histogram buckets, and every
//! series created at start (counters at 0 for every known label value) so `absent()` guards and
//! dashboards work before the first deposit.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// `http_server_request_duration_seconds{method,route,status}` (histogram), webhook.
pub const HTTP_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// `http_requests_total{method,route,status}`, webhook.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// `webhook_requests_total{outcome}`, webhook.
pub const WEBHOOK_REQUESTS: &str = "webhook_requests_total";
/// `webhook_enqueue_failed_total`, webhook: inbox row stored but the queue nudge failed (the
/// sweeper picks the deposit up).
pub const WEBHOOK_ENQUEUE_FAILED: &str = "webhook_enqueue_failed_total";
/// `deposits_processed_total{outcome}`, worker.
pub const DEPOSITS_PROCESSED: &str = "deposits_processed_total";
/// `deposit_task_duration_seconds` (histogram), worker.
pub const DEPOSIT_TASK_DURATION: &str = "deposit_task_duration_seconds";
/// `deposit_task_failed_total`, worker: failed attempts (each retry counts).
pub const DEPOSIT_TASK_FAILED: &str = "deposit_task_failed_total";
/// `deposit_queue_depth`, worker: stream entries not yet acknowledged plus inbox rows awaiting work.
pub const DEPOSIT_QUEUE_DEPTH: &str = "deposit_queue_depth";
/// `deposit_dlq_depth`, worker: entries on the dead-letter stream.
pub const DEPOSIT_DLQ_DEPTH: &str = "deposit_dlq_depth";
/// `db_pool_connections{state="active|idle|max"}`, both services.
pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";

/// `webhook_requests_total` outcomes.
pub const WEBHOOK_OUTCOMES: &[&str] = &[
    "accepted",
    "duplicate",
    "confirmations_updated",
    "amount_mismatch",
    "invalid",
    "unauthorized",
    "too_large",
    "unavailable",
];
/// `deposits_processed_total` outcomes.
pub const DEPOSIT_OUTCOMES: &[&str] = &[
    "credited",
    "unattributed",
    "pending_confirmations",
    "failed",
    "skipped",
];
/// `db_pool_connections` states.
pub const POOL_STATES: &[&str] = &["active", "idle", "max"];

/// The webhook's routes (the `route` label) with the statuses each can answer, pre-created.
pub const ROUTES: &[(&str, &str, &[u16])] = &[
    (
        "POST",
        "/api/v1/webhooks/bep20",
        &[202, 400, 401, 409, 413, 422, 503],
    ),
    ("GET", "/api/v1/health", &[200]),
    ("GET", "/api/v1/ready", &[200, 503]),
    ("GET", "/api/v1/webhooks/health", &[200]),
    ("GET", "/api/v1/deposits/{tx_id}", &[200, 404, 503]),
    ("GET", "/metrics", &[200]),
];

/// Request latency buckets, seconds.
pub const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Task duration buckets, seconds.
pub const TASK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The webhook's metrics.
#[derive(Clone)]
pub struct WebhookMetrics {
    registry: Registry,
    /// `http_server_request_duration_seconds`.
    pub http_duration: HistogramVec,
    /// `http_requests_total`.
    pub http_requests: IntCounterVec,
    /// `webhook_requests_total`.
    pub webhook_requests: IntCounterVec,
    /// `webhook_enqueue_failed_total`.
    pub enqueue_failed: IntCounter,
    /// `db_pool_connections`.
    pub pool: IntGaugeVec,
}

impl WebhookMetrics {
    /// Registers every series with its zero value.
    pub fn new() -> Self {
        let registry = Registry::new();
        let labels = &["method", "route", "status"];
        let http_duration = HistogramVec::new(
            HistogramOpts::new(HTTP_REQUEST_DURATION, "HTTP request duration in seconds")
                .buckets(HTTP_BUCKETS.to_vec()),
            labels,
        )
        .expect("valid histogram");
        let http_requests =
            IntCounterVec::new(Opts::new(HTTP_REQUESTS, "HTTP requests answered"), labels)
                .expect("valid counter");
        for (method, route, statuses) in ROUTES {
            for status in *statuses {
                let values = [*method, *route, &status.to_string()];
                http_duration.with_label_values(&values);
                http_requests.with_label_values(&values);
            }
        }
        let webhook_requests = IntCounterVec::new(
            Opts::new(WEBHOOK_REQUESTS, "Deposit webhook deliveries by outcome"),
            &["outcome"],
        )
        .expect("valid counter");
        for outcome in WEBHOOK_OUTCOMES {
            webhook_requests.with_label_values(&[*outcome]);
        }
        let enqueue_failed = IntCounter::new(
            WEBHOOK_ENQUEUE_FAILED,
            "Deposits stored but not put on the queue (the sweeper re-enqueues them)",
        )
        .expect("valid counter");
        let pool = pool_gauge();
        for collector in [
            Box::new(http_duration.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests.clone()),
            Box::new(webhook_requests.clone()),
            Box::new(enqueue_failed.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            http_duration,
            http_requests,
            webhook_requests,
            enqueue_failed,
            pool,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The worker's metrics.
#[derive(Clone)]
pub struct WorkerMetrics {
    registry: Registry,
    /// `deposits_processed_total`.
    pub processed: IntCounterVec,
    /// `deposit_task_duration_seconds`.
    pub task_duration: Histogram,
    /// `deposit_task_failed_total`.
    pub task_failed: IntCounter,
    /// `deposit_queue_depth`.
    pub queue_depth: IntGauge,
    /// `deposit_dlq_depth`.
    pub dlq_depth: IntGauge,
    /// `db_pool_connections`.
    pub pool: IntGaugeVec,
}

impl WorkerMetrics {
    /// Registers every series with its zero value.
    pub fn new() -> Self {
        let registry = Registry::new();
        let processed = IntCounterVec::new(
            Opts::new(DEPOSITS_PROCESSED, "Deposits processed by outcome"),
            &["outcome"],
        )
        .expect("valid counter");
        for outcome in DEPOSIT_OUTCOMES {
            processed.with_label_values(&[*outcome]);
        }
        let task_duration = Histogram::with_opts(
            HistogramOpts::new(
                DEPOSIT_TASK_DURATION,
                "Time to process one deposit, seconds",
            )
            .buckets(TASK_BUCKETS.to_vec()),
        )
        .expect("valid histogram");
        let task_failed = IntCounter::new(DEPOSIT_TASK_FAILED, "Failed deposit task attempts")
            .expect("valid counter");
        let queue_depth = IntGauge::new(
            DEPOSIT_QUEUE_DEPTH,
            "Deposits awaiting work: unacknowledged stream entries plus inbox rows still received",
        )
        .expect("valid gauge");
        let dlq_depth = IntGauge::new(DEPOSIT_DLQ_DEPTH, "Entries on the dead-letter stream")
            .expect("valid gauge");
        let pool = pool_gauge();
        for collector in [
            Box::new(processed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(task_duration.clone()),
            Box::new(task_failed.clone()),
            Box::new(queue_depth.clone()),
            Box::new(dlq_depth.clone()),
            Box::new(pool.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            processed,
            task_duration,
            task_failed,
            queue_depth,
            dlq_depth,
            pool,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn pool_gauge() -> IntGaugeVec {
    let pool = IntGaugeVec::new(
        Opts::new(DB_POOL_CONNECTIONS, "Database pool connections by state"),
        &["state"],
    )
    .expect("valid gauge");
    for state in POOL_STATES {
        pool.with_label_values(&[*state]);
    }
    pool
}

/// Copies the pool's sizes into `db_pool_connections`.
pub fn observe_pool(gauge: &IntGaugeVec, pool: &sqlx::PgPool) {
    let size = i64::from(pool.size());
    let idle = i64::try_from(pool.num_idle()).unwrap_or(0);
    gauge
        .with_label_values(&["active"])
        .set((size - idle).max(0));
    gauge.with_label_values(&["idle"]).set(idle);
    gauge
        .with_label_values(&["max"])
        .set(i64::from(pool.options().get_max_connections()));
}

fn render(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buffer)
        .expect("text encoding of gathered metrics");
    String::from_utf8(buffer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_exists_from_start() {
        let webhook = WebhookMetrics::new().render();
        for name in [
            HTTP_REQUEST_DURATION,
            HTTP_REQUESTS,
            WEBHOOK_REQUESTS,
            WEBHOOK_ENQUEUE_FAILED,
            DB_POOL_CONNECTIONS,
        ] {
            assert!(
                webhook.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{webhook}"
            );
        }
        assert!(webhook.contains(r#"webhook_requests_total{outcome="amount_mismatch"} 0"#));
        assert!(webhook.contains(
            r#"http_requests_total{method="POST",route="/api/v1/webhooks/bep20",status="503"} 0"#
        ));
        let worker = WorkerMetrics::new().render();
        for name in [
            DEPOSITS_PROCESSED,
            DEPOSIT_TASK_DURATION,
            DEPOSIT_TASK_FAILED,
            DEPOSIT_QUEUE_DEPTH,
            DEPOSIT_DLQ_DEPTH,
            DB_POOL_CONNECTIONS,
        ] {
            assert!(
                worker.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{worker}"
            );
        }
        assert!(worker.contains(r#"deposits_processed_total{outcome="unattributed"} 0"#));
        assert!(worker.contains(r#"deposit_task_duration_seconds_bucket{le="0.005"} 0"#));
    }
}
