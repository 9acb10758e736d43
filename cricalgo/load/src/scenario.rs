//! Scenarios as data: the JSON file format shared with the k6 script, and its validation into a
//! [`Plan`] the engine can run without further checks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_k6;
use crate::template::Template;

/// Errors found while reading or validating a scenario, before any request is sent.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("failed to read scenario `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scenario document.
    #[error("scenario `{path}` is not valid: {message}")]
    Parse { path: String, message: String },
    /// A field has a value the engine cannot run.
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// A body template or header template is wrong (unknown variable, bad arguments).
    #[error("request `{request}`: {message}")]
    Template { request: String, message: String },
    /// A signing secret is required but its environment variable is not set.
    #[error(
        "request `{request}` signs its body with the secret in `{var}`, which is not set; export it or mark the signing `optional`"
    )]
    MissingSecret { request: String, var: String },
}

/// A load scenario as written in `load/scenarios/*.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used as the `scenario` tag.
    pub name: String,
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Target base URL (`http://host:port`); request paths are appended to it.
    pub base_url: String,
    /// Executor and its options, with k6's names (`executor`, `vus`, `duration`, `stages`, ...).
    pub executor: ExecutorConfig,
    /// Think time at the end of each iteration, uniformly random in `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<ThinkTime>,
    /// Per-request timeout (k6's default is 60 s).
    #[serde(
        default = "default_timeout",
        with = "serde_k6",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout: Duration,
    /// Tags added to every sample.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The requests of one iteration, in order.
    pub requests: Vec<RequestSpec>,
    /// Thresholds in k6 syntax: `"metric{tag:value}": ["p(95)<4000", ...]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, Vec<String>>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

fn is_default_timeout(value: &Duration) -> bool {
    *value == default_timeout()
}

/// Think time bounds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThinkTime {
    #[serde(with = "serde_k6")]
    pub min: Duration,
    #[serde(with = "serde_k6")]
    pub max: Duration,
}

/// One k6 stage: ramp linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "serde_k6")]
    pub duration: Duration,
    pub target: u64,
}

fn default_graceful() -> Duration {
    Duration::from_secs(30)
}

fn default_time_unit() -> Duration {
    Duration::from_secs(1)
}

/// The executors, with k6's option names and defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "executor", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ExecutorConfig {
    /// A fixed number of VUs looping for a duration.
    #[serde(rename_all = "camelCase")]
    ConstantVus {
        vus: u64,
        #[serde(with = "serde_k6")]
        duration: Duration,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_stop: Duration,
    },
    /// VUs ramped linearly through stages.
    #[serde(rename_all = "camelCase")]
    RampingVus {
        #[serde(default = "one", rename = "startVUs")]
        start_vus: u64,
        stages: Vec<Stage>,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_ramp_down: Duration,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_stop: Duration,
    },
    /// A fixed number of iterations shared by the VUs, bounded by `maxDuration`.
    #[serde(rename_all = "camelCase")]
    SharedIterations {
        vus: u64,
        iterations: u64,
        #[serde(default = "ten_minutes", with = "serde_k6")]
        max_duration: Duration,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_stop: Duration,
    },
    /// Iterations started at a fixed rate (open model).
    #[serde(rename_all = "camelCase")]
    ConstantArrivalRate {
        rate: f64,
        #[serde(default = "default_time_unit", with = "serde_k6")]
        time_unit: Duration,
        #[serde(with = "serde_k6")]
        duration: Duration,
        #[serde(rename = "preAllocatedVUs")]
        pre_allocated_vus: u64,
        #[serde(default, rename = "maxVUs", skip_serializing_if = "Option::is_none")]
        max_vus: Option<u64>,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_stop: Duration,
    },
    /// Iterations started at a rate ramped through stages (open model).
    #[serde(rename_all = "camelCase")]
    RampingArrivalRate {
        #[serde(default)]
        start_rate: f64,
        #[serde(default = "default_time_unit", with = "serde_k6")]
        time_unit: Duration,
        stages: Vec<Stage>,
        #[serde(rename = "preAllocatedVUs")]
        pre_allocated_vus: u64,
        #[serde(default, rename = "maxVUs", skip_serializing_if = "Option::is_none")]
        max_vus: Option<u64>,
        #[serde(default = "default_graceful", with = "serde_k6")]
        graceful_stop: Duration,
    },
}

