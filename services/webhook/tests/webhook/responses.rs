//! Every row of the response table, the other endpoints, and concurrent duplicates (F5).

use std::collections::HashSet;

use crate::harness::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_table() {
    let app = App::start(&[]).await;
    // New deposit: 202 with a tx_id; the row exists and the id is on the stream.
    let first = app
        .post(r#"{"tx_hash":"0xaaa","amount":"20.0","confirmations":1}"#)
        .await;
    assert_eq!(first.status, 202, "{}", first.json);
    assert_eq!(first.json["ok"], true);
    assert!(first.json.get("duplicate").is_none());
    let tx_id = first.tx_id();
    let mut redis = redis::Client::open(cricalgo_common::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let length: u64 = redis::cmd("XLEN")
        .arg(&app.stream)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(length, 1);

    // Same (chain, tx_hash): 202, the same tx_id, duplicate.
    let again = app
        .post(r#"{"tx_hash":"0xaaa","amount":20,"confirmations":1}"#)
        .await;
    assert_eq!(
        (again.status, again.tx_id(), again.json["duplicate"].clone()),
        (202, tx_id.clone(), true.into())
    );
    // Another chain is another deposit.
    let other_chain = app
        .post(r#"{"tx_hash":"0xaaa","amount":"20.0","chain":"erc20"}"#)
        .await;
    assert_eq!(other_chain.status, 202);
    assert_ne!(other_chain.tx_id(), tx_id);

    // Different amount: 409 with the first tx_id, stored row unchanged.
    let conflict = app
        .post(r#"{"tx_hash":"0xaaa","amount":"21.0","confirmations":9}"#)
        .await;
    conflict.assert_json_error(409, "differs");
    assert_eq!(conflict.tx_id(), tx_id);
    let (amount, confirmations): (String, i64) =
        sqlx::query_as("SELECT amount::text, confirmations FROM deposits WHERE id = $1::uuid")
            .bind(&tx_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((amount.as_str(), confirmations), ("20.00000000", 1));

    // More confirmations raise the count; fewer never lower it.
    let raised = app
        .post(r#"{"tx_hash":"0xaaa","amount":"20","confirmations":4}"#)
        .await;
    assert_eq!((raised.status, raised.tx_id()), (202, tx_id.clone()));
    let lowered = app
        .post(r#"{"tx_hash":"0xaaa","amount":"20","confirmations":2}"#)
        .await;
    assert_eq!((lowered.status, lowered.tx_id()), (202, tx_id.clone()));
    let (confirmations,): (i64,) =
        sqlx::query_as("SELECT confirmations FROM deposits WHERE id = $1::uuid")
            .bind(&tx_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(confirmations, 4);

    // Missing fields and invalid input.
    app.post(r#"{"amount":"1"}"#)
        .await
        .assert_json_error(400, "missing tx_hash or amount");
    app.post(r#"{"tx_hash":"x"}"#)
        .await
        .assert_json_error(400, "missing tx_hash or amount");
    app.post("{").await.assert_json_error(400, "malformed JSON");
    app.post(r#"{"tx_hash":"x","amount":"-1"}"#)
        .await
        .assert_json_error(422, "greater than 0");

    // Status endpoint.
    let status = app.get(&format!("/api/v1/deposits/{tx_id}")).await;
    assert_eq!(status.status, 200);
    for field in [
        "tx_id",
        "tx_hash",
        "chain",
        "amount",
        "currency",
        "confirmations",
        "status",
        "user_id",
        "received_at",
        "processed_at",
    ] {
        assert!(
            status.json.get(field).is_some(),
            "{field} missing in {}",
            status.json
        );
    }
    assert_eq!(
        (
            status.json["amount"].as_str(),
            status.json["status"].as_str()
        ),
        (Some("20"), Some("received"))
    );
    app.get(&format!("/api/v1/deposits/{}", uuid::Uuid::new_v4()))
        .await
        .assert_json_error(404, "not found");
    app.get("/api/v1/deposits/not-a-uuid")
        .await
        .assert_json_error(404, "not found");
    app.get("/nope").await.assert_json_error(404, "not found");

    // Liveness, readiness, webhook health, metrics.
    let health = app.get("/api/v1/health").await;
    assert_eq!(
        (health.status, health.json["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(app.get("/api/v1/ready").await.status, 200);
    let hooks = app.get("/api/v1/webhooks/health").await;
    assert_eq!(
        (hooks.status, hooks.json["signature_required"].clone()),
        (200, false.into())
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"webhook_requests_total{outcome="accepted"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"webhook_requests_total{outcome="amount_mismatch"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"webhook_requests_total{outcome="confirmations_updated"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_requests_total{method="POST",route="/api/v1/webhooks/bep20",status="409"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("webhook_enqueue_failed_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{state="max"} 30"#),
        "{metrics}"
    );
    // A GET on the webhook route is a JSON 405, not a silent success.
    let wrong_method = app.get("/api/v1/webhooks/bep20").await;
    wrong_method.assert_json_error(405, "method not allowed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_duplicates_share_one_row() {
    let app = App::start(&[]).await;
    let body =
        r#"{"tx_hash":"0xdup","amount":"5.5","confirmations":3,"metadata":{"telegram_id":1}}"#;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/webhooks/bep20", app.base);
        tasks.push(tokio::spawn(async move {
            // Like a real sender, retry a 503 (nothing was stored): a connection storm on a cold
            // pool in a debug build can exceed the request deadline.
            loop {
                let reply =
                    crate::harness::reply(client.post(&url).body(body).send().await.unwrap()).await;
                if reply.status != 503 {
                    break reply;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }));
    }
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 202, "{}", reply.json);
        if reply.json.get("duplicate").is_none() {
            fresh += 1;
        }
        ids.insert(reply.tx_id());
    }
    assert_eq!(
        (ids.len(), fresh),
        (1, 1),
        "one tx_id, exactly one first delivery"
    );
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM deposits")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_safe_when_three_instances_start_at_once() {
    let admin = cricalgo_common::db::connect(&cricalgo_common::testing::database_url())
        .await
        .unwrap();
    let name = format!("cricalgo_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url =
        cricalgo_common::testing::with_database(&cricalgo_common::testing::database_url(), &name);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let pool = cricalgo_common::db::connect(&url).await.unwrap();
            cricalgo_common::db::migrate(&pool).await
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent migrate succeeds");
    }
    let pool = cricalgo_common::db::connect(&url).await.unwrap();
    let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, 1);
    // Seeding twice leaves the same users; a user needs only telegram_id and username.
    assert_eq!(cricalgo_common::db::seed(&pool, 20).await.unwrap(), 20);
    assert_eq!(cricalgo_common::db::seed(&pool, 20).await.unwrap(), 20);
    sqlx::query("INSERT INTO users (telegram_id, username) VALUES (42, 'plain')")
        .execute(&pool)
        .await
        .unwrap();
    let (users, wallets): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM wallets)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((users, wallets), (21, 20));
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}
