//! Reading a run folder: the files written by the load engine, the gate, the stack and the
//! Prometheus collector are this crate's only input (the contract between crates).
//!
//! Readers are tolerant: unknown keys are ignored, missing optional files become `None`, and both
//! k6 summary shapes (flat `--summary-export` and `handleSummary` data) are understood.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ReportError, Result};
use crate::prometheus::PrometheusSnapshot;

/// `verdict.json`, as the gate writes it (see the artifacts spec).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerdictDoc {
    /// `passed` or `failed`.
    pub verdict: String,
    /// True when the run was interrupted.
    #[serde(default)]
    pub incomplete: bool,
    /// One row per threshold.
    #[serde(default)]
    pub thresholds: Vec<ThresholdRow>,
    /// Explanations (e.g. latency looks fast because requests failed).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Functional checks that count towards the verdict (the smoke phase's).
    #[serde(default)]
    pub checks: Vec<FunctionalCheckRow>,
    /// A full run's phases (`smoke`, `load`), each with its own verdict document.
    #[serde(default)]
    pub phases: BTreeMap<String, PhaseDoc>,
}

/// One phase's verdict inside a full run's `verdict.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PhaseDoc {
    /// `passed` or `failed`.
    pub verdict: String,
    /// The phase's thresholds.
    #[serde(default)]
    pub thresholds: Vec<ThresholdRow>,
    /// The phase's notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The phase's functional checks.
    #[serde(default)]
    pub checks: Vec<FunctionalCheckRow>,
}

/// A functional check in a verdict (pass/fail with a message).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FunctionalCheckRow {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// Expected vs seen, for a failure.
    #[serde(default)]
    pub message: Option<String>,
}

impl VerdictDoc {
    /// True when the verdict is `passed`.
    pub fn passed(&self) -> bool {
        self.verdict == "passed"
    }

    /// The phase names in run order (`smoke` before `load`).
    pub fn phase_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.phases.keys().map(String::as_str).collect();
        names.sort_by_key(|n| match *n {
            "smoke" => 0,
            "load" => 1,
            _ => 2,
        });
        names
    }

    /// Every threshold row, with its phase filled in for a full run.
    pub fn all_thresholds(&self) -> Vec<ThresholdRow> {
        if self.phases.is_empty() {
            return self.thresholds.clone();
        }
        let mut rows = Vec::new();
        for name in self.phase_names() {
            for row in &self.phases[name].thresholds {
                let mut row = row.clone();
                row.phase.get_or_insert_with(|| name.to_string());
                rows.push(row);
            }
        }
        rows
    }

    /// Every functional check, with its phase for a full run.
    pub fn all_checks(&self) -> Vec<(Option<String>, FunctionalCheckRow)> {
        if self.phases.is_empty() {
            return self.checks.iter().map(|c| (None, c.clone())).collect();
        }
        self.phase_names()
            .into_iter()
            .flat_map(|name| {
                self.phases[name]
                    .checks
                    .iter()
                    .map(move |c| (Some(name.to_string()), c.clone()))
            })
            .collect()
    }
}

/// One evaluated threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ThresholdRow {
    /// Metric with its selector, as written (`http_req_duration{name:webhook}`).
    pub metric: String,
    /// The expression, as written (`p(95)<4000`).
    pub expression: String,
    /// The observed value, `None` for no data or a recorded verdict.
    pub observed: Option<f64>,
    /// `passed`, `failed` or `no-data`.
    pub status: String,
    /// Whether this row makes the verdict fail (the gate sets it; a no-data row can fail).
    #[serde(default)]
    pub failing: Option<bool>,
    /// Where the threshold came from.
    #[serde(default)]
    pub source: Option<String>,
    /// The phase (`smoke`, `load`) in a full run, when the gate says so.
    #[serde(default)]
    pub phase: Option<String>,
}

impl ThresholdRow {
    /// Whether this row makes the verdict fail.
    pub fn is_failing(&self) -> bool {
        self.failing.unwrap_or(self.status == "failed")
    }
}

/// One check (k6 `check()`), with its pass and fail counts.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// Group path and name.
    pub name: String,
    /// How many times it held.
    pub passes: u64,
    /// How many times it did not.
    pub fails: u64,
}

