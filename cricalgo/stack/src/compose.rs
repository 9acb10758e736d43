//! The compose file: `${VAR:-default}` interpolation with `.env`, strict parsing (every key the
//! engine does not realize is an error naming the file and key), and the resolved model the engine
//! converges to.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use crate::StackError;

/// The whole project after interpolation and validation: what `up` converges to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// Project name: prefix of every container, network and volume, value of `io.cricalgo.project`.
    pub name: String,
    /// Services by name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// Named volumes declared at top level (unprefixed names).
    pub volumes: Vec<String>,
}

/// One service, resolved (no variables, paths absolute, durations in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortSpec>,
    pub volumes: Vec<MountSpec>,
    pub healthcheck: Option<HealthSpec>,
    pub depends_on: BTreeMap<String, Condition>,
    pub restart: String,
    pub replicas: u32,
    pub aliases: Vec<String>,
    /// Another service waits for this one with `service_completed_successfully`: it is done when
    /// it exits 0, and a re-`up` does not run it again while its config is unchanged.
    #[serde(default)]
    pub one_shot: bool,
}

impl ServiceSpec {
    /// See [`ServiceSpec::one_shot`].
    pub fn is_one_shot(&self) -> bool {
        self.one_shot
    }
}

/// A published port, `HOST_IP:HOST_PORT:CONTAINER_PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

/// A mount: a named volume (unprefixed name) or a bind mount (absolute host path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub source: MountSource,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountSource {
    Volume(String),
    Bind(PathBuf),
}

/// An engine healthcheck (only options Engine API 1.41 knows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// `depends_on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        })
    }
}

/// Where the compose file is and which variables it sees.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub file: PathBuf,
    /// `.env` file; `None` means `<file's folder>/.env` when it exists.
    pub env_file: Option<PathBuf>,
    pub project: String,
    /// Variables that win over `.env` (the process environment, in the CLI).
    pub environment: HashMap<String, String>,
}

/// Reads, interpolates and validates a compose file.
pub fn load(options: &LoadOptions) -> Result<ProjectSpec, StackError> {
    let file = &options.file;
    let text = std::fs::read_to_string(file).map_err(|source| StackError::ComposeRead {
        path: file.clone(),
        source,
    })?;
    let folder = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    let env_path = options
        .env_file
        .clone()
        .unwrap_or_else(|| folder.join(".env"));
    let mut vars = if env_path.exists() || options.env_file.is_some() {
        read_env_file(&env_path)?
    } else {
        HashMap::new()
    };
    for (key, value) in &options.environment {
        vars.insert(key.clone(), value.clone());
    }
    parse(&text, file, &folder, &options.project, &vars)
}

/// Parses compose text (already read) with the given variables; `folder` anchors relative paths.
pub fn parse(
    text: &str,
    file: &Path,
    folder: &Path,
    project: &str,
    vars: &HashMap<String, String>,
) -> Result<ProjectSpec, StackError> {
    let invalid = |key: String, message: String| StackError::ComposeInvalid {
        path: file.to_path_buf(),
        key,
        message,
    };
    let mut value: Value =
        serde_yaml::from_str(text).map_err(|err| invalid("(document)".into(), err.to_string()))?;
    value
        .apply_merge()
        .map_err(|err| invalid("(merge keys)".into(), err.to_string()))?;
    strip_extensions(&mut value);
    interpolate(&mut value, "", vars, file)?;
    let raw: RawFile = serde_path_to_error::deserialize(value).map_err(|err| {
        let key = err.path().to_string();
        invalid(
            if key == "." {
                "(top level)".into()
            } else {
                key
            },
            err.inner().to_string(),
        )
    })?;
    raw.resolve(file, folder, project)
}

/// Reads a `.env` file: `KEY=value` lines, `#` comments, optional quotes.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, StackError> {
    let text = std::fs::read_to_string(path).map_err(|source| StackError::ComposeRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        vars.insert(key.trim().to_owned(), value.to_owned());
    }
    Ok(vars)
}

/// Drops `x-*` extension keys (top level and per service): YAML anchors live there.
fn strip_extensions(value: &mut Value) {
    if let Value::Mapping(map) = value {
        map.retain(|key, _| !key.as_str().is_some_and(|k| k.starts_with("x-")));
        if let Some(Value::Mapping(services)) = map.get_mut("services") {
            for (_, service) in services.iter_mut() {
                if let Value::Mapping(service) = service {
                    service.retain(|key, _| !key.as_str().is_some_and(|k| k.starts_with("x-")));
                }
            }
        }
    }
}

