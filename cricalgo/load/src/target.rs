//! A small in-process HTTP target for tests and examples: fixed answers, chosen status codes,
//! slow answers, and a webhook look-alike, all counted.
//!
//! Routes: `/status/{code}`, `/delay/{ms}`, `POST /api/v1/webhooks/bep20` (202
//! `{"ok":true,"tx_id":…}`), `GET /api/v1/deposits/{tx_id}` (the stored `tx_hash`), `/metrics`
//! (the webhook's series names), anything else 200 `ok`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the target saw.
#[derive(Debug, Default)]
pub struct TargetStats {
    pub requests: AtomicU64,
    pub connections: AtomicU64,
    /// Bodies of webhook POSTs (at most 100 000 kept) with their `X-Signature` header.
    pub webhook_bodies: Mutex<Vec<(Bytes, Option<String>)>>,
    /// `tx_id` → `tx_hash` of accepted webhooks (at most 100 000 kept).
    pub deposits: Mutex<std::collections::HashMap<String, String>>,
}

/// A running target; dropped → stops accepting.
pub struct TestTarget {
    pub addr: SocketAddr,
    pub stats: Arc<TargetStats>,
    stop: CancellationToken,
}

impl TestTarget {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes connections.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for TestTarget {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts the target on `127.0.0.1:0` in the current runtime.
pub async fn start() -> std::io::Result<TestTarget> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(TargetStats::default());
    let stop = CancellationToken::new();
    let (task_stats, task_stop) = (stats.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = task_stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            task_stats.connections.fetch_add(1, Ordering::Relaxed);
            let (stats, stop) = (task_stats.clone(), task_stop.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, stats.clone()));
                let connection =
                    http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = connection => {}
                }
            });
        }
    });
    Ok(TestTarget { addr, stats, stop })
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    stats: Arc<TargetStats>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let respond = |status: u16, body: &'static str| {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        response
    };
    if let Some(code) = path.strip_prefix("/status/") {
        return Ok(respond(code.parse().unwrap_or(500), "status"));
    }
    if let Some(ms) = path.strip_prefix("/delay/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        return Ok(respond(200, "slow"));
    }
    if path == "/api/v1/webhooks/bep20" && req.method() == http::Method::POST {
        let signature = req
            .headers()
            .get("x-signature")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let body = req
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let tx_id = uuid::Uuid::new_v4().to_string();
        let tx_hash = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|json| json.get("tx_hash")?.as_str().map(str::to_string));
        {
            let mut bodies = stats
                .webhook_bodies
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if bodies.len() < 100_000 {
                bodies.push((body, signature));
            }
        }
        if let Some(tx_hash) = tx_hash {
            let mut deposits = stats.deposits.lock().unwrap_or_else(|e| e.into_inner());
            if deposits.len() < 100_000 {
                deposits.insert(tx_id.clone(), tx_hash);
            }
        }
        let text = format!("{{\"ok\":true,\"tx_id\":\"{tx_id}\"}}");
        let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = http::StatusCode::ACCEPTED;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return Ok(response);
    }
    if let Some(tx_id) = path.strip_prefix("/api/v1/deposits/") {
        let found = stats
            .deposits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tx_id)
            .cloned();
        return Ok(match found {
            Some(tx_hash) => {
                let text =
                    serde_json::json!({"tx_id": tx_id, "tx_hash": tx_hash, "status": "received"})
                        .to_string();
                hyper::Response::new(Full::new(Bytes::from(text)))
            }
            None => respond(404, "{\"ok\":false}"),
        });
    }
    if path == "/metrics" {
        return Ok(respond(
            200,
            "http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1\nhttp_server_request_duration_seconds_count 1\nwebhook_requests_total{outcome=\"accepted\"} 1\n",
        ));
    }
    Ok(respond(200, "ok"))
}
