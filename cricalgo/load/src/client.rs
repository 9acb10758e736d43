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

/// Opens a connection; the connection task runs on the current (worker's) runtime.
pub async fn connect(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn request_size(request: &http::Request<Full<Bytes>>, body_len: usize) -> u64 {
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(1, |pq| pq.as_str().len());
    let mut size = request.method().as_str().len() + target_len + 12;
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

/// Why a one-off request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not a plain `http://host[:port]/path` URL.
    #[error("`{0}` is not an `http://` URL")]
    Url(String),
    /// Connecting failed (refused, unreachable, unresolvable).
    #[error("cannot connect to `{url}`: {message}")]
    Connect { url: String, message: String },
    /// The request failed after connecting.
    #[error("request to `{url}` failed: {message}")]
    Request { url: String, message: String },
    /// No complete answer within the timeout.
    #[error("`{url}` did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}

/// A one-off answer.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// One request on a fresh connection (for functional checks, outside the load's hot path).
pub async fn fetch(
    method: http::Method,
    url: &str,
    headers: &[(String, String)],
    body: Option<Bytes>,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(timeout, fetch_inner(method, url, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            url: url.to_string(),
            timeout,
        }),
    }
}

async fn fetch_inner(
    method: http::Method,
    url: &str,
    headers: &[(String, String)],
    body: Option<Bytes>,
) -> Result<Fetched, FetchError> {
    let bad_url = || FetchError::Url(url.to_string());
    let uri: http::Uri = url.parse().map_err(|_| bad_url())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url());
    }
    let authority = uri.authority().ok_or_else(bad_url)?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host().trim_matches(['[', ']']).to_string();
    let connect_err = |message: String| FetchError::Connect {
        url: url.to_string(),
        message,
    };
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|err| connect_err(err.to_string()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| connect_err(err.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let path = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_string();
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, authority.as_str());
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request_err = |message: String| FetchError::Request {
        url: url.to_string(),
        message,
    };
    let request = builder
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|err| request_err(err.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| request_err(err.to_string()))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| request_err(err.to_string()))?
        .to_bytes();
    Ok(Fetched {
        status,
        headers,
        body,
    })
}