/// A threshold flag as recorded in `summary.json` (`true` there means failed).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdFlag {
    /// Metric name with selector.
    pub metric: String,
    /// Expression as written.
    pub expression: String,
    /// True when k6 (or the engine) marked it failed.
    pub failed: bool,
}

/// The figures a report needs from a k6 summary (either shape).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Metric name → statistic name (`count`, `rate`, `avg`, `med`, `p(95)`, `value`, …) → value.
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
    /// Checks with their counts, in file order.
    pub checks: Vec<CheckRow>,
    /// Threshold flags recorded in the summary.
    pub threshold_flags: Vec<ThresholdFlag>,
    /// Status code → request count, from `http_reqs{status:NNN}` sub-metrics or a `status_codes`
    /// object.
    pub status_codes: BTreeMap<String, u64>,
    /// Client-side latency histogram `(upper bound ms, count)`, when the engine exported one.
    pub latency_histogram: Vec<(f64, u64)>,
}

impl Summary {
    /// One statistic of one metric.
    pub fn stat(&self, metric: &str, stat: &str) -> Option<f64> {
        self.metrics.get(metric)?.get(stat).copied()
    }

    /// Total HTTP requests.
    pub fn requests(&self) -> Option<f64> {
        self.stat("http_reqs", "count")
    }

    /// Requests per second over the load phase.
    pub fn throughput(&self) -> Option<f64> {
        self.stat("http_reqs", "rate")
    }

    /// Share of failed requests (0..=1).
    pub fn error_rate(&self) -> Option<f64> {
        self.stat("http_req_failed", "rate")
            .or_else(|| self.stat("http_req_failed", "value"))
    }

    /// A latency percentile of `http_req_duration` in ms: `med`, `p(90)`, `p(95)`, `p(99)`, …
    pub fn latency(&self, stat: &str) -> Option<f64> {
        self.stat("http_req_duration", stat)
    }

    /// The most VUs that ran.
    pub fn vus_max(&self) -> Option<f64> {
        self.stat("vus_max", "value")
            .or_else(|| self.stat("vus_max", "max"))
            .or_else(|| self.stat("vus", "max"))
    }

    /// Parses either k6 summary shape from JSON text.
    pub fn parse(value: &Value) -> Summary {
        let mut summary = Summary::default();
        if let Some(metrics) = value.get("metrics").and_then(Value::as_object) {
            for (name, metric) in metrics {
                let (stats, thresholds) = match metric.get("values") {
                    Some(values) => (values, metric.get("thresholds")),
                    None => (metric, metric.get("thresholds")),
                };
                let mut numbers = BTreeMap::new();
                if let Some(stats) = stats.as_object() {
                    for (key, v) in stats {
                        if let Some(n) = v.as_f64() {
                            numbers.insert(key.clone(), n);
                        }
                    }
                }
                if let Some(thresholds) = thresholds.and_then(Value::as_object) {
                    for (expression, flag) in thresholds {
                        let failed = match flag {
                            Value::Bool(failed) => *failed,
                            other => other.get("ok").and_then(Value::as_bool) == Some(false),
                        };
                        summary.threshold_flags.push(ThresholdFlag {
                            metric: name.clone(),
                            expression: expression.clone(),
                            failed,
                        });
                    }
                }
                if let Some(code) = status_selector(name)
                    && let Some(count) = numbers.get("count")
                {
                    summary.status_codes.insert(code, *count as u64);
                }
                summary.metrics.insert(name.clone(), numbers);
            }
        }
        if let Some(codes) = value.get("status_codes").and_then(Value::as_object) {
            for (code, count) in codes {
                if let Some(count) = count.as_u64() {
                    summary.status_codes.entry(code.clone()).or_insert(count);
                }
            }
        }
        if let Some(buckets) = value.get("latency_histogram").and_then(Value::as_array) {
            summary.latency_histogram = buckets.iter().filter_map(histogram_bucket).collect();
        }
        if let Some(group) = value.get("root_group") {
            collect_checks(group, &mut summary.checks);
        }
        summary
    }
}

/// `http_reqs{status:202}` → `202`.
fn status_selector(name: &str) -> Option<String> {
    let inner = name.strip_prefix("http_reqs{")?.strip_suffix('}')?;
    let mut parts = inner.split(',');
    let only = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (tag, value) = only.split_once(':')?;
    (tag.trim() == "status").then(|| value.trim().to_string())
}

