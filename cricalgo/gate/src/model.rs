//! The k6 summary model: metrics by type with their values, recorded thresholds and checks.
//!
//! Built by the load engine from its results, or read from a k6 file; written back out in both
//! k6 shapes. Every statistic is optional because k6 files omit what was not exported.

use std::collections::BTreeMap;
use std::fmt;

use crate::threshold::{Aggregation, Selector};

/// The four k6 metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Rate => "rate",
            MetricType::Trend => "trend",
        })
    }
}

/// What a metric's values measure (k6's `contains`): durations are milliseconds, data is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Contains {
    #[default]
    Default,
    Time,
    Data,
}

impl Contains {
    /// k6's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Contains::Default => "default",
            Contains::Time => "time",
            Contains::Data => "data",
        }
    }
}

/// A percentile rank `0..=100` usable as a map key (`p(95)`, `p(99.9)`).
#[derive(Debug, Clone, Copy)]
pub struct Percentile(pub f64);

impl PartialEq for Percentile {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for Percentile {}
impl PartialOrd for Percentile {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Percentile {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl fmt::Display for Percentile {
    /// k6's key: `p(95)`, `p(99.9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p({})", self.0)
    }
}

/// A trend's statistics, in the metric's unit (milliseconds for `contains: time`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrendValues {
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub med: Option<f64>,
    pub max: Option<f64>,
    /// Percentiles by rank (the engine supplies at least 90, 95 and 99).
    pub percentiles: BTreeMap<Percentile, f64>,
    /// Number of samples, when known.
    pub count: Option<u64>,
}

/// A metric's values by type. `None` means the statistic is not known (not exported, `null`).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Counter {
        count: Option<f64>,
        /// per second over the test run
        rate: Option<f64>,
    },
    Gauge {
        value: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    },
    Rate {
        /// share of non-zero samples, `0..=1`
        rate: Option<f64>,
        /// non-zero samples
        passes: Option<u64>,
        /// zero samples
        fails: Option<u64>,
    },
    Trend(TrendValues),
}

impl Values {
    /// The metric type these values belong to.
    pub fn metric_type(&self) -> MetricType {
        match self {
            Values::Counter { .. } => MetricType::Counter,
            Values::Gauge { .. } => MetricType::Gauge,
            Values::Rate { .. } => MetricType::Rate,
            Values::Trend(_) => MetricType::Trend,
        }
    }

    /// The value an aggregation reads, computed from raw counts where the file lacks it (a rate
    /// from `passes`/`fails`). `None` when absent or when it does not apply to this type.
    pub fn aggregate(&self, aggregation: Aggregation) -> Option<f64> {
        let value = match (self, aggregation) {
            (Values::Counter { count, .. }, Aggregation::Count) => *count,
            (Values::Counter { rate, .. }, Aggregation::Rate) => *rate,
            (Values::Gauge { value, .. }, Aggregation::Value) => *value,
            (
                Values::Rate {
                    rate,
                    passes,
                    fails,
                },
                Aggregation::Rate,
            ) => match (passes, fails) {
                (Some(p), Some(f)) if p + f > 0 => Some(*p as f64 / (*p + *f) as f64),
                _ => *rate,
            },
            (Values::Trend(t), Aggregation::Avg) => t.avg,
            (Values::Trend(t), Aggregation::Min) => t.min,
            (Values::Trend(t), Aggregation::Max) => t.max,
            (Values::Trend(t), Aggregation::Med) => t
                .med
                .or_else(|| t.percentiles.get(&Percentile(50.0)).copied()),
            (Values::Trend(t), Aggregation::Percentile(p)) => {
                t.percentiles.get(&Percentile(p)).copied().or(match p {
                    50.0 => t.med,
                    100.0 => t.max,
                    0.0 => t.min,
                    _ => None,
                })
            }
            _ => None,
        };
        value.filter(|v| v.is_finite())
    }

    /// Number of samples when the values tell it (`None` when they do not).
    pub fn samples(&self) -> Option<u64> {
        match self {
            Values::Counter { count, .. } => match count {
                Some(c) if *c == 0.0 => Some(0),
                _ => None,
            },
            Values::Gauge { .. } => None,
            Values::Rate { passes, fails, .. } => match (passes, fails) {
                (Some(p), Some(f)) => Some(p + f),
                _ => None,
            },
            Values::Trend(t) => t.count,
        }
    }
}

/// A threshold k6 recorded in a summary file, with its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedThreshold {
    /// The expression exactly as written in the file.
    pub expression: String,
    /// k6's verdict: `true` when the threshold passed.
    pub passed: bool,
}

/// One metric (or sub-metric, keyed `name{tag:value}`) in a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub values: Values,
    pub contains: Contains,
    /// Number of samples when known; overrides what [`Values::samples`] can infer. The engine
    /// sets it so that zero-sample metrics are reported as "no data".
    pub samples: Option<u64>,
    /// Thresholds k6 recorded on this metric (empty for the engine's own results).
    pub recorded: Vec<RecordedThreshold>,
}

