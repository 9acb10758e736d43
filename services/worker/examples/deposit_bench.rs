//! The measuring side of `cargo xtask bench webhook` (B3) and `cargo xtask bench worker` (B4):
//! runs each pair of sides alternately for several rounds on real Postgres, Redis and nginx, and
//! prints one JSON object with every round's rate. Built in release by the xtask, which prints
//! the table and writes the artifact.
//!
//! B3: accepted deposits/s through nginx + 3 webhook processes vs the raw inbox insert (the same
//! SQL through a pool) at the same concurrency.
//! B4: credited deposits/s by a worker process vs the raw credit transaction (the same SQL, no
//! Redis) at the same concurrency.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cricalgo_common::config::DbSettings;
use cricalgo_common::queue::Streams;
use cricalgo_common::testing::{self, TestDb};
use cricalgo_common::{credit, db, deposit, inbox};
use serde_json::json;
use sqlx::PgPool;

struct Options {
    bench: String,
    bin_dir: PathBuf,
    concurrency: usize,
    rounds: usize,
    seconds: f64,
    deposits: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    Options {
        bench: args.first().cloned().unwrap_or_default(),
        bin_dir: PathBuf::from(value("--bin-dir", "target/release")),
        concurrency: value("--concurrency", "32")
            .parse()
            .expect("--concurrency is a number"),
        rounds: value("--rounds", "5")
            .parse()
            .expect("--rounds is a number"),
        seconds: value("--seconds", "5")
            .parse()
            .expect("--seconds is a number"),
        deposits: value("--deposits", "4000")
            .parse()
            .expect("--deposits is a number"),
    }
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        match options.bench.as_str() {
            "webhook" => webhook(&options).await,
            "worker" => worker(&options).await,
            other => panic!("unknown bench `{other}`; use `webhook` or `worker`"),
        }
    });
    println!("{result}");
}

fn payload(n: u64, round: &str) -> String {
    format!(
        r#"{{"tx_hash":"bench-{round}-{n}","amount":"12.34","confirmations":3,"metadata":{{"telegram_id":{}}}}}"#,
        db::SEED_TELEGRAM_ID_BASE + 1 + (n % 100) as i64
    )
}

fn spawn(binary: &std::path::Path, env: &[(&str, String)]) -> Child {
    Command::new(binary)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("failed to start {}: {err}", binary.display()))
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn pool(url: &str, size: usize) -> PgPool {
    let mut settings = DbSettings::for_url(url);
    settings.pool_size = u32::try_from(size).unwrap();
    settings.max_overflow = 0;
    let pool = db::pool(&settings).unwrap();
    // Open every connection before measuring.
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(pool.acquire().await.unwrap());
    }
    drop(held);
    pool
}