fn one() -> u64 {
    1
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

/// The most VUs one generator runs: each holds a connection and a task, and far more than this
/// only measures the generator's own memory.
pub const MAX_VUS: u64 = 50_000;

/// The highest constant arrival rate one generator is asked for; beyond it every figure would
/// describe the generator, not the target.
pub const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;

impl ExecutorConfig {
    /// The k6 name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutorConfig::ConstantVus { .. } => "constant-vus",
            ExecutorConfig::RampingVus { .. } => "ramping-vus",
            ExecutorConfig::SharedIterations { .. } => "shared-iterations",
            ExecutorConfig::ConstantArrivalRate { .. } => "constant-arrival-rate",
            ExecutorConfig::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// Whether iterations start on a schedule (open model).
    pub fn is_arrival_rate(&self) -> bool {
        matches!(
            self,
            ExecutorConfig::ConstantArrivalRate { .. } | ExecutorConfig::RampingArrivalRate { .. }
        )
    }

    /// The planned length of the load phase, without graceful stop.
    pub fn planned_duration(&self) -> Duration {
        match self {
            ExecutorConfig::ConstantVus { duration, .. }
            | ExecutorConfig::ConstantArrivalRate { duration, .. } => *duration,
            ExecutorConfig::RampingVus { stages, .. }
            | ExecutorConfig::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|stage| stage.duration).sum()
            }
            ExecutorConfig::SharedIterations { max_duration, .. } => *max_duration,
        }
    }

    /// How long iterations still running at the end may take to finish.
    pub fn graceful_stop(&self) -> Duration {
        match self {
            ExecutorConfig::ConstantVus { graceful_stop, .. }
            | ExecutorConfig::RampingVus { graceful_stop, .. }
            | ExecutorConfig::SharedIterations { graceful_stop, .. }
            | ExecutorConfig::ConstantArrivalRate { graceful_stop, .. }
            | ExecutorConfig::RampingArrivalRate { graceful_stop, .. } => *graceful_stop,
        }
    }

    /// The most VUs this executor may run at once.
    pub fn max_vus(&self) -> u64 {
        match self {
            ExecutorConfig::ConstantVus { vus, .. }
            | ExecutorConfig::SharedIterations { vus, .. } => *vus,
            ExecutorConfig::RampingVus {
                start_vus, stages, ..
            } => stages
                .iter()
                .map(|stage| stage.target)
                .fold(*start_vus, u64::max),
            ExecutorConfig::ConstantArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            }
            | ExecutorConfig::RampingArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            } => max_vus
                .unwrap_or(*pre_allocated_vus)
                .max(*pre_allocated_vus),
        }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |message: String| Err(ScenarioError::Invalid(message));
        match self {
            ExecutorConfig::ConstantVus { vus, duration, .. } => {
                if *vus == 0 {
                    return invalid("`vus` must be at least 1".into());
                }
                if duration.is_zero() {
                    return invalid("`duration` must be longer than 0s".into());
                }
            }
            ExecutorConfig::RampingVus { stages, .. } => {
                if stages.is_empty() {
                    return invalid("`ramping-vus` needs at least one stage".into());
                }
                if self.max_vus() == 0 {
                    return invalid("`ramping-vus` never runs a VU (every target is 0)".into());
                }
            }
            ExecutorConfig::SharedIterations {
                vus, iterations, ..
            } => {
                if *vus == 0 || *iterations == 0 {
                    return invalid("`vus` and `iterations` must be at least 1".into());
                }
            }
            ExecutorConfig::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                ..
            } => {
                if !(rate.is_finite() && *rate > 0.0) {
                    return invalid(format!("`rate` must be a positive number, got `{rate}`"));
                }
                if time_unit.is_zero() || duration.is_zero() {
                    return invalid("`timeUnit` and `duration` must be longer than 0s".into());
                }
                let per_second = rate / time_unit.as_secs_f64();
                if per_second > MAX_RATE_PER_SECOND {
                    return invalid(format!(
                        "a rate of {per_second} iterations/s is more than one generator starts \
                         (at most {MAX_RATE_PER_SECOND}/s); lower `rate`"
                    ));
                }
            }
            ExecutorConfig::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                ..
            } => {
                if !(start_rate.is_finite() && *start_rate >= 0.0) {
                    return invalid(format!("`startRate` must be >= 0, got `{start_rate}`"));
                }
                if stages.is_empty() || time_unit.is_zero() {
                    return invalid("`ramping-arrival-rate` needs stages and a `timeUnit`".into());
                }
            }
        }
        if self.is_arrival_rate() && self.max_vus() == 0 {
            return invalid("`preAllocatedVUs` must be at least 1".into());
        }
        if self.max_vus() > MAX_VUS {
            return invalid(format!(
                "{} VUs is more than one generator runs (at most {MAX_VUS}); lower `vus`",
                self.max_vus()
            ));
        }
        Ok(())
    }
}