impl Metric {
    /// A metric from its values, with `contains` guessed from k6's conventions for its name.
    pub fn new(name: &str, values: Values) -> Self {
        let contains = default_contains(name, values.metric_type());
        Metric {
            values,
            contains,
            samples: None,
            recorded: Vec::new(),
        }
    }

    /// Sets the sample count.
    pub fn with_samples(mut self, samples: u64) -> Self {
        self.samples = Some(samples);
        self
    }

    /// The metric's type.
    pub fn metric_type(&self) -> MetricType {
        self.values.metric_type()
    }

    /// Whether the metric is known to have no samples.
    pub fn has_no_samples(&self) -> bool {
        self.samples.or_else(|| self.values.samples()) == Some(0)
    }
}

fn default_contains(name: &str, metric_type: MetricType) -> Contains {
    match (name.split('{').next().unwrap_or(name), metric_type) {
        ("data_sent" | "data_received", _) => Contains::Data,
        (n, MetricType::Trend) if n.starts_with("http_req_") || n == "iteration_duration" => {
            Contains::Time
        }
        (n, MetricType::Trend) if n.starts_with("grpc_req_") || n.starts_with("ws_") => {
            Contains::Time
        }
        _ => Contains::Default,
    }
}

/// One k6 check (`check(res, {...})`) with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub passes: u64,
    pub fails: u64,
}

/// A k6 group with its checks and sub-groups (the root group has an empty name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub name: String,
    pub checks: Vec<Check>,
    pub groups: Vec<Group>,
}

impl Group {
    /// The group's path as k6 writes it (`::setup`).
    pub fn path_of(parent: &str, name: &str) -> String {
        if name.is_empty() {
            String::new()
        } else {
            format!("{parent}::{name}")
        }
    }

    /// Every check in this group and its sub-groups, with the check's k6 path.
    pub fn all_checks(&self) -> Vec<(String, &Check)> {
        let mut out = Vec::new();
        self.collect_checks("", &mut out);
        out
    }

    fn collect_checks<'a>(&'a self, path: &str, out: &mut Vec<(String, &'a Check)>) {
        for check in &self.checks {
            out.push((format!("{path}::{}", check.name), check));
        }
        for group in &self.groups {
            group.collect_checks(&Group::path_of(path, &group.name), out);
        }
    }
}

/// Which k6 file shape a summary was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Shape {
    /// `--summary-export`: flat metrics, threshold `true` means failed.
    Legacy,
    /// `handleSummary` data: `type`, `contains`, `values`, thresholds `{ok}`.
    HandleSummary,
    /// Built in memory by the load engine.
    Engine,
}

/// A whole run summary: metrics (sub-metrics as separate entries keyed `name{tag:value}`),
/// checks, and the run's duration when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub metrics: BTreeMap<String, Metric>,
    pub root_group: Group,
    /// Wall time of the test run in milliseconds (k6's `state.testRunDurationMs`).
    pub test_run_duration_ms: Option<f64>,
    pub shape: Shape,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            metrics: BTreeMap::new(),
            root_group: Group::default(),
            test_run_duration_ms: None,
            shape: Shape::Engine,
        }
    }
}

impl Summary {
    /// The metric a selector picks: its exact key, or a key naming the same tags in another order
    /// or spacing.
    pub fn find(&self, selector: &Selector) -> Option<(&str, &Metric)> {
        let exact = selector.to_string();
        if let Some((key, metric)) = self.metrics.get_key_value(&exact) {
            return Some((key, metric));
        }
        self.metrics
            .iter()
            .find(|(key, _)| Selector::parse(key).is_ok_and(|s| s.same_as(selector)))
            .map(|(key, metric)| (key.as_str(), metric))
    }

    /// The type of the metric called `name` (ignoring tags), from this summary or k6's built-ins.
    pub fn metric_type_of(&self, name: &str) -> Option<MetricType> {
        self.metrics
            .iter()
            .find(|(key, _)| key.split('{').next() == Some(name))
            .map(|(_, m)| m.metric_type())
            .or_else(|| builtin_metric_type(name))
    }
}

/// The type of a k6 built-in metric, `None` for anything else.
pub fn builtin_metric_type(name: &str) -> Option<MetricType> {
    Some(match name {
        "vus" | "vus_max" => MetricType::Gauge,
        "iterations" | "dropped_iterations" | "data_sent" | "data_received" | "http_reqs" => {
            MetricType::Counter
        }
        "checks" | "http_req_failed" => MetricType::Rate,
        "iteration_duration"
        | "http_req_duration"
        | "http_req_blocked"
        | "http_req_connecting"
        | "http_req_tls_handshaking"
        | "http_req_sending"
        | "http_req_waiting"
        | "http_req_receiving"
        | "group_duration" => MetricType::Trend,
        _ => return None,
    })
}
