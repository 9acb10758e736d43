//! The Redis side: stream names (configurable, so tests and stacks can share one Redis), the
//! nudge (`XADD`), the consumer group, and the DLQ.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use uuid::Uuid;

use crate::config::Source;

/// Default stream name.
pub const DEFAULT_STREAM: &str = "deposits";
/// The consumer group the workers share.
pub const GROUP: &str = "deposit-workers";

/// The Redis keys of one pipeline: `<stream>` and `<stream>:dlq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    /// Work stream (`XADD` by the app, `XREADGROUP` by the workers).
    pub stream: String,
    /// Dead-letter stream.
    pub dlq: String,
    /// Consumer group name.
    pub group: String,
}

impl Streams {
    /// The keys for a stream name.
    pub fn new(stream: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            dlq: format!("{stream}:dlq"),
            group: GROUP.to_owned(),
        }
    }

    /// `DEPOSIT_STREAM` (default `deposits`).
    pub fn from_env(env: &dyn Source) -> Self {
        Self::new(&crate::config::string(
            env,
            "DEPOSIT_STREAM",
            DEFAULT_STREAM,
        ))
    }
}

/// A reconnecting Redis handle for short commands (never a blocking read). Connects lazily and
/// times out each command after `timeout`, so an outage turns into errors, not hangs.
pub fn manager(url: &str, timeout: Duration) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .map_err(|_| anyhow::anyhow!("`REDIS_URL` is not a valid redis:// URL"))?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// A dedicated connection for one blocking reader.
pub async fn dedicated(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Puts a deposit id on the work stream. Returns the entry id.
pub async fn enqueue(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
    tx_id: Uuid,
) -> redis::RedisResult<String> {
    redis::cmd("XADD")
        .arg(&streams.stream)
        .arg("*")
        .arg("tx_id")
        .arg(tx_id.to_string())
        .query_async(conn)
        .await
}

/// Creates the consumer group (and the stream) unless it exists.
pub async fn ensure_group(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
) -> redis::RedisResult<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&streams.stream)
        .arg(&streams.group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Reads up to `count` new entries for `consumer`, blocking at most `block`.
pub async fn read(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
    consumer: &str,
    count: usize,
    block: Duration,
) -> redis::RedisResult<Vec<StreamId>> {
    let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(&streams.group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
        .arg("STREAMS")
        .arg(&streams.stream)
        .arg(">")
        .query_async(conn)
        .await?;
    Ok(reply
        .map(|reply| reply.keys.into_iter().flat_map(|key| key.ids).collect())
        .unwrap_or_default())
}

/// Claims entries idle for at least `min_idle` (their consumer died) for `consumer`.
pub async fn autoclaim(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
    consumer: &str,
    min_idle: Duration,
    count: usize,
) -> redis::RedisResult<Vec<StreamId>> {
    let mut start = "0-0".to_owned();
    let mut claimed = Vec::new();
    loop {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&streams.stream)
            .arg(&streams.group)
            .arg(consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(&start)
            .arg("COUNT")
            .arg(count)
            .query_async(conn)
            .await?;
        claimed.extend(reply.claimed);
        if reply.next_stream_id == "0-0" || claimed.len() >= count {
            return Ok(claimed);
        }
        start = reply.next_stream_id;
    }
}

/// Acknowledges and deletes a handled entry (so the stream length is the work left).
pub async fn ack(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
    entry_id: &str,
) -> redis::RedisResult<()> {
    redis::pipe()
        .cmd("XACK")
        .arg(&streams.stream)
        .arg(&streams.group)
        .arg(entry_id)
        .ignore()
        .cmd("XDEL")
        .arg(&streams.stream)
        .arg(entry_id)
        .ignore()
        .query_async(conn)
        .await
}

/// Puts a failed deposit on the dead-letter stream.
pub async fn dead_letter(
    conn: &mut impl ConnectionLike,
    streams: &Streams,
    tx_id: Uuid,
    error: &str,
) -> redis::RedisResult<()> {
    redis::cmd("XADD")
        .arg(&streams.dlq)
        .arg("*")
        .arg("tx_id")
        .arg(tx_id.to_string())
        .arg("error")
        .arg(error)
        .query_async(conn)
        .await
}

/// Entries on a stream (0 when it does not exist).
pub async fn length(conn: &mut impl ConnectionLike, key: &str) -> redis::RedisResult<u64> {
    redis::cmd("XLEN").arg(key).query_async(conn).await
}

/// The deposit id in a stream entry, when it holds one.
pub fn entry_tx_id(entry: &StreamId) -> Option<Uuid> {
    let text: String = entry.get("tx_id")?;
    Uuid::parse_str(&text).ok()
}

/// Milliseconds since the entry was added, from its id (`<ms>-<seq>`).
pub fn entry_age_ms(entry_id: &str) -> u64 {
    let added: u64 = entry_id
        .split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    now.saturating_sub(added)
}
