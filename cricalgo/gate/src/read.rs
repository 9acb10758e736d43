//! Reading k6 summary files: text decoding (UTF-8 with or without BOM, UTF-16 with BOM), shape
//! detection by content, and a tolerant mapping onto [`Summary`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{
    Check, Contains, Group, Metric, MetricType, Percentile, RecordedThreshold, Shape, Summary,
    TrendValues, Values,
};

/// Why a summary file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not valid text in a supported encoding.
    #[error(
        "the file is not valid {encoding} text: save it as UTF-8 (UTF-16 needs a byte-order mark)"
    )]
    Encoding { encoding: &'static str },
    /// The file is empty or whitespace only.
    #[error(
        "the file is empty: expected a k6 summary (`--summary-export` or `handleSummary` JSON)"
    )]
    Empty,
    /// The JSON ends early.
    #[error(
        "the file is truncated at line {line}, column {column}: the JSON ends before it is complete; re-export the summary"
    )]
    Truncated { line: usize, column: usize },
    /// The JSON is malformed.
    #[error("the file is not valid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// k6's newer machine-readable summary: no thresholds to gate from.
    #[error(
        "the file is k6's machine-readable summary (`\"version\": \"{version}\"`), which carries no threshold results and cannot be gated from: export with `--summary-export` or `handleSummary` instead"
    )]
    MachineReadable { version: String },
    /// JSON that is not a k6 summary.
    #[error("the file is not a k6 summary: {0}")]
    NotASummary(String),
}

/// Decodes a file's bytes to text: UTF-8 (a BOM is dropped) or UTF-16 LE/BE with a BOM (what
/// PowerShell redirection writes). UTF-16 without a BOM is recognised by its zero bytes.
pub fn decode_text(bytes: &[u8]) -> Result<String, ReadError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes, "UTF-16LE");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes, "UTF-16BE");
    }
    match bytes {
        [a, 0, ..] if *a != 0 && bytes.len().is_multiple_of(2) => {
            utf16(bytes, u16::from_le_bytes, "UTF-16LE")
        }
        [0, b, ..] if *b != 0 && bytes.len().is_multiple_of(2) => {
            utf16(bytes, u16::from_be_bytes, "UTF-16BE")
        }
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ReadError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ReadError::Encoding { encoding: "UTF-8" })
}

fn utf16(
    bytes: &[u8],
    unit: fn([u8; 2]) -> u16,
    encoding: &'static str,
) -> Result<String, ReadError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ReadError::Encoding { encoding });
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| unit([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| ReadError::Encoding { encoding })
}

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens (outside strings) with `null`, so that
/// files written by tools that emit them still parse; the values then count as absent.
fn neutralise_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else {
            let token = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t));
            if let Some(token) = token {
                out.push_str("null");
                rest = &rest[token.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

/// Reads a k6 summary from a file's bytes, detecting the encoding and the shape.
pub fn read_summary(bytes: &[u8]) -> Result<Summary, ReadError> {
    let text = decode_text(bytes)?;
    parse_summary(&text)
}

/// Reads a k6 summary from text, detecting the shape by content.
pub fn parse_summary(text: &str) -> Result<Summary, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ReadError::Empty);
    }
    let text = neutralise_non_finite(text);
    let root: Value = serde_json::from_str(&text).map_err(|err| {
        if err.is_eof() {
            ReadError::Truncated {
                line: err.line(),
                column: err.column(),
            }
        } else {
            ReadError::Json {
                line: err.line(),
                column: err.column(),
                message: err.to_string(),
            }
        }
    })?;
    let Value::Object(root) = root else {
        return Err(ReadError::NotASummary(
            "the top level is not a JSON object".to_owned(),
        ));
    };
    if let Some(version) = root.get("version").and_then(Value::as_str) {
        return Err(ReadError::MachineReadable {
            version: version.to_owned(),
        });
    }
    let Some(Value::Object(metrics_json)) = root.get("metrics") else {
        return Err(ReadError::NotASummary(
            "it has no `metrics` object; expected k6 `--summary-export` or `handleSummary` output"
                .to_owned(),
        ));
    };
    let handle_summary = metrics_json
        .values()
        .any(|m| m.get("values").is_some_and(Value::is_object));
    let mut metrics = BTreeMap::new();
    for (name, raw) in metrics_json {
        let Value::Object(raw) = raw else { continue };
        let metric = if raw.get("values").is_some_and(Value::is_object) {
            read_handle_summary_metric(name, raw)
        } else {
            read_legacy_metric(name, raw)
        };
        if let Some(metric) = metric {
            metrics.insert(name.clone(), metric);
        }
    }
    let root_group = root
        .get("root_group")
        .and_then(Value::as_object)
        .map(read_group)
        .unwrap_or_default();
    let test_run_duration_ms = root
        .get("state")
        .and_then(|s| s.get("testRunDurationMs"))
        .and_then(number);
    Ok(Summary {
        metrics,
        root_group,
        test_run_duration_ms,
        shape: if handle_summary {
            Shape::HandleSummary
        } else {
            Shape::Legacy
        },
    })
}

