//! Source connections: one per survey (or account) a team connects, stored in the key-value
//! store so that a new one works at once, without a redeploy.
//!
//! A connection holds its secrets as the platform needs them to verify (an HMAC key cannot be
//! hashed), but [`ConnectionView`], the only form the admin API answers with, carries none of
//! them: a short fingerprint lets an operator check which secret is in place.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Platform;
use super::response::Mapping;
use crate::Timestamp;
use crate::problem::FieldError;

/// The shortest secret accepted (signing secrets and URL tokens).
pub const MIN_SECRET_CHARS: usize = 16;
/// The longest secret accepted.
pub const MAX_SECRET_CHARS: usize = 512;
/// The longest connection name.
pub const MAX_NAME_CHARS: usize = 100;
/// The largest admin API body.
pub const MAX_ADMIN_BODY_BYTES: usize = 32 * 1024;
/// The most connections one store holds (the list is read in one go).
pub const MAX_CONNECTIONS: usize = 500;

/// Credentials for fetching a response from the platform's API (SurveyMonkey, Qualtrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAccess {
    /// `https://api.surveymonkey.com`, `https://<datacenter>.qualtrics.com`; the host must be
    /// allowed by the ingest component's `allowed_outbound_hosts`.
    pub base_url: String,
    /// SurveyMonkey access token, Qualtrics API token.
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub platform: Platform,
    pub name: String,
    /// The `source` of the feedback it produces.
    pub source: String,
    /// The platform's signing secret (Typeform, Tally, Formbricks `whsec_...`, SurveyMonkey
    /// client secret, the Google Forms script's key).
    pub signing_secret: Option<String>,
    /// SurveyMonkey's client id (API key), which signs together with the client secret.
    pub api_key: Option<String>,
    /// The token in the webhook URL, for platforms that do not sign.
    pub url_token: Option<String>,
    pub api: Option<ApiAccess>,
    pub mapping: Mapping,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /v1/admin/connections`: strict, every secret supplied by the admin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    pub platform: Option<String>,
    pub name: Option<String>,
    pub source: Option<String>,
    pub signing_secret: Option<String>,
    pub api_key: Option<String>,
    pub url_token: Option<String>,
    pub api: Option<ApiInput>,
    pub mapping: Option<Mapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiInput {
    pub base_url: Option<String>,
    pub token: Option<String>,
}

/// `POST /v1/admin/connections/{id}/rotate`: new secrets replace old ones; a field left out
/// keeps its secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    pub signing_secret: Option<String>,
    pub api_key: Option<String>,
    pub url_token: Option<String>,
    pub api_token: Option<String>,
}

/// `PATCH`-like update of the mapping: `PUT /v1/admin/connections/{id}/mapping`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    pub mapping: Mapping,
}

/// A connection as the admin API shows it: no secret, only fingerprints.
#[derive(Debug, Serialize)]
pub struct ConnectionView<'a> {
    pub id: &'a str,
    pub platform: Platform,
    pub name: &'a str,
    pub source: &'a str,
    /// Where the platform must post; `{url_token}` stands for the token you chose.
    pub webhook_url: String,
    pub signing_secret: Option<String>,
    pub url_token: Option<String>,
    pub api_base_url: Option<&'a str>,
    pub api_token: Option<String>,
    pub mapping: &'a Mapping,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// "set, fingerprint 1a2b3c4d": enough to tell secrets apart, useless to an attacker.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("set, fingerprint {}", hex::encode(&digest[..4]))
}

impl Connection {
    pub fn view(&self, public_base_url: &str) -> ConnectionView<'_> {
        let token_part = if self.platform.signs() && self.url_token.is_none() {
            String::new()
        } else {
            "/{url_token}".to_owned()
        };
        ConnectionView {
            id: &self.id,
            platform: self.platform,
            name: &self.name,
            source: &self.source,
            webhook_url: format!("{public_base_url}/v1/sources/{}{token_part}", self.id),
            signing_secret: self.signing_secret.as_deref().map(fingerprint),
            url_token: self.url_token.as_deref().map(fingerprint),
            api_base_url: self.api.as_ref().map(|a| a.base_url.as_str()),
            api_token: self.api.as_ref().map(|a| fingerprint(&a.token)),
            mapping: &self.mapping,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Checks that the platform has what it needs (after create or rotate).
    fn check_complete(&self, errors: &mut Vec<FieldError>) {
        let p = self.platform;
        if p.signs() && self.signing_secret.is_none() {
            errors.push(FieldError::new(
                "/signing_secret",
                format!("is required: {} signs its webhooks with it", p.title()),
            ));
        }
        if !p.signs() && self.url_token.is_none() {
            errors.push(FieldError::new(
                "/url_token",
                format!(
                    "is required: {} does not sign its webhooks, so the URL carries a secret \
                     token (at least {MIN_SECRET_CHARS} characters, e.g. `openssl rand -hex 24`)",
                    p.title()
                ),
            ));
        }
        if p == Platform::Surveymonkey && self.api_key.is_none() {
            errors.push(FieldError::new(
                "/api_key",
                "is required: SurveyMonkey signs with your app's client id (API key) and secret",
            ));
        }
        if p.fetches() && self.api.is_none() {
            errors.push(FieldError::new(
                "/api",
                format!(
                    "is required: {} webhooks carry only ids, so closeloop fetches the response \
                     with `{{\"base_url\", \"token\"}}`",
                    p.title()
                ),
            ));
        }
    }
}

