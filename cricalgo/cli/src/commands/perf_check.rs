//! `cricalgo perf check`: gate a run folder or any k6 summary file on thresholds.
//!
//! Flags are parsed and validated first, then the input is read (run folder: `summary.json`,
//! `verdict.json`, `manifest.json`, and a `smoke/` phase when present; or a k6 file in either
//! shape and any encoding k6 users end up with), judged by the gate's one verdict function, and
//! rendered as a table, JSON or JUnit.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use cricalgo_gate::junit::{Phase, to_junit};
use cricalgo_gate::verdict::format_observed;
use cricalgo_gate::{
    FunctionalCheck, GateInput, GateOptions, MetricType, Selector, Source, Status, Summary,
    Threshold, Verdict, evaluate, read_summary,
};

use crate::Exit;
use crate::exit::usage;

/// Gate a run folder or a k6 summary file on thresholds.
///
/// The default acceptance thresholds (`http_req_failed: rate<0.01`, `http_req_duration:
/// p(95)<4000`) always apply unless `--no-default-thresholds`; the file's own thresholds and
/// `--threshold` flags are added to them.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cricalgo perf check                                   # newest run under artifacts/
  cricalgo perf check artifacts/perf_run_20250920T143543Z --junit junit.xml
  cricalgo perf check k6-summary.json --threshold 'http_req_duration{name:webhook}: p(99) < 1500' --json

Exit codes: 0 gate passed, 99 gate failed, 2 bad threshold or unreadable file, 1 other errors.")]
pub struct PerfCheckArgs {
    /// A run folder or a k6 summary file (`--summary-export` or `handleSummary` JSON; UTF-8 or
    /// UTF-16 with BOM). Default: the newest run folder under the artifacts folder.
    pub path: Option<PathBuf>,
    /// An extra threshold in k6 syntax, `METRIC: EXPR` (repeatable).
    #[arg(long = "threshold", value_name = "METRIC: EXPR")]
    pub thresholds: Vec<String>,
    /// Also write JUnit XML (one testsuite per phase, one testcase per threshold) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the verdict document (the `verdict.json` shape) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Fail thresholds whose metric has no samples (k6 passes them silently).
    #[arg(long)]
    pub fail_on_no_data: bool,
    /// Do not add the default acceptance thresholds.
    #[arg(long)]
    pub no_default_thresholds: bool,
    /// Judge an interrupted (incomplete) run on what was gathered instead of failing it.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Where run folders live (used when PATH is not given).
    #[arg(
        long,
        value_name = "DIR",
        env = "CRICALGO_ARTIFACTS_DIR",
        default_value = "artifacts"
    )]
    pub artifacts_dir: PathBuf,
}

/// One phase read from disk, ready to judge.
#[derive(Debug)]
struct LoadedPhase {
    name: String,
    summary: Summary,
    thresholds: Vec<Threshold>,
    checks: Vec<FunctionalCheck>,
    incomplete: bool,
}

/// A judged phase.
#[derive(Debug)]
pub struct JudgedPhase {
    pub name: String,
    pub summary: Summary,
    pub verdict: Verdict,
}

pub async fn run(args: PerfCheckArgs) -> anyhow::Result<Exit> {
    // Parse, validate, then act: a bad flag fails before any file is read.
    let flags = args
        .thresholds
        .iter()
        .map(|flag| Threshold::parse_flag(flag))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)
        .context("failed to parse `--threshold`")?;
    let options = GateOptions {
        default_thresholds: !args.no_default_thresholds,
        fail_on_no_data: args.fail_on_no_data,
        allow_incomplete: args.allow_incomplete,
    };
    let path = match &args.path {
        Some(path) => path.clone(),
        None => newest_run(&args.artifacts_dir).map_err(usage)?,
    };
    let phases = load(&path)?;
    let load_phase = phases.len() - 1;
    let mut judged = Vec::new();
    for (i, phase) in phases.into_iter().enumerate() {
        let mut thresholds = phase.thresholds;
        if i == load_phase {
            thresholds.extend(flags.iter().cloned());
        }
        let input = GateInput {
            summary: Some(&phase.summary),
            thresholds,
            checks: phase.checks,
            incomplete: phase.incomplete,
        };
        let verdict = evaluate(&input, options)
            .map_err(usage)
            .with_context(|| format!("failed to gate `{}`", path.display()))?;
        judged.push(JudgedPhase {
            name: phase.name,
            summary: phase.summary,
            verdict,
        });
    }
    let passed = judged.iter().all(|p| p.verdict.passed());

    if let Some(junit) = &args.junit {
        let phases: Vec<Phase<'_>> = judged
            .iter()
            .map(|p| Phase {
                name: &p.name,
                verdict: &p.verdict,
                summary: Some(&p.summary),
            })
            .collect();
        let xml = to_junit("cricalgo perf check", &phases)?;
        std::fs::write(junit, xml)
            .with_context(|| format!("failed to write JUnit XML to `{}`", junit.display()))?;
    }

    if args.json {
        println!("{}", verdict_document(&judged, passed)?);
    } else {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        print!("{}", render(&judged, &path, color));
    }
    Ok(if passed {
        Exit::Success
    } else {
        Exit::GateFailed
    })
}

