//! What a run produced: the merged aggregate, the per-second series and notes, with k6 metric
//! lookup by name and tag selector.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::metrics::{Aggregate, MetricKind, MetricValues, Trend, new_hist};

/// One row of the per-second series (`timeseries.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesRow {
    /// Seconds since the load started (start of the one-second bucket).
    pub t: u64,
    pub vus: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// A request of the scenario, as its samples are tagged.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub name: String,
    pub method: String,
    pub url: String,
    pub tags: BTreeMap<String, String>,
}

/// The outcome of [`crate::run_scenario`].
#[derive(Debug, Clone)]
pub struct RunResult {
    pub scenario: String,
    pub executor: String,
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Wall time of the load phase (counter rates are divided by it).
    pub load_duration: Duration,
    /// The run was interrupted (Ctrl-C) before its planned end.
    pub incomplete: bool,
    /// VUs allocated at most (k6's `vus_max`).
    pub vus_max: u64,
    /// Active VUs at the end and the most seen at once.
    pub vus_last: u64,
    pub vus_peak: u64,
    pub requests: Vec<RequestInfo>,
    pub scenario_tags: BTreeMap<String, String>,
    pub check_names: Vec<String>,
    pub aggregate: Aggregate,
    pub timeseries: Vec<TimeseriesRow>,
    /// Remarks about the run itself (generator-bound, dropped iterations, interrupted).
    pub notes: Vec<String>,
    pub arrival_rate: bool,
    /// Thresholds declared by the scenario.
    pub thresholds: BTreeMap<String, Vec<String>>,
}

/// Metrics the engine emits, with their k6 types. Which are present depends on the executor.
pub fn known_metrics(arrival_rate: bool) -> Vec<(&'static str, MetricKind)> {
    let mut out = vec![
        ("http_reqs", MetricKind::Counter),
        ("http_req_failed", MetricKind::Rate),
        ("http_req_duration", MetricKind::Trend),
        ("http_req_waiting", MetricKind::Trend),
        ("http_req_receiving", MetricKind::Trend),
        ("http_req_connecting", MetricKind::Trend),
        ("iterations", MetricKind::Counter),
        ("iteration_duration", MetricKind::Trend),
        ("vus", MetricKind::Gauge),
        ("vus_max", MetricKind::Gauge),
        ("checks", MetricKind::Rate),
        ("data_sent", MetricKind::Counter),
        ("data_received", MetricKind::Counter),
        ("dropped_iterations", MetricKind::Counter),
    ];
    if arrival_rate {
        out.push(("http_req_duration_corrected", MetricKind::Trend));
        out.push(("iteration_duration_corrected", MetricKind::Trend));
        out.push(("iteration_start_delay", MetricKind::Trend));
    }
    out
}

impl RunResult {
    /// The metrics present in this run, in a stable order.
    pub fn metric_names(&self) -> Vec<(&'static str, MetricKind)> {
        known_metrics(self.arrival_rate)
            .into_iter()
            .filter(|(name, _)| {
                *name != "dropped_iterations"
                    || self.arrival_rate
                    || self.aggregate.dropped_iterations > 0
            })
            .filter(|(name, _)| *name != "checks" || !self.check_names.is_empty())
            .collect()
    }

    fn rate_of(&self, count: f64) -> f64 {
        let secs = self.load_duration.as_secs_f64();
        if secs > 0.0 { count / secs } else { 0.0 }
    }

    /// Tags of a request's samples with a given status (k6's `name`, `method`, `status`,
    /// `expected_response`, `url`, `scenario`, plus scenario and request tags).
    pub fn tagset_tags(&self, request: usize, status: u16) -> BTreeMap<String, String> {
        let mut tags = self.scenario_tags.clone();
        tags.entry("scenario".into())
            .or_insert_with(|| self.scenario.clone());
        if let Some(info) = self.requests.get(request) {
            tags.extend(info.tags.clone());
            tags.insert("name".into(), info.name.clone());
            tags.insert("method".into(), info.method.clone());
            tags.insert("url".into(), info.url.clone());
        }
        tags.insert(
            "status".into(),
            if status == 0 {
                String::new()
            } else {
                status.to_string()
            },
        );
        tags.insert(
            "expected_response".into(),
            (200..400).contains(&status).to_string(),
        );
        tags
    }

