//! Who is calling the agent and admin APIs, shared by every component that serves them.

use closeloop_domain::access::{self, ApiKey, Principal, Role};
use closeloop_domain::auth;
use closeloop_domain::keys;
use closeloop_domain::problem::{Problem, ProblemKind};

use crate::config;
use crate::http::Incoming;
use crate::kv::Kv;

/// Who is calling: a personal key (looked up by its hash), the bootstrap `admin_token`, or the
/// shared `agent_token`.
pub fn authenticate(req: &Incoming, kv: &Kv) -> Result<Principal, Problem> {
    let unauthorized = |detail: &str| Problem::new(ProblemKind::Unauthorized, detail);
    let Some(token) = auth::bearer_token(req.header("authorization")) else {
        return Err(unauthorized(
            "send your API key as `Authorization: Bearer <key>`",
        ));
    };
    if access::looks_like_key(token) {
        return match kv.get::<ApiKey>(&keys::api_key(&access::hash_key(token)))? {
            Some(key) if key.revoked_at.is_none() => Ok(Principal {
                name: Some(key.name),
                role: key.role,
            }),
            Some(_) => Err(unauthorized(
                "this API key has been revoked; ask an admin for a new one",
            )),
            None => Err(unauthorized("the bearer token is not valid")),
        };
    }
    if config::optional("admin_token").is_some_and(|t| auth::secrets_match(token, &t)) {
        return Ok(Principal {
            name: Some("admin".into()),
            role: Role::Admin,
        });
    }
    if config::optional("agent_token").is_some_and(|t| auth::secrets_match(token, &t)) {
        return Ok(Principal {
            name: None,
            role: Role::Agent,
        });
    }
    Err(unauthorized("the bearer token is not valid"))
}