/// One request of the iteration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The `name` tag (defaults to the URL, as in k6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "get")]
    pub method: String,
    /// Path (and query) appended to `base_url`; may hold templates.
    pub path: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Body: a string template (sent as is after expansion) or a JSON value (serialized, then
    /// its strings expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// HMAC-SHA256 signing of the exact body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<Signing>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckSpec>,
    /// Extra tags for this request's samples.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn get() -> String {
    "GET".to_string()
}

/// HMAC-SHA256 over the exact body bytes, hex in a header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// Environment variable holding the secret (never written anywhere).
    pub secret_env: String,
    #[serde(default = "signature_header")]
    pub header: String,
    #[serde(default)]
    pub prefix: String,
    /// Send unsigned when the variable is not set (targets that do not require signatures).
    #[serde(default)]
    pub optional: bool,
}

fn signature_header() -> String {
    "X-Signature".to_string()
}

/// A k6-style check on a response; exactly one of `status`, `json`, `body_contains`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Dot path into the JSON body (`ok`, `data.items.0.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// With `json`: the value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    /// With `json`: the value must be present and not empty (`""`, `null`, `[]`, `{}`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_empty: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

/// What a check tests, validated.
#[derive(Debug, Clone)]
pub enum CheckKind {
    Status(u16),
    JsonEquals(Vec<String>, serde_json::Value),
    JsonNotEmpty(Vec<String>),
    BodyContains(String),
}

impl CheckKind {
    /// Whether the check needs the response body.
    pub fn needs_body(&self) -> bool {
        !matches!(self, CheckKind::Status(_))
    }
}

/// A validated check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    /// Index into the run's list of distinct check names.
    pub id: usize,
}

/// A validated request, ready to send.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    pub name: String,
    pub method: http::Method,
    pub path: Template,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Option<Template>,
    /// `(header, prefix, secret)`; the secret never leaves the process.
    pub signing: Option<(http::HeaderName, String, Vec<u8>)>,
    pub checks: Vec<Check>,
    pub tags: BTreeMap<String, String>,
}

/// The target, parsed from `base_url`.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub host: String,
    pub port: u16,
    /// Value of the `Host` header.
    pub authority: String,
    /// Path prefix from the base URL, without a trailing `/`.
    pub base_path: String,
}

/// A scenario validated into what the engine runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub target: Target,
    pub executor: ExecutorConfig,
    pub think_time: Option<ThinkTime>,
    pub timeout: Duration,
    pub tags: BTreeMap<String, String>,
    pub requests: Vec<PlannedRequest>,
    /// Distinct check names, in first-seen order.
    pub check_names: Vec<String>,
    pub thresholds: BTreeMap<String, Vec<String>>,
    /// Worker threads; `None` = one per available core.
    pub workers: Option<usize>,
}

impl Scenario {
    /// Reads a scenario file (JSON).
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_json(&text).map_err(|err| match err {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses a scenario document.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str(text).map_err(|err| ScenarioError::Parse {
            path: "<inline>".into(),
            message: err.to_string(),
        })
    }

    /// A one-request scenario (what `perf run --url` builds).
    pub fn single_request(
        url: &str,
        method: &str,
        headers: BTreeMap<String, String>,
        body: Option<String>,
        executor: ExecutorConfig,
    ) -> Result<Scenario, ScenarioError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| ScenarioError::Invalid(format!("`{url}` is not a valid URL")))?;
        let scheme = uri.scheme_str().unwrap_or("http");
        let authority = uri
            .authority()
            .ok_or_else(|| ScenarioError::Invalid(format!("`{url}` has no host")))?;
        let path = uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Scenario {
            name: "url".into(),
            description: None,
            base_url: format!("{scheme}://{authority}"),
            executor,
            think_time: None,
            timeout: default_timeout(),
            tags: BTreeMap::new(),
            requests: vec![RequestSpec {
                name: Some(url.to_string()),
                method: method.to_string(),
                path,
                headers,
                body: body.map(serde_json::Value::String),
                sign: None,
                checks: Vec::new(),
                tags: BTreeMap::new(),
            }],
            thresholds: BTreeMap::new(),
        })
    }

    /// Validates everything (URL, executor, templates, checks, secrets) into a [`Plan`]; signing
    /// secrets come from the process environment.
    pub fn plan(&self) -> Result<Plan, ScenarioError> {
        self.plan_with_env(&|name| std::env::var(name).ok())
    }

    /// Like [`Scenario::plan`], with signing secrets looked up through `env`.
    pub fn plan_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Plan, ScenarioError> {
        let target = parse_target(&self.base_url)?;
        self.executor.validate()?;
        if self.requests.is_empty() {
            return Err(ScenarioError::Invalid(
                "a scenario needs at least one request".into(),
            ));
        }
        if let Some(think) = self.think_time
            && think.min > think.max
        {
            return Err(ScenarioError::Invalid(
                "`think_time.min` is larger than `think_time.max`".into(),
            ));
        }
        let mut check_names: Vec<String> = Vec::new();
        let mut requests = Vec::new();
        for spec in &self.requests {
            requests.push(plan_request(spec, &target, &mut check_names, env)?);
        }
        Ok(Plan {
            name: self.name.clone(),
            target,
            executor: self.executor.clone(),
            think_time: self.think_time,
            timeout: self.timeout,
            tags: self.tags.clone(),
            requests,
            check_names,
            thresholds: self.thresholds.clone(),
            workers: None,
        })
    }
}

