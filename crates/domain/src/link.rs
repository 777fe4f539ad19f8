//! The signed, expiring, single-use link a customer follows to confirm a fix.
//!
//! A token is `base64url(claims) "." base64url(HMAC-SHA256(key, "closeloop-link-v1." claims))`.
//! The signature makes the claims tamper-proof; `expires_at` bounds its life; the nonce is
//! remembered with the case when the customer answers, so a link cannot be used twice; and
//! the round ties it to one resolution of one case, so an old link dies when the case moves on.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Timestamp;

/// How long a confirmation link stays valid unless configured otherwise.
pub const DEFAULT_TTL_HOURS: i64 = 7 * 24;
/// The shortest signing key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;
/// The longest token looked at; anything longer is not ours.
pub const MAX_TOKEN_CHARS: usize = 1_024;
/// What a signed link carries: its claims, under a context of their own so that one kind of
/// link can never pass as another, with an expiry.
pub trait Claims: Serialize + serde::de::DeserializeOwned {
    const CONTEXT: &'static [u8];
    /// Unix seconds.
    fn expires_at(&self) -> i64;
}

impl Claims for LinkClaims {
    const CONTEXT: &'static [u8] = b"closeloop-link-v1.";
    fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub case_id: String,
    pub round: u32,
    /// Unix seconds.
    pub expires_at: i64,
    pub nonce: String,
}

impl LinkClaims {
    /// Claims for the link of a case's `round`-th resolution, valid for `ttl_hours` from `now`.
    pub fn new(case_id: &str, round: u32, now: Timestamp, ttl_hours: i64, nonce: String) -> Self {
        LinkClaims {
            case_id: case_id.to_owned(),
            round,
            expires_at: (now + chrono::Duration::hours(ttl_hours)).timestamp(),
            nonce,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid; please use the link from our message exactly as sent")]
    Malformed,
    #[error("this link is not valid; please use the link from our message exactly as sent")]
    BadSignature,
    #[error("this link has expired")]
    Expired,
}

/// A signing key, checked once.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl LinkKey {
    /// Refuses keys shorter than [`MIN_KEY_BYTES`]: a guessable key makes every link forgeable.
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= MIN_KEY_BYTES).then(|| Self(secret.as_bytes().to_vec()))
    }

    /// The HMAC-SHA256 of `payload` under this key in `context`: each meaning has its own
    /// context ([`Claims::CONTEXT`], the reply addresses' in `crate::reply::token`), so one
    /// secret signs them all without one ever passing for another.
    fn mac(&self, context: &[u8], payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(context);
        mac.update(payload);
        mac
    }

    /// The HMAC-SHA256 of `payload` in `context` ([`Self::mac`]).
    pub fn tag(&self, context: &[u8], payload: &[u8]) -> [u8; 32] {
        self.mac(context, payload).finalize().into_bytes().into()
    }

    /// Whether `tag` is the leftmost bytes of [`Self::tag`] of `payload` in `context`
    /// (compared in constant time); an empty tag never is.
    pub fn verify_truncated(&self, context: &[u8], payload: &[u8], tag: &[u8]) -> bool {
        self.mac(context, payload)
            .verify_truncated_left(tag)
            .is_ok()
    }

    pub fn sign<C: Claims>(&self, claims: &C) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let tag = URL_SAFE_NO_PAD.encode(
            self.mac(C::CONTEXT, payload.as_bytes())
                .finalize()
                .into_bytes(),
        );
        format!("{payload}.{tag}")
    }

    /// Checks the signature (in constant time) and the expiry at `now`.
    pub fn verify<C: Claims>(&self, token: &str, now: Timestamp) -> Result<C, LinkError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(LinkError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Malformed)?;
        self.mac(C::CONTEXT, payload.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        let claims: C = serde_json::from_slice(&bytes).map_err(|_| LinkError::Malformed)?;
        if now.timestamp() >= claims.expires_at() {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn claims() -> LinkClaims {
        LinkClaims::new("case-1", 1, now(), DEFAULT_TTL_HOURS, "n1".into())
    }

    fn key() -> LinkKey {
        LinkKey::new("0123456789abcdef-test").unwrap()
    }

    #[test]
    fn round_trips() {
        let token = key().sign(&claims());
        assert_eq!(key().verify::<LinkClaims>(&token, now()).unwrap(), claims());
        assert!(!token.contains('/') && !token.contains('+') && !token.contains('='));
    }

    #[test]
    fn refuses_tampering_other_keys_and_expiry() {
        let token = key().sign(&claims());
        let (payload, tag) = token.split_once('.').unwrap();
        let mut forged = claims();
        forged.case_id = "case-2".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            key().verify::<LinkClaims>(&format!("{forged_payload}.{tag}"), now()),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            key().verify::<LinkClaims>(&format!("{payload}.AAAA"), now()),
            Err(LinkError::BadSignature)
        );
        let other = LinkKey::new("another-key-of-16+bytes").unwrap();
        assert_eq!(
            other.verify::<LinkClaims>(&token, now()),
            Err(LinkError::BadSignature)
        );
        let later = now() + Duration::hours(DEFAULT_TTL_HOURS);
        assert_eq!(
            key().verify::<LinkClaims>(&token, later),
            Err(LinkError::Expired)
        );
        assert_eq!(
            key().verify::<LinkClaims>("garbage", now()),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            key().verify::<LinkClaims>(&"a.".repeat(600), now()),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn a_truncated_tag_verifies_by_its_leftmost_bytes_only() {
        let tag = key().tag(b"ctx.", b"payload");
        assert!(key().verify_truncated(b"ctx.", b"payload", &tag[..10]));
        assert!(key().verify_truncated(b"ctx.", b"payload", &tag));
        assert!(!key().verify_truncated(b"ctx.", b"payload", &tag[1..11]));
        assert!(!key().verify_truncated(b"other.", b"payload", &tag[..10]));
        assert!(!key().verify_truncated(b"ctx.", b"payload", &[]));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(LinkKey::new("short").is_none());
        assert!(LinkKey::new(&"k".repeat(MIN_KEY_BYTES)).is_some());
    }
}
