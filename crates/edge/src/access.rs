//! Who is calling the agent and admin APIs, shared by every component that serves them, and
//! the console's sessions (`POST /v1/sessions`, `POST /v1/sessions/sign-out`).

use closeloop_domain::access::{self, ApiKey, Principal, Role};
use closeloop_domain::auth;
use closeloop_domain::keys;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::session::{self, Credential, Floor, Session};
use closeloop_workflow::store::decode;
use serde_json::json;
use spin_sdk::http::Method;

use crate::http::{self, Handled, Incoming, Reply};
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{clock, config};

fn unauthorized(detail: &str) -> Problem {
    Problem::new(ProblemKind::Unauthorized, detail)
}

/// Who is calling: a personal key (looked up by its hash), the bootstrap `admin_token`, the
/// shared `agent_token`, or a console session opened with one of them.
pub fn authenticate(req: &Incoming, kv: &Kv) -> Result<Principal, Problem> {
    let token = bearer(req)?;
    if session::looks_like_session(token) {
        return by_session(token, kv).map(|(principal, _)| principal);
    }
    by_credential(token, kv).map(|(principal, _)| principal)
}

fn bearer(req: &Incoming) -> Result<&str, Problem> {
    auth::bearer_token(req.header("authorization"))
        .ok_or_else(|| unauthorized("send your API key as `Authorization: Bearer <key>`"))
}

fn signing_key() -> Result<String, Problem> {
    config::required("link_signing_key")
}

fn key_principal(key: Option<ApiKey>) -> Result<Principal, Problem> {
    match key {
        Some(key) if key.revoked_at.is_none() => Ok(Principal {
            name: Some(key.name),
            role: key.role,
        }),
        Some(_) => Err(unauthorized(
            "this API key has been revoked; ask an admin for a new one",
        )),
        None => Err(unauthorized("the bearer token is not valid")),
    }
}

/// The shared credential a token is, by the variable it matches.
fn shared(token: &str) -> Option<(&'static str, Principal)> {
    let matches = |name| config::optional(name).is_some_and(|t| auth::secrets_match(token, &t));
    if matches("admin_token") {
        return Some((
            "admin",
            Principal {
                name: Some("admin".into()),
                role: Role::Admin,
            },
        ));
    }
    matches("agent_token").then_some((
        "agent",
        Principal {
            name: None,
            role: Role::Agent,
        },
    ))
}

/// A key or a shared token, and which credential it is (for opening a session).
fn by_credential(token: &str, kv: &Kv) -> Result<(Principal, Credential), Problem> {
    if access::looks_like_key(token) {
        let hash = access::hash_key(token);
        let principal = key_principal(kv.get::<ApiKey>(&keys::api_key(&hash))?)?;
        return Ok((principal, Credential::Key { hash }));
    }
    let (name, principal) =
        shared(token).ok_or_else(|| unauthorized("the bearer token is not valid"))?;
    let fingerprint = session::token_fingerprint(signing_key()?.as_bytes(), token);
    let name = name.to_owned();
    Ok((principal, Credential::Shared { name, fingerprint }))
}

/// A console session: signed, unexpired, its credential still valid, not signed out. One read
/// of the key record and the credential's sign-out floor together.
fn by_session(token: &str, kv: &Kv) -> Result<(Principal, Session), Problem> {
    let signing_key = signing_key()?;
    let session = session::verify(signing_key.as_bytes(), token, clock::now())
        .map_err(|refusal| unauthorized(refusal.detail()))?;
    let floor_key = session::floor_key(&session.credential);
    let ended = || unauthorized("the console session has ended; sign in again");
    let principal = match session.key_hash() {
        Some(hash) => {
            let key_key = keys::api_key(hash);
            let [key, floor] = two(kv, [key_key.clone(), floor_key.clone()])?;
            let key = key.map(|b| decode::<ApiKey>(&key_key, &b)).transpose()?;
            let floor = floor.map(|b| decode::<Floor>(&floor_key, &b)).transpose()?;
            if !session.outlives(floor.as_ref()) {
                return Err(ended());
            }
            key_principal(key)?
        }
        None => {
            let (name, fingerprint) = session.credential.split_once('-').ok_or_else(ended)?;
            let current = |variable: &str| {
                config::optional(variable)
                    .map(|t| session::token_fingerprint(signing_key.as_bytes(), &t))
            };
            let principal = Principal {
                name: (name == "admin").then(|| "admin".to_owned()),
                role: if name == "admin" {
                    Role::Admin
                } else {
                    Role::Agent
                },
            };
            let variable = format!("{name}_token");
            if !matches!(name, "admin" | "agent")
                || current(&variable).as_deref() != Some(fingerprint)
            {
                return Err(unauthorized(
                    "the token this session was opened with has changed; sign in again",
                ));
            }
            let floor = kv.get::<Floor>(&floor_key)?;
            if !session.outlives(floor.as_ref()) {
                return Err(ended());
            }
            principal
        }
    };
    Ok((principal, session))
}

fn two(kv: &Kv, keys: [String; 2]) -> Result<[Option<Vec<u8>>; 2], Problem> {
    let mut values = kv.store().get_many(&keys)?.into_iter();
    Ok([values.next().flatten(), values.next().flatten()])
}

/// `POST /v1/sessions` (with a key or shared token: a new console session) and
/// `POST /v1/sessions/sign-out` (with a session: ends every session of its credential).
pub fn sessions(
    req: &Incoming,
    kv: &Kv,
    rest: &[&str],
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    let route = match rest {
        [] => "/v1/sessions",
        ["sign-out"] => "/v1/sessions/sign-out",
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    let token = bearer(req)?;
    let now = clock::now();
    if rest.is_empty() {
        if session::looks_like_session(token) {
            return Err(unauthorized(
                "a session cannot open another; send your API key to sign in",
            ));
        }
        let (principal, credential) = by_credential(token, kv)?;
        log.field("role", principal.role.as_str());
        let floor = kv.get::<Floor>(&session::floor_key(&credential.id()))?;
        let key = signing_key()?;
        let (token, session) = session::issue(
            key.as_bytes(),
            &credential,
            now,
            floor.as_ref(),
            clock::entropy(),
        );
        let body = json!({
            "token": token,
            "expires_at": session.expires_at,
            "name": principal.name,
            "role": principal.role.as_str(),
        });
        return Ok(Reply::json(201, &body).into());
    }
    if !session::looks_like_session(token) {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            "sign-out ends a console session: send the session token, not a key",
        ));
    }
    let (_, session) = by_session(token, kv)?;
    let floor = Floor { signed_out_at: now };
    kv.put(&session::floor_key(&session.credential), &floor)?;
    Ok(Reply::new(204, "text/plain", Vec::new()).into())
}
