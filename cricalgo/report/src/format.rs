//! Number and text formatting shared by the HTML and Markdown reports.

use crate::input::ThresholdRow;

/// `1234.5` → `1,234.5`-free compact text with up to 4 significant digits; `—` for none.
pub fn number(value: Option<f64>) -> String {
    match value {
        None => "—".to_string(),
        Some(0.0) => "0".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// Milliseconds: `812 ms`, `1.48 s`.
pub fn ms(value: Option<f64>) -> String {
    match value {
        None => "—".to_string(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) => format!("{} ms", number(Some(v))),
    }
}

/// A ratio as a percentage: `0.0123` → `1.23 %`.
pub fn percent(value: Option<f64>) -> String {
    match value {
        None => "—".to_string(),
        Some(v) => format!("{:.2} %", v * 100.0),
    }
}

/// Requests per second.
pub fn rate(value: Option<f64>) -> String {
    match value {
        None => "—".to_string(),
        Some(v) => format!("{v:.1} req/s"),
    }
}

/// The observed value of a threshold, in the unit its expression uses.
pub fn observed(row: &ThresholdRow) -> String {
    let Some(v) = row.observed else {
        return "—".to_string();
    };
    let aggregation = row
        .expression
        .split(['<', '>', '=', '!'])
        .next()
        .unwrap_or_default()
        .trim();
    let trend =
        aggregation.starts_with("p(") || matches!(aggregation, "avg" | "min" | "max" | "med");
    if trend && !row.metric.starts_with("vus") {
        format!("{} ms", number(Some(v)))
    } else if aggregation == "rate" && v <= 1.0 {
        format!("{} ({})", number(Some(v)), percent(Some(v)))
    } else {
        number(Some(v))
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell.
pub fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(ms(Some(1480.0)), "1.48 s");
        assert_eq!(ms(Some(812.25)), "812.2 ms");
        assert_eq!(percent(Some(0.0123)), "1.23 %");
        assert_eq!(number(None), "—");
        let row = ThresholdRow {
            metric: "http_req_failed".into(),
            expression: "rate<0.01".into(),
            observed: Some(0.02),
            status: "failed".into(),
            failing: None,
            source: None,
            phase: None,
        };
        assert_eq!(observed(&row), "0.0200 (2.00 %)");
        assert_eq!(html("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
    }
}
