//! Shared by the deposit services and the CLI: configuration, schema and migrations, the inbox,
//! the credit transaction, the queue and the metrics.
//!
//! - [`config`]: environment configuration, validated at start, secrets that never print;
//! - [`db`]: the pool, the embedded migrations (`migrate`), the test users (`seed`);
//! - [`deposit`]: the webhook payload, parsed exactly from the received bytes;
//! - [`inbox`]: the webhook's durable write and the status view;
//! - [`credit`]: the worker's transaction (claim, resolve, confirm, credit), failures, the sweeper;
//! - [`queue`]: Redis stream names, nudges, the consumer group, the DLQ;
//! - [`metrics`]: every exported metric name and label;
//! - [`health`]: the `healthcheck` subcommand's probe.

pub mod config;
pub mod credit;
pub mod db;
pub mod deposit;
pub mod health;
pub mod inbox;
pub mod metrics;
pub mod queue;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;