fn interpolate(
    value: &mut Value,
    path: &str,
    vars: &HashMap<String, String>,
    file: &Path,
) -> Result<(), StackError> {
    match value {
        Value::String(text) => {
            *text = interpolate_str(text, vars).map_err(|message| StackError::ComposeInvalid {
                path: file.to_path_buf(),
                key: path.trim_start_matches('.').to_owned(),
                message,
            })?;
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{index}]"), vars, file)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().map(str::to_owned).unwrap_or_default();
                interpolate(item, &format!("{path}.{key}"), vars, file)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
/// `${VAR?message}`; unset variables without a default become empty, as docker-compose does.
pub fn interpolate_str(text: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
            out.push_str(&expand(&body[..end], vars)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                return Err(format!(
                    "invalid `$` in `{text}` (write `$$` for a literal `$`)"
                ));
            }
            out.push_str(vars.get(&after[..len]).map(String::as_str).unwrap_or(""));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(body: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    if name.is_empty() {
        return Err(format!("invalid variable `${{{body}}}`"));
    }
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let own = value.cloned().unwrap_or_default();
    Ok(if op.is_empty() {
        own
    } else if let Some(default) = op.strip_prefix(":-") {
        if non_empty { own } else { default.to_owned() }
    } else if let Some(default) = op.strip_prefix('-') {
        if set { own } else { default.to_owned() }
    } else if let Some(message) = op.strip_prefix(":?") {
        if non_empty {
            own
        } else {
            return Err(format!("variable `{name}` is required: {message}"));
        }
    } else if let Some(message) = op.strip_prefix('?') {
        if set {
            own
        } else {
            return Err(format!("variable `{name}` is required: {message}"));
        }
    } else {
        return Err(format!("unsupported variable syntax `${{{body}}}`"));
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<String>,
    services: BTreeMap<String, RawService>,
    #[serde(default)]
    volumes: BTreeMap<String, Option<RawVolume>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: String,
    #[serde(default)]
    command: Option<StringOrList>,
    #[serde(default)]
    entrypoint: Option<StringOrList>,
    #[serde(default)]
    environment: Option<MapOrList>,
    #[serde(default)]
    labels: Option<MapOrList>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    healthcheck: Option<RawHealth>,
    #[serde(default)]
    depends_on: Option<RawDependsOn>,
    #[serde(default)]
    restart: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    scale: Option<u32>,
    #[serde(default)]
    networks: Option<RawNetworks>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    test: StringOrList,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "opt_u32")]
    retries: Option<u32>,
    #[serde(default)]
    start_period: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    String(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MapOrList {
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::String(v) => f.write_str(v),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::Float(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, RawDependency>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    condition: Condition,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<RawNetwork>>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default)]
    aliases: Vec<String>,
}

fn opt_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    match Option::<Scalar>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Scalar::Int(v)) => u32::try_from(v)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("`{v}` is not a count"))),
        Some(Scalar::String(v)) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("`{v}` is not a count"))),
        Some(other) => Err(de::Error::custom(format!("`{other}` is not a count"))),
    }
}

/// `1s`, `500ms`, `1m30s`, `2h`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut seen = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&next) = chars.peek() {
            if next.is_ascii_alphabetic() {
                unit.push(next);
                chars.next();
            } else {
                break;
            }
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like `1s` or `500ms`"))?;
        let scale = match unit.as_str() {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("`{text}` has an unknown unit `{unit}`")),
        };
        total += value * scale;
        number.clear();
        seen = true;
    }
    if !number.is_empty() || !seen {
        return Err(format!("`{text}` is not a duration like `1s` or `500ms`"));
    }
    Ok(Duration::from_secs_f64(total))
}

