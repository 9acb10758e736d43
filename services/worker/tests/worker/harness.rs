//! A pipeline of one test's own: a fresh database, a private stream, the webhook app in-process,
//! and workers either in-process or as real processes of the built binary.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cricalgo_common::config::Source;
use cricalgo_common::testing::{self, TestDb};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

pub struct InProcess {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl InProcess {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("stops within 15 s of the signal")
                .unwrap();
        }
    }
}

pub struct Pipeline {
    pub db: TestDb,
    pub stream: String,
    pub redis_url: String,
    pub client: reqwest::Client,
}

impl Pipeline {
    pub async fn new() -> Pipeline {
        Self::with_redis(testing::redis_url()).await
    }

    pub async fn with_redis(redis_url: String) -> Pipeline {
        Pipeline {
            db: TestDb::create().await,
            stream: testing::unique_stream(),
            redis_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub fn env(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".to_owned(), self.db.url.clone()),
            ("REDIS_URL".to_owned(), self.redis_url.clone()),
            ("DEPOSIT_STREAM".to_owned(), self.stream.clone()),
        ]);
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        env
    }

    pub async fn webhook(&self, extra: &[(&str, &str)]) -> InProcess {
        let config = cricalgo_webhook::Config::from_env(&self.env(extra) as &dyn Source).unwrap();
        let router = cricalgo_webhook::build(&config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            cricalgo_webhook::serve(listener, router, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        InProcess {
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn worker(&self, extra: &[(&str, &str)]) -> InProcess {
        let config = cricalgo_worker::Config::from_env(&self.env(extra) as &dyn Source).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            cricalgo_worker::run(config, listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        InProcess {
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A real worker process of the built binary.
    pub fn spawn_worker_process(&self, extra: &[(&str, &str)]) -> (Child, u16) {
        let port = testing::free_port();
        let mut env = self.env(extra);
        env.insert("METRICS_PORT".to_owned(), port.to_string());
        env.entry("LOG_FORMAT".to_owned())
            .or_insert_with(|| "json".to_owned());
        let child = Command::new(env!("CARGO_BIN_EXE_cricalgo-worker"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the cricalgo-worker binary");
        (child, port)
    }

    pub async fn post(&self, app: &InProcess, body: String) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/webhooks/bep20", app.base))
            .body(body)
            .send()
            .await
            .expect("webhook answers");
        let status = response.status().as_u16();
        (status, json(response).await)
    }

    pub async fn user(&self, telegram_id: i64) -> String {
        let (id,): (String,) = sqlx::query_as(
            "INSERT INTO users (telegram_id, username) VALUES ($1, 'u' || $1) RETURNING id::text",
        )
        .bind(telegram_id)
        .fetch_one(self.pool())
        .await
        .unwrap();
        id
    }

    pub async fn status(&self, tx_id: &str) -> String {
        let (status,): (String,) =
            sqlx::query_as("SELECT status FROM deposits WHERE id = $1::uuid")
                .bind(tx_id)
                .fetch_one(self.pool())
                .await
                .unwrap();
        status
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (count,): (i64,) = sqlx::query_as(sql).fetch_one(self.pool()).await.unwrap();
        count
    }

    pub async fn wait_status(&self, tx_id: &str, expected: &str) {
        testing::wait_until(
            &format!("{tx_id} to be {expected}"),
            Duration::from_secs(30),
            || async { self.status(tx_id).await == expected },
        )
        .await;
    }

    pub async fn text(&self, sql: &str) -> String {
        let (text,): (Option<String>,) = sqlx::query_as(sql).fetch_one(self.pool()).await.unwrap();
        text.unwrap_or_default()
    }

    /// Ledger sum equals wallet balances; one ledger row per credited deposit, none for others.
    pub async fn assert_books_balance(&self) {
        let ledger = self
            .text("SELECT COALESCE(sum(amount), 0)::text FROM ledger_entries")
            .await;
        let wallets = self
            .text("SELECT COALESCE(sum(deposit_balance), 0)::text FROM wallets")
            .await;
        assert_eq!(ledger, wallets, "ledger sum = wallet balances");
        let mismatched = self
            .count(
                "SELECT count(*) FROM deposits d LEFT JOIN ledger_entries l ON l.deposit_id = d.id
                 WHERE (d.status = 'credited') <> (l.id IS NOT NULL)",
            )
            .await;
        assert_eq!(
            mismatched, 0,
            "a ledger row exactly for each credited deposit"
        );
    }

    pub async fn drop_database(self) {
        self.db.drop_database().await;
    }
}

pub async fn metrics(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}
