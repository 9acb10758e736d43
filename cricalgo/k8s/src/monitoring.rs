//! The Prometheus side: alert rule files, the metrics and labels their expressions use, the
//! check that the services export exactly those, promtool, and reloading a running Prometheus.
//!
//! Expressions are parsed with `promql-parser`, so a selector inside `histogram_quantile(…)`,
//! `absent(…)` or a binary expression is found the same way Prometheus finds it. A rule may only
//! use a metric some scraped job exports, only labels that metric carries (or the target labels
//! `job` and `instance`), and for `=`/`!=` matchers only label values the services really emit
//! (they pre-create every series, so the values are all visible at start).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier};
use serde::Deserialize;

/// Labels Prometheus attaches to every scraped series.
pub const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// What went wrong in the monitoring checks.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// A file could not be read.
    #[error("failed to read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A YAML file is not what Prometheus expects.
    #[error("`{path}` is not a valid {what}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it should be (`rule file`, `promtool test file`).
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A rule's expression is not valid PromQL.
    #[error("rule `{rule}` has an invalid expression: {message}")]
    Expr {
        /// The alert or record name.
        rule: String,
        /// The parser's message.
        message: String,
    },
    /// A text exposition line could not be parsed.
    #[error("line {line} of the `{job}` metrics is not in the Prometheus text format: `{text}`")]
    Exposition {
        /// The job whose exposition it is.
        job: String,
        /// Line number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
    /// An HTTP request to Prometheus failed.
    #[error("failed to {action} at `{url}`: {reason}")]
    Http {
        /// What was being done.
        action: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// Prometheus loaded another number of rules than the files hold.
    #[error(
        "Prometheus at `{url}` has {loaded} rules loaded, the rule files hold {expected}; check its logs (`cricalgo staging logs prometheus`) for rule file errors"
    )]
    RuleCountMismatch {
        /// The Prometheus URL.
        url: String,
        /// Rules it reports.
        loaded: usize,
        /// Rules in the files.
        expected: usize,
    },
}

/// One rule file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Its groups.
    pub groups: Vec<RuleGroup>,
}

/// A rule group.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval, if not the global one.
    #[serde(default)]
    pub interval: Option<String>,
    /// Its rules.
    pub rules: Vec<Rule>,
}

/// An alerting or recording rule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Alert name (alerting rules).
    #[serde(default)]
    pub alert: Option<String>,
    /// Recorded series name (recording rules).
    #[serde(default)]
    pub record: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// How long the condition must hold.
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    /// How long an alert keeps firing after it resolves.
    #[serde(default)]
    pub keep_firing_for: Option<String>,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or_default()
    }
}

/// Where the monitoring files live, relative to `monitoring/prometheus/`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `monitoring/prometheus/`.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `prometheus.yml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("prometheus.yml")
    }

    /// `alerts/*.yaml`, sorted.
    pub fn rule_files(&self) -> Result<Vec<PathBuf>, MonitoringError> {
        yaml_in(&self.dir.join("alerts"))
    }

    /// `tests/*.yaml`, sorted.
    pub fn test_files(&self) -> Result<Vec<PathBuf>, MonitoringError> {
        yaml_in(&self.dir.join("tests"))
    }
}

fn yaml_in(dir: &Path) -> Result<Vec<PathBuf>, MonitoringError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MonitoringError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, MonitoringError> {
    std::fs::read_to_string(path).map_err(|source| MonitoringError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads one rule file.
pub fn read_rules(path: &Path) -> Result<RuleFile, MonitoringError> {
    serde_yaml::from_str(&read(path)?).map_err(|err| MonitoringError::Parse {
        path: path.to_path_buf(),
        what: "rule file",
        message: err.to_string(),
    })
}

/// Every rule of every rule file in the layout.
pub fn all_rules(layout: &Layout) -> Result<Vec<Rule>, MonitoringError> {
    let mut rules = Vec::new();
    for path in layout.rule_files()? {
        for group in read_rules(&path)?.groups {
            rules.extend(group.rules);
        }
    }
    Ok(rules)
}

/// The `job_name`s of `prometheus.yml`.
pub fn scrape_jobs(config: &Path) -> Result<BTreeSet<String>, MonitoringError> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        scrape_configs: Vec<ScrapeConfig>,
    }
    #[derive(Deserialize)]
    struct ScrapeConfig {
        job_name: String,
    }
    let parsed: Config =
        serde_yaml::from_str(&read(config)?).map_err(|err| MonitoringError::Parse {
            path: config.to_path_buf(),
            what: "Prometheus configuration",
            message: err.to_string(),
        })?;
    Ok(parsed
        .scrape_configs
        .into_iter()
        .map(|c| c.job_name)
        .collect())
}