/// Refuses a new connection when `existing` already reach [`MAX_CONNECTIONS`].
pub fn check_room(existing: usize) -> Result<(), crate::problem::Problem> {
    if existing >= MAX_CONNECTIONS {
        return Err(crate::problem::Problem::new(
            crate::problem::ProblemKind::Conflict,
            format!("there are already {MAX_CONNECTIONS} connections; delete unused ones first"),
        ));
    }
    Ok(())
}

fn secret(errors: &mut Vec<FieldError>, pointer: &str, v: Option<String>) -> Option<String> {
    let v = v?;
    let n = v.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&n)
        || v.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        errors.push(FieldError::new(
            pointer,
            format!("must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters without spaces"),
        ));
        return None;
    }
    if pointer == "/url_token"
        && !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
    {
        errors.push(FieldError::new(
            pointer,
            "must use only letters, digits, '-', '_', '.' or '~' (it goes into a URL path)",
        ));
        return None;
    }
    Some(v)
}

fn base_url(errors: &mut Vec<FieldError>, v: Option<String>) -> Option<String> {
    match v.map(|u| u.trim().trim_end_matches('/').to_owned()) {
        Some(u)
            if (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 200
                && !u.contains(['?', '#', ' ']) =>
        {
            Some(u)
        }
        Some(_) => {
            errors.push(FieldError::new(
                "/api/base_url",
                "must be an http(s) URL without query, e.g. https://api.surveymonkey.com",
            ));
            None
        }
        None => None,
    }
}

impl ConnectionInput {
    /// A new connection with id `id` at `now`.
    pub fn validate(self, id: String, now: Timestamp) -> Result<Connection, Vec<FieldError>> {
        let mut errors = Vec::new();
        let names = Platform::ALL.map(Platform::as_str).join(", ");
        let platform = match self.platform.as_deref() {
            None => {
                errors.push(FieldError::new(
                    "/platform",
                    format!("is required (one of {names})"),
                ));
                None
            }
            Some(p) => Platform::parse(p).or_else(|| {
                errors.push(FieldError::new(
                    "/platform",
                    format!("`{p}` is not supported; use one of {names}"),
                ));
                None
            }),
        };
        let name = match self.name.map(|n| n.trim().to_owned()) {
            Some(n)
                if !n.is_empty()
                    && n.chars().count() <= MAX_NAME_CHARS
                    && !n.chars().any(char::is_control) =>
            {
                Some(n)
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "/name",
                    format!("must be 1 to {MAX_NAME_CHARS} printable characters"),
                ));
                None
            }
            None => platform.map(|p| p.title().to_owned()),
        };
        let source = match self.source {
            Some(s) => {
                let ok = !s.is_empty()
                    && s.len() <= crate::feedback::MAX_SOURCE_CHARS
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !ok {
                    errors.push(FieldError::new(
                        "/source",
                        "use lowercase letters, digits, '-', '_' or '.' (e.g. \"typeform-nps\")",
                    ));
                }
                Some(s)
            }
            None => platform.map(|p| p.as_str().to_owned()),
        };
        let signing_secret = secret(&mut errors, "/signing_secret", self.signing_secret);
        let url_token = secret(&mut errors, "/url_token", self.url_token);
        let api_key = match self.api_key.map(|k| k.trim().to_owned()) {
            Some(k) if !k.is_empty() && k.len() <= MAX_SECRET_CHARS => Some(k),
            Some(_) => {
                errors.push(FieldError::new("/api_key", "must not be empty"));
                None
            }
            None => None,
        };
        let api = match self.api {
            None => None,
            Some(a) => {
                let token = secret(&mut errors, "/api/token", a.token);
                let base = base_url(&mut errors, a.base_url).or_else(|| {
                    platform
                        .and_then(Platform::default_api_base)
                        .map(str::to_owned)
                });
                match (base, token) {
                    (Some(base_url), Some(token)) => Some(ApiAccess { base_url, token }),
                    (None, _) => {
                        errors.push(FieldError::new(
                            "/api/base_url",
                            "is required (e.g. https://ca1.qualtrics.com for your datacenter)",
                        ));
                        None
                    }
                    (_, None) => {
                        errors.push(FieldError::new("/api/token", "is required"));
                        None
                    }
                }
            }
        };
        let mapping = self.mapping.unwrap_or_default();
        mapping.check(&mut errors);
        let (Some(platform), Some(name), Some(source)) = (platform, name, source) else {
            return Err(errors);
        };
        let connection = Connection {
            id,
            platform,
            name,
            source,
            signing_secret,
            api_key,
            url_token,
            api,
            mapping,
            created_at: now,
            updated_at: now,
        };
        if errors.is_empty() {
            connection.check_complete(&mut errors);
        }
        if errors.is_empty() {
            Ok(connection)
        } else {
            Err(errors)
        }
    }
}