/// A finite number, or `None` for `null`, strings such as `"NaN"`, and anything else.
fn number(value: &Value) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite())
}

fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

fn field(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(number)
}

fn field_count(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(count)
}

fn parse_percentile_key(key: &str) -> Option<Percentile> {
    let inner = key.strip_prefix("p(")?.strip_suffix(')')?;
    let p: f64 = inner.trim().parse().ok()?;
    (p.is_finite() && (0.0..=100.0).contains(&p)).then_some(Percentile(p))
}

/// Infers a metric's type from the keys a flat (legacy) entry carries.
fn infer_type(values: &Map<String, Value>) -> Option<MetricType> {
    let has = |k: &str| values.contains_key(k);
    if has("passes") || has("fails") {
        Some(MetricType::Rate)
    } else if has("avg") || has("med") || values.keys().any(|k| parse_percentile_key(k).is_some()) {
        Some(MetricType::Trend)
    } else if has("count") {
        Some(MetricType::Counter)
    } else if has("value") {
        Some(MetricType::Gauge)
    } else if has("min") || has("max") {
        Some(MetricType::Trend)
    } else {
        None
    }
}

fn values_of(metric_type: MetricType, map: &Map<String, Value>, rate_key: &str) -> Values {
    match metric_type {
        MetricType::Counter => Values::Counter {
            count: field(map, "count"),
            rate: field(map, "rate"),
        },
        MetricType::Gauge => Values::Gauge {
            value: field(map, "value"),
            min: field(map, "min"),
            max: field(map, "max"),
        },
        MetricType::Rate => Values::Rate {
            rate: field(map, rate_key).or_else(|| field(map, "rate")),
            passes: field_count(map, "passes"),
            fails: field_count(map, "fails"),
        },
        MetricType::Trend => {
            let percentiles = map
                .iter()
                .filter_map(|(k, v)| Some((parse_percentile_key(k)?, number(v)?)))
                .collect();
            Values::Trend(TrendValues {
                avg: field(map, "avg"),
                min: field(map, "min"),
                med: field(map, "med"),
                max: field(map, "max"),
                percentiles,
                count: field_count(map, "count"),
            })
        }
    }
}

fn contains_of(name: &str, metric_type: MetricType, raw: Option<&str>) -> Contains {
    match raw {
        Some("time") => Contains::Time,
        Some("data") => Contains::Data,
        Some(_) => Contains::Default,
        None => Metric::new(name, values_of(metric_type, &Map::new(), "rate")).contains,
    }
}

