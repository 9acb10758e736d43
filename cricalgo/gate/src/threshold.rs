//! k6's threshold grammar: metric selectors (`name{tag:value,...}`) and expressions (`AGG OP NUMBER`).
//!
//! The rules follow k6's own parser: operators are tried in the order `<=`, `<`, `>=`, `>`, `===`,
//! `==`, `!=` and the first one found splits the expression; spaces around the parts are allowed;
//! `p(N)` takes `0 <= N <= 100` with decimals and no spaces inside the parentheses. Selectors split
//! on `,` and cut each pair at the first `:`, so tag values may contain `:` but never `,`.

use std::fmt;

use crate::model::MetricType;

/// Why a threshold or selector could not be parsed or does not fit its metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// No comparison operator in the expression.
    #[error(
        "malformed threshold expression `{0}`: expected `AGG OP NUMBER` such as `p(95)<4000` (operators `<=`, `<`, `>=`, `>`, `===`, `==`, `!=`)"
    )]
    NoOperator(String),
    /// The left-hand side is not an aggregation k6 knows.
    #[error(
        "unknown aggregation `{aggregation}` in `{expression}`: use `count`, `rate`, `value`, `avg`, `min`, `max`, `med` or `p(N)`"
    )]
    UnknownAggregation {
        aggregation: String,
        expression: String,
    },
    /// `p(N)` with `N` outside 0..=100 or not a number.
    #[error(
        "bad percentile `{aggregation}` in `{expression}`: `N` in `p(N)` must be a number from 0 to 100"
    )]
    BadPercentile {
        aggregation: String,
        expression: String,
    },
    /// The right-hand side is not a finite number.
    #[error("bad limit `{limit}` in `{expression}`: the right-hand side must be a finite number")]
    BadLimit { limit: String, expression: String },
    /// The metric name is empty or has characters k6 does not allow.
    #[error("bad metric name `{0}`: use letters, digits and `_` (for example `http_req_duration`)")]
    BadMetricName(String),
    /// Braces that do not form `name{...}`.
    #[error(
        "malformed selector `{0}`: expected `metric{{tag:value,...}}` with the closing `}}` last"
    )]
    MalformedSelector(String),
    /// A tag pair without `:` or with an empty key or value.
    #[error("bad tag `{tag}` in selector `{selector}`: expected `key:value`")]
    BadTag { tag: String, selector: String },
    /// A `,` inside a tag value: k6 splits on it, so the selector would silently match nothing.
    #[error(
        "selector `{selector}` has a `,` inside the value of tag `{key}` (`{fragment}` has no `:`): k6 splits tags on `,`, so a tag value cannot contain one; match on another tag or rename the value"
    )]
    CommaInTagValue {
        selector: String,
        key: String,
        fragment: String,
    },
    /// A `--threshold` flag without the `METRIC: EXPR` form.
    #[error(
        "bad threshold `{0}`: expected `METRIC: EXPR`, for example `http_req_duration: p(95)<4000`"
    )]
    BadFlag(String),
    /// The aggregation does not exist for this metric type (for example `p(95)` on a rate).
    #[error("`{aggregation}` does not apply to `{metric}`, a {metric_type} metric: use {allowed}")]
    TypeMismatch {
        metric: String,
        metric_type: MetricType,
        aggregation: String,
        allowed: String,
    },
    /// A metric that neither the summary nor k6's built-in set knows.
    #[error(
        "unknown metric `{0}`: it is not a k6 built-in metric and the summary has no such metric; check the spelling"
    )]
    UnknownMetric(String),
}