impl RotateInput {
    /// `connection` with the new secrets.
    pub fn apply(
        self,
        connection: &Connection,
        now: Timestamp,
    ) -> Result<Connection, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.signing_secret.is_none()
            && self.url_token.is_none()
            && self.api_key.is_none()
            && self.api_token.is_none()
        {
            errors.push(FieldError::new(
                "/",
                "send at least one of signing_secret, url_token, api_key, api_token",
            ));
        }
        let mut next = connection.clone();
        if let Some(s) = secret(&mut errors, "/signing_secret", self.signing_secret) {
            next.signing_secret = Some(s);
        }
        if let Some(s) = secret(&mut errors, "/url_token", self.url_token) {
            next.url_token = Some(s);
        }
        if let Some(k) = self
            .api_key
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
        {
            next.api_key = Some(k);
        }
        if let Some(t) = secret(&mut errors, "/api_token", self.api_token) {
            match &mut next.api {
                Some(api) => api.token = t,
                None => errors.push(FieldError::new(
                    "/api_token",
                    "this connection has no API access to rotate",
                )),
            }
        }
        next.updated_at = now;
        if errors.is_empty() {
            next.check_complete(&mut errors);
        }
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
    }

    fn create(v: serde_json::Value) -> Result<Connection, Vec<FieldError>> {
        serde_json::from_value::<ConnectionInput>(v)
            .unwrap()
            .validate("c1".into(), now())
    }

    fn pointers(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|e| e.pointer).collect()
    }

    #[test]
    fn each_platform_needs_its_credentials() {
        let e = create(json!({"platform": "typeform"})).unwrap_err();
        assert_eq!(pointers(e), ["/signing_secret"]);
        let e = create(json!({"platform": "jotform"})).unwrap_err();
        assert_eq!(pointers(e), ["/url_token"]);
        let e = create(json!({"platform": "surveymonkey", "signing_secret": "s".repeat(16)}))
            .unwrap_err();
        assert_eq!(pointers(e), ["/api_key", "/api"]);
        let c = create(json!({"platform": "qualtrics", "url_token": "t".repeat(16),
            "api": {"base_url": "https://ca1.qualtrics.com/", "token": "k".repeat(20)}}))
        .unwrap();
        assert_eq!(c.api.unwrap().base_url, "https://ca1.qualtrics.com");
        assert_eq!(c.source, "qualtrics");
    }

    #[test]
    fn secrets_at_and_past_the_limits() {
        let ok = |s: String| create(json!({"platform": "tally", "signing_secret": s})).is_ok();
        assert!(ok("a".repeat(MIN_SECRET_CHARS)));
        assert!(!ok("a".repeat(MIN_SECRET_CHARS - 1)));
        assert!(ok("a".repeat(MAX_SECRET_CHARS)));
        assert!(!ok("a".repeat(MAX_SECRET_CHARS + 1)));
        let e = create(json!({"platform": "delighted", "url_token": "a/b?c#d-0123456789"}))
            .unwrap_err();
        assert_eq!(pointers(e), ["/url_token"]);
    }

    #[test]
    fn the_view_never_shows_a_secret() {
        let c = create(
            json!({"platform": "surveymonkey", "signing_secret": "sm-secret-0123456789",
            "api_key": "client-id", "api": {"token": "sm-access-token-0123"}}),
        )
        .unwrap();
        let shown = serde_json::to_string(&c.view("http://x")).unwrap();
        for secret in ["sm-secret-0123456789", "sm-access-token-0123"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("fingerprint"), "{shown}");
        assert!(shown.contains("https://api.surveymonkey.com"), "{shown}");
        assert_eq!(c.view("http://x").webhook_url, "http://x/v1/sources/c1");
    }

    #[test]
    fn connections_at_and_past_the_limit() {
        assert!(check_room(MAX_CONNECTIONS - 1).is_ok());
        assert_eq!(check_room(MAX_CONNECTIONS).unwrap_err().status(), 409);
    }

    #[test]
    fn rotation_replaces_only_what_is_sent() {
        let c = create(json!({"platform": "typeform", "signing_secret": "old-secret-0123456789"}))
            .unwrap();
        let r: RotateInput =
            serde_json::from_value(json!({"signing_secret": "new-secret-0123456789"})).unwrap();
        let next = r.apply(&c, now()).unwrap();
        assert_eq!(
            next.signing_secret.as_deref(),
            Some("new-secret-0123456789")
        );
        let empty: RotateInput = serde_json::from_value(json!({})).unwrap();
        assert!(empty.apply(&c, now()).is_err());
    }
}
