//! `cricalgo perf compare A B`: the deltas between two run folders — throughput, latency
//! percentiles, error rate and verdict changes — as text for the terminal and JSON/Markdown files.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::format::md_cell;
use crate::input::{RunData, Summary};

/// The figures compared for one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFigures {
    /// The folder's name.
    pub run: String,
    /// `passed`, `failed`, or `None` without a verdict.
    pub verdict: Option<String>,
    /// Whether the run was interrupted.
    pub incomplete: bool,
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeltaRow {
    /// `throughput_rps`, `error_rate`, `p50_ms`, …
    pub figure: String,
    /// Value in run A.
    pub a: Option<f64>,
    /// Value in run B.
    pub b: Option<f64>,
    /// `b - a`.
    pub delta: Option<f64>,
    /// `(b - a) / a` in percent, when `a` is not zero.
    pub delta_percent: Option<f64>,
    /// `better`, `worse` or `same` (higher throughput is better; lower latency and errors are).
    pub direction: Option<String>,
}

/// A threshold whose status changed (or that exists in only one run).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdChange {
    /// Metric as written.
    pub metric: String,
    /// Expression as written.
    pub expression: String,
    /// Status in run A (`None`: not evaluated there).
    pub a: Option<String>,
    /// Status in run B.
    pub b: Option<String>,
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline.
    pub a: RunFigures,
    /// The candidate.
    pub b: RunFigures,
    /// Figure deltas.
    pub figures: Vec<DeltaRow>,
    /// e.g. `passed → failed`, `None` when the verdict did not change.
    pub verdict_change: Option<String>,
    /// Thresholds whose status differs.
    pub threshold_changes: Vec<ThresholdChange>,
}

/// Reads two run folders and compares them.
pub fn compare(a_dir: &Path, b_dir: &Path) -> Result<Comparison> {
    let a = RunData::load_run(a_dir)?;
    let b = RunData::load_run(b_dir)?;
    Ok(compare_data(&a, &b))
}

fn figures(data: &RunData) -> RunFigures {
    RunFigures {
        run: data
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| data.dir.display().to_string()),
        verdict: data.verdict.as_ref().map(|v| v.verdict.clone()),
        incomplete: data.verdict.as_ref().is_some_and(|v| v.incomplete),
    }
}

/// Compares two loaded runs.
pub fn compare_data(a: &RunData, b: &RunData) -> Comparison {
    type Pick = fn(&Summary) -> Option<f64>;
    // (figure, pick, higher is better)
    let specs: [(&str, Pick, bool); 7] = [
        ("throughput_rps", Summary::throughput, true),
        ("requests", Summary::requests, true),
        ("error_rate", Summary::error_rate, false),
        ("p50_ms", |s| s.latency("med"), false),
        ("p95_ms", |s| s.latency("p(95)"), false),
        ("p99_ms", |s| s.latency("p(99)"), false),
        ("max_ms", |s| s.latency("max"), false),
    ];
    let figures_rows = specs
        .iter()
        .map(|(name, pick, higher_better)| {
            let va = a.summary.as_ref().and_then(pick);
            let vb = b.summary.as_ref().and_then(pick);
            let delta = va.zip(vb).map(|(x, y)| y - x);
            let delta_percent = va
                .zip(delta)
                .filter(|(x, _)| *x != 0.0)
                .map(|(x, d)| d / x * 100.0);
            let direction = delta.map(|d| {
                if d.abs() < f64::EPSILON {
                    "same".to_string()
                } else if (d > 0.0) == *higher_better {
                    "better".to_string()
                } else {
                    "worse".to_string()
                }
            });
            DeltaRow {
                figure: name.to_string(),
                a: va,
                b: vb,
                delta,
                delta_percent,
                direction,
            }
        })
        .collect();
    let fa = figures(a);
    let fb = figures(b);
    let verdict_change = (fa.verdict != fb.verdict).then(|| {
        format!(
            "{} → {}",
            fa.verdict.as_deref().unwrap_or("no verdict"),
            fb.verdict.as_deref().unwrap_or("no verdict")
        )
    });
    let mut threshold_changes = Vec::new();
    let rows_a = a
        .verdict
        .as_ref()
        .map(|v| v.thresholds.as_slice())
        .unwrap_or_default();
    let rows_b = b
        .verdict
        .as_ref()
        .map(|v| v.thresholds.as_slice())
        .unwrap_or_default();
    let key =
        |r: &crate::input::ThresholdRow| (r.phase.clone(), r.metric.clone(), r.expression.clone());
    for ra in rows_a {
        let sb = rows_b
            .iter()
            .find(|rb| key(rb) == key(ra))
            .map(|rb| rb.status.clone());
        if sb.as_deref() != Some(ra.status.as_str()) {
            threshold_changes.push(ThresholdChange {
                metric: ra.metric.clone(),
                expression: ra.expression.clone(),
                a: Some(ra.status.clone()),
                b: sb,
            });
        }
    }
    for rb in rows_b {
        if !rows_a.iter().any(|ra| key(ra) == key(rb)) {
            threshold_changes.push(ThresholdChange {
                metric: rb.metric.clone(),
                expression: rb.expression.clone(),
                a: None,
                b: Some(rb.status.clone()),
            });
        }
    }
    Comparison {
        a: fa,
        b: fb,
        figures: figures_rows,
        verdict_change,
        threshold_changes,
    }
}