/// The verdict document: one phase prints `verdict.json`'s shape as is; several phases print the
/// last (load) phase's document with the overall verdict and every phase under `phases`.
fn verdict_document(judged: &[JudgedPhase], passed: bool) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Combined<'a> {
        verdict: cricalgo_gate::Outcome,
        thresholds: &'a [cricalgo_gate::ThresholdResult],
        notes: &'a [String],
        incomplete: bool,
        phases: std::collections::BTreeMap<&'a str, &'a Verdict>,
    }
    let last = judged.last().context("nothing was judged")?;
    let text = if judged.len() == 1 {
        serde_json::to_string_pretty(&last.verdict)?
    } else {
        serde_json::to_string_pretty(&Combined {
            verdict: if passed {
                cricalgo_gate::Outcome::Passed
            } else {
                cricalgo_gate::Outcome::Failed
            },
            thresholds: &last.verdict.thresholds,
            notes: &last.verdict.notes,
            incomplete: judged.iter().any(|p| p.verdict.incomplete),
            phases: judged
                .iter()
                .map(|p| (p.name.as_str(), &p.verdict))
                .collect(),
        })?
    };
    Ok(text)
}

/// The newest run folder under `dir`: the latest UTC stamp in its name, then modification time.
fn newest_run(dir: &Path) -> anyhow::Result<PathBuf> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no artifacts folder `{}`: run `cricalgo perf run` first or pass a run folder or k6 summary file",
            dir.display()
        )
    })?;
    let mut runs: Vec<(String, std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir()
            || !(path.join("summary.json").is_file() || path.join("summary.k6-data.json").is_file())
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let stamp = name
            .rsplit('_')
            .next()
            .filter(|s| s.len() == 16 && s.ends_with('Z') && s.as_bytes()[8] == b'T')
            .unwrap_or("")
            .to_owned();
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        runs.push((stamp, modified, path));
    }
    runs.sort();
    runs.pop().map(|(_, _, path)| path).with_context(|| {
        format!(
            "no run folder under `{}`: run `cricalgo perf run` first or pass a run folder or k6 summary file",
            dir.display()
        )
    })
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(usage)
        .with_context(|| format!("failed to read `{}`", path.display()))
}

fn read_summary_file(path: &Path) -> anyhow::Result<Summary> {
    let bytes = read_file(path)?;
    read_summary(&bytes)
        .map_err(usage)
        .with_context(|| format!("failed to read k6 summary `{}`", path.display()))
}

