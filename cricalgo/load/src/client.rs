//! The HTTP/1.1 client: one keep-alive connection per VU (hyper's connection API directly, no
//! pool), timed the way k6 splits a request (connecting, waiting, receiving).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A VU's connection.
pub type Sender = SendRequest<Full<Bytes>>;

/// What came back from one request.
#[derive(Debug, Default)]
pub struct Response {
    /// 0 when there was no response (refused, reset, timed out).
    pub status: u16,
    pub connecting: Duration,
    pub waiting: Duration,
    pub receiving: Duration,
    pub sent: u64,
    pub received: u64,
    /// The body, when asked for.
    pub body: Option<Bytes>,
    /// Why there was no response.
    pub error: Option<String>,
}

/// Opens a connection; the connection task runs on the current thread's `LocalSet`.
pub async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn request_size(request: &http::Request<Full<Bytes>>, body_len: usize) -> u64 {
    let mut size = request.method().as_str().len() + request.uri().to_string().len() + 12;
    for (name, value) in request.headers() {
        size += name.as_str().len() + value.len() + 4;
    }
    (size + 2 + body_len) as u64
}

/// Sends `request` on the VU's connection (opening one when it has none or it was closed),
/// reading the whole body; keeps the body when `keep_body`. Never fails: failures come back as
/// status 0 with `error` set, and the connection is dropped.
pub async fn send(
    conn: &mut Option<Sender>,
    addr: SocketAddr,
    request: http::Request<Full<Bytes>>,
    body_len: usize,
    keep_body: bool,
) -> Response {
    let mut response = Response {
        sent: request_size(&request, body_len),
        ..Response::default()
    };
    let reused = matches!(conn, Some(sender) if !sender.is_closed());
    if !reused {
        *conn = None;
        let started = Instant::now();
        match connect(addr).await {
            Ok(sender) => *conn = Some(sender),
            Err(err) => {
                response.connecting = started.elapsed();
                response.error = Some(format!("connect: {err}"));
                return response;
            }
        }
        response.connecting = started.elapsed();
    }
    let Some(sender) = conn.as_mut() else {
        return response;
    };
    let started = Instant::now();
    if let Err(err) = sender.ready().await {
        *conn = None;
        response.error = Some(err.to_string());
        return response;
    }
    let result = sender.send_request(request).await;
    let head = match result {
        Ok(head) => head,
        Err(err) => {
            *conn = None;
            response.waiting = started.elapsed();
            response.error = Some(err.to_string());
            return response;
        }
    };
    let headers_at = Instant::now();
    response.waiting = headers_at - started;
    response.status = head.status().as_u16();
    let mut received = 17;
    for (name, value) in head.headers() {
        received += name.as_str().len() + value.len() + 4;
    }
    let close = head
        .headers()
        .get(http::header::CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut body = head.into_body();
    let mut kept: Vec<u8> = Vec::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len();
                    if keep_body {
                        kept.extend_from_slice(data);
                    }
                }
            }
            Some(Err(err)) => {
                *conn = None;
                response.status = 0;
                response.error = Some(format!("reading body: {err}"));
                break;
            }
        }
    }
    response.receiving = headers_at.elapsed();
    response.received = received as u64 + 2;
    if keep_body {
        response.body = Some(Bytes::from(kept));
    }
    if close {
        *conn = None;
    }
    response
}
