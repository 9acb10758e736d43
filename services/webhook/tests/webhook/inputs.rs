//! Bad input from quality.md: each gets a clear 4xx with a JSON body, nothing is stored; exact
//! decimals; byte-identical payloads; body limits (declared, chunked, lying `Content-Length`).

use std::io::{Read, Write};

use crate::harness::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_clear_client_errors() {
    let app = App::start(&[]).await;
    let deep = format!(
        r#"{{"tx_hash":"d","amount":"1","metadata":{}1{}}}"#,
        r#"{"a":"#.repeat(40),
        "}".repeat(40)
    );
    let cases: &[(&str, u16, &str)] = &[
        ("1", 400, "must be a JSON object"),
        ("null", 400, "must be a JSON object"),
        ("[]", 400, "must be a JSON object"),
        ("\"x\"", 400, "must be a JSON object"),
        ("{", 400, "malformed JSON"),
        ("", 400, "malformed JSON"),
        (r#"{"tx_hash":123}"#, 400, "missing tx_hash or amount"),
        (
            r#"{"tx_hash":123,"amount":"1"}"#,
            422,
            "`tx_hash` must be a string",
        ),
        (
            r#"{"tx_hash":"a","amount":{"v":1}}"#,
            422,
            "decimal string or a JSON number",
        ),
        (
            r#"{"tx_hash":"a","amount":"1","amount":"2"}"#,
            422,
            "duplicate field `amount`",
        ),
        (r#"{"tx_hash":"a","amount":-5}"#, 422, "greater than 0"),
        (r#"{"tx_hash":"a","amount":0}"#, 422, "greater than 0"),
        (r#"{"tx_hash":"a","amount":"1e30"}"#, 422, "amount"),
        (
            r#"{"tx_hash":"a","amount":"NaN"}"#,
            422,
            "not a decimal number",
        ),
        (
            r#"{"tx_hash":"a","amount":"Infinity"}"#,
            422,
            "not a decimal number",
        ),
        (
            r#"{"tx_hash":"a","amount":"0.123456789"}"#,
            422,
            "more than 8 decimal places",
        ),
        (
            r#"{"tx_hash":"a","amount":"10000000000000000000000"}"#,
            422,
            "out of range",
        ),
        (
            r#"{"tx_hash":"","amount":"1"}"#,
            422,
            "`tx_hash` must be a non-empty string",
        ),
        (
            r#"{"tx_hash":"a","amount":"1","confirmations":"3"}"#,
            422,
            "`confirmations`",
        ),
        (
            r#"{"tx_hash":"a","amount":"1","metadata":[1]}"#,
            422,
            "`metadata` must be an object",
        ),
        (r#"{"tx_hash":"a\u0000b","amount":"1"}"#, 422, "NUL"),
        (&deep, 422, "deeper than 32"),
    ];
    let long_hash = format!(r#"{{"tx_hash":"{}","amount":"1"}}"#, "h".repeat(129));
    for (body, status, message) in
        cases
            .iter()
            .copied()
            .chain([(long_hash.as_str(), 422, "at most 128")])
    {
        let reply = app.post(body.to_owned()).await;
        assert!(reply.status < 500, "{body}: {}", reply.status);
        reply.assert_json_error(status, message);
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM deposits")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing stored for bad input");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_are_stored_exactly_and_payloads_byte_identical() {
    let app = App::start(&[]).await;
    for (hash, amount, stored) in [
        ("e1", "19.99", "19.99000000"),
        ("e2", "8.165", "8.16500000"),
        ("e3", "0.1", "0.10000000"),
        ("e4", "\"0.00000001\"", "0.00000001"),
        (
            "e5",
            "\"9999999999999999999999.99999\"",
            "9999999999999999999999.99999000",
        ),
    ] {
        let reply = app
            .post(format!(r#"{{"tx_hash":"{hash}","amount":{amount}}}"#))
            .await;
        assert_eq!(reply.status, 202, "{amount}: {}", reply.json);
        let (text,): (String,) =
            sqlx::query_as("SELECT amount::text FROM deposits WHERE tx_hash = $1")
                .bind(hash)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(text, stored, "{amount}");
    }
    // Unicode, escapes, odd spacing and unknown fields: the stored bytes are the received bytes.
    let body = "{ \"tx_hash\" : \"uni-1\", \"amount\": 1.50,\n \"metadata\": {\"name\": \"Zoë 🏏 \\u00e9\\n\\\"q\\\" \\u0000 \\ud83d\\ude00\", \"telegram_id\": 100001},\t\"unknown\": [1, {\"x\": null}] }";
    let reply = app.post(body).await;
    assert_eq!(reply.status, 202, "{}", reply.json);
    let (raw, unknown): (Vec<u8>, serde_json::Value) = sqlx::query_as(
        "SELECT raw_payload, payload->'unknown' FROM deposits WHERE tx_hash = 'uni-1'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(raw, body.as_bytes());
    assert_eq!(unknown, serde_json::json!([1, {"x": null}]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limits() {
    let app = App::start(&[("WEBHOOK_MAX_BODY_BYTES", "4096")]).await;
    let big = format!(
        r#"{{"tx_hash":"big","amount":"1","pad":"{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    app.post(big)
        .await
        .assert_json_error(413, "larger than 4096 bytes");
    let address = app.base.trim_start_matches("http://").to_owned();
    // Chunked, no Content-Length, over the limit.
    let mut chunked = Vec::new();
    for _ in 0..64 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 1024, " ".repeat(1024)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_post(&address, "Transfer-Encoding: chunked", chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""ok":false"#), "{answer}");
    // Chunked under the limit is fine.
    let small = b"10\r\n{\"tx_hash\":\"chun\r\n10\r\nked\",\"amount\":2}\r\n0\r\n\r\n".to_vec();
    let answer = raw_post(&address, "Transfer-Encoding: chunked", small).await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    // A Content-Length smaller than the body: the app reads what was declared and answers 4xx.
    let answer = raw_post(
        &address,
        "Content-Length: 10",
        br#"{"tx_hash":"short","amount":"3"}"#.to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM deposits")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the small chunked deposit is stored");
    app.stop().await;
}

/// Sends a hand-written POST (for framing that HTTP clients refuse to produce) and returns the
/// whole answer.
async fn raw_post(address: &str, framing: &str, body: Vec<u8>) -> String {
    let address = address.to_owned();
    let head = format!(
        "POST /api/v1/webhooks/bep20 HTTP/1.1\r\nHost: x\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(&body);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_instead_of_holding_the_connection() {
    let app = App::start(&[]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        // Longer than the app's body deadline, so the app must be the one that gives up.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let body = br#"{"tx_hash":"stall","amount":"1""#;
        let head = "POST /api/v1/webhooks/bep20 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""ok":false"#), "{answer}");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM deposits")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    app.stop().await;
}
