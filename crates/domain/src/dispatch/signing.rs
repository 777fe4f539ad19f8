//! Standard Webhooks signatures for the generic webhook channel.
//!
//! Spec: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>.
//! The sender adds `webhook-id` (the delivery id, stable across retries, so the receiver can
//! drop duplicates), `webhook-timestamp` (Unix seconds) and `webhook-signature`:
//! `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the key is the base64
//! part of a `whsec_` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest key accepted, in bytes (the spec recommends 24 to 64).
pub const MIN_KEY_BYTES: usize = 24;
/// The longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64;

/// A parsed signing secret.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`; the error says what is wrong without echoing the secret.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let b64 = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("a webhook secret starts with {SECRET_PREFIX}"))?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "the part after whsec_ must be base64".to_owned())?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(format!(
                "the key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes (got {})",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_implementation() {
        // The example of the standard-webhooks reference libraries' tests.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn refuses_malformed_secrets_without_echoing_them() {
        let e = WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err();
        assert!(!e.contains("MfKQ"), "{e}");
        assert!(WebhookSecret::parse("whsec_***").is_err());
        let at_min = STANDARD.encode([7u8; MIN_KEY_BYTES]);
        assert!(WebhookSecret::parse(&format!("whsec_{at_min}")).is_ok());
        let under = STANDARD.encode([7u8; MIN_KEY_BYTES - 1]);
        assert!(WebhookSecret::parse(&format!("whsec_{under}")).is_err());
        let at_max = STANDARD.encode([7u8; MAX_KEY_BYTES]);
        assert!(WebhookSecret::parse(&format!("whsec_{at_max}")).is_ok());
        let over = STANDARD.encode([7u8; MAX_KEY_BYTES + 1]);
        assert!(WebhookSecret::parse(&format!("whsec_{over}")).is_err());
    }
}