fn read_legacy_metric(name: &str, raw: &Map<String, Value>) -> Option<Metric> {
    let metric_type = infer_type(raw)?;
    let values = values_of(metric_type, raw, "value");
    // Legacy shape: `true` means the threshold FAILED.
    let recorded = raw
        .get("thresholds")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(expr, v)| {
                    let failed = match v {
                        Value::Bool(b) => *b,
                        Value::Object(o) => !o.get("ok")?.as_bool()?,
                        _ => return None,
                    };
                    Some(RecordedThreshold {
                        expression: expr.clone(),
                        passed: !failed,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Metric {
        contains: contains_of(name, metric_type, None),
        values,
        samples: None,
        recorded,
    })
}

fn read_handle_summary_metric(name: &str, raw: &Map<String, Value>) -> Option<Metric> {
    let values_json = raw.get("values")?.as_object()?;
    let metric_type = match raw.get("type").and_then(Value::as_str) {
        Some("counter") => MetricType::Counter,
        Some("gauge") => MetricType::Gauge,
        Some("rate") => MetricType::Rate,
        Some("trend") => MetricType::Trend,
        _ => infer_type(values_json).or_else(|| {
            // handleSummary rates carry `rate` with `passes`/`fails`; counters `count`/`rate`.
            values_json
                .contains_key("rate")
                .then_some(MetricType::Counter)
        })?,
    };
    let values = values_of(metric_type, values_json, "rate");
    // handleSummary shape: `{"ok": true}` means passed; a bare bool is read the same way.
    let recorded = raw
        .get("thresholds")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(expr, v)| {
                    let passed = match v {
                        Value::Object(o) => o.get("ok")?.as_bool()?,
                        Value::Bool(b) => *b,
                        _ => return None,
                    };
                    Some(RecordedThreshold {
                        expression: expr.clone(),
                        passed,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Metric {
        contains: contains_of(
            name,
            metric_type,
            raw.get("contains").and_then(Value::as_str),
        ),
        values,
        samples: None,
        recorded,
    })
}

/// Reads a group in either shape: checks and groups as a name-keyed object (legacy) or an array
/// (handleSummary).
fn read_group(raw: &Map<String, Value>) -> Group {
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let entries = |key: &str| -> Vec<(Option<String>, Map<String, Value>)> {
        match raw.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| Some((None, v.as_object()?.clone())))
                .collect(),
            Some(Value::Object(items)) => items
                .iter()
                .filter_map(|(k, v)| Some((Some(k.clone()), v.as_object()?.clone())))
                .collect(),
            _ => Vec::new(),
        }
    };
    let checks = entries("checks")
        .into_iter()
        .map(|(key, c)| Check {
            name: c
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(key)
                .unwrap_or_default(),
            passes: field_count(&c, "passes").unwrap_or(0),
            fails: field_count(&c, "fails").unwrap_or(0),
        })
        .collect();
    let groups = entries("groups")
        .into_iter()
        .map(|(key, g)| {
            let mut group = read_group(&g);
            if group.name.is_empty() {
                group.name = key.unwrap_or_default();
            }
            group
        })
        .collect();
    Group {
        name,
        checks,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_supported_encoding() {
        let text = "{\"metrics\":{}}";
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(text.as_bytes());
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        for bytes in [text.as_bytes().to_vec(), bom8, le, be] {
            assert_eq!(decode_text(&bytes).unwrap(), text);
        }
    }

    #[test]
    fn odd_utf16_is_an_encoding_error() {
        assert!(matches!(
            decode_text(&[0xFF, 0xFE, b'{']),
            Err(ReadError::Encoding { .. })
        ));
    }

    #[test]
    fn non_finite_tokens_become_absent() {
        let text = r#"{"metrics":{"x":{"avg":NaN,"min":-Infinity,"max":Infinity,"med":1,"p(95)":2},"s":{"passes":1,"fails":0,"value":1,"note":"NaN stays"}}}"#;
        let summary = parse_summary(text).unwrap();
        let Values::Trend(t) = &summary.metrics["x"].values else {
            panic!("trend expected")
        };
        assert_eq!((t.avg, t.min, t.max, t.med), (None, None, None, Some(1.0)));
    }

    #[test]
    fn truncated_and_machine_readable_files() {
        assert!(matches!(
            parse_summary("{\"metrics\": {\"a\": {"),
            Err(ReadError::Truncated { .. })
        ));
        assert!(matches!(
            parse_summary(r#"{"version":"1.0.0","metrics":{}}"#),
            Err(ReadError::MachineReadable { .. })
        ));
        assert!(matches!(parse_summary("  "), Err(ReadError::Empty)));
        assert!(matches!(
            parse_summary("[]"),
            Err(ReadError::NotASummary(_))
        ));
    }
}