impl RawFile {
    fn resolve(self, file: &Path, folder: &Path, project: &str) -> Result<ProjectSpec, StackError> {
        let invalid = |key: String, message: String| StackError::ComposeInvalid {
            path: file.to_path_buf(),
            key,
            message,
        };
        let volumes: Vec<String> = self.volumes.keys().cloned().collect();
        let mut services = BTreeMap::new();
        for (name, raw) in &self.services {
            let key = |field: &str| format!("services.{name}.{field}");
            let list = |value: &Option<StringOrList>| match value {
                None => None,
                Some(StringOrList::List(items)) => Some(items.clone()),
                Some(StringOrList::String(text)) => {
                    Some(text.split_whitespace().map(str::to_owned).collect())
                }
            };
            let map = |value: &Option<MapOrList>| -> BTreeMap<String, String> {
                match value {
                    None => BTreeMap::new(),
                    Some(MapOrList::Map(map)) => map
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_ref().map(ToString::to_string).unwrap_or_default(),
                            )
                        })
                        .collect(),
                    Some(MapOrList::List(items)) => items
                        .iter()
                        .map(|item| match item.split_once('=') {
                            Some((k, v)) => (k.to_owned(), v.to_owned()),
                            None => (item.clone(), String::new()),
                        })
                        .collect(),
                }
            };
            let mut ports = Vec::new();
            for (index, port) in raw.ports.iter().enumerate() {
                ports.push(
                    parse_port(port).map_err(|message| {
                        invalid(format!("{}[{index}]", key("ports")), message)
                    })?,
                );
            }
            let mut mounts = Vec::new();
            for (index, volume) in raw.volumes.iter().enumerate() {
                let mount = parse_mount(volume, folder)
                    .map_err(|message| invalid(format!("{}[{index}]", key("volumes")), message))?;
                if let MountSource::Volume(source) = &mount.source
                    && !volumes.contains(source)
                {
                    return Err(invalid(
                        format!("{}[{index}]", key("volumes")),
                        format!(
                            "named volume `{source}` is not declared under top-level `volumes`"
                        ),
                    ));
                }
                mounts.push(mount);
            }
            let healthcheck = match &raw.healthcheck {
                None => None,
                Some(health) => {
                    let duration = |field: &str, value: &Option<String>, default: Duration| {
                        value
                            .as_deref()
                            .map(parse_duration)
                            .transpose()
                            .map(|d| d.unwrap_or(default).as_millis() as u64)
                            .map_err(|message| {
                                invalid(format!("{}.{field}", key("healthcheck")), message)
                            })
                    };
                    let test = match &health.test {
                        StringOrList::List(items) => items.clone(),
                        StringOrList::String(text) => vec!["CMD-SHELL".to_owned(), text.clone()],
                    };
                    if !matches!(
                        test.first().map(String::as_str),
                        Some("CMD" | "CMD-SHELL" | "NONE")
                    ) {
                        return Err(invalid(
                            format!("{}.test", key("healthcheck")),
                            "must start with `CMD`, `CMD-SHELL` or `NONE`".into(),
                        ));
                    }
                    Some(HealthSpec {
                        test,
                        interval_ms: duration(
                            "interval",
                            &health.interval,
                            Duration::from_secs(30),
                        )?,
                        timeout_ms: duration("timeout", &health.timeout, Duration::from_secs(30))?,
                        retries: health.retries.unwrap_or(3),
                        start_period_ms: duration(
                            "start_period",
                            &health.start_period,
                            Duration::ZERO,
                        )?,
                    })
                }
            };
            let depends_on: BTreeMap<String, Condition> = match &raw.depends_on {
                None => BTreeMap::new(),
                Some(RawDependsOn::List(items)) => items
                    .iter()
                    .map(|s| (s.clone(), Condition::ServiceStarted))
                    .collect(),
                Some(RawDependsOn::Map(map)) => {
                    map.iter().map(|(k, v)| (k.clone(), v.condition)).collect()
                }
            };
            for dependency in depends_on.keys() {
                if !self.services.contains_key(dependency) {
                    return Err(invalid(
                        format!("{}.{dependency}", key("depends_on")),
                        format!("service `{dependency}` is not defined"),
                    ));
                }
            }
            let mut aliases = Vec::new();
            match &raw.networks {
                None => {}
                Some(RawNetworks::List(items)) => {
                    check_networks(items.iter(), &key("networks"), &invalid)?
                }
                Some(RawNetworks::Map(map)) => {
                    check_networks(map.keys(), &key("networks"), &invalid)?;
                    for network in map.values().flatten() {
                        aliases.extend(network.aliases.iter().cloned());
                    }
                }
            }
            let restart = raw.restart.clone().unwrap_or_else(|| "no".to_owned());
            if !matches!(
                restart.as_str(),
                "no" | "always" | "unless-stopped" | "on-failure"
            ) {
                return Err(invalid(
                    key("restart"),
                    format!(
                        "`{restart}` is not one of `no`, `always`, `unless-stopped`, `on-failure`"
                    ),
                ));
            }
            services.insert(
                name.clone(),
                ServiceSpec {
                    image: raw.image.clone(),
                    command: list(&raw.command),
                    entrypoint: list(&raw.entrypoint),
                    environment: map(&raw.environment),
                    labels: map(&raw.labels),
                    ports,
                    volumes: mounts,
                    healthcheck,
                    depends_on,
                    restart,
                    replicas: raw.scale.unwrap_or(1),
                    aliases,
                    one_shot: false,
                },
            );
        }
        let completed: Vec<String> = services
            .values()
            .flat_map(|service: &ServiceSpec| {
                service
                    .depends_on
                    .iter()
                    .filter(|(_, condition)| **condition == Condition::ServiceCompletedSuccessfully)
                    .map(|(name, _)| name.clone())
            })
            .collect();
        for name in completed {
            if let Some(service) = services.get_mut(&name) {
                service.one_shot = true;
            }
        }
        let spec = ProjectSpec {
            name: project.to_owned(),
            services,
            volumes,
        };
        crate::plan::order(&spec).map_err(|message| invalid("depends_on".into(), message))?;
        Ok(spec)
    }
}