/// One use of a metric in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricUse {
    /// The metric name.
    pub metric: String,
    /// Its label matchers (other than the metric name).
    pub matchers: Vec<Matcher>,
    /// Labels an enclosing `by`/`without`/`on`/`ignoring` clause expects on it.
    pub grouping: BTreeSet<String>,
}

impl MetricUse {
    /// The matchers as `(label, op, value)`; `op` is `=`, `!=`, `=~` or `!~`.
    pub fn triples(&self) -> Vec<(String, String, String)> {
        self.matchers
            .iter()
            .map(|m| (m.name.clone(), m.op.to_string(), m.value.clone()))
            .collect()
    }
}

/// Every metric selector in `expr`, with its matchers and the grouping labels around it.
pub fn metric_uses(expr: &str) -> Result<Vec<MetricUse>, String> {
    let ast = parser::parse(expr)?;
    let mut uses = Vec::new();
    walk(&ast, &BTreeSet::new(), &mut uses)?;
    Ok(uses)
}

fn modifier_labels(modifier: Option<&LabelModifier>) -> BTreeSet<String> {
    modifier
        .map(|m| m.labels().labels.iter().cloned().collect())
        .unwrap_or_default()
}

fn walk(expr: &Expr, grouping: &BTreeSet<String>, uses: &mut Vec<MetricUse>) -> Result<(), String> {
    match expr {
        Expr::Aggregate(aggregate) => {
            let mut inner = grouping.clone();
            inner.extend(modifier_labels(aggregate.modifier.as_ref()));
            walk(&aggregate.expr, &inner, uses)?;
            if let Some(param) = &aggregate.param {
                walk(param, grouping, uses)?;
            }
        }
        Expr::Unary(unary) => walk(&unary.expr, grouping, uses)?,
        Expr::Binary(binary) => {
            let mut inner = grouping.clone();
            if let Some(modifier) = &binary.modifier {
                inner.extend(modifier_labels(modifier.matching.as_ref()));
            }
            walk(&binary.lhs, &inner, uses)?;
            walk(&binary.rhs, &inner, uses)?;
        }
        Expr::Paren(paren) => walk(&paren.expr, grouping, uses)?,
        Expr::Subquery(subquery) => walk(&subquery.expr, grouping, uses)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(selector) => uses.push(selector_use(selector, grouping)?),
        Expr::MatrixSelector(matrix) => uses.push(selector_use(&matrix.vs, grouping)?),
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, grouping, uses)?;
            }
        }
        Expr::Extension(_) => return Err("unsupported expression extension".to_owned()),
    }
    Ok(())
}

fn selector_use(
    selector: &promql_parser::parser::VectorSelector,
    grouping: &BTreeSet<String>,
) -> Result<MetricUse, String> {
    let mut name = selector.name.clone();
    let mut matchers = Vec::new();
    if !selector.matchers.or_matchers.is_empty() {
        return Err("`or` inside a selector is not supported by the metric check".to_owned());
    }
    for matcher in &selector.matchers.matchers {
        if matcher.name == "__name__" {
            if matcher.op == MatchOp::Equal {
                name = Some(matcher.value.clone());
                continue;
            }
            return Err("selectors must name their metric".to_owned());
        }
        matchers.push(matcher.clone());
    }
    let metric = name.ok_or_else(|| "selectors must name their metric".to_owned())?;
    Ok(MetricUse {
        metric,
        matchers,
        grouping: grouping.clone(),
    })
}

