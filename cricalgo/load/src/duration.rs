//! k6-style durations (`"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"1.5s"`) parsed and printed.

use std::time::Duration;

/// Parses a k6 duration: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`; a bare
/// number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration `{text}`"));
    }
    if let Ok(secs) = trimmed.parse::<f64>() {
        return seconds(secs, text);
    }
    let mut total = 0.0_f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration `{text}` lacks a unit (use ms, s, m or h)"))?;
        if number_len == 0 {
            return Err(format!(
                "invalid duration `{text}` (expected e.g. `30s`, `5m`, `1h30m`)"
            ));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid number in duration `{text}`"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in duration `{text}` (use ms, s, m or h)"
                ));
            }
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    seconds(total, text)
}

fn seconds(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration `{text}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Prints a duration the way k6 accepts it back (`"1m30s"`, `"500ms"`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = millis / 1000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Serde adapter for `Duration` fields written as k6 duration strings.
pub mod serde_k6 {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Secs(secs) => secs.to_string(),
        };
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, millis: u64) {
        assert_eq!(
            parse_duration(text).unwrap(),
            Duration::from_millis(millis),
            "{text}"
        );
    }

    #[test]
    fn parses_k6_durations() {
        check("30s", 30_000);
        check("5m", 300_000);
        check("1h30m", 5_400_000);
        check("500ms", 500);
        check("1.5s", 1_500);
        check("2", 2_000);
        check("1m0s", 60_000);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "5x", "s", "-1s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["30s", "5m", "1h30m", "500ms", "1m5s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)).unwrap(), parsed);
        }
    }
}
