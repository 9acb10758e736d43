//! Starts the app in-process on port 0 against a fresh database and a private stream name.

use std::collections::HashMap;
use std::time::Duration;

use cricalgo_common::config::Source;
use cricalgo_common::testing::{self, TestDb};
use cricalgo_webhook::Config;
use serde_json::Value;
use tokio::sync::oneshot;

pub struct App {
    pub base: String,
    pub db: TestDb,
    pub stream: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl App {
    pub async fn start(extra: &[(&str, &str)]) -> App {
        Self::start_on(TestDb::create().await, extra).await
    }

    pub async fn start_on(db: TestDb, extra: &[(&str, &str)]) -> App {
        let stream = testing::unique_stream();
        let mut env: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".to_owned(), db.url.clone()),
            ("REDIS_URL".to_owned(), testing::redis_url()),
            ("DEPOSIT_STREAM".to_owned(), stream.clone()),
        ]);
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        let config = Config::from_env(&env as &dyn Source).expect("valid test configuration");
        let router = cricalgo_webhook::build(&config).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            cricalgo_webhook::serve(listener, router, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        App {
            base,
            db,
            stream,
            client,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub async fn post(&self, body: impl Into<Vec<u8>>) -> Reply {
        self.post_with(body, &[]).await
    }

    pub async fn post_with(&self, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/api/v1/webhooks/bep20", self.base))
            .body(body.into());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.expect("webhook answers")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        reply(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("app answers"),
        )
        .await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        self.db.drop_database().await;
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        json,
    }
}

impl Reply {
    pub fn tx_id(&self) -> String {
        self.json["tx_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no tx_id in {}", self.json))
            .to_owned()
    }

    pub fn assert_json_error(&self, status: u16, contains: &str) {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(self.json["ok"], false, "{}", self.json);
        let error = self.json["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(contains),
            "error `{error}` should contain `{contains}`"
        );
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{}",
            self.json
        );
    }
}