    /// A metric's values over the samples whose tags match every `(key, value)` of `selector`
    /// (an empty selector is the whole metric). `None` for a metric this run does not emit.
    pub fn metric(&self, name: &str, selector: &[(String, String)]) -> Option<MetricValues> {
        let kind = self
            .metric_names()
            .into_iter()
            .find(|(known, _)| *known == name)
            .map(|(_, kind)| kind)?;
        let _ = kind;
        let run_tags_match = || {
            let mut tags = self.scenario_tags.clone();
            tags.entry("scenario".into())
                .or_insert_with(|| self.scenario.clone());
            selector.iter().all(|(k, v)| tags.get(k) == Some(v))
        };
        let tagsets: Vec<_> = self
            .aggregate
            .tagsets
            .iter()
            .filter(|t| {
                let tags = self.tagset_tags(t.request, t.status);
                selector.iter().all(|(k, v)| tags.get(k) == Some(v))
            })
            .collect();
        let trend = |pick: &dyn Fn(&crate::metrics::TagsetAgg) -> &crate::metrics::Hist| {
            let mut hist = new_hist();
            for t in &tagsets {
                let _ = hist.add(pick(t));
            }
            MetricValues::Trend(Trend::from_hist(hist))
        };
        let counter = |count: f64| MetricValues::Counter {
            count,
            rate: self.rate_of(count),
        };
        let values = match name {
            "http_reqs" => counter(tagsets.iter().map(|t| t.count).sum::<u64>() as f64),
            "http_req_failed" => {
                let failed: u64 = tagsets
                    .iter()
                    .filter(|t| !t.expected())
                    .map(|t| t.count)
                    .sum();
                let ok: u64 = tagsets
                    .iter()
                    .filter(|t| t.expected())
                    .map(|t| t.count)
                    .sum();
                MetricValues::Rate {
                    trues: failed,
                    falses: ok,
                }
            }
            "http_req_duration" => trend(&|t| &t.duration),
            "http_req_waiting" => trend(&|t| &t.waiting),
            "http_req_receiving" => trend(&|t| &t.receiving),
            "http_req_connecting" => trend(&|t| &t.connecting),
            "http_req_duration_corrected" => trend(&|t| &t.duration_corrected),
            "data_sent" => counter(tagsets.iter().map(|t| t.data_sent).sum::<u64>() as f64),
            "data_received" => counter(tagsets.iter().map(|t| t.data_received).sum::<u64>() as f64),
            "checks" => {
                let mut trues = 0;
                let mut falses = 0;
                for (index, (passes, fails)) in self.aggregate.checks.iter().enumerate() {
                    let check = self.check_names.get(index).cloned().unwrap_or_default();
                    let matches = selector.iter().all(|(k, v)| {
                        if k == "check" {
                            *v == check
                        } else {
                            let mut tags = self.scenario_tags.clone();
                            tags.entry("scenario".into())
                                .or_insert_with(|| self.scenario.clone());
                            tags.get(k) == Some(v)
                        }
                    });
                    if matches {
                        trues += passes;
                        falses += fails;
                    }
                }
                MetricValues::Rate { trues, falses }
            }
            other => {
                let run_level = run_tags_match();
                let pick = |hist: &crate::metrics::Hist| {
                    MetricValues::Trend(Trend::from_hist(if run_level {
                        hist.clone()
                    } else {
                        new_hist()
                    }))
                };
                let agg = &self.aggregate;
                let zero_unless = |value: u64| if run_level { value as f64 } else { 0.0 };
                match other {
                    "iterations" => counter(zero_unless(agg.iterations)),
                    "dropped_iterations" => counter(zero_unless(agg.dropped_iterations)),
                    "iteration_duration" => pick(&agg.iteration_duration),
                    "iteration_duration_corrected" => pick(&agg.iteration_duration_corrected),
                    "iteration_start_delay" => pick(&agg.iteration_start_delay),
                    "vus" => MetricValues::Gauge {
                        value: self.vus_last as f64,
                        min: self.timeseries.iter().map(|r| r.vus).min().unwrap_or(0) as f64,
                        max: self.vus_peak as f64,
                    },
                    "vus_max" => MetricValues::Gauge {
                        value: self.vus_max as f64,
                        min: self.vus_max as f64,
                        max: self.vus_max as f64,
                    },
                    _ => return None,
                }
            }
        };
        Some(values)
    }

    /// Requests and failures per HTTP status (0 = no response), for reports.
    pub fn status_counts(&self) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for tagset in &self.aggregate.tagsets {
            *out.entry(tagset.status).or_insert(0) += tagset.count;
        }
        out
    }

    /// `(name, passes, fails)` per check.
    pub fn checks(&self) -> Vec<(String, u64, u64)> {
        self.check_names
            .iter()
            .zip(&self.aggregate.checks)
            .map(|(name, (passes, fails))| (name.clone(), *passes, *fails))
            .collect()
    }

    /// The timeseries as CSV: `t,vus,requests,errors,p50,p95,p99` (latencies in ms).
    pub fn timeseries_csv(&self) -> String {
        let mut out = String::from("t,vus,requests,errors,p50,p95,p99\n");
        for row in &self.timeseries {
            out.push_str(&format!(
                "{},{},{},{},{:.3},{:.3},{:.3}\n",
                row.t, row.vus, row.requests, row.errors, row.p50_ms, row.p95_ms, row.p99_ms
            ));
        }
        out
    }
}
