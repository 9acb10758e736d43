//! The webhook payload: parsing the received bytes into a deposit, with exact decimal amounts
//! read from the raw JSON token (never through `f64`).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Largest `tx_hash` length, in characters.
pub const MAX_TX_HASH_CHARS: usize = 128;
/// Deepest `metadata` nesting accepted.
pub const MAX_METADATA_DEPTH: usize = 32;
/// Decimal places `numeric(30,8)` holds.
pub const MAX_SCALE: u32 = 8;
/// Integer digits `numeric(30,8)` holds.
pub const MAX_INTEGER_DIGITS: u32 = 22;

/// A webhook body that cannot become a deposit. Each maps to a 4xx; none is a server error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// `tx_hash` or `amount` absent or `null`.
    #[error("missing tx_hash or amount")]
    Missing,
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
    /// A field has the wrong type or an unacceptable value; the message says which.
    #[error("{0}")]
    Invalid(String),
}

/// A parsed, validated deposit ready for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeposit {
    /// `chain`, default `bep20`.
    pub chain: String,
    /// The provider's transfer id.
    pub tx_hash: String,
    /// Exact amount, > 0, at most 8 decimals and 22 integer digits.
    pub amount: Decimal,
    /// `currency`, default `USDT`.
    pub currency: String,
    /// `confirmations`, default 0.
    pub confirmations: i64,
    /// The provider's `status`, as given.
    pub provider_status: Option<String>,
    /// `to_address`.
    pub to_address: Option<String>,
    /// `block_number`.
    pub block_number: Option<i64>,
    /// Top-level `user_id`, unresolved.
    pub user_ref: Option<String>,
    /// The parsed payload for the `jsonb` column (NUL characters replaced, which `jsonb` cannot
    /// hold; the raw bytes keep them).
    pub payload: Value,
}

/// The known top-level fields, borrowed as raw JSON. Deserializing this struct also rejects a
/// known field given twice; fields other than the first two are declared only for that.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Fields<'a> {
    #[serde(borrow, default)]
    amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tx_hash: Option<&'a RawValue>,
    #[serde(borrow, default)]
    confirmations: Option<&'a RawValue>,
    #[serde(borrow, default)]
    chain: Option<&'a RawValue>,
    #[serde(borrow, default)]
    currency: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to_address: Option<&'a RawValue>,
    #[serde(borrow, default)]
    block_number: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

/// Parses the exact received bytes.
pub fn parse(raw: &[u8]) -> Result<NewDeposit, PayloadError> {
    let value: Value = serde_json::from_slice(raw).map_err(|err| {
        if raw.iter().all(u8::is_ascii_whitespace) {
            PayloadError::Malformed("empty body".to_owned())
        } else {
            PayloadError::Malformed(err.to_string())
        }
    })?;
    let Value::Object(object) = &value else {
        return Err(PayloadError::NotAnObject);
    };
    let fields: Fields<'_> =
        serde_json::from_slice(raw).map_err(|err| PayloadError::Invalid(strip_position(&err)))?;
    let (Some(_), Some(amount)) = (
        fields.tx_hash.filter(|raw| raw.get() != "null"),
        fields.amount.filter(|raw| raw.get() != "null"),
    ) else {
        return Err(PayloadError::Missing);
    };
    let tx_hash = text(&object["tx_hash"], "tx_hash", MAX_TX_HASH_CHARS)?
        .ok_or_else(|| PayloadError::Invalid("`tx_hash` must be a non-empty string".to_owned()))?;
    let amount = parse_amount(amount)?;
    let confirmations = match object.get("confirmations") {
        None | Some(Value::Null) => 0,
        Some(value) => non_negative(value, "confirmations")?,
    };
    let block_number = match object.get("block_number") {
        None | Some(Value::Null) => None,
        Some(value) => Some(non_negative(value, "block_number")?),
    };
    let chain =
        optional_text(object.get("chain"), "chain", 64)?.unwrap_or_else(|| "bep20".to_owned());
    let currency =
        optional_text(object.get("currency"), "currency", 32)?.unwrap_or_else(|| "USDT".to_owned());
    let provider_status = optional_text(object.get("status"), "status", 64)?;
    let to_address = optional_text(object.get("to_address"), "to_address", 256)?;
    let user_ref = match object.get("user_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(no_nul(text, "user_id")?.chars().take(256).collect()),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(_) => {
            return Err(PayloadError::Invalid(
                "`user_id` must be a string".to_owned(),
            ));
        }
    };
    match object.get("metadata") {
        None | Some(Value::Null) => {}
        Some(metadata @ Value::Object(_)) => {
            if depth(metadata) > MAX_METADATA_DEPTH {
                return Err(PayloadError::Invalid(format!(
                    "`metadata` nests deeper than {MAX_METADATA_DEPTH} levels"
                )));
            }
        }
        Some(_) => {
            return Err(PayloadError::Invalid(
                "`metadata` must be an object".to_owned(),
            ));
        }
    }
    Ok(NewDeposit {
        chain,
        tx_hash,
        amount,
        currency,
        confirmations,
        provider_status,
        to_address,
        block_number,
        user_ref,
        payload: without_nul(value),
    })
}

