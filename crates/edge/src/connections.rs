//! `/v1/admin/connections` (served by ingest): create, list, read, rotate, re-map and delete
//! source connections.
//!
//! For the admin role (a personal admin key or the bootstrap `admin_token`). Connections live
//! in the key-value store, written by this API alone (not by the fold: no workflow changes
//! them), so a new one takes its first webhook at once. Secrets go in and never come out:
//! every answer is a [`ConnectionView`](closeloop_domain::sources::connection::ConnectionView),
//! which shows fingerprints only, and the log names the connection, never its settings. What
//! a valid connection is, is the domain's (`closeloop_domain::sources::connection`).

use closeloop_domain::access::Role;
use closeloop_domain::keys;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::sources::Connection;
use closeloop_domain::sources::connection::{
    ConnectionInput, MAX_ADMIN_BODY_BYTES, MappingInput, RotateInput, check_room,
};
use serde_json::json;
use spin_sdk::http::Method;

use crate::access::authenticate;
use crate::http::{self, Handled, Incoming, Reply};
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{clock, config};

pub fn route(req: &Incoming, log: &mut RequestLog, rest: &[&str]) -> Result<Handled, Problem> {
    let route = match rest {
        [] => "/v1/admin/connections",
        [_] => "/v1/admin/connections/:id",
        [_, "rotate"] => "/v1/admin/connections/:id/rotate",
        [_, "mapping"] => "/v1/admin/connections/:id/mapping",
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    let mut kv = Kv::open()?;
    authenticate(req, &kv)?.require(Role::Admin, "the source connections API")?;
    req.require_body_at_most(MAX_ADMIN_BODY_BYTES)?;
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

/// `HEAD` or `GET` on a connection's webhook URL: the platforms' check that the URL answers
/// before they send to it (SurveyMonkey refuses to create a webhook unless `HEAD` answers
/// 200; Qualtrics expects `GET` to). 200 for a known connection, 404 otherwise; nothing is
/// read but the connection, nothing stored.
pub fn answer_check(req: &Incoming, id: &str) -> Result<Reply, Problem> {
    let kv = Kv::open()?;
    let c = load(&kv, id)?;
    Ok(match req.method {
        Method::Head => Reply::new(200, "application/json", Vec::new()),
        _ => Reply::json(
            200,
            &json!({"status": "ready", "platform": c.platform.as_str(), "send": "POST"}),
        ),
    })
}

/// The connection `id`: 404 when there is none.
pub fn load(kv: &Kv, id: &str) -> Result<Connection, Problem> {
    kv.get::<Connection>(&keys::connection(id))?.ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            format!("there is no source connection {id}; create one with the admin API"),
        )
    })
}
