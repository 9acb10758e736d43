//! The gate: one function, [`evaluate`], turns a summary and its thresholds into the verdict
//! document that every consumer (terminal, JSON, `summary.json`, JUnit, reports) renders.

use crate::model::{MetricType, Summary, builtin_metric_type};
use crate::threshold::{Aggregation, Selector, Source, Threshold, ThresholdError};

/// A threshold's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    /// The metric (or the selector's sub-metric) has no samples.
    NoData,
}

impl Status {
    /// The document's spelling: `passed`, `failed`, `no-data`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::NoData => "no-data",
        }
    }
}

/// The run's overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
}

/// One threshold in the verdict document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdResult {
    /// The metric key exactly as written.
    pub metric: String,
    /// The expression exactly as written.
    pub expression: String,
    /// The value the expression was evaluated on; `null` when there is none.
    pub observed: Option<f64>,
    pub status: Status,
    pub source: Source,
    /// Whether this row makes the verdict fail (a failure, or no data where no data fails).
    pub failing: bool,
    /// k6's recorded verdict for thresholds read from a k6 file (`true` = passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_passed: Option<bool>,
}

impl ThresholdResult {
    /// `metric: expression`, for messages.
    pub fn label(&self) -> String {
        format!("{}: {}", self.metric, self.expression)
    }
}

/// A functional check that counts towards the verdict (the smoke phase's checks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionalCheck {
    pub name: String,
    pub passed: bool,
    /// What was expected and what was seen, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The gate's result: `verdict.json`, and what `perf check --json` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    pub verdict: Outcome,
    pub thresholds: Vec<ThresholdResult>,
    pub notes: Vec<String>,
    pub incomplete: bool,
    /// Functional checks that count towards the verdict (smoke); empty for a load phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<FunctionalCheck>,
}

impl Verdict {
    /// Whether the verdict passed.
    pub fn passed(&self) -> bool {
        self.verdict == Outcome::Passed
    }
}

/// How the gate treats a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateOptions {
    /// Add `http_req_failed: rate<0.01` and `http_req_duration: p(95)<4000`.
    pub default_thresholds: bool,
    /// Thresholds with no data fail (default thresholds always do).
    pub fail_on_no_data: bool,
    /// An incomplete (interrupted) run may pass.
    pub allow_incomplete: bool,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            default_thresholds: true,
            fail_on_no_data: false,
            allow_incomplete: false,
        }
    }
}

/// Everything the gate judges.
#[derive(Debug, Clone, Default)]
pub struct GateInput<'a> {
    pub summary: Option<&'a Summary>,
    /// Thresholds from a scenario or flags (their `source` says which); the summary's recorded
    /// thresholds are added by the gate itself.
    pub thresholds: Vec<Threshold>,
    /// Functional checks (smoke) that count towards the verdict.
    pub checks: Vec<FunctionalCheck>,
    /// The run was interrupted.
    pub incomplete: bool,
}

/// Why the gate could not judge (a usage error: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A threshold that does not parse or does not fit its metric.
    #[error("threshold `{metric}: {expression}` is invalid")]
    Threshold {
        metric: String,
        expression: String,
        #[source]
        source: Box<ThresholdError>,
    },
}

/// Checks thresholds against a summary's metric types (or k6's built-ins when the summary lacks
/// the metric) before anything is evaluated or any load is sent.
pub fn validate(thresholds: &[Threshold], summary: Option<&Summary>) -> Result<(), GateError> {
    for threshold in thresholds {
        let name = &threshold.selector.name;
        let metric_type = summary
            .and_then(|s| s.metric_type_of(name))
            .or_else(|| builtin_metric_type(name));
        let result = match metric_type {
            Some(metric_type) => threshold.check_type(metric_type),
            None => Err(ThresholdError::UnknownMetric(name.clone())),
        };
        result.map_err(|source| GateError::Threshold {
            metric: threshold.metric.clone(),
            expression: threshold.expression.clone(),
            source: Box::new(source),
        })?;
    }
    Ok(())
}