fn parse_target(base_url: &str) -> Result<Target, ScenarioError> {
    let uri: http::Uri = base_url
        .parse()
        .map_err(|_| ScenarioError::Invalid(format!("`{base_url}` is not a valid URL")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(ScenarioError::Invalid(format!(
                "scheme `{other}` in `{base_url}` is not supported (the engine speaks plain `http`; put TLS in front in the target)"
            )));
        }
        None => {
            return Err(ScenarioError::Invalid(format!(
                "`{base_url}` needs a scheme, e.g. `http://{base_url}`"
            )));
        }
    }
    let authority = uri
        .authority()
        .ok_or_else(|| ScenarioError::Invalid(format!("`{base_url}` has no host")))?;
    let base_path = uri.path().trim_end_matches('/').to_string();
    Ok(Target {
        base_url: base_url.trim_end_matches('/').to_string(),
        host: authority.host().trim_matches(['[', ']']).to_string(),
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_string(),
        base_path,
    })
}

fn plan_request(
    spec: &RequestSpec,
    target: &Target,
    check_names: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PlannedRequest, ScenarioError> {
    let label = spec.name.clone().unwrap_or_else(|| spec.path.clone());
    let template_err = |message: String| ScenarioError::Template {
        request: label.clone(),
        message,
    };
    let method: http::Method = spec
        .method
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| template_err(format!("invalid method `{}`", spec.method)))?;
    let full_path = if spec.path.starts_with('/') {
        format!("{}{}", target.base_path, spec.path)
    } else {
        format!("{}/{}", target.base_path, spec.path)
    };
    let path = Template::parse(&full_path).map_err(template_err)?;
    let mut headers = Vec::new();
    for (key, value) in &spec.headers {
        let name: http::HeaderName = key
            .parse()
            .map_err(|_| template_err(format!("invalid header name `{key}`")))?;
        headers.push((name, Template::parse(value).map_err(template_err)?));
    }
    let body = match &spec.body {
        None => None,
        Some(serde_json::Value::String(text)) => Some(Template::parse(text).map_err(template_err)?),
        Some(value) => Some(Template::parse(&value.to_string()).map_err(template_err)?),
    };
    if body.is_some()
        && !spec
            .headers
            .keys()
            .any(|key| key.eq_ignore_ascii_case("content-type"))
        && matches!(spec.body, Some(serde_json::Value::Object(_)))
    {
        headers.push((
            http::header::CONTENT_TYPE,
            Template::parse("application/json").map_err(template_err)?,
        ));
    }
    let signing = match &spec.sign {
        None => None,
        Some(sign) => {
            let header: http::HeaderName = sign
                .header
                .parse()
                .map_err(|_| template_err(format!("invalid header name `{}`", sign.header)))?;
            match env(&sign.secret_env) {
                Some(secret) if !secret.is_empty() => {
                    Some((header, sign.prefix.clone(), secret.into_bytes()))
                }
                _ if sign.optional => None,
                _ => {
                    return Err(ScenarioError::MissingSecret {
                        request: label.clone(),
                        var: sign.secret_env.clone(),
                    });
                }
            }
        }
    };
    let mut checks = Vec::new();
    for check in &spec.checks {
        let kind = check_kind(check).map_err(template_err)?;
        let id = match check_names.iter().position(|name| *name == check.name) {
            Some(id) => id,
            None => {
                check_names.push(check.name.clone());
                check_names.len() - 1
            }
        };
        checks.push(Check {
            name: check.name.clone(),
            kind,
            id,
        });
    }
    Ok(PlannedRequest {
        name: spec
            .name
            .clone()
            .unwrap_or_else(|| format!("{}{}", target.base_url, spec.path)),
        method,
        path,
        headers,
        body,
        signing,
        checks,
        tags: spec.tags.clone(),
    })
}