/// Parses an amount token: a JSON string holding a decimal, or a JSON number, read exactly.
pub fn parse_amount(raw: &RawValue) -> Result<Decimal, PayloadError> {
    let token = raw.get();
    let text: String = if token.starts_with('"') {
        serde_json::from_str(token)
            .map_err(|_| PayloadError::Invalid("`amount` is not a valid string".to_owned()))?
    } else if token.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        token.to_owned()
    } else {
        return Err(PayloadError::Invalid(
            "`amount` must be a decimal string or a JSON number".to_owned(),
        ));
    };
    let shown: String = text.chars().take(40).collect();
    let well_formed = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !well_formed {
        return Err(PayloadError::Invalid(format!(
            "`amount` is not a decimal number: `{shown}`"
        )));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(&text)
    };
    let amount = parsed.map_err(|_| {
        PayloadError::Invalid(format!(
            "`amount` is not a decimal number that fits numeric(30,8): `{shown}`"
        ))
    })?;
    check_amount(amount).map_err(PayloadError::Invalid)
}

/// Checks an amount against the column: > 0, at most 8 decimals, at most 22 integer digits.
pub fn check_amount(amount: Decimal) -> Result<Decimal, String> {
    let amount = amount.normalize();
    if amount <= Decimal::ZERO {
        return Err("`amount` must be greater than 0".to_owned());
    }
    if amount.scale() > MAX_SCALE {
        return Err(format!("`amount` has more than {MAX_SCALE} decimal places"));
    }
    if amount >= Decimal::from_str("10000000000000000000000").unwrap_or(Decimal::MAX) {
        return Err(format!(
            "`amount` is out of range: at most {MAX_INTEGER_DIGITS} integer digits"
        ));
    }
    Ok(amount)
}

fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn no_nul<'a>(text: &'a str, name: &str) -> Result<&'a str, PayloadError> {
    if text.contains('\0') {
        return Err(PayloadError::Invalid(format!(
            "`{name}` must not contain NUL characters"
        )));
    }
    Ok(text)
}

/// A string field: `Some` when a non-empty string of at most `max` characters.
fn text(value: &Value, name: &str, max: usize) -> Result<Option<String>, PayloadError> {
    match value {
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) if text.chars().count() > max => Err(PayloadError::Invalid(format!(
            "`{name}` must be at most {max} characters"
        ))),
        Value::String(text) => Ok(Some(no_nul(text, name)?.to_owned())),
        _ => Err(PayloadError::Invalid(format!("`{name}` must be a string"))),
    }
}

fn optional_text(
    value: Option<&Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, PayloadError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => text(value, name, max),
    }
}

