//! Request templates: `{{uuid}}`, `{{vu}}`, `{{iter}}`, `{{timestamp_ms}}`, `{{rand_hex N}}`,
//! `{{rand_int MIN MAX}}` and `{{rand_decimal MIN MAX DECIMALS}}`, parsed once before the load and
//! rendered per request without re-parsing.

use std::fmt::Write as _;

use rand::Rng;

/// The names a template may use; anything else is an error before the load starts.
pub const VARIABLES: &[&str] = &[
    "uuid",
    "vu",
    "iter",
    "timestamp_ms",
    "rand_hex N",
    "rand_int MIN MAX",
    "rand_decimal MIN MAX DECIMALS",
];

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Uuid,
    Vu,
    Iter,
    TimestampMs,
    RandHex(usize),
    RandInt(i64, i64),
    /// Scaled integers `min * 10^decimals ..= max * 10^decimals`.
    RandDecimal(i128, i128, u32),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a render needs from the running VU.
pub struct Context<'a, R: Rng> {
    pub vu: u64,
    pub iter: u64,
    pub rng: &'a mut R,
}

impl Template {
    /// Parses `text`; unknown variables and bad arguments are errors naming the variable.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in template `{text}`"))?;
            parts.push(parse_variable(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The text when the template has no variables.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Renders into `out` (cleared first).
    pub fn render_into<R: Rng>(&self, ctx: &mut Context<'_, R>, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Uuid => {
                    let bytes: [u8; 16] = ctx.rng.random();
                    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                    let _ = write!(out, "{id}");
                }
                Part::Vu => {
                    let _ = write!(out, "{}", ctx.vu);
                }
                Part::Iter => {
                    let _ = write!(out, "{}", ctx.iter);
                }
                Part::TimestampMs => {
                    let _ = write!(out, "{}", chrono::Utc::now().timestamp_millis());
                }
                Part::RandHex(len) => {
                    for _ in 0..*len {
                        let digit = ctx.rng.random_range(0..16u8);
                        out.push(char::from_digit(u32::from(digit), 16).unwrap_or('0'));
                    }
                }
                Part::RandInt(min, max) => {
                    let _ = write!(out, "{}", ctx.rng.random_range(*min..=*max));
                }
                Part::RandDecimal(min, max, decimals) => {
                    let value = ctx.rng.random_range(*min..=*max);
                    write_scaled(out, value, *decimals);
                }
            }
        }
    }

    /// Renders to a new string.
    pub fn render<R: Rng>(&self, ctx: &mut Context<'_, R>) -> String {
        let mut out = String::new();
        self.render_into(ctx, &mut out);
        out
    }
}

fn write_scaled(out: &mut String, value: i128, decimals: u32) {
    if decimals == 0 {
        let _ = write!(out, "{value}");
        return;
    }
    let scale = 10_i128.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.abs();
    let _ = write!(
        out,
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    );
}

fn parse_variable(text: &str) -> Result<Part, String> {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let arity = |expected: usize| {
        if args.len() == expected {
            Ok(())
        } else {
            Err(format!(
                "template variable `{name}` takes {expected} argument(s), got `{text}`"
            ))
        }
    };
    match name {
        "uuid" => arity(0).map(|()| Part::Uuid),
        "vu" => arity(0).map(|()| Part::Vu),
        "iter" => arity(0).map(|()| Part::Iter),
        "timestamp_ms" => arity(0).map(|()| Part::TimestampMs),
        "rand_hex" => {
            arity(1)?;
            let len: usize = args[0]
                .parse()
                .ok()
                .filter(|len| (1..=4096).contains(len))
                .ok_or_else(|| format!("`rand_hex` needs a length 1..=4096, got `{}`", args[0]))?;
            Ok(Part::RandHex(len))
        }
        "rand_int" => {
            arity(2)?;
            let min: i64 = args[0]
                .parse()
                .map_err(|_| format!("`rand_int` minimum `{}` is not an integer", args[0]))?;
            let max: i64 = args[1]
                .parse()
                .map_err(|_| format!("`rand_int` maximum `{}` is not an integer", args[1]))?;
            if min > max {
                return Err(format!("`rand_int {min} {max}`: minimum above maximum"));
            }
            Ok(Part::RandInt(min, max))
        }
        "rand_decimal" => {
            arity(3)?;
            let decimals: u32 = args[2].parse().ok().filter(|d| *d <= 18).ok_or_else(|| {
                format!("`rand_decimal` decimals must be 0..=18, got `{}`", args[2])
            })?;
            let min = parse_scaled(args[0], decimals)?;
            let max = parse_scaled(args[1], decimals)?;
            if min > max {
                return Err(format!("`{text}`: minimum above maximum"));
            }
            Ok(Part::RandDecimal(min, max, decimals))
        }
        _ => Err(format!(
            "unknown template variable `{name}` (known: {})",
            VARIABLES.join(", ")
        )),
    }
}