fn value(figure: &str, v: Option<f64>) -> String {
    match (figure, v) {
        (_, None) => "—".to_string(),
        ("error_rate", Some(v)) => format!("{:.2} %", v * 100.0),
        ("requests", Some(v)) => format!("{v:.0}"),
        (_, Some(v)) => format!("{v:.2}"),
    }
}

fn delta_text(row: &DeltaRow) -> String {
    let Some(d) = row.delta else {
        return "—".to_string();
    };
    let abs = if row.figure == "error_rate" {
        format!("{:+.2} pp", d * 100.0)
    } else {
        format!("{d:+.2}")
    };
    match (row.delta_percent, row.direction.as_deref()) {
        (Some(p), Some(dir)) => format!("{abs} ({p:+.1} %, {dir})"),
        (None, Some(dir)) => format!("{abs} ({dir})"),
        _ => abs,
    }
}

impl Comparison {
    /// Markdown (also readable in a terminal).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## `{}` → `{}`\n", self.a.run, self.b.run);
        let verdict = |f: &RunFigures| {
            let v = f.verdict.as_deref().unwrap_or("no verdict");
            if f.incomplete {
                format!("{v} (incomplete)")
            } else {
                v.to_string()
            }
        };
        match &self.verdict_change {
            Some(change) => {
                let _ = writeln!(out, "Verdict changed: **{change}**\n");
            }
            None => {
                let _ = writeln!(out, "Verdict unchanged: **{}**\n", verdict(&self.b));
            }
        }
        out.push_str("| figure | A | B | delta |\n|---|---:|---:|---|\n");
        for row in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.figure,
                value(&row.figure, row.a),
                value(&row.figure, row.b),
                delta_text(row)
            );
        }
        if !self.threshold_changes.is_empty() {
            out.push_str("\n| threshold | A | B |\n|---|---|---|\n");
            for c in &self.threshold_changes {
                let _ = writeln!(
                    out,
                    "| `{}: {}` | {} | {} |",
                    md_cell(&c.metric),
                    md_cell(&c.expression),
                    c.a.as_deref().unwrap_or("—"),
                    c.b.as_deref().unwrap_or("—")
                );
            }
        }
        out
    }

    /// Writes `compare.json` and `compare.md` into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| crate::ReportError::io(dir, e))?;
        let json_path = dir.join("compare.json");
        let mut json =
            serde_json::to_string_pretty(self).map_err(|source| crate::ReportError::Json {
                path: json_path.clone(),
                what: "comparison",
                source,
            })?;
        json.push('\n');
        std::fs::write(&json_path, json).map_err(|e| crate::ReportError::io(&json_path, e))?;
        let md_path = dir.join("compare.md");
        std::fs::write(&md_path, self.to_markdown())
            .map_err(|e| crate::ReportError::io(&md_path, e))
    }
}
