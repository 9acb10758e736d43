//! The `healthcheck` subcommand's probe: one plain HTTP/1.0 GET on loopback, so images without a
//! shell or curl can still be health-checked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Asks `http://127.0.0.1:<port><path>` and succeeds on a 2xx answer within `timeout`.
pub fn probe(port: u16, path: &str, timeout: Duration) -> anyhow::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|err| anyhow::anyhow!("nothing answers on {address}: {err}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status.starts_with('2') {
        Ok(())
    } else {
        anyhow::bail!(
            "GET {path} on {address} answered `{}`",
            line.lines().next().unwrap_or("")
        )
    }
}
