//! F1 (a worker process killed with 1,000 deposits in flight), F2 (Redis restarted mid-stream),
//! configuration errors at start, SIGTERM and the `healthcheck` subcommand.

use std::process::Command;
use std::time::{Duration, Instant};

use cricalgo_common::deposit;
use cricalgo_common::queue::{self, Streams};
use cricalgo_common::testing::{self, PrivateRedis};

use crate::harness::Pipeline;

const WORKER: &str = env!("CARGO_BIN_EXE_cricalgo-worker");

fn healthcheck(port: u16) -> bool {
    Command::new(WORKER)
        .arg("healthcheck")
        .env("METRICS_PORT", port.to_string())
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_loses_nothing_and_credits_once() {
    let pipeline = Pipeline::new().await;
    sqlx::query(
        "INSERT INTO users (telegram_id, username) SELECT 50000 + g, 'f1_' || g FROM generate_series(1, 20) g",
    )
    .execute(pipeline.pool())
    .await
    .unwrap();
    // 1,000 deposits stored and queued before any worker runs.
    let streams = Streams::new(&pipeline.stream);
    let mut redis = redis::Client::open(pipeline.redis_url.clone())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    queue::ensure_group(&mut redis, &streams).await.unwrap();
    for n in 0..1000 {
        let raw = format!(
            r#"{{"tx_hash":"f1-{n}","amount":"1.01","confirmations":3,"metadata":{{"telegram_id":{}}}}}"#,
            50001 + n % 20
        );
        let parsed = deposit::parse(raw.as_bytes()).unwrap();
        let cricalgo_common::inbox::Accepted::New(tx_id) =
            cricalgo_common::inbox::accept(pipeline.pool(), &parsed, raw.as_bytes())
                .await
                .unwrap()
        else {
            panic!("new deposit expected");
        };
        queue::enqueue(&mut redis, &streams, tx_id).await.unwrap();
    }
    let env = [
        ("WORKER_CONCURRENCY", "8"),
        ("RECLAIM_IDLE_SECS", "2"),
        ("SWEEP_GRACE_SECS", "3"),
    ];
    let (mut victim, victim_port) = pipeline.spawn_worker_process(&env);
    testing::wait_until(
        "the victim's healthcheck",
        Duration::from_secs(30),
        || async { healthcheck(victim_port) },
    )
    .await;
    testing::wait_until(
        "some deposits credited",
        Duration::from_secs(60),
        || async {
            pipeline
                .count("SELECT count(*) FROM deposits WHERE status = 'credited'")
                .await
                >= 100
        },
    )
    .await;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    assert!(
        !healthcheck(victim_port),
        "healthcheck fails once the process is gone"
    );
    let credited_at_kill = pipeline
        .count("SELECT count(*) FROM deposits WHERE status = 'credited'")
        .await;
    assert!(
        credited_at_kill < 1000,
        "the kill happened with deposits in flight"
    );
    let (mut survivor, survivor_port) = pipeline.spawn_worker_process(&env);
    testing::wait_until(
        "every deposit credited",
        Duration::from_secs(90),
        || async {
            pipeline
                .count("SELECT count(*) FROM deposits WHERE status = 'credited'")
                .await
                == 1000
        },
    )
    .await;
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        1000
    );
    assert_eq!(
        pipeline
            .text("SELECT sum(deposit_balance)::text FROM wallets")
            .await,
        "1010.00000000"
    );
    pipeline.assert_books_balance().await;
    // Nothing stuck pending in the consumer group.
    testing::wait_until("no pending stream entries", Duration::from_secs(30), || {
        let mut redis = redis.clone();
        let streams = streams.clone();
        async move {
            let pending: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
                .arg(&streams.stream)
                .arg(&streams.group)
                .query_async(&mut redis)
                .await
                .unwrap();
            pending.0 == 0
        }
    })
    .await;
    // SIGTERM: a graceful, successful exit.
    assert!(healthcheck(survivor_port));
    let terminated = Command::new("kill")
        .args(["-TERM", &survivor.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = survivor.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "worker did not stop within 15 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    pipeline.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_nothing() {
    let mut redis_server = PrivateRedis::start();
    let pipeline = Pipeline::with_redis(redis_server.url.clone()).await;
    sqlx::query("INSERT INTO users (telegram_id, username) VALUES (60001, 'f2')")
        .execute(pipeline.pool())
        .await
        .unwrap();
    let env = [("SWEEP_GRACE_SECS", "1"), ("RECLAIM_IDLE_SECS", "2")];
    let app = pipeline.webhook(&env).await;
    let worker = pipeline.worker(&env).await;
    let body = |n: usize| {
        format!(
            r#"{{"tx_hash":"f2-{n}","amount":"0.5","confirmations":3,"metadata":{{"telegram_id":60001}}}}"#
        )
    };
    let post_range = |range: std::ops::Range<usize>| {
        let (client, url) = (
            pipeline.client.clone(),
            format!("{}/api/v1/webhooks/bep20", app.base),
        );
        async move {
            // Ten senders at a time.
            let numbers: Vec<usize> = range.collect();
            for batch in numbers.chunks(10) {
                let mut tasks = Vec::new();
                for n in batch {
                    let (client, url, body) = (client.clone(), url.clone(), body(*n));
                    tasks.push(tokio::spawn(async move {
                        let response = client.post(url).body(body).send().await.unwrap();
                        (
                            response.status().as_u16(),
                            response.text().await.unwrap_or_default(),
                        )
                    }));
                }
                for task in tasks {
                    let (status, text) = task.await.unwrap();
                    assert_eq!(status, 202, "accepted whatever Redis does: {text}");
                }
            }
        }
    };
    post_range(0..100).await;
    redis_server.kill_server();
    post_range(100..130).await;
    redis_server.start_server();
    post_range(130..200).await;
    testing::wait_until(
        "all 200 credited after the Redis restart",
        Duration::from_secs(60),
        || async {
            pipeline
                .count("SELECT count(*) FROM deposits WHERE status = 'credited'")
                .await
                == 200
        },
    )
    .await;
    assert_eq!(
        pipeline.count("SELECT count(*) FROM ledger_entries").await,
        200
    );
    assert_eq!(
        pipeline
            .text("SELECT deposit_balance::text FROM wallets")
            .await,
        "100.00000000"
    );
    pipeline.assert_books_balance().await;
    worker.stop().await;
    app.stop().await;
    pipeline.drop_database().await;
}

#[test]
fn bad_configuration_fails_at_start_naming_the_variable() {
    let run = |pairs: &[(&str, &str)]| {
        let output = Command::new(WORKER)
            .env_clear()
            .envs(pairs.iter().copied())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let url = "postgres://app:hunter2@127.0.0.1:1/db";
    for (pairs, variable) in [
        (
            vec![("REDIS_URL", "redis://x")],
            "`DATABASE_URL` is not set",
        ),
        (vec![("DATABASE_URL", url)], "`REDIS_URL` is not set"),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("DB_POOL_SIZE", "abc"),
            ],
            "`DB_POOL_SIZE` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("MAX_ATTEMPTS", "0"),
            ],
            "`MAX_ATTEMPTS` is invalid",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("RECLAIM_IDLE_SECS", "soon"),
            ],
            "`RECLAIM_IDLE_SECS`",
        ),
        (
            vec![
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://x"),
                ("LOG_FORMAT", "xml"),
            ],
            "`LOG_FORMAT`",
        ),
    ] {
        let (code, stderr) = run(&pairs);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
        assert!(!stderr.contains("hunter2"), "secret leaked: {stderr}");
    }
    let (code, stderr) = run(&[("METRICS_PORT", "1")]);
    assert_ne!(code, Some(0), "healthcheck-less run fails: {stderr}");
    let output = Command::new(WORKER)
        .arg("healthcheck")
        .env("METRICS_PORT", testing::free_port().to_string())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "healthcheck fails when nothing listens"
    );
}