/// The one verdict function. Order of rows: defaults (error rate first), scenario, flags, then
/// the summary's recorded thresholds; a threshold equal to an earlier one (same selector and
/// expression) is listed once.
pub fn evaluate(input: &GateInput<'_>, options: GateOptions) -> Result<Verdict, GateError> {
    let mut wanted: Vec<Threshold> = Vec::new();
    if options.default_thresholds {
        wanted.extend(Threshold::defaults());
    }
    let mut supplied = input.thresholds.clone();
    supplied.sort_by_key(|t| match t.source {
        Source::Default => 0,
        Source::Scenario => 1,
        Source::Flag => 2,
        Source::File | Source::Recorded => 3,
    });
    validate(&supplied, input.summary)?;
    wanted.extend(supplied);

    let mut notes = Vec::new();
    let mut rows: Vec<ThresholdResult> = Vec::new();
    let mut seen: Vec<(Selector, String)> = Vec::new();
    let mut push = |threshold: &Threshold,
                    recorded: Option<bool>,
                    rows: &mut Vec<ThresholdResult>,
                    notes: &mut Vec<String>| {
        let key = (threshold.selector.clone(), threshold.parsed.to_string());
        if let Some(existing) = seen
            .iter()
            .position(|(s, e)| s.same_as(&key.0) && *e == key.1)
        {
            // Listed once; a recorded verdict on the duplicate is still compared.
            if let (Some(recorded_passed), Some(row)) = (recorded, rows.get_mut(existing)) {
                row.recorded_passed = Some(recorded_passed);
                disagreement(row, recorded_passed, notes);
            }
            return;
        }
        seen.push(key);
        let row = judge(threshold, recorded, input.summary, options, notes);
        rows.push(row);
    };
    for threshold in &wanted {
        push(threshold, None, &mut rows, &mut notes);
    }
    if let Some(summary) = input.summary {
        // The error rate before everything else, as with the defaults.
        let (errors, others): (Vec<_>, Vec<_>) = summary
            .metrics
            .iter()
            .partition(|(key, _)| key.split('{').next() == Some("http_req_failed"));
        for (key, metric) in errors.into_iter().chain(others) {
            for recorded in &metric.recorded {
                match Threshold::parse(key, &recorded.expression, Source::File) {
                    Ok(threshold) => {
                        push(&threshold, Some(recorded.passed), &mut rows, &mut notes);
                    }
                    Err(err) => {
                        notes.push(format!(
                            "`{key}: {}` could not be parsed ({err}); k6's recorded verdict ({}) is kept",
                            recorded.expression,
                            passed_word(recorded.passed)
                        ));
                        rows.push(ThresholdResult {
                            metric: key.clone(),
                            expression: recorded.expression.clone(),
                            observed: None,
                            status: if recorded.passed {
                                Status::Passed
                            } else {
                                Status::Failed
                            },
                            source: Source::Recorded,
                            failing: !recorded.passed,
                            recorded_passed: Some(recorded.passed),
                        });
                    }
                }
            }
        }
    }

    error_rate_first(&rows, input.summary, &mut notes);
    let mut failed = rows.iter().any(|r| r.failing);
    let mut checks_failed = false;
    for check in &input.checks {
        if !check.passed {
            checks_failed = true;
            notes.push(format!(
                "functional check `{}` failed{}",
                check.name,
                check
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    failed |= checks_failed;
    if input.incomplete {
        if options.allow_incomplete {
            notes.push(
                "the run is incomplete (interrupted); judged on what was gathered because incomplete runs are allowed"
                    .to_owned(),
            );
        } else {
            failed = true;
            notes.push(
                "the run is incomplete (interrupted), so it fails; pass `--allow-incomplete` to judge it on what was gathered"
                    .to_owned(),
            );
        }
    }
    Ok(Verdict {
        verdict: if failed {
            Outcome::Failed
        } else {
            Outcome::Passed
        },
        thresholds: rows,
        notes,
        incomplete: input.incomplete,
        checks: input.checks.clone(),
    })
}

fn passed_word(passed: bool) -> &'static str {
    if passed { "passed" } else { "failed" }
}

fn disagreement(row: &ThresholdResult, recorded_passed: bool, notes: &mut Vec<String>) {
    let recomputed_passed = match row.status {
        Status::Passed => true,
        Status::Failed => false,
        // k6 passes thresholds on metrics without samples: no disagreement.
        Status::NoData => return,
    };
    if row.observed.is_some() && recomputed_passed != recorded_passed {
        notes.push(format!(
            "`{}`: recomputed verdict ({}) disagrees with k6's recorded verdict ({})",
            row.label(),
            passed_word(recomputed_passed),
            passed_word(recorded_passed)
        ));
    }
}

fn judge(
    threshold: &Threshold,
    recorded: Option<bool>,
    summary: Option<&Summary>,
    options: GateOptions,
    notes: &mut Vec<String>,
) -> ThresholdResult {
    let no_data_fails = options.fail_on_no_data || threshold.source == Source::Default;
    let metric = summary.and_then(|s| s.find(&threshold.selector));
    let mut row = ThresholdResult {
        metric: threshold.metric.clone(),
        expression: threshold.expression.clone(),
        observed: None,
        status: Status::NoData,
        source: threshold.source,
        failing: false,
        recorded_passed: recorded,
    };
    let no_data = match metric {
        None => true,
        Some((_, m)) => m.has_no_samples(),
    };
    if no_data {
        row.failing = no_data_fails;
        let consequence = if no_data_fails {
            if threshold.source == Source::Default {
                "a default acceptance threshold fails without data"
            } else {
                "it fails because of `--fail-on-no-data`"
            }
        } else {
            "k6 would pass it silently; pass `--fail-on-no-data` to fail on it"
        };
        let what = if threshold.selector.is_submetric() && metric.is_none() {
            "the selector matches no samples"
        } else {
            "the metric has no samples"
        };
        notes.push(format!(
            "`{}` has no data ({what}): {consequence}",
            row.label()
        ));
        return row;
    }
    let observed = metric.and_then(|(_, m)| m.values.aggregate(threshold.parsed.aggregation));
    match (observed, recorded) {
        (Some(observed), _) => {
            row.observed = Some(observed);
            let passed = threshold.parsed.holds(observed);
            row.status = if passed {
                Status::Passed
            } else {
                Status::Failed
            };
            row.failing = !passed;
            if let Some(recorded_passed) = recorded {
                disagreement(&row, recorded_passed, notes);
            }
        }
        (None, Some(recorded_passed)) => {
            row.source = Source::Recorded;
            row.status = if recorded_passed {
                Status::Passed
            } else {
                Status::Failed
            };
            row.failing = !recorded_passed;
            notes.push(format!(
                "`{}`: the file has no `{}` value, so k6's recorded verdict ({}) is kept",
                row.label(),
                threshold.parsed.aggregation,
                passed_word(recorded_passed)
            ));
        }
        (None, None) => {
            // The metric has samples but the statistic is not in the summary (for example
            // `p(99)` not exported): nothing to compare with, so it cannot pass.
            row.failing = true;
            row.status = Status::Failed;
            notes.push(format!(
                "`{}`: the summary has no `{}` value for `{}`, so the threshold cannot be checked and fails; export that statistic (k6 `summaryTrendStats`)",
                row.label(),
                threshold.parsed.aggregation,
                threshold.metric
            ));
        }
    }
    row
}

/// The error rate comes before latency: when requests fail, they fail fast, and a passing latency
/// threshold says little. Adds a note saying so.
fn error_rate_first(rows: &[ThresholdResult], summary: Option<&Summary>, notes: &mut Vec<String>) {
    let Some(summary) = summary else { return };
    let Some((_, failed)) = summary.find(&Selector::plain("http_req_failed")) else {
        return;
    };
    let Some(error_rate) = failed.values.aggregate(Aggregation::Rate) else {
        return;
    };
    if error_rate < 0.01 {
        return;
    }
    let latency_passed = rows.iter().any(|r| {
        r.status == Status::Passed
            && Selector::parse(&r.metric).is_ok_and(|s| {
                s.name == "http_req_duration"
                    && !s
                        .tags
                        .iter()
                        .any(|(k, v)| k == "expected_response" && v == "true")
            })
    });
    if latency_passed {
        let mut note = format!(
            "latency looks fast because {} of requests failed: failed requests return quickly, so fix the errors before trusting `http_req_duration`",
            percent(error_rate)
        );
        let ok = Selector::parse("http_req_duration{expected_response:true}")
            .ok()
            .and_then(|s| summary.find(&s))
            .and_then(|(_, m)| m.values.aggregate(Aggregation::Percentile(95.0)));
        if let Some(ok_p95) = ok {
            note.push_str(&format!(
                " (p(95) of successful requests: {})",
                format_observed(ok_p95, MetricType::Trend)
            ));
        }
        notes.insert(0, note);
    }
}

/// `0.9944` → `99.4 %`, `1.0` → `100 %`.
pub fn percent(share: f64) -> String {
    let value = (share * 1000.0).round() / 10.0;
    format!("{value} %")
}

/// An observed value for people: trends in ms with two decimals, rates as the raw share (what
/// the limit is written in) with the percentage beside it.
pub fn format_observed(value: f64, metric_type: MetricType) -> String {
    match metric_type {
        MetricType::Trend => format!("{value:.2} ms"),
        MetricType::Rate => {
            let pct = trim_decimals(format!("{:.4}", value * 100.0));
            format!("{} ({pct} %)", significant(value))
        }
        MetricType::Counter | MetricType::Gauge => {
            if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.0}")
            } else {
                significant(value)
            }
        }
    }
}

/// Six significant digits, without trailing zeros.
fn significant(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let digits = (5 - value.abs().log10().floor() as i32).clamp(0, 12) as usize;
    trim_decimals(format!("{value:.digits$}"))
}

fn trim_decimals(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Metric, RecordedThreshold, TrendValues, Values};
    use std::collections::BTreeMap;

    fn trend(p95: f64) -> Values {
        let mut percentiles = BTreeMap::new();
        percentiles.insert(crate::model::Percentile(95.0), p95);
        Values::Trend(TrendValues {
            avg: Some(p95 / 2.0),
            min: Some(1.0),
            med: Some(p95 / 3.0),
            max: Some(p95 * 2.0),
            percentiles,
            count: Some(100),
        })
    }

    fn summary() -> Summary {
        let mut summary = Summary::default();
        for (key, values) in [
            ("http_req_duration", trend(120.0)),
            ("http_req_duration{name:webhook,status:202}", trend(300.0)),
            (
                "http_req_failed",
                Values::Rate {
                    rate: None,
                    passes: Some(1),
                    fails: Some(999),
                },
            ),
        ] {
            summary
                .metrics
                .insert(key.to_owned(), Metric::new(key, values));
        }
        summary
    }

    fn judge(summary: &Summary, thresholds: Vec<Threshold>) -> Verdict {
        evaluate(
            &GateInput {
                summary: Some(summary),
                thresholds,
                ..GateInput::default()
            },
            GateOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn defaults_come_first_error_rate_before_latency() {
        let verdict = judge(&summary(), Vec::new());
        let rows: Vec<_> = verdict
            .thresholds
            .iter()
            .map(|r| (r.metric.as_str(), r.expression.as_str(), r.status, r.source))
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    "http_req_failed",
                    "rate<0.01",
                    Status::Passed,
                    Source::Default
                ),
                (
                    "http_req_duration",
                    "p(95)<4000",
                    Status::Passed,
                    Source::Default
                ),
            ]
        );
        assert_eq!(verdict.thresholds[0].observed, Some(0.001));
        assert!(verdict.passed());
    }

    #[test]
    fn submetrics_match_whatever_the_tag_order() {
        let t = Threshold::parse(
            "http_req_duration{ status:202 , name:webhook }",
            "p(95) < 250",
            Source::Scenario,
        )
        .unwrap();
        let verdict = judge(&summary(), vec![t]);
        let row = &verdict.thresholds[2];
        assert_eq!(row.metric, "http_req_duration{ status:202 , name:webhook }");
        assert_eq!(row.expression, "p(95) < 250");
        assert_eq!((row.observed, row.status), (Some(300.0), Status::Failed));
        assert!(!verdict.passed());
    }

    #[test]
    fn a_selector_matching_nothing_is_no_data() {
        let t = Threshold::parse("http_req_duration{name:nope}", "p(95)<1", Source::Flag).unwrap();
        let verdict = judge(&summary(), vec![t]);
        assert_eq!(verdict.thresholds[2].status, Status::NoData);
        assert!(verdict.passed());
        assert!(verdict.notes[0].contains("the selector matches no samples"));
    }

    #[test]
    fn duplicates_are_listed_once_and_disagreements_reported() {
        let mut summary = summary();
        let failed = summary.metrics.get_mut("http_req_failed").unwrap();
        failed.recorded.push(RecordedThreshold {
            expression: "rate < 0.01".to_owned(),
            passed: false,
        });
        let verdict = judge(&summary, Vec::new());
        assert_eq!(verdict.thresholds.len(), 2);
        assert_eq!(verdict.thresholds[0].recorded_passed, Some(false));
        assert!(
            verdict.notes[0].contains("disagrees with k6's recorded verdict (failed)"),
            "{:?}",
            verdict.notes
        );
    }

    #[test]
    fn type_mismatch_and_unknown_metric_are_gate_errors() {
        for (metric, expr) in [("http_req_failed", "p(95)<1"), ("nope", "rate<1")] {
            let t = Threshold::parse(metric, expr, Source::Flag).unwrap();
            let err = evaluate(
                &GateInput {
                    summary: Some(&summary()),
                    thresholds: vec![t],
                    ..GateInput::default()
                },
                GateOptions::default(),
            )
            .unwrap_err();
            assert!(err.to_string().contains(metric));
        }
    }

    #[test]
    fn failed_functional_checks_and_incomplete_runs_fail() {
        let summary = summary();
        let input = GateInput {
            summary: Some(&summary),
            checks: vec![FunctionalCheck {
                name: "webhook POST".to_owned(),
                passed: false,
                message: Some("expected 202, got 405".to_owned()),
            }],
            ..GateInput::default()
        };
        assert!(!evaluate(&input, GateOptions::default()).unwrap().passed());
        let input = GateInput {
            summary: Some(&summary),
            incomplete: true,
            ..GateInput::default()
        };
        assert!(!evaluate(&input, GateOptions::default()).unwrap().passed());
        let allowed = GateOptions {
            allow_incomplete: true,
            ..GateOptions::default()
        };
        let verdict = evaluate(&input, allowed).unwrap();
        assert!(verdict.passed() && verdict.incomplete);
    }

    #[test]
    fn observed_values_for_people() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.99444), "99.4 %");
        assert_eq!(format_observed(0.01, MetricType::Rate), "0.01 (1 %)");
        assert_eq!(
            format_observed(0.000019939384271813686, MetricType::Rate),
            "0.0000199394 (0.002 %)"
        );
        assert_eq!(format_observed(2257.474, MetricType::Trend), "2257.47 ms");
        assert_eq!(format_observed(140.0, MetricType::Counter), "140");
        assert_eq!(
            format_observed(6.575002103769702, MetricType::Counter),
            "6.575"
        );
    }

    #[test]
    fn the_document_has_the_contract_shape() {
        let verdict = judge(&summary(), Vec::new());
        let doc = serde_json::to_value(&verdict).unwrap();
        assert_eq!(doc["verdict"], "passed");
        assert_eq!(doc["incomplete"], false);
        assert_eq!(doc["thresholds"][0]["source"], "default");
        assert_eq!(doc["thresholds"][0]["status"], "passed");
        assert!(doc["notes"].is_array());
        let back: Verdict = serde_json::from_value(doc).unwrap();
        assert_eq!(back, verdict);
    }
}
