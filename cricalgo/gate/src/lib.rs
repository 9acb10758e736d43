//! k6 summary formats, the threshold grammar and the acceptance gate: one verdict function for
//! every place a verdict appears.
//!
//! - [`model`]: the summary model the load engine builds and the reader fills;
//! - [`threshold`]: k6's threshold grammar (selectors and expressions);
//! - [`read`] / [`mod@write`]: both k6 file shapes, any encoding k6 users end up with;
//! - [`verdict`]: [`evaluate`], the one function that judges a run;
//! - [`junit`]: JUnit XML from verdicts.
//!
//! The crate is pure: no network, no terminal, no file system beyond what callers hand it.
//!
//! ```
//! use cricalgo_gate::{GateInput, GateOptions, Metric, Source, Summary, Threshold, Values, evaluate};
//!
//! // What a load engine hands over: metrics by k6 name (sub-metrics keyed `name{tag:value}`).
//! let mut summary = Summary::default();
//! let failed = Values::Rate { rate: None, passes: Some(3), fails: Some(97) };
//! summary.metrics.insert("http_req_failed".into(), Metric::new("http_req_failed", failed));
//!
//! let scenario = Threshold::parse("http_req_failed", "rate < 0.05", Source::Scenario).unwrap();
//! let input = GateInput { summary: Some(&summary), thresholds: vec![scenario], ..Default::default() };
//! let verdict = evaluate(&input, GateOptions::default()).unwrap();
//!
//! // 3 % errors: the scenario's `rate < 0.05` passes, the default `rate<0.01` fails, and the
//! // default `http_req_duration: p(95)<4000` has no data, which fails a default threshold.
//! assert!(!verdict.passed());
//! assert_eq!(verdict.thresholds.len(), 3);
//! ```

pub mod junit;
pub mod model;
pub mod read;
pub mod threshold;
pub mod verdict;
pub mod write;

pub use model::{
    Check, Contains, Group, Metric, MetricType, Percentile, RecordedThreshold, Shape, Summary,
    TrendValues, Values, builtin_metric_type,
};
pub use read::{ReadError, decode_text, parse_summary, read_summary};
pub use threshold::{
    Aggregation, DEFAULT_THRESHOLDS, Expression, Operator, Selector, Source, Threshold,
    ThresholdError,
};
pub use verdict::{
    FunctionalCheck, GateError, GateInput, GateOptions, Outcome, Status, ThresholdResult, Verdict,
    evaluate, validate,
};
pub use write::{to_handle_summary, to_legacy, to_pretty};
