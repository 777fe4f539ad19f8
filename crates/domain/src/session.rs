//! Console sessions: a token the app signs at sign-in, so a browser never holds an API key.
//!
//! The console used to keep the key itself in its cookie: a cookie that leaked was a key that
//! leaked, for ever. Now `POST /v1/sessions` (with the key) answers a session token,
//! `cls_<payload>.<signature>`: the payload names the credential (the SHA-256 of a personal
//! key, under which its record is stored; for the shared tokens an HMAC of the token, so a
//! changed token ends its sessions), a random session id, when it was issued and when it
//! expires; the signature is HMAC-SHA256 under `link_signing_key` with a purpose of its own.
//! Every API call with a session token checks the signature and the expiry, then reads the
//! credential as a key would be read: a revoked key ends its sessions at once.
//!
//! Signing out (`POST /v1/sessions/sign-out`) records, per credential, the time before which
//! sessions no longer count ([`Floor`]): it ends every console session of that credential, on
//! every browser, which is what a user who fears a cookie was copied wants. The floor is one
//! small record per credential, so the store never grows with sessions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Timestamp;
use crate::envelope::Record;

/// What every session token starts with (a key starts with `clk_`).
pub const PREFIX: &str = "cls_";
/// How long a session lasts from sign-in: a working day and some.
pub const LIFETIME: Duration = Duration::hours(12);
/// The longest token accepted (real ones are about 250 characters).
pub const MAX_TOKEN_CHARS: usize = 1024;
/// The HMAC purpose of session signatures, so no other signed value can pass as one.
const PURPOSE: &[u8] = b"closeloop-console-session/1:";

/// Which credential a session was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A personal key, by the SHA-256 its record is stored under.
    Key { hash: String },
    /// The `admin_token` or `agent_token` variable, by [`token_fingerprint`].
    Shared { name: String, fingerprint: String },
}

impl Credential {
    /// The credential's name in a session and in its [`Floor`]'s key.
    pub fn id(&self) -> String {
        match self {
            Self::Key { hash } => format!("key-{hash}"),
            Self::Shared { name, fingerprint } => format!("{name}-{fingerprint}"),
        }
    }

    /// The credential [`Credential::id`] names.
    pub fn parse(id: &str) -> Option<Self> {
        let (kind, rest) = id.split_once('-')?;
        Some(match kind {
            "key" => Self::Key {
                hash: rest.to_owned(),
            },
            name => Self::Shared {
                name: name.to_owned(),
                fingerprint: rest.to_owned(),
            },
        })
    }
}

/// What a session token says, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// [`Credential::id`].
    pub credential: String,
    /// Random, so two sign-ins never share a token (nor a CSRF token).
    pub id: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    /// Whether the session opened with `credential` still counts after a sign-out at `floor`.
    pub fn outlives(&self, floor: Option<&Floor>) -> bool {
        floor.is_none_or(|f| self.issued_at > f.signed_out_at)
    }
}

/// The last sign-out of a credential: sessions issued before it no longer count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    pub signed_out_at: Timestamp,
}

impl Record for Floor {
    const SCHEMA: &'static str = "session-floor/1";
}

/// The store key of a credential's [`Floor`].
pub fn floor_key(credential: &str) -> String {
    format!("session-floor:{credential}")
}

/// Why a session token does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Forged,
    Expired,
}

impl Refusal {
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Malformed | Self::Forged => {
                "the session token is not valid; sign in to the console again"
            }
            Self::Expired => "the console session has expired; sign in again",
        }
    }
}

/// Whether a bearer token is shaped like a session token.
pub fn looks_like_session(token: &str) -> bool {
    token.starts_with(PREFIX)
}

fn mac(signing_key: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key).expect("HMAC takes any key length");
    mac.update(PURPOSE);
    mac
}

