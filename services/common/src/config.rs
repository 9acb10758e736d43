//! Configuration read from the environment: typed values, validated at start, errors that name the
//! variable, and a secret type that never prints.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A configuration value that is wrong; the message names the variable and what it expects.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("`{name}` is not set; set it to {expected}")]
    Missing {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A variable is set to a value that does not parse or is out of range.
    #[error("`{name}` is invalid: expected {expected}, got `{value}`")]
    Invalid {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: &'static str,
        /// What it holds (never a secret: secrets are not parsed through here).
        value: String,
    },
}

/// A secret (a password-bearing URL, a signing key). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where configuration comes from: the process environment, or a map in tests.
pub trait Source {
    /// The value of `name`, `None` when unset or empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name)
            .cloned()
            .filter(|value| !value.trim().is_empty())
    }
}

/// A required secret.
pub fn required_secret(
    env: &dyn Source,
    name: &str,
    expected: &'static str,
) -> Result<Secret, ConfigError> {
    env.get(name)
        .map(Secret::new)
        .ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
            expected,
        })
}

/// A parsed value with a default; `check` rejects out-of-range values.
pub fn parsed<T: FromStr>(
    env: &dyn Source,
    name: &str,
    default: T,
    expected: &'static str,
    check: impl Fn(&T) -> bool,
) -> Result<T, ConfigError> {
    let Some(raw) = env.get(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(value) if check(&value) => Ok(value),
        _ => Err(ConfigError::Invalid {
            name: name.to_owned(),
            expected,
            value: raw,
        }),
    }
}

/// A duration in seconds (fractions allowed, e.g. `0.5`), with a default; must be > 0.
pub fn seconds(env: &dyn Source, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let secs = parsed(
        env,
        name,
        default.as_secs_f64(),
        "a positive number of seconds",
        |value: &f64| value.is_finite() && *value > 0.0 && *value < 86_400.0 * 365.0,
    )?;
    Ok(Duration::from_secs_f64(secs))
}

/// A plain string with a default, e.g. a stream name.
pub fn string(env: &dyn Source, name: &str, default: &str) -> String {
    env.get(name).unwrap_or_else(|| default.to_owned())
}

/// How log lines are written: JSON lines (default) or human-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            _ => Err(()),
        }
    }
}

/// `LOG_FORMAT`: `json` (default) or `pretty`.
pub fn log_format(env: &dyn Source) -> Result<LogFormat, ConfigError> {
    parsed(
        env,
        "LOG_FORMAT",
        LogFormat::Json,
        "`json` or `pretty`",
        |_| true,
    )
}

/// Installs the global tracing subscriber: JSON lines with the event fields at top level, or
/// pretty lines; the level comes from `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests start several services in one process) is not an error.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The database settings both services share.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// `DATABASE_URL`.
    pub url: Secret,
    /// `DB_POOL_SIZE` (default 10).
    pub pool_size: u32,
    /// `DB_MAX_OVERFLOW` (default 20); the pool holds at most `pool_size + max_overflow`.
    pub max_overflow: u32,
    /// `DB_POOL_TIMEOUT` (default 30 s): how long to wait for a pooled connection.
    pub pool_timeout: Duration,
}

impl DbSettings {
    /// Reads the database settings.
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            url: required_secret(env, "DATABASE_URL", "a postgres:// URL")?,
            pool_size: parsed(env, "DB_POOL_SIZE", 10, "a positive integer", |n: &u32| {
                *n > 0 && *n <= 1000
            })?,
            max_overflow: parsed(env, "DB_MAX_OVERFLOW", 20, "an integer >= 0", |n: &u32| {
                *n <= 1000
            })?,
            pool_timeout: seconds(env, "DB_POOL_TIMEOUT", Duration::from_secs(30))?,
        })
    }

    /// Settings for a URL with the defaults, for the CLI and tests.
    pub fn for_url(url: &str) -> Self {
        Self {
            url: Secret::new(url),
            pool_size: 10,
            max_overflow: 20,
            pool_timeout: Duration::from_secs(30),
        }
    }

    /// The pool's upper bound.
    pub fn max_connections(&self) -> u32 {
        self.pool_size + self.max_overflow
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("postgres://u:hunter2@h/db");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = DbSettings::from_env(&env(&[
            ("DATABASE_URL", "postgres://x"),
            ("DB_POOL_SIZE", "ten"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`DB_POOL_SIZE` is invalid: expected a positive integer, got `ten`"
        );
        let err = DbSettings::from_env(&env(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("`DATABASE_URL` is not set"),
            "{err}"
        );
        let err = seconds(
            &env(&[("DB_REQUEST_TIMEOUT", "-1")]),
            "DB_REQUEST_TIMEOUT",
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`DB_REQUEST_TIMEOUT`"), "{err}");
    }

    #[test]
    fn defaults_apply() {
        let settings = DbSettings::from_env(&env(&[("DATABASE_URL", "postgres://x")])).unwrap();
        assert_eq!(settings.max_connections(), 30);
        assert_eq!(settings.pool_timeout, Duration::from_secs(30));
        assert_eq!(
            seconds(&env(&[("T", "0.5")]), "T", Duration::from_secs(2)).unwrap(),
            Duration::from_millis(500)
        );
    }
}
