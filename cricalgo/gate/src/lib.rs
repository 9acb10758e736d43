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
