//! `/v1/admin/connections`: create, list, read, rotate, re-map and delete source connections.
//!
//! For the admin role (a personal admin key or the bootstrap `admin_token`). Connections live in the key-value store, so a new one
//! takes its first webhook at once. Secrets go in and never come out: every answer is a
//! [`ConnectionView`](closeloop_edge::domain::sources::connection::ConnectionView), which
//! shows fingerprints only, and the log names the connection, never its settings.

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::keys;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::sources::Connection;
use closeloop_edge::domain::sources::connection::{
    ConnectionInput, MAX_ADMIN_BODY_BYTES, MappingInput, RotateInput, check_room,
};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, config};
use serde_json::json;
use spin_sdk::http::Method;

pub fn route(req: &Incoming, log: &mut RequestLog, rest: &[&str]) -> Result<Handled, Problem> {
    let route = match rest {
        [] => "/v1/admin/connections",
        [_] => "/v1/admin/connections/:id",
        [_, "rotate"] => "/v1/admin/connections/:id/rotate",
        [_, "mapping"] => "/v1/admin/connections/:id/mapping",
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    let kv = Kv::open()?;
    authenticate(req, &kv)?.require(Role::Admin, "the source connections API")?;
    if req.body.len() > MAX_ADMIN_BODY_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the body must be at most {MAX_ADMIN_BODY_BYTES} bytes"),
        ));
    }
    let base = config::public_base_url();
    let now = clock::now();
    let view = |status: u16, c: &Connection| -> Result<Handled, Problem> {
        Ok(Reply::json(status, &c.view(&base)).into())
    };
    match (rest, &req.method) {
        ([], Method::Get) => {
            let mut all: Vec<Connection> = kv.records_with_prefix(keys::CONNECTION)?;
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            let views: Vec<_> = all.iter().map(|c| c.view(&base)).collect();
            Ok(Reply::json(200, &json!({"connections": views})).into())
        }
        ([], Method::Post) => {
            let input: ConnectionInput = req.json()?;
            check_room(kv.keys_with_prefix(keys::CONNECTION)?.len())?;
            let c = input
                .validate(clock::new_id(now), now)
                .map_err(Problem::invalid)?;
            kv.put(&keys::connection(&c.id), &c)?;
            log.field("connection_id", c.id.clone());
            view(201, &c)
        }
        ([], _) => Err(http::method_not_allowed("GET, POST")),
        ([id], m) => {
            let c = load(&kv, id)?;
            log.field("connection_id", c.id.clone());
            match m {
                Method::Get => view(200, &c),
                Method::Delete => {
                    kv.delete(&keys::connection(&c.id))?;
                    Ok(Reply::new(204, "application/json", Vec::new()).into())
                }
                _ => Err(http::method_not_allowed("GET, DELETE")),
            }
        }
        ([id, "rotate"], Method::Post) => {
            let c = load(&kv, id)?;
            let input: RotateInput = req.json()?;
            let next = input.apply(&c, now).map_err(Problem::invalid)?;
            kv.put(&keys::connection(&next.id), &next)?;
            log.field("connection_id", next.id.clone());
            view(200, &next)
        }
        ([id, "mapping"], Method::Put) => {
            let mut c = load(&kv, id)?;
            let input: MappingInput = req.json()?;
            let mut errors = Vec::new();
            input.mapping.check(&mut errors);
            if !errors.is_empty() {
                return Err(Problem::invalid(errors));
            }
            c.mapping = input.mapping;
            c.updated_at = now;
            kv.put(&keys::connection(&c.id), &c)?;
            log.field("connection_id", c.id.clone());
            view(200, &c)
        }
        ([_, "rotate"], _) => Err(http::method_not_allowed("POST")),
        _ => Err(http::method_not_allowed("PUT")),
    }
}

fn load(kv: &Kv, id: &str) -> Result<Connection, Problem> {
    kv.get::<Connection>(&keys::connection(id))?.ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            format!("there is no source connection {id}"),
        )
    })
}