fn histogram_bucket(bucket: &Value) -> Option<(f64, u64)> {
    let upper = ["le_ms", "le", "upper_ms"]
        .iter()
        .find_map(|k| bucket.get(*k).and_then(Value::as_f64))?;
    let count = bucket.get("count").and_then(Value::as_u64)?;
    Some((upper, count))
}

fn collect_checks(group: &Value, out: &mut Vec<CheckRow>) {
    let prefix = group
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut push = |name: &str, check: &Value| {
        let name = check.get("name").and_then(Value::as_str).unwrap_or(name);
        let name = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix} › {name}")
        };
        out.push(CheckRow {
            name,
            passes: check.get("passes").and_then(Value::as_u64).unwrap_or(0),
            fails: check.get("fails").and_then(Value::as_u64).unwrap_or(0),
        });
    };
    match group.get("checks") {
        Some(Value::Object(map)) => map.iter().for_each(|(n, c)| push(n, c)),
        Some(Value::Array(list)) => list.iter().for_each(|c| push("", c)),
        _ => {}
    }
    match group.get("groups") {
        Some(Value::Object(map)) => map.values().for_each(|g| collect_checks(g, out)),
        Some(Value::Array(list)) => list.iter().for_each(|g| collect_checks(g, out)),
        _ => {}
    }
}

/// One row of `timeseries.csv`: per-second figures (latencies in ms, `None` when no requests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePoint {
    /// Seconds since the load started.
    pub t: f64,
    /// Active VUs.
    pub vus: f64,
    /// Requests completed in this second.
    pub requests: f64,
    /// Failed requests in this second.
    pub errors: f64,
    /// Median latency (ms).
    pub p50: Option<f64>,
    /// 95th percentile (ms).
    pub p95: Option<f64>,
    /// 99th percentile (ms).
    pub p99: Option<f64>,
}

/// The header `timeseries.csv` must start with.
pub const TIMESERIES_HEADER: &str = "t,vus,requests,errors,p50,p95,p99";

/// Parses `timeseries.csv` text.
pub fn parse_timeseries(path: &Path, text: &str) -> Result<Vec<TimePoint>> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or_default();
    if header != TIMESERIES_HEADER {
        return Err(ReportError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!("header is `{header}`, expected `{TIMESERIES_HEADER}`"),
        });
    }
    let mut points = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| ReportError::Csv {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 7 {
            return Err(bad(format!("expected 7 fields, found {}", fields.len())));
        }
        let number = |i: usize| -> Result<Option<f64>> {
            if fields[i].is_empty() {
                return Ok(None);
            }
            fields[i]
                .parse::<f64>()
                .map(|n| n.is_finite().then_some(n))
                .map_err(|_| bad(format!("`{}` is not a number", fields[i])))
        };
        points.push(TimePoint {
            t: number(0)?.unwrap_or(0.0),
            vus: number(1)?.unwrap_or(0.0),
            requests: number(2)?.unwrap_or(0.0),
            errors: number(3)?.unwrap_or(0.0),
            p50: number(4)?,
            p95: number(5)?,
            p99: number(6)?,
        });
    }
    Ok(points)
}

/// Everything the reports need from one run folder.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// The folder.
    pub dir: PathBuf,
    /// `verdict.json`.
    pub verdict: Option<VerdictDoc>,
    /// `summary.json` (falls back to `summary.k6-data.json`).
    pub summary: Option<Summary>,
    /// `timeseries.csv`.
    pub timeseries: Vec<TimePoint>,
    /// `stack.json`, kept as JSON: its shape belongs to the stack crate.
    pub stack: Option<Value>,
    /// `prometheus.json`.
    pub prometheus: Option<PrometheusSnapshot>,
    /// The smoke phase's own folder (`smoke/`).
    pub smoke: Option<Box<RunData>>,
}