/// Runs `body` on `concurrency` tasks for `seconds`; returns successes per second.
async fn for_duration<F, Fut>(concurrency: usize, seconds: f64, body: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let body = Arc::new(body);
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (body, next, ok) = (body.clone(), next.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if body(n).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn nginx_config(dir: &std::path::Path, port: u16, upstreams: &[u16]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p};\n"))
        .collect();
    let dir = dir.display();
    format!(
        "worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
         fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
         upstream apps {{\n{servers}    keepalive 128;\n  }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://apps;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    )
}

async fn webhook(options: &Options) -> serde_json::Value {
    let database = TestDb::create().await;
    db::seed(&database.pool, 100).await.unwrap();
    let stream = testing::unique_stream();
    let mut children = Children(Vec::new());
    let mut ports = Vec::new();
    for _ in 0..3 {
        let port = testing::free_port();
        ports.push(port);
        children.0.push(spawn(
            &options.bin_dir.join("cricalgo-webhook"),
            &[
                ("DATABASE_URL", database.url.clone()),
                ("REDIS_URL", testing::redis_url()),
                ("DEPOSIT_STREAM", stream.clone()),
                ("PORT", port.to_string()),
            ],
        ));
    }
    let dir = std::env::temp_dir().join(format!("cricalgo-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nginx_port = testing::free_port();
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(&dir, nginx_port, &ports)).unwrap();
    children.0.push(
        Command::new("nginx")
            .args([
                "-c",
                &config.to_string_lossy(),
                "-p",
                &dir.to_string_lossy(),
                "-g",
                "daemon off;",
            ])
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start nginx; install nginx-light"),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{nginx_port}/api/v1/webhooks/bep20");
    testing::wait_until(
        "nginx and 3 apps answering",
        Duration::from_secs(60),
        || {
            let (client, ports) = (client.clone(), ports.clone());
            async move {
                for port in ports {
                    let ok = client
                        .get(format!("http://127.0.0.1:{port}/api/v1/health"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if !ok {
                        return false;
                    }
                }
                client
                    .get(format!("http://127.0.0.1:{nginx_port}/api/v1/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await;
    let raw_pool = pool(&database.url, options.concurrency).await;
    let mut http_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let statuses = Arc::new(AtomicUsize::new(0));
    for round in 0..=options.rounds {
        // Round 0 warms both sides up and is not counted.
        let seconds = if round == 0 { 1.0 } else { options.seconds };
        let (client, url, tag, errors) = (
            client.clone(),
            url.clone(),
            format!("h{round}"),
            statuses.clone(),
        );
        let http = for_duration(options.concurrency, seconds, move |n| {
            let (client, url, body, errors) = (
                client.clone(),
                url.clone(),
                payload(n, &tag),
                errors.clone(),
            );
            async move {
                match client.post(&url).body(body).send().await {
                    Ok(response) if response.status().as_u16() == 202 => true,
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                }
            }
        })
        .await;
        let (pool, tag) = (raw_pool.clone(), format!("r{round}"));
        let raw = for_duration(options.concurrency, seconds, move |n| {
            let (pool, body) = (pool.clone(), payload(n, &tag));
            async move {
                let parsed = deposit::parse(body.as_bytes()).unwrap();
                matches!(
                    inbox::accept(&pool, &parsed, body.as_bytes()).await,
                    Ok(inbox::Accepted::New(_))
                )
            }
        })
        .await;
        if round > 0 {
            eprintln!("round {round}: http {http:.0}/s, raw {raw:.0}/s");
            http_rates.push(http);
            raw_rates.push(raw);
        }
    }
    drop(children);
    let _ = std::fs::remove_dir_all(&dir);
    raw_pool.close().await;
    database.drop_database().await;
    json!({
        "bench": "webhook",
        "id": "B3",
        "concurrency": options.concurrency,
        "round_seconds": options.seconds,
        "sides": {
            "webhook_via_nginx_3_apps": {"unit": "accepted/s", "rounds": http_rates},
            "raw_inbox_insert": {"unit": "inserts/s", "rounds": raw_rates},
        },
        "non_202_answers": statuses.load(Ordering::Relaxed),
        "target_ratio": 0.6,
    })
}

async fn insert_batch(pool: &PgPool, count: usize, tag: &str) -> Vec<uuid::Uuid> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let body = payload(n as u64, tag);
        let parsed = deposit::parse(body.as_bytes()).unwrap();
        if let inbox::Accepted::New(id) =
            inbox::accept(pool, &parsed, body.as_bytes()).await.unwrap()
        {
            ids.push(id);
        }
    }
    ids
}

async fn worker(options: &Options) -> serde_json::Value {
    let database = TestDb::create().await;
    db::seed(&database.pool, 100).await.unwrap();
    let stream = testing::unique_stream();
    let streams = Streams::new(&stream);
    let metrics_port = testing::free_port();
    let children = Children(vec![spawn(
        &options.bin_dir.join("cricalgo-worker"),
        &[
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", testing::redis_url()),
            ("DEPOSIT_STREAM", stream.clone()),
            ("METRICS_PORT", metrics_port.to_string()),
            ("WORKER_CONCURRENCY", options.concurrency.to_string()),
        ],
    )]);
    testing::wait_until(
        "the worker's health endpoint",
        Duration::from_secs(60),
        || async {
            cricalgo_common::health::probe(metrics_port, "/health", Duration::from_secs(1)).is_ok()
        },
    )
    .await;
    let mut redis = redis::Client::open(testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let raw_pool = pool(&database.url, options.concurrency).await;
    let mut worker_rates = Vec::new();
    let mut raw_rates = Vec::new();
    for round in 0..=options.rounds {
        let count = if round == 0 {
            options.deposits / 4
        } else {
            options.deposits
        };
        // Worker side: the deposits are stored first, then their ids go onto the stream at once.
        let ids = insert_batch(&database.pool, count, &format!("w{round}")).await;
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("XADD")
                .arg(&streams.stream)
                .arg("*")
                .arg("tx_id")
                .arg(id.to_string())
                .ignore();
        }
        let () = pipe.query_async(&mut redis).await.unwrap();
        testing::wait_until(
            "the worker to credit the round",
            Duration::from_secs(600),
            || async { credit::awaiting(&database.pool).await.unwrap() == 0 },
        )
        .await;
        let worker_rate = ids.len() as f64 / started.elapsed().as_secs_f64();
        // Raw side: the same transaction on the same number of tasks, no Redis.
        let ids = Arc::new(insert_batch(&database.pool, count, &format!("r{round}")).await);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..options.concurrency {
            let (ids, next, pool) = (ids.clone(), next.clone(), raw_pool.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(at) else { break };
                    credit::process(&pool, *id, 3).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let raw_rate = ids.len() as f64 / started.elapsed().as_secs_f64();
        if round > 0 {
            eprintln!("round {round}: worker {worker_rate:.0}/s, raw {raw_rate:.0}/s");
            worker_rates.push(worker_rate);
            raw_rates.push(raw_rate);
        }
    }
    let (credited,): (i64,) = sqlx::query_as("SELECT count(*) FROM ledger_entries")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    raw_pool.close().await;
    drop(children);
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(&streams.stream)
        .query_async(&mut redis)
        .await;
    database.drop_database().await;
    json!({
        "bench": "worker",
        "id": "B4",
        "concurrency": options.concurrency,
        "deposits_per_round": options.deposits,
        "sides": {
            "worker_process": {"unit": "credited/s", "rounds": worker_rates},
            "raw_credit_transaction": {"unit": "credited/s", "rounds": raw_rates},
        },
        "ledger_rows": credited,
        "target_ratio": 0.7,
    })
}