fn check_kind(check: &CheckSpec) -> Result<CheckKind, String> {
    let kinds = usize::from(check.status.is_some())
        + usize::from(check.json.is_some())
        + usize::from(check.body_contains.is_some());
    if kinds != 1 {
        return Err(format!(
            "check `{}` needs exactly one of `status`, `json`, `body_contains`",
            check.name
        ));
    }
    if let Some(status) = check.status {
        return Ok(CheckKind::Status(status));
    }
    if let Some(text) = &check.body_contains {
        return Ok(CheckKind::BodyContains(text.clone()));
    }
    let path: Vec<String> = check
        .json
        .as_deref()
        .unwrap_or_default()
        .split('.')
        .map(str::to_string)
        .collect();
    match (&check.equals, check.not_empty) {
        (Some(value), false) => Ok(CheckKind::JsonEquals(path, value.clone())),
        (None, true) => Ok(CheckKind::JsonNotEmpty(path)),
        _ => Err(format!(
            "check `{}` on `json` needs exactly one of `equals` or `not_empty: true`",
            check.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(executor: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "name": "t",
            "base_url": "http://127.0.0.1:1234/base",
            "executor": executor,
            "requests": [{"path": "/x"}]
        })
    }

    #[test]
    fn executors_use_k6_names() {
        let cases = [
            serde_json::json!({"executor": "constant-vus", "vus": 3, "duration": "10s"}),
            serde_json::json!({"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "5s", "target": 10}]}),
            serde_json::json!({"executor": "shared-iterations", "vus": 2, "iterations": 10}),
            serde_json::json!({"executor": "constant-arrival-rate", "rate": 50, "timeUnit": "1s", "duration": "10s", "preAllocatedVUs": 5, "maxVUs": 20}),
            serde_json::json!({"executor": "ramping-arrival-rate", "startRate": 0, "stages": [{"duration": "5s", "target": 10}], "preAllocatedVUs": 5}),
        ];
        for executor in cases {
            let parsed: Scenario = serde_json::from_value(scenario(executor.clone())).unwrap();
            assert_eq!(parsed.executor.name(), executor["executor"]);
            let plan = parsed.plan().unwrap();
            assert_eq!(plan.target.base_path, "/base");
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        let bad = serde_json::json!({"executor": "constant-vus", "vus": 0, "duration": "10s"});
        let parsed: Scenario = serde_json::from_value(scenario(bad)).unwrap();
        assert!(parsed.plan().is_err());
        let typo = serde_json::json!({"executor": "constant-vus", "vu": 1, "duration": "10s"});
        assert!(serde_json::from_value::<Scenario>(scenario(typo)).is_err());
        let huge =
            serde_json::json!({"executor": "constant-vus", "vus": MAX_VUS + 1, "duration": "1s"});
        let parsed: Scenario = serde_json::from_value(scenario(huge)).unwrap();
        let err = parsed.plan().unwrap_err().to_string();
        assert!(err.contains("lower `vus`"), "{err}");
        let flood = serde_json::json!({"executor": "constant-arrival-rate", "rate": 1e12, "timeUnit": "1s", "duration": "1s", "preAllocatedVUs": 1});
        let parsed: Scenario = serde_json::from_value(scenario(flood)).unwrap();
        let err = parsed.plan().unwrap_err().to_string();
        assert!(err.contains("lower `rate`"), "{err}");
        let most =
            serde_json::json!({"executor": "constant-vus", "vus": MAX_VUS, "duration": "1s"});
        let parsed: Scenario = serde_json::from_value(scenario(most)).unwrap();
        assert!(parsed.plan().is_ok());
    }

    #[test]
    fn unknown_template_variable_fails_before_load() {
        let mut doc =
            scenario(serde_json::json!({"executor": "constant-vus", "vus": 1, "duration": "1s"}));
        doc["requests"][0]["body"] = serde_json::json!("{\"id\":\"{{nope}}\"}");
        let parsed: Scenario = serde_json::from_value(doc).unwrap();
        let err = parsed.plan().unwrap_err().to_string();
        assert!(err.contains("`nope`"), "{err}");
    }
}