/// Reads PATH: a k6 file is one phase; a run folder has a load phase and maybe a smoke phase.
fn load(path: &Path) -> anyhow::Result<Vec<LoadedPhase>> {
    if !path.exists() {
        return Err(usage(anyhow::anyhow!(
            "`{}` does not exist: pass a run folder or a k6 summary file",
            path.display()
        )));
    }
    // `verdict.json` or `manifest.json` of a run folder stand for the folder.
    let is_run_file = path
        .file_name()
        .is_some_and(|name| name == "verdict.json" || name == "manifest.json");
    if is_run_file && let Some(parent) = path.parent().filter(|p| has_summary(p)) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        return load(parent);
    }
    if !path.is_dir() {
        return Ok(vec![LoadedPhase {
            name: "load".to_owned(),
            summary: read_summary_file(path)?,
            thresholds: Vec::new(),
            checks: Vec::new(),
            incomplete: false,
        }]);
    }
    let mut phases = Vec::new();
    let smoke = path.join("smoke");
    if smoke.is_dir() && has_summary(&smoke) {
        phases.push(load_folder(&smoke, "smoke", path)?);
    }
    if has_summary(path) {
        // `smoke_<UTC>` folders (from `cricalgo smoke`) hold a smoke phase; others a load phase.
        let is_smoke = path
            .canonicalize()
            .ok()
            .and_then(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().starts_with("smoke"))
            })
            .unwrap_or(false);
        let name = if is_smoke && phases.is_empty() {
            "smoke"
        } else {
            "load"
        };
        phases.push(load_folder(path, name, path)?);
    } else if phases.is_empty() {
        // A folder of run folders (such as `artifacts/` itself): its newest run.
        if let Ok(newest) = newest_run(path) {
            return load(&newest);
        }
        return Err(usage(anyhow::anyhow!(
            "`{}` has no `summary.json` or `summary.k6-data.json`: pass a run folder written by `cricalgo perf run` or a k6 summary file",
            path.display()
        )));
    }
    Ok(phases)
}

fn has_summary(dir: &Path) -> bool {
    dir.join("summary.json").is_file() || dir.join("summary.k6-data.json").is_file()
}

