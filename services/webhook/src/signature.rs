//! Webhook signatures: hex HMAC-SHA256 of the raw body in `X-Signature` / `X-Hub-Signature-256`
//! (optionally `sha256=`-prefixed), and the Standard Webhooks scheme. Several keys may be
//! configured for rotation; each applies to both schemes. Comparisons are constant-time.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use cricalgo_common::config::{ConfigError, Secret};

/// Standard Webhooks timestamp tolerance, seconds.
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// The configured signing keys; empty means signatures are not required.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({} keys, redacted)", self.keys.len())
    }
}

impl Verifier {
    /// Keys from `WEBHOOK_SECRET`: comma-separated; an entry starting `whsec_` is the base64 of the
    /// key bytes.
    pub fn from_secret(secret: Option<&Secret>) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        for entry in secret.map(Secret::expose).unwrap_or("").split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            match entry.strip_prefix("whsec_") {
                Some(encoded) => {
                    keys.push(STANDARD.decode(encoded).map_err(|_| ConfigError::Invalid {
                        name: "WEBHOOK_SECRET".to_owned(),
                        expected: "comma-separated secrets; `whsec_` entries must be valid base64",
                        value: "[redacted]".to_owned(),
                    })?)
                }
                None => keys.push(entry.as_bytes().to_vec()),
            }
        }
        Ok(Self { keys })
    }

    /// Whether a signature is required.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks the request's signature over the exact received bytes; `now` is the Unix time.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> bool {
        if self.keys.is_empty() {
            return true;
        }
        let standard = ["webhook-id", "webhook-timestamp", "webhook-signature"];
        if standard.iter().any(|name| headers.contains_key(*name)) {
            return self.verify_standard(headers, body, now);
        }
        ["x-signature", "x-hub-signature-256"].iter().any(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .and_then(decode_hex_signature)
                .is_some_and(|signature| self.matches(&[body], &signature))
        })
    }

    fn verify_standard(&self, headers: &HeaderMap, body: &[u8], now: i64) -> bool {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let (Some(id), Some(timestamp), Some(signatures)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return false;
        };
        let Ok(sent) = timestamp.trim().parse::<i64>() else {
            return false;
        };
        if (now - sent).abs() > TOLERANCE_SECS {
            return false;
        }
        let prefix = format!("{id}.{}.", timestamp.trim());
        signatures.split_whitespace().any(|candidate| {
            candidate
                .strip_prefix("v1,")
                .and_then(|encoded| STANDARD.decode(encoded).ok())
                .is_some_and(|signature| self.matches(&[prefix.as_bytes(), body], &signature))
        })
    }

    fn matches(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
                return false;
            };
            for part in parts {
                mac.update(part);
            }
            mac.verify_slice(signature).is_ok()
        })
    }
}

/// `sha256=<64 hex>` or `<64 hex>`; anything else (empty, wrong length, non-hex) is `None`.
fn decode_hex_signature(value: &str) -> Option<Vec<u8>> {
    let value = value.trim();
    let hex_part = value.strip_prefix("sha256=").unwrap_or(value);
    if hex_part.len() != 64 {
        return None;
    }
    hex::decode(hex_part).ok()
}

/// Signs `body` as a sender would: the hex HMAC-SHA256 (for tests, tools and benchmarks).
pub fn sign_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The Standard Webhooks `v1,<base64>` signature of `id.timestamp.body`.
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn hex_scheme_cases() {
        let verifier = Verifier::from_secret(Some(&Secret::new("old, new"))).unwrap();
        let body = br#"{"tx_hash":"a","amount":"1"}"#;
        let good = sign_hex(b"new", body);
        let check = |pairs: &[(&'static str, &str)], expected: bool| {
            assert_eq!(
                verifier.verify(&headers(pairs), body, 0),
                expected,
                "{pairs:?}"
            );
        };
        check(&[("x-signature", &good)], true);
        check(&[("x-signature", &format!("sha256={good}"))], true);
        check(
            &[(
                "x-hub-signature-256",
                &format!("sha256={}", sign_hex(b"old", body)),
            )],
            true,
        );
        check(&[], false);
        check(&[("x-signature", "")], false);
        check(&[("x-signature", "sha256=")], false);
        check(&[("x-signature", &good[..62])], false);
        check(&[("x-signature", &"zz".repeat(32))], false);
        check(
            &[("x-signature", &sign_hex(b"new", b"another body"))],
            false,
        );
        check(&[("x-signature", &sign_hex(b"unknown", body))], false);
    }

    #[test]
    fn standard_webhooks_cases() {
        let key = b"0123456789abcdef";
        let secret = format!("whsec_{}", STANDARD.encode(key));
        let verifier = Verifier::from_secret(Some(&Secret::new(secret))).unwrap();
        let body = b"{}";
        let now = 1_700_000_000;
        let signature = sign_standard(key, "msg_1", now, body);
        let check = |timestamp: i64, signature: &str, expected: bool| {
            let ts = timestamp.to_string();
            let map = headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &ts),
                ("webhook-signature", signature),
            ]);
            assert_eq!(
                verifier.verify(&map, body, now),
                expected,
                "{timestamp} {signature}"
            );
        };
        check(now, &signature, true);
        check(now, &format!("v1,bm9wZQ== {signature}"), true);
        check(
            now - 300,
            &sign_standard(key, "msg_1", now - 300, body),
            true,
        );
        check(
            now - 301,
            &sign_standard(key, "msg_1", now - 301, body),
            false,
        );
        check(
            now + 301,
            &sign_standard(key, "msg_1", now + 301, body),
            false,
        );
        check(now, "v1,", false);
        check(now, "v2,abc", false);
        assert!(!verifier.verify(&headers(&[("webhook-id", "msg_1")]), body, now));
        assert!(Verifier::from_secret(Some(&Secret::new("whsec_***"))).is_err());
    }
}
