//! `report.html`: one self-contained file — inline CSS, inline SVG plots, no script, no external
//! reference — so a reviewer can open it offline.

use std::fmt::Write as _;

use plotters::style::RGBColor;
use serde_json::Value;

use crate::error::Result;
use crate::format::{html as esc, ms, number, observed, percent, rate};
use crate::input::{CheckRow, RunData, Summary, ThresholdRow, VerdictDoc};
use crate::manifest::{ManifestInfo, display_utc};
use crate::plots;
use crate::prometheus::PrometheusSnapshot;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; background: #f5f6f8; color: #1d2330; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid #d8dce3; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
.meta { color: #556; font-size: 13px; margin-bottom: 16px; }
.meta code { background: #e9ecf1; padding: 1px 4px; border-radius: 3px; }
.banner { padding: 16px 20px; border-radius: 8px; font-size: 22px; font-weight: 700; color: #fff; }
.banner small { display: block; font-size: 14px; font-weight: 400; margin-top: 4px; }
.banner.passed { background: #2e7d32; }
.banner.failed { background: #c62828; }
.banner.unknown { background: #6b7280; }
.incomplete { margin-top: 8px; padding: 10px 16px; border-radius: 6px; background: #fff3cd;
              border: 1px solid #e0b84b; color: #5c4400; font-weight: 600; }
.notes { background: #fff; border-left: 4px solid #ef6c00; padding: 8px 16px; margin: 12px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; }
.card { background: #fff; border-radius: 6px; padding: 10px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card .label { color: #667; font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; }
table { border-collapse: collapse; background: #fff; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e4e7ec; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 700; border-radius: 4px; padding: 1px 6px; }
.status.passed { color: #1b5e20; background: #e3f3e4; }
.status.failed { color: #b71c1c; background: #fde7e7; }
.status.no-data { color: #5c4400; background: #fff3cd; }
.plot { background: #fff; border-radius: 6px; padding: 6px; margin: 10px 0; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.plot svg { width: 100%; height: auto; display: block; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.empty { color: #778; font-style: italic; }
pre { background: #fff; padding: 10px; overflow-x: auto; font-size: 12px; }
footer { color: #778; font-size: 12px; margin-top: 32px; }
"#;

/// Renders `report.html` for a run folder.
pub fn render(info: &ManifestInfo, data: &RunData) -> Result<String> {
    let mut out = String::new();
    let title = format!("cricalgo run {}", info.run_id);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(&title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    header(&mut out, info);
    banner(&mut out, data.verdict.as_ref(), info.incomplete);

    if let Some(summary) = &data.summary {
        key_figures(&mut out, summary);
    }

    out.push_str("<h2>Thresholds</h2>\n");
    thresholds_table(&mut out, data.verdict.as_ref());

    out.push_str("<h2>Load over time</h2>\n");
    plot(
        &mut out,
        plots::latency_over_time(&data.timeseries)?,
        "latency per second",
    );
    plot(
        &mut out,
        plots::throughput_over_time(&data.timeseries)?,
        "throughput per second",
    );
    plot(
        &mut out,
        plots::vus_over_time(&data.timeseries)?,
        "virtual users",
    );

    out.push_str("<h2>Latency distribution and status codes</h2>\n");
    latency_distribution(&mut out, data)?;
    status_codes(&mut out, data.summary.as_ref(), data.prometheus.as_ref())?;

    out.push_str("<h2>Client side and server side</h2>\n");
    client_server(&mut out, data.summary.as_ref(), data.prometheus.as_ref());

    out.push_str("<h2>Checks</h2>\n");
    checks_table(&mut out, data.summary.as_ref().map(|s| s.checks.as_slice()));

    if let Some(smoke) = &data.smoke {
        out.push_str("<h2 id=\"smoke\">Smoke phase</h2>\n");
        let verdict = smoke.verdict.as_ref().map(|v| v.verdict.as_str());
        let _ = writeln!(
            out,
            "<p>Smoke verdict: <span class=\"status {cls}\">{text}</span> (its files are under <code>smoke/</code>)</p>",
            cls = verdict.unwrap_or("no-data"),
            text = esc(verdict.unwrap_or("no verdict"))
        );
        if let Some(summary) = &smoke.summary {
            key_figures(&mut out, summary);
        }
        out.push_str(
            "<p class=\"meta\">Its thresholds and functional checks are in the tables above.</p>\n",
        );
        out.push_str("<h3>Smoke checks</h3>\n");
        checks_table(
            &mut out,
            smoke.summary.as_ref().map(|s| s.checks.as_slice()),
        );
    }

    out.push_str("<h2>Stack snapshot</h2>\n");
    match &data.stack {
        Some(stack) => json_block(&mut out, stack, 0),
        None => {
            out.push_str("<p class=\"empty\">no <code>stack.json</code> in this run folder</p>\n")
        }
    }

    let _ = writeln!(
        out,
        "<footer>Generated by cricalgo {} from the files of this run folder (<code>summary.json</code>, \
         <code>verdict.json</code>, <code>timeseries.csv</code>, <code>stack.json</code>, \
         <code>prometheus.json</code>); checksums are in <code>manifest.json</code>. Times are UTC.</footer>",
        esc(&info.tool_version)
    );
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}

fn header(out: &mut String, info: &ManifestInfo) {
    let duration = (info.ended_at - info.started_at).num_milliseconds() as f64 / 1000.0;
    let _ = writeln!(
        out,
        "<div class=\"meta\">started <b>{}</b> · ended <b>{}</b> · {:.0} s · scenario <code>{}</code> · \
         revision <code>{}</code> · stack <code>{}</code> · cricalgo {}<br>command: <code>{}</code></div>",
        esc(&display_utc(info.started_at)),
        esc(&display_utc(info.ended_at)),
        duration,
        esc(info.scenario.as_deref().unwrap_or("—")),
        esc(info.git_revision.as_deref().unwrap_or("unknown")),
        esc(info.stack_revision.as_deref().unwrap_or("—")),
        esc(&info.tool_version),
        esc(&info.command_line.join(" ")),
    );
}

fn banner(out: &mut String, verdict: Option<&VerdictDoc>, incomplete: bool) {
    let (class, text, detail) = match verdict {
        Some(v) => {
            let rows = v.all_thresholds();
            let failed = rows.iter().filter(|t| t.is_failing()).count();
            let no_data = rows.iter().filter(|t| t.status == "no-data").count();
            let total = rows.len();
            let checks = v.all_checks();
            let failed_checks = checks.iter().filter(|(_, c)| !c.passed).count();
            let mut detail = if v.passed() {
                format!("all {total} thresholds held")
            } else {
                format!("{failed} of {total} thresholds failed")
            };
            if no_data > 0 {
                detail.push_str(&format!(", {no_data} without data"));
            }
            if !checks.is_empty() {
                detail.push_str(&format!(
                    "; {failed_checks} of {} functional checks failed",
                    checks.len()
                ));
            }
            if v.passed() {
                ("passed", "PASSED", detail)
            } else {
                ("failed", "FAILED", detail)
            }
        }
        None => (
            "unknown",
            "NO VERDICT",
            "the run ended before the gate could evaluate it".to_string(),
        ),
    };
    let _ = writeln!(
        out,
        "<div id=\"verdict-banner\" class=\"banner {class}\" data-verdict=\"{class}\">{text}<small>{}</small></div>",
        esc(&detail)
    );
    if incomplete || verdict.is_some_and(|v| v.incomplete) {
        out.push_str(
            "<div id=\"incomplete\" class=\"incomplete\">INCOMPLETE: the run was interrupted; \
             this report covers only what was gathered</div>\n",
        );
    }
    if let Some(v) = verdict {
        let mut notes: Vec<String> = v.notes.clone();
        for name in v.phase_names() {
            for note in &v.phases[name].notes {
                // The load phase's notes are usually the top-level notes too.
                if !v.notes.contains(note) {
                    notes.push(format!("{name}: {note}"));
                }
            }
        }
        if !notes.is_empty() {
            out.push_str("<div class=\"notes\"><ul>\n");
            for note in &notes {
                let _ = writeln!(out, "<li>{}</li>", esc(note));
            }
            out.push_str("</ul></div>\n");
        }
    }
}

fn key_figures(out: &mut String, s: &Summary) {
    let cards = [
        ("requests", number(s.requests())),
        ("throughput", rate(s.throughput())),
        ("error rate", percent(s.error_rate())),
        ("p50", ms(s.latency("med"))),
        ("p95", ms(s.latency("p(95)"))),
        ("p99", ms(s.latency("p(99)"))),
        ("max", ms(s.latency("max"))),
        ("VUs max", number(s.vus_max())),
        ("iterations", number(s.stat("iterations", "count"))),
    ];
    out.push_str("<div class=\"cards\">\n");
    for (label, value) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div></div>",
            esc(&value)
        );
    }
    out.push_str("</div>\n");
}

fn thresholds_table(out: &mut String, verdict: Option<&VerdictDoc>) {
    let Some(verdict) = verdict else {
        out.push_str(
            "<p class=\"empty\">no <code>verdict.json</code>: no thresholds were evaluated</p>\n",
        );
        return;
    };
    let rows = verdict.all_thresholds();
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">no thresholds</p>\n");
    } else {
        let phases = rows.iter().any(|t| t.phase.is_some());
        out.push_str("<table class=\"thresholds\">\n<tr>");
        if phases {
            out.push_str("<th>phase</th>");
        }
        out.push_str(
            "<th>metric</th><th>threshold</th><th>observed</th><th>status</th><th>source</th></tr>\n",
        );
        for row in &rows {
            threshold_row(out, row, phases);
        }
        out.push_str("</table>\n");
    }
    let checks = verdict.all_checks();
    if !checks.is_empty() {
        out.push_str("<h3>Functional checks</h3>\n<table class=\"functional\"><tr><th>phase</th><th>check</th><th>status</th><th>detail</th></tr>\n");
        for (phase, check) in &checks {
            let (cls, word) = if check.passed {
                ("passed", "passed")
            } else {
                ("failed", "failed")
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td><span class=\"status {cls}\">{word}</span></td><td>{}</td></tr>",
                esc(phase.as_deref().unwrap_or("")),
                esc(&check.name),
                esc(check.message.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>\n");
    }
}

fn threshold_row(out: &mut String, row: &ThresholdRow, phases: bool) {
    out.push_str("<tr>");
    if phases {
        let _ = write!(out, "<td>{}</td>", esc(row.phase.as_deref().unwrap_or("")));
    }
    // A no-data row that fails the verdict is shown as failing.
    let cls = if row.is_failing() {
        "failed"
    } else {
        row.status.as_str()
    };
    let word = if row.is_failing() && row.status == "no-data" {
        "no data (fails)"
    } else {
        row.status.as_str()
    };
    let _ = writeln!(
        out,
        "<td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td>\
         <td><span class=\"status {cls}\">{}</span></td><td>{}</td></tr>",
        esc(&row.metric),
        esc(&row.expression),
        esc(&observed(row)),
        esc(word),
        esc(row.source.as_deref().unwrap_or("")),
        cls = esc(cls),
    );
}

fn plot(out: &mut String, svg: Option<String>, what: &str) {
    match svg {
        Some(svg) => {
            let _ = writeln!(out, "<div class=\"plot\">{svg}</div>");
        }
        None => {
            let _ = writeln!(out, "<p class=\"empty\">no data for the {what} plot</p>");
        }
    }
}

const BAR: RGBColor = RGBColor(21, 101, 192);
const SERVER_BAR: RGBColor = RGBColor(0, 121, 107);

fn bucket_label(ms_bound: Option<f64>) -> String {
    match ms_bound {
        None => "+Inf".to_string(),
        Some(v) if v >= 1000.0 => format!("≤{}s", trimmed(v / 1000.0)),
        Some(v) => format!("≤{}ms", trimmed(v)),
    }
}

fn trimmed(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn latency_distribution(out: &mut String, data: &RunData) -> Result<()> {
    let client = data
        .summary
        .as_ref()
        .map(|s| s.latency_histogram.as_slice())
        .unwrap_or_default();
    if !client.is_empty() {
        let bars: Vec<(String, f64)> = client
            .iter()
            .map(|(le, count)| (bucket_label(Some(*le)), *count as f64))
            .collect();
        plot(
            out,
            plots::bars(
                "Latency histogram (client side)",
                "latency",
                "requests",
                &bars,
                BAR,
            )?,
            "client latency histogram",
        );
    }
    if let Some(prom) = &data.prometheus
        && !prom.latency_buckets.is_empty()
    {
        // Prometheus buckets are cumulative; the plot shows the count inside each bucket.
        let mut previous = 0.0;
        let bars: Vec<(String, f64)> = prom
            .latency_buckets
            .iter()
            .map(|b| {
                let inside = (b.count - previous).max(0.0);
                previous = b.count;
                (bucket_label(b.le_ms), inside.round())
            })
            .collect();
        plot(
            out,
            plots::bars(
                "Latency histogram (server side, all app instances)",
                "request duration bucket",
                "requests",
                &bars,
                SERVER_BAR,
            )?,
            "server latency histogram",
        );
    }
    if let Some(s) = &data.summary {
        // The percentiles themselves, so the shape is visible even without bucketed data.
        let bars: Vec<(String, f64)> = [
            ("min", "min"),
            ("p50", "med"),
            ("p90", "p(90)"),
            ("p95", "p(95)"),
            ("p99", "p(99)"),
            ("max", "max"),
        ]
        .iter()
        .filter_map(|(label, stat)| s.latency(stat).map(|v| (label.to_string(), v)))
        .collect();
        plot(
            out,
            plots::bars(
                "Latency percentiles (client side)",
                "percentile",
                "ms",
                &bars,
                BAR,
            )?,
            "latency percentiles",
        );
    }
    Ok(())
}

fn status_codes(
    out: &mut String,
    summary: Option<&Summary>,
    prom: Option<&PrometheusSnapshot>,
) -> Result<()> {
    let client: Vec<(String, f64)> = summary
        .map(|s| {
            s.status_codes
                .iter()
                .map(|(code, count)| (code.clone(), *count as f64))
                .collect()
        })
        .unwrap_or_default();
    let server: Vec<(String, f64)> = prom
        .map(|p| {
            p.status_codes
                .iter()
                .filter(|(_, count)| **count > 0.0)
                .map(|(code, count)| (code.clone(), *count))
                .collect()
        })
        .unwrap_or_default();
    if client.is_empty() && server.is_empty() {
        out.push_str("<p class=\"empty\">no status-code breakdown (the summary has no <code>http_reqs{status:…}</code> sub-metrics and Prometheus gave none)</p>\n");
        return Ok(());
    }
    for (title, side, rows, color) in [
        ("Status codes (client side)", "client", &client, BAR),
        (
            "Status codes answered by the apps (server side)",
            "server",
            &server,
            SERVER_BAR,
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        plot(
            out,
            plots::bars(title, "HTTP status", "responses", rows, color)?,
            "status codes",
        );
        let total: f64 = rows.iter().map(|(_, c)| c).sum();
        let _ = writeln!(
            out,
            "<table class=\"status-codes\" data-side=\"{side}\"><tr><th>status ({side} side)</th><th>responses</th><th>share</th></tr>"
        );
        for (code, count) in rows {
            let share = (total > 0.0).then(|| count / total);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(code),
                number(Some(*count)),
                percent(share)
            );
        }
        out.push_str("</table>\n");
    }
    Ok(())
}

fn client_server(out: &mut String, summary: Option<&Summary>, prom: Option<&PrometheusSnapshot>) {
    if let Some(p) = prom
        && !p.reachable
    {
        let _ = writeln!(
            out,
            "<p class=\"empty\">server-side view unavailable: {}</p>",
            esc(p.error.as_deref().unwrap_or("prometheus was not reachable"))
        );
    }
    if prom.is_none() {
        out.push_str("<p class=\"empty\">no <code>prometheus.json</code> in this run folder</p>\n");
    }
    let s = summary;
    let rows = [
        (
            "p50",
            ms(s.and_then(|s| s.latency("med"))),
            ms(prom.and_then(|p| p.p50_ms)),
        ),
        (
            "p95",
            ms(s.and_then(|s| s.latency("p(95)"))),
            ms(prom.and_then(|p| p.p95_ms)),
        ),
        (
            "p99",
            ms(s.and_then(|s| s.latency("p(99)"))),
            ms(prom.and_then(|p| p.p99_ms)),
        ),
        (
            "throughput",
            rate(s.and_then(Summary::throughput)),
            rate(prom.and_then(|p| p.request_rate)),
        ),
        (
            "errors (client: failed requests; server: 5xx)",
            percent(s.and_then(Summary::error_rate)),
            percent(prom.and_then(|p| p.error_5xx_ratio)),
        ),
    ];
    out.push_str("<div class=\"side\">\n<div>\n<table id=\"client-server\"><tr><th>figure</th><th>client side (load engine)</th><th>server side (Prometheus)</th></tr>\n");
    for (label, client, server) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{label}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&client),
            esc(&server)
        );
    }
    out.push_str("</table>\n<p class=\"meta\">Client latency includes nginx and the network; server latency is the apps' own histogram.</p>\n</div>\n<div>\n");
    out.push_str(
        "<table id=\"server-state\"><tr><th>server state at the end</th><th>value</th></tr>\n",
    );
    let queue = format!(
        "{} (max {})",
        number(prom.and_then(|p| p.deposit_queue_depth)),
        number(prom.and_then(|p| p.deposit_queue_depth_max))
    );
    let _ = writeln!(
        out,
        "<tr><td>deposit queue depth</td><td class=\"num\">{}</td></tr>",
        esc(&queue)
    );
    if let Some(p) = prom {
        for (state, value) in &p.db_pool_connections {
            let _ = writeln!(
                out,
                "<tr><td>DB pool connections ({})</td><td class=\"num\">{}</td></tr>",
                esc(state),
                number(Some(*value))
            );
        }
        let alerts = if p.alerts_firing.is_empty() {
            "none".to_string()
        } else {
            p.alerts_firing
                .iter()
                .map(|a| match &a.severity {
                    Some(sev) => format!("{} ({sev})", a.name),
                    None => a.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "<tr><td>alerts firing</td><td>{}</td></tr>",
            esc(&alerts)
        );
        let _ = writeln!(
            out,
            "<tr><td>window</td><td class=\"num\">{} s ending {}</td></tr>",
            p.window_seconds,
            esc(&p.evaluated_at)
        );
    }
    out.push_str("</table>\n</div>\n</div>\n");
}

fn checks_table(out: &mut String, checks: Option<&[CheckRow]>) {
    let Some(checks) = checks.filter(|c| !c.is_empty()) else {
        out.push_str("<p class=\"empty\">no checks recorded</p>\n");
        return;
    };
    out.push_str("<table class=\"checks\"><tr><th>check</th><th>passes</th><th>fails</th><th>success</th></tr>\n");
    for check in checks {
        let total = check.passes + check.fails;
        let share = (total > 0).then(|| check.passes as f64 / total as f64);
        let cls = if check.fails == 0 { "passed" } else { "failed" };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><span class=\"status {cls}\">{}</span></td></tr>",
            esc(&check.name),
            check.passes,
            check.fails,
            percent(share)
        );
    }
    out.push_str("</table>\n");
}

/// Keys whose values are never shown, even if a snapshot carried them.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "apikey",
        "api_key",
        "credential",
    ]
    .iter()
    .any(|k| key.contains(k))
}

/// Renders arbitrary JSON readably: objects as key/value tables, arrays of objects as tables.
fn json_block(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(map) if depth < 4 => {
            out.push_str("<table class=\"kv\">\n");
            for (key, v) in map {
                let _ = write!(out, "<tr><th>{}</th><td>", esc(key));
                if is_secret_key(key) {
                    out.push_str("(redacted)");
                } else {
                    json_block(out, v, depth + 1);
                }
                out.push_str("</td></tr>\n");
            }
            out.push_str("</table>\n");
        }
        Value::Array(items)
            if depth < 4 && items.iter().all(Value::is_object) && !items.is_empty() =>
        {
            let mut columns: Vec<&str> = Vec::new();
            for item in items {
                for key in item.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !columns.contains(&key.as_str()) {
                        columns.push(key);
                    }
                }
            }
            out.push_str("<table>\n<tr>");
            for c in &columns {
                let _ = write!(out, "<th>{}</th>", esc(c));
            }
            out.push_str("</tr>\n");
            for item in items {
                out.push_str("<tr>");
                for c in &columns {
                    out.push_str("<td>");
                    match item.get(*c) {
                        _ if is_secret_key(c) => out.push_str("(redacted)"),
                        Some(v) => json_block(out, v, depth + 1),
                        None => {}
                    }
                    out.push_str("</td>");
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        Value::Array(items)
            if depth < 4 && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
        {
            let parts: Vec<String> = items.iter().map(scalar).collect();
            out.push_str(&esc(&parts.join(", ")));
        }
        Value::Object(_) | Value::Array(_) => {
            let _ = write!(
                out,
                "<code>{}</code>",
                esc(&serde_json::to_string(&redact(value)).unwrap_or_default())
            );
        }
        other => out.push_str(&esc(&scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::String("(redacted)".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}