fn non_negative(value: &Value, name: &str) -> Result<i64, PayloadError> {
    value
        .as_u64()
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| PayloadError::Invalid(format!("`{name}` must be an integer >= 0")))
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn without_nul(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains('\0') => Value::String(text.replace('\0', "\u{FFFD}")),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key.replace('\0', "\u{FFFD}"), without_nul(value)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<&str, &str>) {
        let got = parse(body.as_bytes());
        match (got, expected) {
            (Ok(deposit), Ok(amount)) => assert_eq!(deposit.amount.to_string(), amount, "{body}"),
            (Err(err), Err(message)) => assert!(err.to_string().contains(message), "{body}: {err}"),
            (got, expected) => panic!("{body}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn amounts_are_exact() {
        check(r#"{"tx_hash":"a","amount":19.99}"#, Ok("19.99"));
        check(r#"{"tx_hash":"a","amount":8.165}"#, Ok("8.165"));
        check(r#"{"tx_hash":"a","amount":0.1}"#, Ok("0.1"));
        check(r#"{"tx_hash":"a","amount":"20.0"}"#, Ok("20"));
        check(r#"{"tx_hash":"a","amount":1e2}"#, Ok("100"));
        check(r#"{"tx_hash":"a","amount":"0.00000001"}"#, Ok("0.00000001"));
        check(
            r#"{"tx_hash":"a","amount":"9999999999999999999999.99999"}"#,
            Ok("9999999999999999999999.99999"),
        );
    }

    #[test]
    fn bad_amounts_are_client_errors() {
        check(r#"{"tx_hash":"a","amount":-5}"#, Err("greater than 0"));
        check(r#"{"tx_hash":"a","amount":0}"#, Err("greater than 0"));
        check(r#"{"tx_hash":"a","amount":"1e30"}"#, Err("amount"));
        check(
            r#"{"tx_hash":"a","amount":"10000000000000000000000"}"#,
            Err("out of range"),
        );
        check(
            r#"{"tx_hash":"a","amount":"NaN"}"#,
            Err("not a decimal number"),
        );
        check(
            r#"{"tx_hash":"a","amount":"Infinity"}"#,
            Err("not a decimal number"),
        );
        check(
            r#"{"tx_hash":"a","amount":"1.000000001"}"#,
            Err("more than 8 decimal places"),
        );
        check(
            r#"{"tx_hash":"a","amount":{"v":1}}"#,
            Err("decimal string or a JSON number"),
        );
        check(
            r#"{"tx_hash":"a","amount":true}"#,
            Err("decimal string or a JSON number"),
        );
    }

    #[test]
    fn shapes_are_client_errors() {
        for body in ["1", "null", "[]", "\"x\""] {
            check(body, Err("must be a JSON object"));
        }
        check("{", Err("malformed JSON"));
        check("", Err("malformed JSON: empty body"));
        check(r#"{"amount":"1"}"#, Err("missing tx_hash or amount"));
        check(r#"{"tx_hash":"a"}"#, Err("missing tx_hash or amount"));
        check(
            r#"{"tx_hash":null,"amount":"1"}"#,
            Err("missing tx_hash or amount"),
        );
        check(
            r#"{"tx_hash":123,"amount":"1"}"#,
            Err("`tx_hash` must be a string"),
        );
        check(
            r#"{"tx_hash":"a","amount":"1","amount":"2"}"#,
            Err("duplicate field `amount`"),
        );
        check(
            r#"{"tx_hash":"a","amount":"1","confirmations":-1}"#,
            Err("`confirmations`"),
        );
        check(
            r#"{"tx_hash":"a","amount":"1","metadata":"x"}"#,
            Err("`metadata` must be an object"),
        );
        let deep = format!(
            r#"{{"tx_hash":"a","amount":"1","metadata":{}1{}}}"#,
            "{\"k\":".repeat(40),
            "}".repeat(40)
        );
        check(&deep, Err("deeper than 32"));
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let deposit =
            parse(br#"{"tx_hash":"h","amount":"5","extra":{"x":1},"metadata":{"note":"\u0000"}}"#)
                .unwrap();
        assert_eq!(
            (
                deposit.chain.as_str(),
                deposit.currency.as_str(),
                deposit.confirmations
            ),
            ("bep20", "USDT", 0)
        );
        assert_eq!(deposit.payload["extra"]["x"], 1);
        assert_eq!(deposit.payload["metadata"]["note"], "\u{FFFD}");
    }
}
