//! `report.md`: the essentials of a run for a pull-request comment.

use std::fmt::Write as _;

use crate::format::{md_cell, ms, number, observed, percent, rate};
use crate::input::{RunData, Summary, VerdictDoc};
use crate::manifest::{ManifestInfo, display_utc};

/// The first line of `report.md`, which carries the verdict.
pub fn headline(info: &ManifestInfo, verdict: Option<&VerdictDoc>) -> String {
    let verdict = match verdict {
        Some(v) if v.passed() => "✅ PASSED",
        Some(_) => "❌ FAILED",
        None => "⚠️ NO VERDICT",
    };
    let incomplete = if info.incomplete { " (INCOMPLETE)" } else { "" };
    format!("## {verdict}{incomplete} — `{}`", info.run_id)
}

/// Renders `report.md`.
pub fn render(info: &ManifestInfo, data: &RunData) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", headline(info, data.verdict.as_ref()));
    let _ = writeln!(
        out,
        "Started {} · ended {} · scenario `{}` · revision `{}` · cricalgo {}\n",
        display_utc(info.started_at),
        display_utc(info.ended_at),
        info.scenario.as_deref().unwrap_or("—"),
        info.git_revision.as_deref().unwrap_or("unknown"),
        info.tool_version
    );
    if info.incomplete {
        out.push_str(
            "> **Incomplete:** the run was interrupted; figures cover only what was gathered.\n\n",
        );
    }
    if let Some(v) = &data.verdict {
        for note in &v.notes {
            let _ = writeln!(out, "> {}", md_cell(note));
        }
        if !v.notes.is_empty() {
            out.push('\n');
        }
    }

    out.push_str("| figure | client side | server side (Prometheus) |\n|---|---:|---:|\n");
    let s = data.summary.as_ref();
    let p = data.prometheus.as_ref().filter(|p| p.reachable);
    let rows = [
        (
            "requests",
            number(s.and_then(Summary::requests)),
            "—".to_string(),
        ),
        (
            "throughput",
            rate(s.and_then(Summary::throughput)),
            rate(p.and_then(|p| p.request_rate)),
        ),
        (
            "error rate (server: 5xx)",
            percent(s.and_then(Summary::error_rate)),
            percent(p.and_then(|p| p.error_5xx_ratio)),
        ),
        (
            "p50",
            ms(s.and_then(|s| s.latency("med"))),
            ms(p.and_then(|p| p.p50_ms)),
        ),
        (
            "p95",
            ms(s.and_then(|s| s.latency("p(95)"))),
            ms(p.and_then(|p| p.p95_ms)),
        ),
        (
            "p99",
            ms(s.and_then(|s| s.latency("p(99)"))),
            ms(p.and_then(|p| p.p99_ms)),
        ),
        (
            "VUs max",
            number(s.and_then(Summary::vus_max)),
            "—".to_string(),
        ),
    ];
    for (label, client, server) in rows {
        let _ = writeln!(out, "| {label} | {client} | {server} |");
    }
    out.push('\n');

    thresholds(&mut out, "Thresholds", data.verdict.as_ref());
    if let Some(smoke) = &data.smoke {
        let verdict = smoke
            .verdict
            .as_ref()
            .map(|v| v.verdict.as_str())
            .unwrap_or("no verdict");
        let _ = writeln!(out, "Smoke phase: **{verdict}** (files under `smoke/`)\n");
    }
    if let Some(p) = data.prometheus.as_ref() {
        if !p.alerts_firing.is_empty() {
            let names: Vec<&str> = p.alerts_firing.iter().map(|a| a.name.as_str()).collect();
            let _ = writeln!(out, "Alerts firing at the end: {}\n", names.join(", "));
        }
        if !p.reachable {
            let _ = writeln!(
                out,
                "Server-side view unavailable: {}\n",
                md_cell(p.error.as_deref().unwrap_or("prometheus was not reachable"))
            );
        }
    }
    out.push_str("Plots, checks and the stack snapshot are in `report.html` in the same folder.\n");
    out
}

fn thresholds(out: &mut String, title: &str, verdict: Option<&VerdictDoc>) {
    let Some(v) = verdict else {
        let _ = writeln!(out, "**{title}:** not evaluated (no `verdict.json`)\n");
        return;
    };
    let _ = writeln!(out, "**{title}**\n");
    out.push_str("| phase | metric | threshold | observed | status |\n|---|---|---|---:|---|\n");
    for row in &v.all_thresholds() {
        let mark = match (row.status.as_str(), row.is_failing()) {
            ("passed", _) => "✅ passed",
            ("failed", _) => "❌ failed",
            (_, true) => "❌ no data",
            _ => "⚠️ no data",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} | {mark} |",
            md_cell(row.phase.as_deref().unwrap_or("")),
            md_cell(&row.metric),
            md_cell(&row.expression),
            md_cell(&observed(row)),
        );
    }
    out.push('\n');
    let failed: Vec<String> = v
        .all_checks()
        .into_iter()
        .filter(|(_, c)| !c.passed)
        .map(|(phase, c)| match phase {
            Some(phase) => format!("{phase}: {}", c.name),
            None => c.name,
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "Functional checks failed: {}\n",
            md_cell(&failed.join(", "))
        );
    }
}
