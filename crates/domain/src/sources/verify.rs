//! Signature checks shared by the adapters: HMAC over exactly the bytes received, compared in
//! constant time, with a tolerance on signed timestamps.
//!
//! Every adapter verifies before it parses: a forged or stale delivery is refused without its
//! body ever being interpreted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::Delivery;
use crate::Timestamp;

/// How far a signed timestamp may be from our clock, either way (Standard Webhooks
/// recommends five minutes).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused: always answered 401, the reason logged and told to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is not in the platform's format")]
    MalformedHeader(&'static str),
    #[error("the signature does not match the body; check the connection's signing secret")]
    BadSignature,
    #[error("the signed timestamp is more than {TIMESTAMP_TOLERANCE_SECS} seconds away from now")]
    StaleTimestamp,
    #[error("the URL token is missing or wrong; use the webhook URL with the connection's token")]
    BadUrlToken,
    #[error("the connection has no signing secret; rotate one in")]
    NoSecret,
    #[error("the {0} form field is missing")]
    MissingField(&'static str),
}

/// HMAC-SHA256 of `parts`, concatenated, under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA512 of `body` under `key` (Qualtrics).
pub fn hmac_sha512(key: &[u8], body: &[u8]) -> [u8; 64] {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA1 of `parts`, concatenated, under `key` (SurveyMonkey, Twilio).
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares a base64 signature from a header with the expected MAC.
pub fn base64_matches(header: &str, expected: &[u8]) -> bool {
    match STANDARD.decode(header.trim()) {
        Ok(given) => equal(&given, expected),
        Err(_) => false,
    }
}

/// Compares a hex signature from a header with the expected MAC.
pub fn hex_matches(header: &str, expected: &[u8]) -> bool {
    match hex::decode(header.trim()) {
        Ok(given) => equal(&given, expected),
        Err(_) => false,
    }
}

/// A base64 signature that must match the expected MAC, else [`AuthError::BadSignature`].
pub fn require_base64(header: &str, expected: &[u8]) -> Result<(), AuthError> {
    base64_matches(header, expected)
        .then_some(())
        .ok_or(AuthError::BadSignature)
}

/// A hex signature that must match the expected MAC, else [`AuthError::BadSignature`].
pub fn require_hex(header: &str, expected: &[u8]) -> Result<(), AuthError> {
    hex_matches(header, expected)
        .then_some(())
        .ok_or(AuthError::BadSignature)
}

/// Checks a Unix-seconds timestamp against `now` within [`TIMESTAMP_TOLERANCE_SECS`].
pub fn fresh(unix_secs: &str, header: &'static str, now: Timestamp) -> Result<(), AuthError> {
    let secs: i64 = unix_secs
        .trim()
        .parse()
        .map_err(|_| AuthError::MalformedHeader(header))?;
    if (now.timestamp() - secs).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(AuthError::StaleTimestamp);
    }
    Ok(())
}

/// Compares a token from the URL with the connection's, in constant time.
pub fn url_token(given: Option<&str>, expected: Option<&str>) -> Result<(), AuthError> {
    match (given, expected) {
        (Some(g), Some(e)) if equal(g.as_bytes(), e.as_bytes()) => Ok(()),
        _ => Err(AuthError::BadUrlToken),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The HMAC key of a Standard Webhooks secret: the base64 part of `whsec_<base64>` (a secret
/// that is not base64 is taken as raw bytes, as the reference libraries do for old secrets).
pub fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(raw)
        .unwrap_or_else(|_| raw.as_bytes().to_vec())
}

/// The Standard Webhooks signature check, which Svix (Resend's webhooks) signs with under
/// `svix-*` header names: `signatures` holds `v1,<base64>` values, space-separated (several
/// during a secret rotation), each the HMAC-SHA256 of `{id}.{timestamp}.{body}` under
/// [`standard_webhooks_key`]; the timestamp (Unix seconds, header `timestamp_header`) must be
/// within [`TIMESTAMP_TOLERANCE_SECS`] of `now`.
/// Spec: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>.
pub fn standard_webhooks(
    secret: &str,
    (id, timestamp, signatures): (&str, &str, &str),
    timestamp_header: &'static str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), AuthError> {
    fresh(timestamp, timestamp_header, now)?;
    let expected = hmac_sha256(
        &standard_webhooks_key(secret),
        &[id.as_bytes(), b".", timestamp.trim().as_bytes(), b".", body],
    );
    let ok = signatures
        .split_whitespace()
        .any(|s| match s.split_once(',') {
            Some(("v1", sig)) => base64_matches(sig, &expected),
            _ => false,
        });
    ok.then_some(()).ok_or(AuthError::BadSignature)
}

/// [`standard_webhooks`] over a delivery whose id, timestamp and signatures are in the headers
/// named `[id, timestamp, signature]` (`webhook-*` for Formbricks, `svix-*` for Resend).
pub fn standard_webhooks_delivery(
    secret: &str,
    d: &Delivery,
    [id, timestamp, signature]: [&'static str; 3],
    now: Timestamp,
) -> Result<(), AuthError> {
    let need = |name: &'static str| d.header(name).ok_or(AuthError::MissingHeader(name));
    let headers = (need(id)?, need(timestamp)?, need(signature)?);
    standard_webhooks(secret, headers, timestamp, d.body, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn timestamps_at_and_past_the_tolerance() {
        let now = chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let at = |d: i64| (1_800_000_000 + d).to_string();
        assert!(fresh(&at(TIMESTAMP_TOLERANCE_SECS), "t", now).is_ok());
        assert!(fresh(&at(-TIMESTAMP_TOLERANCE_SECS), "t", now).is_ok());
        assert_eq!(
            fresh(&at(TIMESTAMP_TOLERANCE_SECS + 1), "t", now),
            Err(AuthError::StaleTimestamp)
        );
        assert_eq!(
            fresh(&at(-TIMESTAMP_TOLERANCE_SECS - 1), "t", now),
            Err(AuthError::StaleTimestamp)
        );
        assert_eq!(
            fresh("soon", "t", now),
            Err(AuthError::MalformedHeader("t"))
        );
    }

    #[test]
    fn standard_webhooks_match_the_reference_vector_and_take_any_rotated_signature() {
        // The example of the standard-webhooks reference libraries' tests (also Svix's).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let now = chrono::Utc.timestamp_opt(1_614_265_330, 0).unwrap();
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let check = |sigs: &str, ts: &str, body: &[u8]| {
            standard_webhooks(secret, (id, ts, sigs), "svix-timestamp", body, now)
        };
        assert_eq!(check(good, "1614265330", body), Ok(()));
        assert_eq!(
            check(&format!("v1,AAAA {good}"), "1614265330", body),
            Ok(())
        );
        assert_eq!(
            check(good, "1614265330", b"{}"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(&good.replace("v1,", "v2,"), "1614265330", body),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(good, "1614265100", body),
            Err(AuthError::BadSignature),
            "a signature binds its timestamp"
        );
        assert_eq!(
            check(good, "1614260000", body),
            Err(AuthError::StaleTimestamp)
        );
    }

    #[test]
    fn url_tokens_compare_exactly() {
        assert!(url_token(Some("abc"), Some("abc")).is_ok());
        assert!(url_token(Some("abd"), Some("abc")).is_err());
        assert!(url_token(None, Some("abc")).is_err());
        assert!(url_token(Some("abc"), None).is_err());
    }
}
