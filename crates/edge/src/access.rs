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

/// The shared credentials: the variable holding each token, and who presents it.
const SHARED: [&str; 2] = ["admin", "agent"];

/// Who presents shared credential `name` (`admin_token`: the bootstrap admin; `agent_token`:
/// agents who name themselves in `by`).
fn shared_principal(name: &str) -> Option<Principal> {
    match name {
        "admin" => Some(Principal {
            name: Some("admin".into()),
            role: Role::Admin,
        }),
        "agent" => Some(Principal {
            name: None,
            role: Role::Agent,
        }),
        _ => None,
    }
}

/// The shared credential a token is, by the variable it matches.
fn shared(token: &str) -> Option<&'static str> {
    SHARED.into_iter().find(|name| {
        config::optional(&format!("{name}_token")).is_some_and(|t| auth::secrets_match(token, &t))
    })
}

/// A key or a shared token, as presented.
enum Presented {
    Key { hash: String },
    Shared(&'static str),
}

/// Who a key or a shared token is.
fn by_credential(token: &str, kv: &Kv) -> Result<(Principal, Presented), Problem> {
    if access::looks_like_key(token) {
        let hash = access::hash_key(token);
        let principal = key_principal(kv.get::<ApiKey>(&keys::api_key(&hash))?)?;
        return Ok((principal, Presented::Key { hash }));
    }
    let name = shared(token).ok_or_else(|| unauthorized("the bearer token is not valid"))?;
    let principal = shared_principal(name).expect("a shared credential");
    Ok((principal, Presented::Shared(name)))
}

/// A console session: signed, unexpired, its credential still valid, not signed out. One read
/// of the key record and the credential's sign-out floor together.
fn by_session(token: &str, kv: &Kv) -> Result<(Principal, Session), Problem> {
    let signing_key = signing_key()?;
    let session = session::verify(signing_key.as_bytes(), token, clock::now())
        .map_err(|refusal| unauthorized(refusal.detail()))?;
    let floor_key = session::floor_key(&session.credential);
    let ended = || unauthorized("the console session has ended; sign in again");
    let principal = match Credential::parse(&session.credential).ok_or_else(ended)? {
        Credential::Key { hash } => {
            let key_key = keys::api_key(&hash);
            let [key, floor] = two(kv, [key_key.clone(), floor_key.clone()])?;
            let key = key.map(|b| decode::<ApiKey>(&key_key, &b)).transpose()?;
            let floor = floor.map(|b| decode::<Floor>(&floor_key, &b)).transpose()?;
            if !session.outlives(floor.as_ref()) {
                return Err(ended());
            }
            key_principal(key)?
        }
        Credential::Shared { name, fingerprint } => {
            // The token may have changed since: its sessions end with it.
            let current = config::optional(&format!("{name}_token"))
                .map(|t| session::token_fingerprint(signing_key.as_bytes(), &t));
            let principal = shared_principal(&name)
                .filter(|_| current.as_deref() == Some(fingerprint.as_str()))
                .ok_or_else(|| {
                    unauthorized(
                        "the token this session was opened with has changed; sign in again",
                    )
                })?;
            if !session.outlives(kv.get::<Floor>(&floor_key)?.as_ref()) {
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
        let (principal, presented) = by_credential(token, kv)?;
        let key = signing_key()?;
        let credential = match presented {
            Presented::Key { hash } => Credential::Key { hash },
            Presented::Shared(name) => Credential::Shared {
                name: name.to_owned(),
                fingerprint: session::token_fingerprint(key.as_bytes(), token),
            },
        };
        log.field("role", principal.role.as_str());
        let floor = kv.get::<Floor>(&session::floor_key(&credential.id()))?;
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
