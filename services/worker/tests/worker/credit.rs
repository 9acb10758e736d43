//! Crediting through the whole pipeline: exactly once, exact decimals, unattributed deposits,
//! out-of-order confirmations (F6), concurrent duplicates (F5), overflow and retries to the DLQ.

use std::time::Duration;

use cricalgo_common::testing;

use crate::harness::{Pipeline, metrics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credited_exactly_once_with_exact_decimals() {
    let pipeline = Pipeline::new().await;
    let app = pipeline.webhook(&[]).await;
    let worker = pipeline.worker(&[]).await;
    let user = pipeline.user(7001).await;
    let bodies = [
        format!(r#"{{"tx_hash":"c1","amount":19.99,"confirmations":3,"user_id":"{user}"}}"#),
        format!(r#"{{"tx_hash":"c2","amount":8.165,"confirmations":12,"metadata":{{"user_id":"{user}"}}}}"#),
        r#"{"tx_hash":"c3","amount":0.1,"confirmations":3,"metadata":{"telegram_id":7001}}"#.to_owned(),
        r#"{"tx_hash":"c4","amount":"0.00000001","confirmations":3,"metadata":{"telegram_id":"7001"}}"#.to_owned(),
    ];
    let mut ids = Vec::new();
    for body in &bodies {
        let (status, json) = pipeline.post(&app, body.clone()).await;
        assert_eq!(status, 202, "{json}");
        ids.push(json["tx_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        pipeline.wait_status(id, "credited").await;
    }
    // Redelivery after crediting: same tx_id, no second credit.
    let (status, json) = pipeline.post(&app, bodies[0].clone()).await;
    assert_eq!(
        (status, json["tx_id"].as_str()),
        (202, Some(ids[0].as_str()))
    );
    let balance = pipeline
        .text("SELECT deposit_balance::text FROM wallets")
        .await;
    assert_eq!(balance, "28.25500001");
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        4
    );
    assert_eq!(
        pipeline
            .count("SELECT count(*) FROM audit_logs WHERE to_status = 'credited'")
            .await,
        4
    );
    pipeline.assert_books_balance().await;
    let view = crate::harness::json(
        pipeline
            .client
            .get(format!("{}/api/v1/deposits/{}", app.base, ids[1]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (
            view["status"].as_str(),
            view["amount"].as_str(),
            view["user_id"].as_str()
        ),
        (Some("credited"), Some("8.165"), Some(user.as_str()))
    );
    assert!(view["processed_at"].is_string());
    let client = pipeline.client.clone();
    let base = worker.base.clone();
    testing::wait_until("credited counter", Duration::from_secs(10), || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            metrics(&client, &base)
                .await
                .contains(r#"deposits_processed_total{outcome="credited"} 4"#)
        }
    })
    .await;
    let text = metrics(&client, &base).await;
    assert!(
        text.contains("deposit_task_duration_seconds_count"),
        "{text}"
    );
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_user_metadata_is_accepted_and_unattributed() {
    let pipeline = Pipeline::new().await;
    let app = pipeline.webhook(&[]).await;
    let worker = pipeline.worker(&[]).await;
    pipeline.user(8001).await;
    let bodies = [
        r#"{"tx_hash":"u1","amount":"1","confirmations":3}"#,
        r#"{"tx_hash":"u2","amount":"1","confirmations":3,"metadata":null}"#,
        r#"{"tx_hash":"u3","amount":"1","confirmations":3,"metadata":{}}"#,
        r#"{"tx_hash":"u4","amount":"1","confirmations":3,"user_id":""}"#,
        r#"{"tx_hash":"u5","amount":"1","confirmations":3,"user_id":"not-a-uuid"}"#,
        r#"{"tx_hash":"u6","amount":"1","confirmations":3,"user_id":"5b3e2a4c-0000-4000-8000-000000000000"}"#,
        r#"{"tx_hash":"u7","amount":"1","confirmations":3,"metadata":{"telegram_id":999999}}"#,
        r#"{"tx_hash":"u8","amount":"1","confirmations":3,"metadata":{"telegram_id":"12; DROP TABLE users"}}"#,
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let (status, json) = pipeline.post(&app, body.to_owned()).await;
        assert_eq!(status, 202, "{body}: {json}");
        ids.push(json["tx_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        pipeline.wait_status(id, "unattributed").await;
    }
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        0
    );
    assert_eq!(
        pipeline
            .text("SELECT COALESCE(sum(deposit_balance), 0)::text FROM wallets")
            .await,
        "0"
    );
    let reason = pipeline
        .text("SELECT last_error FROM deposits WHERE tx_hash = 'u5'")
        .await;
    assert!(reason.contains("not-a-uuid"), "{reason}");
    let text = metrics(&pipeline.client, &worker.base).await;
    assert!(
        text.contains(r#"deposits_processed_total{outcome="unattributed"} 8"#),
        "{text}"
    );
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_confirmations_never_move_backwards() {
    let pipeline = Pipeline::new().await;
    let app = pipeline.webhook(&[]).await;
    let worker = pipeline.worker(&[("CONFIRMATION_THRESHOLD", "3")]).await;
    pipeline.user(9001).await;
    let body = |confirmations: u32| {
        format!(
            r#"{{"tx_hash":"oo","amount":"7.5","confirmations":{confirmations},"metadata":{{"telegram_id":9001}}}}"#
        )
    };
    let (_, json) = pipeline.post(&app, body(1)).await;
    let tx_id = json["tx_id"].as_str().unwrap().to_owned();
    pipeline.wait_status(&tx_id, "pending_confirmations").await;
    for (confirmations, expected) in [
        (0, "pending_confirmations"),
        (2, "pending_confirmations"),
        (5, "credited"),
        (3, "credited"),
        (1, "credited"),
    ] {
        let (status, json) = pipeline.post(&app, body(confirmations)).await;
        assert_eq!(
            (status, json["tx_id"].as_str()),
            (202, Some(tx_id.as_str())),
            "{confirmations}"
        );
        pipeline.wait_status(&tx_id, expected).await;
    }
    let (confirmations,): (i64,) =
        sqlx::query_as("SELECT confirmations FROM deposits WHERE id = $1::uuid")
            .bind(&tx_id)
            .fetch_one(pipeline.pool())
            .await
            .unwrap();
    assert_eq!(confirmations, 5);
    // Highest first, then lower: credited once, stays credited.
    let late = |confirmations: u32| {
        format!(
            r#"{{"tx_hash":"oo2","amount":"2","confirmations":{confirmations},"metadata":{{"telegram_id":9001}}}}"#
        )
    };
    let (_, json) = pipeline.post(&app, late(9)).await;
    let second = json["tx_id"].as_str().unwrap().to_owned();
    pipeline.wait_status(&second, "credited").await;
    pipeline.post(&app, late(1)).await;
    assert_eq!(pipeline.status(&second).await, "credited");
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        2
    );
    assert_eq!(
        pipeline
            .text("SELECT deposit_balance::text FROM wallets")
            .await,
        "9.50000000"
    );
    pipeline.assert_books_balance().await;
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_duplicates_credit_once() {
    let pipeline = Pipeline::new().await;
    let app = pipeline.webhook(&[]).await;
    let worker = pipeline.worker(&[("WORKER_CONCURRENCY", "8")]).await;
    pipeline.user(9101).await;
    let body =
        r#"{"tx_hash":"dup50","amount":"3.33","confirmations":6,"metadata":{"telegram_id":9101}}"#;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url) = (
            pipeline.client.clone(),
            format!("{}/api/v1/webhooks/bep20", app.base),
        );
        tasks.push(tokio::spawn(async move {
            // Like a real sender, retry a 503 (nothing was stored); a connection storm on a cold
            // pool in a debug build can exceed the request deadline.
            loop {
                let response = client.post(&url).body(body).send().await.unwrap();
                let status = response.status().as_u16();
                let json = crate::harness::json(response).await;
                if status != 503 {
                    break (
                        status,
                        json["tx_id"]
                            .as_str()
                            .unwrap_or_else(|| panic!("{status} {json}"))
                            .to_owned(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let (status, id) = task.await.unwrap();
        assert_eq!(status, 202);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    pipeline.wait_status(&id, "credited").await;
    assert_eq!(pipeline.count("SELECT count(*) FROM deposits").await, 1);
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        1
    );
    assert_eq!(
        pipeline
            .text("SELECT deposit_balance::text FROM wallets")
            .await,
        "3.33000000"
    );
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_and_exhausted_retries_go_to_the_dlq() {
    let pipeline = Pipeline::new().await;
    let app = pipeline.webhook(&[]).await;
    let worker = pipeline.worker(&[("MAX_ATTEMPTS", "3")]).await;
    pipeline.user(9201).await;
    pipeline.user(9202).await;
    // Two deposits whose sum overflows numeric(30,8): the first is credited, the second fails.
    let big = |hash: &str| {
        format!(
            r#"{{"tx_hash":"{hash}","amount":"6000000000000000000000","confirmations":3,"metadata":{{"telegram_id":9201}}}}"#
        )
    };
    let (_, first) = pipeline.post(&app, big("big1")).await;
    let first = first["tx_id"].as_str().unwrap().to_owned();
    pipeline.wait_status(&first, "credited").await;
    let (status, second) = pipeline.post(&app, big("big2")).await;
    assert_eq!(status, 202);
    let second = second["tx_id"].as_str().unwrap().to_owned();
    pipeline.wait_status(&second, "failed").await;
    assert_eq!(
        pipeline
            .text("SELECT deposit_balance::text FROM wallets")
            .await,
        "6000000000000000000000.00000000"
    );
    // A transient error on every attempt: retried MAX_ATTEMPTS times with backoff, then failed.
    sqlx::query(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.user_id = (SELECT id FROM users WHERE telegram_id = 9202) THEN
         RAISE EXCEPTION 'ledger unavailable'; END IF; RETURN NEW; END $$",
    )
    .execute(pipeline.pool())
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION refuse()")
        .execute(pipeline.pool())
        .await
        .unwrap();
    let (_, third) = pipeline
        .post(
            &app,
            r#"{"tx_hash":"retry","amount":"1","confirmations":3,"metadata":{"telegram_id":9202}}"#
                .to_owned(),
        )
        .await;
    let third = third["tx_id"].as_str().unwrap().to_owned();
    pipeline.wait_status(&third, "failed").await;
    assert_eq!(
        pipeline
            .count("SELECT attempts::bigint FROM deposits WHERE tx_hash = 'retry'")
            .await,
        3
    );
    let mut redis = redis::Client::open(pipeline.redis_url.clone())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let dlq: u64 = redis::cmd("XLEN")
        .arg(format!("{}:dlq", pipeline.stream))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(dlq, 2);
    pipeline.assert_books_balance().await;
    let (client, base) = (pipeline.client.clone(), worker.base.clone());
    testing::wait_until("dlq gauge", Duration::from_secs(10), || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let text = metrics(&client, &base).await;
            text.contains("deposit_dlq_depth 2")
                && text.contains(r#"deposits_processed_total{outcome="failed"} 2"#)
        }
    })
    .await;
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}