/// A comparison operator, in k6's matching order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `===`
    StrictEq,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Operator {
    /// Every operator in the order k6 tries them.
    pub const ALL: [Operator; 7] = [
        Operator::Le,
        Operator::Lt,
        Operator::Ge,
        Operator::Gt,
        Operator::StrictEq,
        Operator::Eq,
        Operator::Ne,
    ];

    /// The operator's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Le => "<=",
            Operator::Lt => "<",
            Operator::Ge => ">=",
            Operator::Gt => ">",
            Operator::StrictEq => "===",
            Operator::Eq => "==",
            Operator::Ne => "!=",
        }
    }

    /// `observed OP limit`, as k6 evaluates it.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Operator::Le => observed <= limit,
            Operator::Lt => observed < limit,
            Operator::Ge => observed >= limit,
            Operator::Gt => observed > limit,
            Operator::StrictEq | Operator::Eq => observed == limit,
            Operator::Ne => observed != limit,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a threshold reads from a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// counter: total
    Count,
    /// counter: per second; rate: share of non-zero samples
    Rate,
    /// gauge: last value
    Value,
    /// trend: mean
    Avg,
    /// trend: minimum
    Min,
    /// trend: maximum
    Max,
    /// trend: median
    Med,
    /// trend: percentile `0..=100`
    Percentile(f64),
}

impl Aggregation {
    /// Whether k6 allows this aggregation on a metric of type `metric_type`.
    pub fn fits(self, metric_type: MetricType) -> bool {
        match metric_type {
            MetricType::Counter => matches!(self, Aggregation::Count | Aggregation::Rate),
            MetricType::Gauge => matches!(self, Aggregation::Value),
            MetricType::Rate => matches!(self, Aggregation::Rate),
            MetricType::Trend => matches!(
                self,
                Aggregation::Avg
                    | Aggregation::Min
                    | Aggregation::Max
                    | Aggregation::Med
                    | Aggregation::Percentile(_)
            ),
        }
    }

    /// The aggregations k6 allows on `metric_type`, for error messages.
    pub fn allowed_for(metric_type: MetricType) -> &'static str {
        match metric_type {
            MetricType::Counter => "`count` or `rate`",
            MetricType::Gauge => "`value`",
            MetricType::Rate => "`rate`",
            MetricType::Trend => "`avg`, `min`, `max`, `med` or `p(N)`",
        }
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Count => f.write_str("count"),
            Aggregation::Rate => f.write_str("rate"),
            Aggregation::Value => f.write_str("value"),
            Aggregation::Avg => f.write_str("avg"),
            Aggregation::Min => f.write_str("min"),
            Aggregation::Max => f.write_str("max"),
            Aggregation::Med => f.write_str("med"),
            Aggregation::Percentile(p) => write!(f, "p({p})"),
        }
    }
}

/// A parsed threshold expression; `Display` prints the canonical form (`p(95)<4000`), while
/// [`Threshold::expression`] keeps what was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub aggregation: Aggregation,
    pub operator: Operator,
    pub limit: f64,
}

impl Expression {
    /// Parses `AGG OP NUMBER` the way k6 does.
    pub fn parse(text: &str) -> Result<Self, ThresholdError> {
        let (lhs, operator, rhs) = Operator::ALL
            .iter()
            .find_map(|op| {
                text.split_once(op.as_str())
                    .map(|(lhs, rhs)| (lhs.trim(), *op, rhs.trim()))
            })
            .ok_or_else(|| ThresholdError::NoOperator(text.to_owned()))?;
        let aggregation = parse_aggregation(lhs, text)?;
        let limit = parse_number(rhs).filter(|n| n.is_finite()).ok_or_else(|| {
            ThresholdError::BadLimit {
                limit: rhs.to_owned(),
                expression: text.to_owned(),
            }
        })?;
        Ok(Expression {
            aggregation,
            operator,
            limit,
        })
    }

    /// Whether `observed` satisfies the expression.
    pub fn holds(&self, observed: f64) -> bool {
        self.operator.holds(observed, self.limit)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.aggregation, self.operator, self.limit)
    }
}