impl RunData {
    /// Reads a run folder. Missing optional files are `None`; malformed ones are errors.
    pub fn load(dir: &Path) -> Result<RunData> {
        let verdict = read_json::<VerdictDoc>(&dir.join("verdict.json"), "verdict.json")?;
        let summary = match read_json::<Value>(&dir.join("summary.json"), "k6 summary")? {
            Some(value) => Some(Summary::parse(&value)),
            None => read_json::<Value>(&dir.join("summary.k6-data.json"), "k6 summary")?
                .map(|v| Summary::parse(&v)),
        };
        // Extensions (status codes, histogram) may live in either summary file.
        let summary = match (
            summary,
            read_json::<Value>(&dir.join("summary.k6-data.json"), "k6 summary")?,
        ) {
            (Some(mut s), Some(data)) => {
                let extra = Summary::parse(&data);
                if s.status_codes.is_empty() {
                    s.status_codes = extra.status_codes;
                }
                if s.latency_histogram.is_empty() {
                    s.latency_histogram = extra.latency_histogram;
                }
                if s.checks.is_empty() {
                    s.checks = extra.checks;
                }
                Some(s)
            }
            (s, _) => s,
        };
        let ts_path = dir.join("timeseries.csv");
        let timeseries = match read_text(&ts_path)? {
            Some(text) => parse_timeseries(&ts_path, &text)?,
            None => Vec::new(),
        };
        let stack = read_json::<Value>(&dir.join("stack.json"), "stack snapshot")?;
        let prometheus =
            read_json::<PrometheusSnapshot>(&dir.join("prometheus.json"), "prometheus.json")?;
        let smoke_dir = dir.join("smoke");
        let smoke = if smoke_dir.is_dir() {
            Some(Box::new(RunData::load(&smoke_dir)?))
        } else {
            None
        };
        Ok(RunData {
            dir: dir.to_path_buf(),
            verdict,
            summary,
            timeseries,
            stack,
            prometheus,
            smoke,
        })
    }

    /// Like [`RunData::load`], but fails when the folder is not a run folder at all.
    pub fn load_run(dir: &Path) -> Result<RunData> {
        let data = RunData::load(dir)?;
        if data.verdict.is_none() && data.summary.is_none() {
            return Err(ReportError::NotARunFolder(dir.to_path_buf()));
        }
        Ok(data)
    }
}

fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReportError::io(path, e)),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<Option<T>> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            what,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_summary_figures_and_flags() {
        let value: Value = serde_json::json!({
            "metrics": {
                "http_reqs": {"count": 1000, "rate": 50.0},
                "http_reqs{status:202}": {"count": 480, "rate": 24.0},
                "http_req_failed": {"value": 0.02, "passes": 20, "fails": 980,
                                    "thresholds": {"rate<0.01": true}},
                "http_req_duration": {"avg": 120.0, "med": 80.0, "p(95)": 300.0,
                                      "thresholds": {"p(95)<4000": false}}
            },
            "root_group": {"path": "", "checks": {"status is 202": {"name": "status is 202", "passes": 9, "fails": 1}},
                           "groups": {}}
        });
        let s = Summary::parse(&value);
        assert_eq!(s.requests(), Some(1000.0));
        assert_eq!(s.error_rate(), Some(0.02));
        assert_eq!(s.latency("p(95)"), Some(300.0));
        assert_eq!(s.status_codes["202"], 480);
        assert_eq!(s.checks[0].fails, 1);
        assert_eq!(s.threshold_flags.iter().filter(|f| f.failed).count(), 1);
    }

    #[test]
    fn handle_summary_shape_is_read_too() {
        let value: Value = serde_json::json!({
            "metrics": {
                "http_req_failed": {"type": "rate", "contains": "default",
                                    "values": {"rate": 0.5, "passes": 1, "fails": 1},
                                    "thresholds": {"rate<0.01": {"ok": false}}}
            },
            "root_group": {"path": "", "checks": [{"name": "ok", "passes": 1, "fails": 0}], "groups": []}
        });
        let s = Summary::parse(&value);
        assert_eq!(s.error_rate(), Some(0.5));
        assert!(s.threshold_flags[0].failed);
        assert_eq!(s.checks.len(), 1);
    }

    #[test]
    fn timeseries_with_empty_seconds() {
        let text = "t,vus,requests,errors,p50,p95,p99\n0,10,5,0,12.5,30,31\n1,10,0,0,,,\n";
        let points = parse_timeseries(Path::new("timeseries.csv"), text).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].p95, None);
        assert!(parse_timeseries(Path::new("x"), "a,b\n").is_err());
    }
}
