//! Who may call the agent and admin APIs: API keys per person, each with a role.
//!
//! A key is 32 random bytes (`clk_` + base64url), shown once when it is created; the store
//! keeps only its SHA-256 (`keys::api_key(hash)`), so a leaked store or log reveals no key.
//! A key of that entropy needs no slow hash: nobody can guess it from its digest. Looking a
//! key up by its digest also makes the comparison independent of how much of a guess matched.
//!
//! Two shared credentials from variables remain: `admin_token` (the bootstrap admin, who
//! creates the first keys) and `agent_token` (a shared agent credential for teams that have
//! not issued personal keys). Roles are ordered: an admin may do what a team lead may, a team
//! lead what an agent may.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::problem::{FieldError, Problem, ProblemKind};

/// What every key starts with, so a leaked key is recognisable (secret scanners) .
pub const KEY_PREFIX: &str = "clk_";
/// Random bytes in a key.
pub const KEY_BYTES: usize = 32;
/// The longest key holder name.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Works cases: reads, acknowledges, logs outreach, notes, resolves, closes.
    Agent,
    /// Also assigns and reassigns cases.
    TeamLead,
    /// Also manages keys, the do-not-contact list, and customers' data (export, erasure).
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::TeamLead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::TeamLead => "team-lead",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    /// The person holding it; recorded as the actor of everything done with it.
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub revoked_at: Option<Timestamp>,
}

/// A new key: the secret to show once, and the record to store.
pub fn issue(
    id: String,
    name: String,
    role: Role,
    entropy: [u8; KEY_BYTES],
    created_by: &str,
    now: Timestamp,
) -> (String, ApiKey) {
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(entropy));
    let record = ApiKey {
        id,
        name,
        role,
        key_hash: hash_key(&secret),
        created_at: now,
        created_by: created_by.to_owned(),
        revoked_at: None,
    };
    (secret, record)
}

/// The digest a key is stored and looked up under.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a bearer token is shaped like a personal key (and so is looked up in the store).
pub fn looks_like_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key holder's name; `None` for the shared agent token, whose callers name themselves
    /// in `by`.
    pub name: Option<String>,
    pub role: Role,
}

impl Principal {
    /// 403 unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), Problem> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(Problem::new(
                ProblemKind::Forbidden,
                format!(
                    "{what} needs the {} role; this credential has the {} role",
                    needed.as_str(),
                    self.role.as_str()
                ),
            ))
        }
    }

    /// Records the key holder as the actor of `action` (a personal key cannot act as someone
    /// else); the shared token's callers keep the `by` they gave.
    pub fn attribute(&self, mut action: crate::case::Action) -> crate::case::Action {
        if let (Some(name), Some(by)) = (&self.name, action.actor_mut()) {
            *by = name.clone();
        }
        action
    }

    /// The actor recorded for an action: the key holder, or whoever the shared token's caller
    /// says they are.
    pub fn actor(&self, by: String) -> String {
        self.name.clone().unwrap_or(by)
    }
}

/// `POST /v1/admin/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyInput {
    pub name: Option<String>,
    pub role: Option<String>,
}

impl NewKeyInput {
    pub fn validate(self) -> Result<(String, Role), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.map(|n| n.trim().to_owned()).unwrap_or_default();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "/name",
                format!(
                    "is required: the key holder's name, 1 to {MAX_NAME_CHARS} printable characters"
                ),
            ));
        }
        let roles = Role::ALL.map(Role::as_str).join(", ");
        let role = match self.role.as_deref().map(str::trim) {
            Some(r) => Role::parse(r).or_else(|| {
                errors.push(FieldError::new(
                    "/role",
                    format!("`{r}` is not a role; use one of {roles}"),
                ));
                None
            }),
            None => {
                errors.push(FieldError::new(
                    "/role",
                    format!("is required (one of {roles})"),
                ));
                None
            }
        };
        match role {
            Some(role) if errors.is_empty() => Ok((name, role)),
            _ => Err(errors),
        }
    }
}

/// A key as listed: never its hash.
#[derive(Debug, Serialize)]
pub struct KeyView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub created_at: Timestamp,
    pub created_by: &'a str,
    pub revoked_at: Option<Timestamp>,
}

impl<'a> From<&'a ApiKey> for KeyView<'a> {
    fn from(k: &'a ApiKey) -> Self {
        KeyView {
            id: &k.id,
            name: &k.name,
            role: k.role,
            created_at: k.created_at,
            created_by: &k.created_by,
            revoked_at: k.revoked_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn issued_keys_are_stored_only_as_their_hash() {
        let (secret, record) = issue(
            "k1".into(),
            "Dana".into(),
            Role::Agent,
            [7; KEY_BYTES],
            "admin",
            t0(),
        );
        assert!(looks_like_key(&secret));
        assert_eq!(secret.len(), KEY_PREFIX.len() + 43);
        let stored = serde_json::to_string(&record).unwrap();
        assert!(!stored.contains(&secret[KEY_PREFIX.len()..]));
        assert_eq!(record.key_hash, hash_key(&secret));
        assert_ne!(hash_key(&secret), hash_key(&format!("{secret}x")));
        assert!(
            !serde_json::to_string(&KeyView::from(&record))
                .unwrap()
                .contains("hash")
        );
    }

    #[test]
    fn roles_are_ordered() {
        let lead = Principal {
            name: Some("Lee".into()),
            role: Role::TeamLead,
        };
        assert!(lead.require(Role::Agent, "x").is_ok());
        assert!(lead.require(Role::TeamLead, "x").is_ok());
        let p = lead.require(Role::Admin, "managing keys").unwrap_err();
        assert_eq!(p.status(), 403);
        assert_eq!(
            p.detail,
            "managing keys needs the admin role; this credential has the team-lead role"
        );
        assert_eq!(lead.actor("someone else".into()), "Lee");
        let shared = Principal {
            name: None,
            role: Role::Agent,
        };
        assert_eq!(shared.actor("Dana".into()), "Dana");
    }

    #[test]
    fn new_keys_need_a_name_and_a_known_role() {
        let parse =
            |v: serde_json::Value| serde_json::from_value::<NewKeyInput>(v).unwrap().validate();
        assert_eq!(
            parse(json!({"name": "Dana", "role": "team-lead"})).unwrap(),
            ("Dana".to_owned(), Role::TeamLead)
        );
        let errs = parse(json!({"role": "boss"})).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[1].detail.contains("agent, team-lead, admin"));
        assert!(parse(json!({"name": "a".repeat(MAX_NAME_CHARS), "role": "agent"})).is_ok());
        assert!(parse(json!({"name": "a".repeat(MAX_NAME_CHARS + 1), "role": "agent"})).is_err());
        assert!(serde_json::from_value::<NewKeyInput>(json!({"name": "x", "key": "y"})).is_err());
    }
}