/// Series names with, per label, every value seen: one scrape of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposition {
    /// Sample name (`…_bucket`, `…_count` separately) → label → values.
    pub series: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Exposition {
    /// Parses the Prometheus text format (comments and blank lines skipped).
    pub fn parse(job: &str, text: &str) -> Result<Self, MonitoringError> {
        let mut exposition = Exposition::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels) = parse_sample(line).ok_or_else(|| MonitoringError::Exposition {
                job: job.to_owned(),
                line: index + 1,
                text: line.to_owned(),
            })?;
            let entry = exposition.series.entry(name).or_default();
            for (label, value) in labels {
                entry.entry(label).or_default().insert(value);
            }
        }
        Ok(exposition)
    }
}

/// `name{a="b",…} value [timestamp]` → name and labels; `None` when malformed.
fn parse_sample(line: &str) -> Option<(String, Vec<(String, String)>)> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let valid_name = !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
    if !valid_name {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let consumed;
        loop {
            // Skip separators.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let (start, c) = chars.next()?;
            if c == '}' {
                consumed = start + 1;
                break;
            }
            let mut end = start + c.len_utf8();
            while let Some((i, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || *c == '_' {
                    end = i + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let label = inner[start..end].to_owned();
            if chars.next()?.1 != '=' || chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((label, value));
        }
        rest = &inner[consumed..];
    }
    let value = rest.split_whitespace().next()?;
    let numeric = value.parse::<f64>().is_ok() || matches!(value, "+Inf" | "-Inf" | "NaN");
    numeric.then(|| (name.to_owned(), labels))
}

/// One thing wrong with a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The alert or record name.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule `{}`: {}", self.rule, self.message)
    }
}

/// Checks every rule against what each scraped job exports.
///
/// `exports` maps a job name of `prometheus.yml` to that job's exposition; `jobs` is every job
/// name configured (for the `up` series and `job` matchers).
pub fn check_metrics(
    rules: &[Rule],
    exports: &BTreeMap<String, Exposition>,
    jobs: &BTreeSet<String>,
) -> Result<Vec<Problem>, MonitoringError> {
    let recorded: BTreeSet<&str> = rules.iter().filter_map(|r| r.record.as_deref()).collect();
    let mut problems = Vec::new();
    for rule in rules {
        let uses = metric_uses(&rule.expr).map_err(|message| MonitoringError::Expr {
            rule: rule.name().to_owned(),
            message,
        })?;
        for metric_use in uses {
            for message in check_use(&metric_use, exports, jobs, &recorded) {
                problems.push(Problem {
                    rule: rule.name().to_owned(),
                    message,
                });
            }
        }
    }
    Ok(problems)
}

