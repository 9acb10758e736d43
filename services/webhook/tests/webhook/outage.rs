//! F3: Postgres stopped under webhook load. During the outage the app answers 503 with
//! `Retry-After` within `DB_REQUEST_TIMEOUT`, never 500; every deposit answered 202 is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cricalgo_common::testing::{PrivatePostgres, TestDb};
use tokio::sync::Mutex;

use crate::harness::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_nothing_accepted_is_lost() {
    let postgres = PrivatePostgres::start();
    let db = TestDb::create_on(&postgres.url).await;
    let app = Arc::new(
        App::start_on(
            db,
            &[("DB_REQUEST_TIMEOUT", "1"), ("DB_POOL_TIMEOUT", "30")],
        )
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let statuses = Arc::new(Mutex::new(Vec::<(u16, bool, Duration)>::new()));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (app, stop, accepted, statuses) = (
            app.clone(),
            stop.clone(),
            accepted.clone(),
            statuses.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let tx_hash = format!("f3-{sender}-{n}");
                let started = Instant::now();
                let reply = app
                    .post(format!(r#"{{"tx_hash":"{tx_hash}","amount":"1.25"}}"#))
                    .await;
                let retry_after = reply.headers.contains_key("retry-after");
                statuses
                    .lock()
                    .await
                    .push((reply.status, retry_after, started.elapsed()));
                if reply.status == 202 {
                    accepted.lock().await.push((tx_hash, reply.tx_id()));
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let count = |code: u16| {
        let statuses = statuses.clone();
        async move {
            statuses
                .lock()
                .await
                .iter()
                .filter(|(status, _, _)| *status == code)
                .count()
        }
    };
    wait_for(&count, 202, 50, "202s before the outage").await;
    postgres.stop_server();
    let outage_started = Instant::now();
    wait_for(&count, 503, 20, "503s during the outage").await;
    // The fault lasts 10 s (its length, not a synchronisation).
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage_started.elapsed())).await;
    postgres.start_server();
    let before = count(202).await;
    wait_for(&count, 202, before + 50, "202s after the outage").await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let statuses = statuses.lock().await.clone();
    for (status, retry_after, elapsed) in &statuses {
        assert!(matches!(status, 202 | 503), "only 202 or 503, got {status}");
        if *status == 503 {
            assert!(retry_after, "503 carries Retry-After");
            assert!(
                *elapsed < Duration::from_millis(2500),
                "503 within the request deadline, took {elapsed:?}"
            );
        }
    }
    let accepted = accepted.lock().await.clone();
    let pool = cricalgo_common::db::connect(&app.db.url).await.unwrap();
    for (tx_hash, tx_id) in &accepted {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT id::text FROM deposits WHERE tx_hash = $1")
                .bind(tx_hash)
                .fetch_optional(&pool)
                .await
                .unwrap();
        assert_eq!(
            found.map(|(id,)| id).as_deref(),
            Some(tx_id.as_str()),
            "{tx_hash} was answered 202 but is missing"
        );
    }
    pool.close().await;
}

async fn wait_for<F, Fut>(count: &F, code: u16, at_least: usize, what: &str)
where
    F: Fn(u16) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    cricalgo_common::testing::wait_until(what, Duration::from_secs(30), || async move {
        count(code).await >= at_least
    })
    .await;
}