/// One phase of a run folder: the summary, the thresholds and checks its verdict named, and
/// whether the run was interrupted (from `manifest.json` or `verdict.json`).
fn load_folder(dir: &Path, name: &str, run_dir: &Path) -> anyhow::Result<LoadedPhase> {
    let summary_path = if dir.join("summary.json").is_file() {
        dir.join("summary.json")
    } else {
        dir.join("summary.k6-data.json")
    };
    let mut summary = read_summary_file(&summary_path)?;
    let mut thresholds = Vec::new();
    let mut checks = Vec::new();
    let mut incomplete = false;
    let verdict_path = dir.join("verdict.json");
    if verdict_path.is_file() {
        let bytes = read_file(&verdict_path)?;
        let text = cricalgo_gate::decode_text(&bytes)
            .map_err(usage)
            .with_context(|| format!("failed to read `{}`", verdict_path.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(usage)
            .with_context(|| format!("failed to parse `{}`", verdict_path.display()))?;
        incomplete |= doc["incomplete"].as_bool().unwrap_or(false);
        if let Some(list) = doc["checks"].as_array() {
            checks = list
                .iter()
                .filter_map(|c| serde_json::from_value::<FunctionalCheck>(c.clone()).ok())
                .collect();
        }
        for row in doc["thresholds"].as_array().into_iter().flatten() {
            let (Some(metric), Some(expression)) =
                (row["metric"].as_str(), row["expression"].as_str())
            else {
                continue;
            };
            let source = match row["source"].as_str() {
                Some("default") => Source::Default,
                Some("scenario") => Source::Scenario,
                Some("flag") => Source::Flag,
                _ => continue,
            };
            // The summary records what this gate wrote; judge it again under its own source.
            remove_recorded(&mut summary, metric, expression);
            if source != Source::Default {
                let threshold = Threshold::parse(metric, expression, source)
                    .map_err(usage)
                    .with_context(|| {
                        format!("`{}` has an invalid threshold", verdict_path.display())
                    })?;
                thresholds.push(threshold);
            }
        }
    }
    for manifest in [dir.join("manifest.json"), run_dir.join("manifest.json")] {
        if let Ok(bytes) = std::fs::read(&manifest) {
            let doc: Option<serde_json::Value> = cricalgo_gate::decode_text(&bytes)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            incomplete |= doc.is_some_and(|d| d["incomplete"].as_bool().unwrap_or(false));
            break;
        }
    }
    Ok(LoadedPhase {
        name: name.to_owned(),
        summary,
        thresholds,
        checks,
        incomplete,
    })
}

fn remove_recorded(summary: &mut Summary, metric: &str, expression: &str) {
    let Ok(selector) = Selector::parse(metric) else {
        return;
    };
    for (key, m) in summary.metrics.iter_mut() {
        if Selector::parse(key).is_ok_and(|s| s.same_as(&selector)) {
            m.recorded.retain(|r| r.expression != expression);
        }
    }
}

fn metric_type(summary: &Summary, metric: &str) -> Option<MetricType> {
    let name = Selector::parse(metric).ok()?.name;
    summary.metric_type_of(&name)
}

/// The terminal rendering: a table (metric, threshold, observed, verdict, source), the notes and
/// a closing verdict line.
pub fn render(judged: &[JudgedPhase], path: &Path, color: bool) -> String {
    let several = judged.len() > 1;
    let mut table = Table::new();
    if color {
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        // The caller has checked the terminal and `NO_COLOR`.
        table.enforce_styling();
    } else {
        table.load_preset(presets::ASCII_MARKDOWN);
        table.force_no_tty();
    }
    table.set_content_arrangement(ContentArrangement::Disabled);
    let mut header = Vec::new();
    if several {
        header.push("phase");
    }
    header.extend(["metric", "threshold", "observed", "verdict", "source"]);
    table.set_header(header);
    let (mut failing, mut total, mut failing_checks, mut checks) = (0, 0, 0, 0);
    for phase in judged {
        for row in &phase.verdict.thresholds {
            total += 1;
            failing += usize::from(row.failing);
            let observed = row
                .observed
                .map(|v| {
                    format_observed(
                        v,
                        metric_type(&phase.summary, &row.metric).unwrap_or(MetricType::Gauge),
                    )
                })
                .unwrap_or_else(|| "-".to_owned());
            let (word, tint) = match (row.status, row.failing) {
                (Status::Passed, _) => ("passed", Color::Green),
                (Status::Failed, _) => ("FAILED", Color::Red),
                (Status::NoData, true) => ("NO DATA (fails)", Color::Red),
                (Status::NoData, false) => ("no data", Color::Yellow),
            };
            let mut verdict_cell = Cell::new(word);
            if color {
                verdict_cell = verdict_cell.fg(tint);
            }
            let mut cells = Vec::new();
            if several {
                cells.push(Cell::new(&phase.name));
            }
            cells.extend([
                Cell::new(&row.metric),
                Cell::new(&row.expression),
                Cell::new(observed),
                verdict_cell,
                Cell::new(row.source_word()),
            ]);
            table.add_row(cells);
        }
        for check in &phase.verdict.checks {
            checks += 1;
            failing_checks += usize::from(!check.passed);
            let (word, tint) = if check.passed {
                ("passed", Color::Green)
            } else {
                ("FAILED", Color::Red)
            };
            let mut verdict_cell = Cell::new(word);
            if color {
                verdict_cell = verdict_cell.fg(tint);
            }
            let mut cells = Vec::new();
            if several {
                cells.push(Cell::new(&phase.name));
            }
            cells.extend([
                Cell::new(format!("check: {}", check.name)),
                Cell::new("functional"),
                Cell::new(check.message.as_deref().unwrap_or("-")),
                verdict_cell,
                Cell::new("check"),
            ]);
            table.add_row(cells);
        }
    }
    let mut out = format!("gate: {}\n", path.display());
    if total + checks == 0 {
        out.push_str("no thresholds to check\n");
    } else {
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for phase in judged {
        for note in &phase.verdict.notes {
            if several {
                out.push_str(&format!("note ({}): {note}\n", phase.name));
            } else {
                out.push_str(&format!("note: {note}\n"));
            }
        }
    }
    let passed = judged.iter().all(|p| p.verdict.passed());
    let incomplete = judged.iter().any(|p| p.verdict.incomplete);
    let suffix = if incomplete { " (incomplete run)" } else { "" };
    if passed {
        out.push_str(&format!("verdict: passed{suffix}\n"));
    } else {
        let mut parts = vec![format!("{failing} of {total} thresholds failed")];
        if checks > 0 {
            parts.push(format!(
                "{failing_checks} of {checks} functional checks failed"
            ));
        }
        out.push_str(&format!("verdict: FAILED{suffix}: {}\n", parts.join(", ")));
    }
    out
}