fn check_networks<'a>(
    names: impl Iterator<Item = &'a String>,
    key: &str,
    invalid: &dyn Fn(String, String) -> StackError,
) -> Result<(), StackError> {
    for name in names {
        if name != "default" {
            return Err(invalid(
                format!("{key}.{name}"),
                format!("only the `default` network is supported, not `{name}`"),
            ));
        }
    }
    Ok(())
}

/// `[HOST_IP:]HOST_PORT:CONTAINER_PORT`; without a host IP the port binds to 127.0.0.1 only.
fn parse_port(text: &str) -> Result<PortSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let port = |p: &str| {
        p.trim_end_matches("/tcp")
            .parse::<u16>()
            .map_err(|_| format!("`{p}` in `{text}` is not a port number"))
    };
    match parts.as_slice() {
        [ip, host, container] => Ok(PortSpec {
            host_ip: (*ip).to_owned(),
            host_port: port(host)?,
            container_port: port(container)?,
        }),
        [host, container] => Ok(PortSpec {
            host_ip: "127.0.0.1".to_owned(),
            host_port: port(host)?,
            container_port: port(container)?,
        }),
        _ => Err(format!(
            "`{text}` is not `HOST_IP:HOST_PORT:CONTAINER_PORT`"
        )),
    }
}

/// `SOURCE:TARGET[:ro]`: SOURCE is a named volume or a path (`./`, `../`, `/`).
fn parse_mount(text: &str, folder: &Path) -> Result<MountSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [source, target] => (*source, *target, "rw"),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(format!("`{text}` is not `SOURCE:TARGET[:ro]`")),
    };
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        other => return Err(format!("mode `{other}` in `{text}` is not `ro` or `rw`")),
    };
    if !target.starts_with('/') {
        return Err(format!(
            "target `{target}` in `{text}` is not an absolute path"
        ));
    }
    let source = if source.starts_with('.') || source.starts_with('/') {
        let path = folder.join(source);
        let path = std::fs::canonicalize(&path)
            .map_err(|err| format!("bind source `{}` cannot be read: {err}", path.display()))?;
        MountSource::Bind(path)
    } else {
        MountSource::Volume(source.to_owned())
    };
    Ok(MountSpec {
        source,
        target: target.to_owned(),
        read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn interpolation_follows_compose_rules() {
        let env = vars(&[("SET", "x"), ("EMPTY", "")]);
        let check = |input: &str, expected: &str| {
            assert_eq!(interpolate_str(input, &env).unwrap(), expected, "{input}");
        };
        check("${SET:-d}", "x");
        check("${EMPTY:-d}", "d");
        check("${EMPTY-d}", "");
        check("${UNSET-d}", "d");
        check("${UNSET}", "");
        check("$SET/$$HOME", "x/$HOME");
        check("a ${SET} b", "a x b");
        assert!(
            interpolate_str("${UNSET:?needed}", &env)
                .unwrap_err()
                .contains("UNSET")
        );
        assert!(interpolate_str("${SET", &env).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5parsecs").is_err());
    }

    #[test]
    fn ports_default_to_loopback() {
        let port = parse_port("8000:80").unwrap();
        assert_eq!(port.host_ip, "127.0.0.1");
        assert_eq!((port.host_port, port.container_port), (8000, 80));
        assert!(parse_port("x:80").is_err());
    }

    #[test]
    fn typo_is_an_error_naming_file_and_key() {
        let text = "services:\n  web:\n    image: x\n    helthcheck:\n      test: [CMD, true]\n";
        let err = parse(
            text,
            Path::new("c.yml"),
            Path::new("."),
            "p",
            &HashMap::new(),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("c.yml"), "{message}");
        assert!(message.contains("services.web"), "{message}");
        assert!(message.contains("helthcheck"), "{message}");
    }

    #[test]
    fn unknown_dependency_and_cycles_are_errors() {
        let text = "services:\n  a:\n    image: x\n    depends_on: [b]\n";
        assert!(
            parse(
                text,
                Path::new("c.yml"),
                Path::new("."),
                "p",
                &HashMap::new()
            )
            .is_err()
        );
        let text = "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n";
        let err = parse(
            text,
            Path::new("c.yml"),
            Path::new("."),
            "p",
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }
}
