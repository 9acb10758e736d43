//! Signatures as senders send them, through the running app: every bad case is a JSON 401 and
//! stores nothing; good ones with either key of a rotation are accepted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cricalgo_webhook::signature::{sign_hex, sign_standard};

use crate::harness::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_cases() {
    let standard_key = b"standard-key-bytes";
    let secret = format!(
        "old-secret,new-secret,whsec_{}",
        STANDARD.encode(standard_key)
    );
    let app = App::start(&[("WEBHOOK_SECRET", &secret)]).await;
    let body = br#"{"tx_hash":"sig-1","amount":"1"}"#;
    let good = sign_hex(b"new-secret", body);
    let now = chrono::Utc::now().timestamp();
    let old_ts = (now - 301).to_string();
    let stale = sign_standard(standard_key, "msg_1", now - 301, body);
    let other_body = sign_hex(b"new-secret", br#"{"tx_hash":"sig-1","amount":"2"}"#);
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("X-Signature", "")],
        vec![("X-Signature", "sha256=")],
        vec![("X-Signature", &good[..40])],
        vec![("X-Signature", &other_body)],
        vec![(
            "X-Hub-Signature-256",
            "sha256=zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        )],
        vec![
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &old_ts),
            ("webhook-signature", &stale),
        ],
    ];
    for headers in &bad {
        let reply = app.post_with(body.to_vec(), headers).await;
        reply.assert_json_error(401, "invalid signature");
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM deposits")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    let ts = now.to_string();
    let fresh = sign_standard(standard_key, "msg_2", now, body);
    let old_key = format!("sha256={}", sign_hex(b"old-secret", body));
    let prefixed = format!("sha256={good}");
    let accepted: Vec<Vec<(&str, &str)>> = vec![
        vec![("X-Signature", &good)],
        vec![("X-Hub-Signature-256", &prefixed)],
        vec![("X-Signature", &old_key)],
        vec![
            ("webhook-id", "msg_2"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &fresh),
        ],
    ];
    let mut ids = Vec::new();
    for headers in &accepted {
        let reply = app.post_with(body.to_vec(), headers).await;
        assert_eq!(reply.status, 202, "{headers:?}: {}", reply.json);
        ids.push(reply.tx_id());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "the same deposit each time");
    let hooks = app.get("/api/v1/webhooks/health").await;
    assert_eq!(hooks.json["signature_required"], true);
    app.stop().await;
}