/// `"12.5"` with 2 decimals → `1250`; more digits than `decimals` are an error.
fn parse_scaled(text: &str, decimals: u32) -> Result<i128, String> {
    let bad = || format!("`{text}` is not a decimal with at most {decimals} decimals");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || frac.len() > decimals as usize {
        return Err(bad());
    }
    let whole: i128 = whole.parse().map_err(|_| bad())?;
    let mut frac_value: i128 = 0;
    for (i, c) in frac.chars().enumerate() {
        let digit = c.to_digit(10).ok_or_else(bad)?;
        frac_value += i128::from(digit) * 10_i128.pow(decimals - 1 - i as u32);
    }
    let value = whole
        .checked_mul(10_i128.pow(decimals))
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(bad)?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn render(text: &str) -> String {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut ctx = Context {
            vu: 3,
            iter: 41,
            rng: &mut rng,
        };
        Template::parse(text).unwrap().render(&mut ctx)
    }

    #[test]
    fn renders_every_variable() {
        assert_eq!(render("vu={{vu}} iter={{ iter }}"), "vu=3 iter=41");
        let hex = render("{{rand_hex 8}}");
        assert_eq!(hex.len(), 8);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            uuid::Uuid::parse_str(&render("{{uuid}}"))
                .unwrap()
                .get_version_num(),
            4
        );
        let ts: i64 = render("{{timestamp_ms}}").parse().unwrap();
        assert!(ts > 1_600_000_000_000);
        let n: i64 = render("{{rand_int 100001 100050}}").parse().unwrap();
        assert!((100001..=100050).contains(&n));
    }

    #[test]
    fn random_decimals_stay_in_range_with_fixed_decimals() {
        let mut rng = SmallRng::seed_from_u64(1);
        let template = Template::parse("{{rand_decimal 1.5 250 2}}").unwrap();
        for iter in 0..500 {
            let mut ctx = Context {
                vu: 1,
                iter,
                rng: &mut rng,
            };
            let text = template.render(&mut ctx);
            let (_, frac) = text.split_once('.').unwrap();
            assert_eq!(frac.len(), 2, "{text}");
            let value: f64 = text.parse().unwrap();
            assert!((1.5..=250.0).contains(&value), "{text}");
        }
    }

    #[test]
    fn rejects_unknown_variables_and_bad_arguments() {
        for bad in [
            "{{user}}",
            "{{rand_hex}}",
            "{{rand_hex x}}",
            "{{rand_int 5 1}}",
            "{{uuid 1}}",
            "{{vu",
            "{{rand_decimal 1.234 2 2}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        let err = Template::parse("{{tx}}").unwrap_err();
        assert!(err.contains("`tx`"), "{err}");
    }

    #[test]
    fn static_templates_are_detected() {
        assert_eq!(Template::parse("/a/b").unwrap().as_static(), Some("/a/b"));
        assert_eq!(Template::parse("/{{vu}}").unwrap().as_static(), None);
    }
}
