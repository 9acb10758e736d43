//! The load engine: executors, HTTP client, HDR metrics and the per-second time series; results flow out on a channel.
//!
//! Flow: a [`Scenario`] (data) is validated into a [`Plan`] before any request is sent; then
//! [`run_scenario`] runs it on worker threads (one current-thread runtime per core, VUs as local
//! tasks, one keep-alive connection per VU), emits [`Event`]s on the caller's channel while it
//! runs, and returns a [`RunResult`] whose metrics carry k6's names and definitions.
//!
//! This crate never touches Docker, Kubernetes or the terminal.

mod client;
pub mod duration;
mod engine;
pub mod metrics;
pub mod result;
pub mod scenario;
pub mod schedule;
pub mod target;
pub mod template;

pub use client::{FetchError, Fetched, fetch};
pub use engine::{EngineError, Event, preflight, resolve, run_scenario};
pub use metrics::{MetricKind, MetricValues, Trend};
pub use result::{RunResult, TimeseriesRow, known_metrics};
pub use scenario::{ExecutorConfig, Plan, Scenario, ScenarioError};
pub use tokio_util::sync::CancellationToken;