fn check_use(
    metric_use: &MetricUse,
    exports: &BTreeMap<String, Exposition>,
    jobs: &BTreeSet<String>,
    recorded: &BTreeSet<&str>,
) -> Vec<String> {
    let metric = metric_use.metric.as_str();
    let mut problems = Vec::new();
    // Which jobs the selector can match.
    let mut candidate_jobs: Vec<&String> = jobs.iter().collect();
    for matcher in metric_use.matchers.iter().filter(|m| m.name == "job") {
        let (op, value) = (matcher.op.to_string(), &matcher.value);
        candidate_jobs.retain(|job| matcher.is_match(job));
        if matches!(op.as_str(), "=" | "!=") && !jobs.contains(value) {
            problems.push(format!(
                "`{metric}` matches `job{op}\"{value}\"`, but prometheus.yml has no job `{value}` (jobs: {})",
                join(jobs.iter())
            ));
        }
    }
    if candidate_jobs.is_empty() {
        problems.push(format!(
            "`{metric}`: its `job` matchers match no job of prometheus.yml"
        ));
        return problems;
    }
    if recorded.contains(metric) {
        if !metric_use.matchers.is_empty() {
            problems.push(format!(
                "recorded series `{metric}` is filtered by labels, but its recording rule keeps none"
            ));
        }
        return problems;
    }
    // The labels and values the metric carries in the jobs it can come from.
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut found = false;
    if metric == "up" {
        found = true;
        labels.insert("job".into(), jobs.iter().cloned().collect());
        labels.insert("instance".into(), BTreeSet::new());
    }
    for job in &candidate_jobs {
        if let Some(series) = exports.get(*job).and_then(|e| e.series.get(metric)) {
            found = true;
            for (label, values) in series {
                labels
                    .entry(label.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
    }
    if !found {
        let where_ = if candidate_jobs.len() == jobs.len() {
            "no scraped service exports it".to_owned()
        } else {
            format!(
                "job(s) {} do not export it",
                join(candidate_jobs.iter().copied())
            )
        };
        problems.push(format!("metric `{metric}` is used, but {where_}"));
        return problems;
    }
    for label in TARGET_LABELS {
        labels.entry(label.to_owned()).or_default();
    }
    for (label, op, value) in metric_use.triples() {
        let Some(values) = labels.get(&label) else {
            problems.push(format!(
                "`{metric}` has no label `{label}` (it has: {})",
                join(labels.keys())
            ));
            continue;
        };
        let is_target_label = TARGET_LABELS.contains(&label.as_str());
        if matches!(op.as_str(), "=" | "!=") && !is_target_label && !values.contains(&value) {
            problems.push(format!(
                "`{metric}{{{label}{op}\"{value}\"}}` names a value the services never export (they export: {})",
                join(values.iter())
            ));
        }
    }
    for label in &metric_use.grouping {
        if !labels.contains_key(label) {
            problems.push(format!(
                "`{metric}` is grouped by `{label}`, a label it does not have (it has: {})",
                join(labels.keys())
            ));
        }
    }
    problems
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// One promtool test file, as far as coverage is concerned.
#[derive(Debug, Clone, Deserialize)]
struct TestFile {
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Clone, Deserialize)]
struct TestGroup {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Clone, Deserialize)]
struct AlertTest {
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<serde_yaml::Value>,
}

/// Alerts that lack a promtool case where they fire, or one where they stay silent.
pub fn uncovered_alerts(layout: &Layout) -> Result<Vec<String>, MonitoringError> {
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for path in layout.test_files()? {
        let file: TestFile =
            serde_yaml::from_str(&read(&path)?).map_err(|err| MonitoringError::Parse {
                path: path.clone(),
                what: "promtool test file",
                message: err.to_string(),
            })?;
        for case in file.tests.iter().flat_map(|g| &g.alert_rule_test) {
            if case.exp_alerts.is_empty() {
                silent.insert(case.alertname.clone());
            } else {
                fires.insert(case.alertname.clone());
            }
        }
    }
    let mut missing = Vec::new();
    for rule in all_rules(layout)? {
        let Some(alert) = rule.alert else { continue };
        if !fires.contains(&alert) {
            missing.push(format!(
                "alert `{alert}` has no promtool case in which it fires"
            ));
        }
        if !silent.contains(&alert) {
            missing.push(format!(
                "alert `{alert}` has no promtool case in which it stays silent"
            ));
        }
    }
    Ok(missing)
}

/// The outcome of one promtool run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromtoolRun {
    /// The command line, for display.
    pub command: String,
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout and stderr.
    pub output: String,
}

/// Whether `promtool` is on `PATH`.
pub fn promtool_available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Runs `promtool check config`, `check rules` and `test rules` on the layout, in its folder
/// (rule paths in `prometheus.yml` and the tests are relative to it).
pub fn run_promtool(layout: &Layout) -> Result<Vec<PromtoolRun>, MonitoringError> {
    let relative = |paths: Vec<PathBuf>| -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                p.strip_prefix(&layout.dir)
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .collect()
    };
    let rules = relative(layout.rule_files()?);
    let tests = relative(layout.test_files()?);
    let mut runs = Vec::new();
    for args in [
        vec![
            "check".to_owned(),
            "config".to_owned(),
            "prometheus.yml".to_owned(),
        ],
        [vec!["check".to_owned(), "rules".to_owned()], rules].concat(),
        [vec!["test".to_owned(), "rules".to_owned()], tests].concat(),
    ] {
        let command = format!("promtool {}", args.join(" "));
        let output = Command::new("promtool")
            .args(&args)
            .current_dir(&layout.dir)
            .output()
            .map_err(|source| MonitoringError::Read {
                path: PathBuf::from("promtool"),
                source,
            })?;
        runs.push(PromtoolRun {
            command,
            success: output.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(runs)
}

/// What a reload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Rules Prometheus reports after the reload.
    pub loaded: usize,
    /// Rule groups it reports.
    pub groups: usize,
}

/// POSTs `/-/reload` to the Prometheus at `url`, then polls `/api/v1/rules` until it reports
/// `expected` rules or `timeout` passes.
pub async fn reload(
    url: &str,
    expected: usize,
    timeout: Duration,
) -> Result<ReloadOutcome, MonitoringError> {
    let base = url.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| MonitoringError::Http {
            action: "build an HTTP client",
            url: base.to_owned(),
            reason: err.to_string(),
        })?;
    let reload_url = format!("{base}/-/reload");
    let response = http
        .post(&reload_url)
        .send()
        .await
        .map_err(|err| MonitoringError::Http {
            action: "reach Prometheus",
            url: reload_url.clone(),
            reason: format!("{err}; is the staging stack up (`cricalgo staging status`)?"),
        })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let hint = if status.as_u16() == 403 {
            "; start Prometheus with `--web.enable-lifecycle`"
        } else {
            ""
        };
        return Err(MonitoringError::Http {
            action: "reload the configuration",
            url: reload_url,
            reason: format!("HTTP {status}: {}{hint}", body.trim()),
        });
    }
    let rules_url = format!("{base}/api/v1/rules");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let outcome = loaded_rules(&http, &rules_url).await?;
        if outcome.loaded == expected {
            return Ok(outcome);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(MonitoringError::RuleCountMismatch {
                url: base.to_owned(),
                loaded: outcome.loaded,
                expected,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn loaded_rules(http: &reqwest::Client, url: &str) -> Result<ReloadOutcome, MonitoringError> {
    let error = |reason: String| MonitoringError::Http {
        action: "read the loaded rules",
        url: url.to_owned(),
        reason,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| error(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| error(e.to_string()))?;
    if !status.is_success() {
        return Err(error(format!("HTTP {status}")));
    }
    count_rules(&body).ok_or_else(|| error("the answer is not a Prometheus rules response".into()))
}

/// Counts rules and groups in a `/api/v1/rules` answer.
pub fn count_rules(body: &str) -> Option<ReloadOutcome> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    if value["status"] != "success" {
        return None;
    }
    let groups = value["data"]["groups"].as_array()?;
    let loaded = groups
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    Some(ReloadOutcome {
        loaded,
        groups: groups.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(expr: &str) -> Vec<MetricUse> {
        metric_uses(expr).unwrap()
    }

    #[test]
    fn selectors_are_found_inside_functions_aggregations_and_binaries() {
        let found = uses(
            r#"histogram_quantile(0.95, sum by (le) (rate(h_bucket{route="/x"}[5m]))) > 2 and on(job) absent(g{job="app"})"#,
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].metric, "h_bucket");
        assert_eq!(
            found[0].triples(),
            [("route".into(), "=".into(), "/x".into())]
        );
        assert_eq!(
            found[0].grouping,
            ["job".to_owned(), "le".to_owned()].into_iter().collect()
        );
        assert_eq!(found[1].metric, "g");
        assert_eq!(
            found[1].triples(),
            [("job".into(), "=".into(), "app".into())]
        );
    }

    #[test]
    fn name_matchers_count_as_the_metric() {
        let found = uses(r#"{__name__="up", job=~"a|b"} == 0"#);
        assert_eq!(found[0].metric, "up");
        assert_eq!(
            found[0].triples(),
            [("job".into(), "=~".into(), "a|b".into())]
        );
        assert!(metric_uses(r#"{__name__=~"x.*"}"#).is_err());
    }

    #[test]
    fn exposition_parses_labels_with_escapes() {
        let text = "# HELP x help\n# TYPE x counter\nx{a=\"1\",b=\"q\\\"uote\\\\\"} 0\nx{a=\"2\"} 1.5e3 1700000000\ny 3\nh_bucket{le=\"+Inf\"} NaN\n";
        let exposition = Exposition::parse("app", text).unwrap();
        let x = &exposition.series["x"];
        assert_eq!(
            x["a"],
            ["1".to_owned(), "2".to_owned()].into_iter().collect()
        );
        assert_eq!(x["b"], ["q\"uote\\".to_owned()].into_iter().collect());
        assert!(exposition.series["y"].is_empty());
        assert!(exposition.series.contains_key("h_bucket"));
        let err = Exposition::parse("app", "x{a=\"1\" 2\n").unwrap_err();
        assert!(
            err.to_string().contains("line 1 of the `app` metrics"),
            "{err}"
        );
    }

    fn rule(name: &str, expr: &str) -> Rule {
        Rule {
            alert: Some(name.into()),
            record: None,
            expr: expr.into(),
            for_: None,
            keep_firing_for: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    fn exports() -> (BTreeMap<String, Exposition>, BTreeSet<String>) {
        let app = Exposition::parse(
            "app",
            "http_requests_total{method=\"POST\",route=\"/api/v1/webhooks/bep20\",status=\"202\"} 0\nhttp_requests_total{method=\"POST\",route=\"/api/v1/webhooks/bep20\",status=\"503\"} 0\n",
        )
        .unwrap();
        let worker = Exposition::parse(
            "worker",
            "deposits_processed_total{outcome=\"credited\"} 0\ndeposit_queue_depth 0\n",
        )
        .unwrap();
        let exports = [("app".to_owned(), app), ("worker".to_owned(), worker)]
            .into_iter()
            .collect();
        let jobs = ["app", "worker", "prometheus"]
            .into_iter()
            .map(String::from)
            .collect();
        (exports, jobs)
    }

    fn check(expr: &str, expected: &[&str]) {
        let (exports, jobs) = exports();
        let problems = check_metrics(&[rule("A", expr)], &exports, &jobs).unwrap();
        let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        assert_eq!(messages, expected, "for `{expr}`");
    }

    #[test]
    fn exported_metrics_labels_and_values_pass() {
        check(
            r#"sum by (job, instance) (rate(http_requests_total{route="/api/v1/webhooks/bep20", status=~"5.."}[5m])) > 0"#,
            &[],
        );
        check(r#"max(deposit_queue_depth{job="worker"}) > 50"#, &[]);
        check(r#"up{job=~"app|worker"} == 0"#, &[]);
    }

    #[test]
    fn a_label_the_app_never_exported_is_caught() {
        // The defect of the original rules: an error-rate alert on a label that did not exist.
        check(
            r#"sum(rate(http_requests_total{status_code=~"5.."}[5m])) > 0"#,
            &[
                "`http_requests_total` has no label `status_code` (it has: `instance`, `job`, `method`, `route`, `status`)",
            ],
        );
    }

    #[test]
    fn unknown_metrics_values_jobs_and_groupings_are_caught() {
        check(
            "celery_queue_length > 50",
            &["metric `celery_queue_length` is used, but no scraped service exports it"],
        );
        check(
            r#"deposits_processed_total{outcome="unattributed"} > 0"#,
            &[
                "`deposits_processed_total{outcome=\"unattributed\"}` names a value the services never export (they export: `credited`)",
            ],
        );
        check(
            r#"absent(deposit_queue_depth{job="app"})"#,
            &["metric `deposit_queue_depth` is used, but job(s) `app` do not export it"],
        );
        check(
            r#"up{job="workers"} == 0"#,
            &[
                "`up` matches `job=\"workers\"`, but prometheus.yml has no job `workers` (jobs: `app`, `prometheus`, `worker`)",
                "`up`: its `job` matchers match no job of prometheus.yml",
            ],
        );
        check(
            "sum by (queue) (deposit_queue_depth)",
            &[
                "`deposit_queue_depth` is grouped by `queue`, a label it does not have (it has: `instance`, `job`)",
            ],
        );
    }

    #[test]
    fn recorded_series_resolve_to_their_rules() {
        let (exports, jobs) = exports();
        let mut recording = rule("", "sum(rate(http_requests_total[5m]))");
        recording.alert = None;
        recording.record = Some("cricalgo:x:rate5m".into());
        let alert = rule("A", "cricalgo:x:rate5m > 0.01");
        assert!(
            check_metrics(&[recording, alert], &exports, &jobs)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn counts_rules_in_a_rules_answer() {
        let body = r#"{"status":"success","data":{"groups":[{"name":"a","file":"/etc/prometheus/alerts/x.yaml","rules":[{"name":"A","type":"alerting"},{"name":"r","type":"recording"}]},{"name":"b","rules":[{"name":"B","type":"alerting"}]}]}}"#;
        assert_eq!(
            count_rules(body),
            Some(ReloadOutcome {
                loaded: 3,
                groups: 2
            })
        );
        assert_eq!(count_rules(r#"{"status":"error"}"#), None);
    }
}