/// Names a shared token without revealing it: an HMAC under the signing key, shortened.
pub fn token_fingerprint(signing_key: &[u8], token: &str) -> String {
    let mut mac = mac(signing_key);
    mac.update(b"shared-token:");
    mac.update(token.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// A new session for `credential`, and its token. It is issued after the credential's last
/// sign-out (`floor`) even when the clock has not moved past it, so a sign-in right after a
/// sign-out counts.
pub fn issue(
    signing_key: &[u8],
    credential: &Credential,
    now: Timestamp,
    floor: Option<&Floor>,
    entropy: [u8; 16],
) -> (String, Session) {
    let issued_at = floor.map_or(now, |f| {
        now.max(f.signed_out_at + Duration::milliseconds(1))
    });
    let session = Session {
        credential: credential.id(),
        id: hex::encode(entropy),
        issued_at,
        expires_at: issued_at + LIFETIME,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).expect("serializes"));
    let mut mac = mac(signing_key);
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    (format!("{PREFIX}{payload}.{signature}"), session)
}

/// The session a token carries, if its signature is good and it has not expired at `now`.
pub fn verify(signing_key: &[u8], token: &str, now: Timestamp) -> Result<Session, Refusal> {
    let body = token
        .strip_prefix(PREFIX)
        .filter(|_| token.len() <= MAX_TOKEN_CHARS)
        .ok_or(Refusal::Malformed)?;
    let (payload, signature) = body.split_once('.').ok_or(Refusal::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Malformed)?;
    let mut mac = mac(signing_key);
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| Refusal::Forged)?;
    let session: Session = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(Refusal::Malformed)?;
    if session.expires_at <= now {
        return Err(Refusal::Expired);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    const KEY: &[u8] = b"link-signing-key-for-tests-0123456789";

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
    }

    fn personal() -> Credential {
        Credential::Key {
            hash: crate::access::hash_key("clk_secret"),
        }
    }

    #[test]
    fn a_token_names_the_key_without_containing_it() {
        let (token, session) = issue(KEY, &personal(), t0(), None, [1; 16]);
        assert!(looks_like_session(&token) && token.len() < 400);
        assert!(!token.contains("clk_secret"));
        assert_eq!(verify(KEY, &token, t0()), Ok(session.clone()));
        assert_eq!(Credential::parse(&session.credential), Some(personal()));
        let shared = Credential::Shared {
            name: "agent".into(),
            fingerprint: "00ff".into(),
        };
        assert_eq!(Credential::parse(&shared.id()), Some(shared));
        assert_eq!(Credential::parse("nonsense"), None);
        let (again, _) = issue(KEY, &personal(), t0(), None, [2; 16]);
        assert_ne!(token, again, "every sign-in has a token of its own");
    }

    #[test]
    fn forged_altered_and_expired_tokens_are_refused() {
        let (token, _) = issue(KEY, &personal(), t0(), None, [1; 16]);
        assert_eq!(
            verify(b"another-signing-key-0123456789", &token, t0()),
            Err(Refusal::Forged)
        );
        // Another payload under the first signature: an admin's credential, say.
        let (other, _) = issue(
            KEY,
            &Credential::Shared {
                name: "admin".into(),
                fingerprint: "00".into(),
            },
            t0(),
            None,
            [1; 16],
        );
        let (payload, _) = other.split_once('.').unwrap();
        let (_, signature) = token.split_once('.').unwrap();
        assert_eq!(
            verify(KEY, &format!("{payload}.{signature}"), t0()),
            Err(Refusal::Forged)
        );
        for bad in ["cls_", "cls_abc", "clk_abc.def", "cls_a.%%%", ""] {
            assert_eq!(verify(KEY, bad, t0()), Err(Refusal::Malformed), "{bad}");
        }
        let just_before = t0() + LIFETIME - Duration::seconds(1);
        assert!(verify(KEY, &token, just_before).is_ok());
        assert_eq!(verify(KEY, &token, t0() + LIFETIME), Err(Refusal::Expired));
    }

    #[test]
    fn a_sign_out_ends_the_sessions_issued_before_it() {
        let (_, session) = issue(KEY, &personal(), t0(), None, [1; 16]);
        assert!(session.outlives(None));
        let floor = |at| Floor { signed_out_at: at };
        assert!(!session.outlives(Some(&floor(t0()))));
        assert!(!session.outlives(Some(&floor(t0() + Duration::hours(1)))));
        assert!(session.outlives(Some(&floor(t0() - Duration::milliseconds(1)))));
        // Signing in again at the very instant of the sign-out still opens a live session.
        let signed_out = floor(t0());
        let (_, again) = issue(KEY, &personal(), t0(), Some(&signed_out), [2; 16]);
        assert!(again.outlives(Some(&signed_out)));
        assert_eq!(again.expires_at - again.issued_at, LIFETIME);
        let (_, later) = issue(
            KEY,
            &personal(),
            t0() + LIFETIME,
            Some(&signed_out),
            [3; 16],
        );
        assert_eq!(later.issued_at, t0() + LIFETIME);
    }

    #[test]
    fn shared_tokens_are_named_by_a_keyed_fingerprint() {
        let a = token_fingerprint(KEY, "dev-agent-token");
        assert_eq!(a.len(), 32);
        assert_ne!(a, token_fingerprint(KEY, "dev-agent-token2"));
        assert_ne!(a, token_fingerprint(b"other-key", "dev-agent-token"));
        assert!(floor_key(&personal().id()).len() < 255);
    }
}