fn parse_aggregation(lhs: &str, expression: &str) -> Result<Aggregation, ThresholdError> {
    Ok(match lhs {
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        _ => {
            let Some(inner) = lhs.strip_prefix("p(").and_then(|s| s.strip_suffix(')')) else {
                return Err(ThresholdError::UnknownAggregation {
                    aggregation: lhs.to_owned(),
                    expression: expression.to_owned(),
                });
            };
            let p = parse_number(inner)
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| ThresholdError::BadPercentile {
                    aggregation: lhs.to_owned(),
                    expression: expression.to_owned(),
                })?;
            Aggregation::Percentile(p)
        }
    })
}

/// A decimal number as k6 (Go's `ParseFloat`) reads it, without `NaN` or infinities and without
/// surrounding spaces.
fn parse_number(text: &str) -> Option<f64> {
    let plain = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits_ok = !plain.is_empty()
        && plain
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && plain
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.');
    if !digits_ok {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A metric name with optional tag filters: `http_req_duration{expected_response:true}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    pub name: String,
    /// Tag filters in the order written; keys and values trimmed of spaces and quotes.
    pub tags: Vec<(String, String)>,
}

impl Selector {
    /// A selector with no tags.
    pub fn plain(name: impl Into<String>) -> Self {
        Selector {
            name: name.into(),
            tags: Vec::new(),
        }
    }

    /// Parses `name` or `name{key:value,...}` the way k6 does, but reports a `,` inside a tag
    /// value instead of silently matching nothing.
    pub fn parse(text: &str) -> Result<Self, ThresholdError> {
        let text_trimmed = text.trim();
        let open = text_trimmed.find('{');
        let close = text_trimmed.rfind('}');
        let (name, tags_text) = match (open, close) {
            (None, None) => (text_trimmed, None),
            (Some(open), Some(close)) if close > open && close == text_trimmed.len() - 1 => {
                (&text_trimmed[..open], Some(&text_trimmed[open + 1..close]))
            }
            _ => return Err(ThresholdError::MalformedSelector(text.to_owned())),
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(ThresholdError::BadMetricName(name.to_owned()));
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        if let Some(tags_text) = tags_text {
            for part in tags_text.split(',') {
                match part.split_once(':') {
                    Some((key, value)) => {
                        let key = trim_tag(key);
                        let value = trim_tag(value);
                        if key.is_empty() || value.is_empty() {
                            return Err(ThresholdError::BadTag {
                                tag: part.to_owned(),
                                selector: text.to_owned(),
                            });
                        }
                        tags.push((key.to_owned(), value.to_owned()));
                    }
                    None => {
                        if let Some((key, _)) = tags.last().filter(|_| !part.trim().is_empty()) {
                            return Err(ThresholdError::CommaInTagValue {
                                selector: text.to_owned(),
                                key: key.clone(),
                                fragment: part.to_owned(),
                            });
                        }
                        return Err(ThresholdError::BadTag {
                            tag: part.to_owned(),
                            selector: text.to_owned(),
                        });
                    }
                }
            }
        }
        Ok(Selector {
            name: name.to_owned(),
            tags,
        })
    }

    /// Whether two selectors pick the same samples (tag order does not matter).
    pub fn same_as(&self, other: &Selector) -> bool {
        let mut a = self.tags.clone();
        let mut b = other.tags.clone();
        a.sort();
        b.sort();
        self.name == other.name && a == b
    }

    /// Whether this selector filters on tags (a sub-metric).
    pub fn is_submetric(&self) -> bool {
        !self.tags.is_empty()
    }
}

fn trim_tag(text: &str) -> &str {
    text.trim().trim_matches(|c| c == '"' || c == '\'')
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.tags.is_empty() {
            f.write_str("{")?;
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{key}:{value}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Where a threshold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The acceptance criteria: `http_req_failed: rate<0.01`, `http_req_duration: p(95)<4000`.
    Default,
    /// The scenario file.
    Scenario,
    /// A `--threshold` flag.
    Flag,
    /// A k6 file, recomputed from its values.
    File,
    /// A k6 file that lacks the value: k6's recorded verdict is kept.
    Recorded,
}

/// A threshold as written (metric text and expression text kept verbatim) and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric key exactly as written (`http_req_duration{phase:recovery}`).
    pub metric: String,
    /// The expression exactly as written (`p(95) < 5000`).
    pub expression: String,
    pub selector: Selector,
    pub parsed: Expression,
    pub source: Source,
}

impl Threshold {
    /// Parses one threshold from its metric key and expression text.
    pub fn parse(metric: &str, expression: &str, source: Source) -> Result<Self, ThresholdError> {
        Ok(Threshold {
            metric: metric.to_owned(),
            expression: expression.to_owned(),
            selector: Selector::parse(metric)?,
            parsed: Expression::parse(expression)?,
            source,
        })
    }

    /// Parses a `--threshold 'METRIC: EXPR'` flag. The metric part ends at the first `:` outside
    /// `{...}` (tag values may contain `:`).
    pub fn parse_flag(flag: &str) -> Result<Self, ThresholdError> {
        let mut depth = 0usize;
        let split = flag.char_indices().find(|&(_, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ':' if depth == 0 => return true,
                _ => {}
            }
            false
        });
        let Some((at, _)) = split else {
            return Err(ThresholdError::BadFlag(flag.to_owned()));
        };
        let metric = flag[..at].trim();
        let expression = flag[at + 1..].trim();
        if metric.is_empty() || expression.is_empty() {
            return Err(ThresholdError::BadFlag(flag.to_owned()));
        }
        Threshold::parse(metric, expression, Source::Flag)
    }

    /// Checks that the aggregation fits the metric type.
    pub fn check_type(&self, metric_type: MetricType) -> Result<(), ThresholdError> {
        if self.parsed.aggregation.fits(metric_type) {
            Ok(())
        } else {
            Err(ThresholdError::TypeMismatch {
                metric: self.metric.clone(),
                metric_type,
                aggregation: self.parsed.aggregation.to_string(),
                allowed: Aggregation::allowed_for(metric_type).to_owned(),
            })
        }
    }

    /// Validates before any load is sent: the metric must be a k6 built-in or one of `custom`
    /// (name and type), and the aggregation must fit its type.
    pub fn validate(&self, custom: &[(&str, MetricType)]) -> Result<(), ThresholdError> {
        let metric_type = crate::model::builtin_metric_type(&self.selector.name)
            .or_else(|| {
                custom
                    .iter()
                    .find(|(name, _)| *name == self.selector.name)
                    .map(|(_, t)| *t)
            })
            .ok_or_else(|| ThresholdError::UnknownMetric(self.selector.name.clone()))?;
        self.check_type(metric_type)
    }

    /// The two default acceptance thresholds, as k6 names them.
    pub fn defaults() -> Vec<Threshold> {
        DEFAULT_THRESHOLDS
            .iter()
            .map(|(metric, expression)| {
                Threshold::parse(metric, expression, Source::Default)
                    .unwrap_or_else(|err| unreachable!("default threshold is valid: {err}"))
            })
            .collect()
    }
}

/// The acceptance criteria of the rollout: error rate below 1 %, p95 below 4 s.
pub const DEFAULT_THRESHOLDS: [(&str, &str); 2] = [
    ("http_req_failed", "rate<0.01"),
    ("http_req_duration", "p(95)<4000"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(text: &str) -> Expression {
        Expression::parse(text).unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
    }

    #[test]
    fn every_operator_in_k6_order() {
        let cases = [
            ("p(95)<=4000", Operator::Le),
            ("p(95)<4000", Operator::Lt),
            ("rate>=0.95", Operator::Ge),
            ("rate>0.95", Operator::Gt),
            ("count===3", Operator::StrictEq),
            ("count==3", Operator::Eq),
            ("value!=3", Operator::Ne),
        ];
        for (text, op) in cases {
            assert_eq!(expr(text).operator, op, "{text}");
        }
    }

    #[test]
    fn spaces_are_allowed_around_parts() {
        let e = expr("  p(95)   <  5000 ");
        assert_eq!(e.aggregation, Aggregation::Percentile(95.0));
        assert_eq!(e.limit, 5000.0);
        assert_eq!(e.to_string(), "p(95)<5000");
    }

    #[test]
    fn percentiles_with_decimals_and_bounds() {
        assert_eq!(expr("p(99.9)<1").aggregation, Aggregation::Percentile(99.9));
        assert_eq!(expr("p(0)<1").aggregation, Aggregation::Percentile(0.0));
        assert_eq!(expr("p(100)<1").aggregation, Aggregation::Percentile(100.0));
        for bad in [
            "p(101)<1",
            "p(-1)<1",
            "p( 95 )<1",
            "p(abc)<1",
            "p()<1",
            "p(NaN)<1",
        ] {
            assert!(
                matches!(
                    Expression::parse(bad),
                    Err(ThresholdError::BadPercentile { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_expressions() {
        assert!(matches!(
            Expression::parse("p(95)"),
            Err(ThresholdError::NoOperator(_))
        ));
        assert!(matches!(
            Expression::parse("p95<4000"),
            Err(ThresholdError::UnknownAggregation { .. })
        ));
        assert!(matches!(
            Expression::parse("p(95)=<4000"),
            Err(ThresholdError::UnknownAggregation { .. })
        ));
        for bad in ["p(95)<", "p(95)<abc", "rate<NaN", "rate<inf", "rate<1 0"] {
            assert!(
                matches!(Expression::parse(bad), Err(ThresholdError::BadLimit { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn selectors_with_tags_and_colons() {
        let s = Selector::parse("http_req_duration{url:http://x:8000/a, method:POST}").unwrap();
        assert_eq!(s.name, "http_req_duration");
        assert_eq!(
            s.tags,
            vec![
                ("url".to_owned(), "http://x:8000/a".to_owned()),
                ("method".to_owned(), "POST".to_owned())
            ]
        );
        assert_eq!(
            s.to_string(),
            "http_req_duration{url:http://x:8000/a,method:POST}"
        );
    }

    #[test]
    fn comma_inside_a_tag_value_is_reported() {
        let err = Selector::parse("http_req_duration{name:GET /a,b}").unwrap_err();
        assert!(matches!(err, ThresholdError::CommaInTagValue { ref key, .. } if key == "name"));
        assert!(err.to_string().contains("cannot contain"));
    }

    #[test]
    fn malformed_selectors() {
        for bad in [
            "x{a:b", "x}a:b{", "x{a:b}c", "{a:b}", "x{}", "x{a}", "x{:b}", "x{a:}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_split_at_the_first_colon_outside_braces() {
        let t = Threshold::parse_flag("http_req_duration{url:http://a:1/}: p(99.9) < 10").unwrap();
        assert_eq!(t.metric, "http_req_duration{url:http://a:1/}");
        assert_eq!(t.expression, "p(99.9) < 10");
        assert!(matches!(
            Threshold::parse_flag("p(95)<4000"),
            Err(ThresholdError::BadFlag(_))
        ));
    }

    #[test]
    fn type_mismatches() {
        let t = Threshold::parse("http_req_failed", "p(95)<1", Source::Flag).unwrap();
        assert!(matches!(
            t.validate(&[]),
            Err(ThresholdError::TypeMismatch { .. })
        ));
        let t = Threshold::parse("http_reqs", "count>10", Source::Flag).unwrap();
        assert!(t.validate(&[]).is_ok());
        let t = Threshold::parse("nope", "count>10", Source::Flag).unwrap();
        assert!(matches!(
            t.validate(&[]),
            Err(ThresholdError::UnknownMetric(_))
        ));
    }
}
