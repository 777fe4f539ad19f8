//! The admin API (role admin: a personal admin key or the bootstrap `admin_token`): the
//! directory and the outbox.
//!
//! - `GET /v1/admin/teams`, `GET /v1/admin/teams/{id}`: teams with every secret redacted.
//! - `PUT /v1/admin/teams/{id}`: a whole team (strict JSON, validated); 201 new, 200 replaced.
//! - `DELETE /v1/admin/teams/{id}`: 204.
//! - `GET /v1/admin/deliveries[?status=dead-lettered|pending|...]`: the outbox, newest first.

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::delivery::{Delivery, DeliveryStatus};
use closeloop_edge::domain::dispatch::directory::Team;
use closeloop_edge::domain::dispatch::store;
use closeloop_edge::domain::keys;
use closeloop_edge::domain::problem::{FieldError, Problem, ProblemKind};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use serde_json::json;
use spin_sdk::http::Method;

/// The most deliveries one listing returns.
pub const MAX_LISTED_DELIVERIES: usize = 500;

pub fn handle(req: &Incoming, rest: &[&str], log: &mut RequestLog) -> Result<Handled, Problem> {
    let kv = Kv::open()?;
    authenticate(req, &kv)?.require(Role::Admin, "the dispatch admin API")?;
    match (&req.method, rest) {
        (Method::Get, ["teams"]) => {
            log.route("/v1/admin/teams");
            let teams: Vec<_> = kv
                .records_with_prefix::<Team>(store::TEAM)?
                .iter()
                .map(Team::redacted)
                .collect();
            Ok(Reply::json(200, &json!({"teams": teams})).into())
        }
        (Method::Get, ["teams", id]) => {
            log.route("/v1/admin/teams/:id");
            let team = kv
                .get::<Team>(&store::team(id))?
                .ok_or_else(|| no_team(id))?;
            Ok(Reply::json(200, &team.redacted()).into())
        }
        (Method::Put, ["teams", id]) => {
            log.route("/v1/admin/teams/:id");
            log.field("team", *id);
            let team = req.json::<Team>()?.validate(id).map_err(Problem::invalid)?;
            let key = store::team(id);
            let existed = kv.exists(&key)?;
            kv.put(&key, &team)?;
            Ok(Reply::json(if existed { 200 } else { 201 }, &team.redacted()).into())
        }
        (Method::Delete, ["teams", id]) => {
            log.route("/v1/admin/teams/:id");
            log.field("team", *id);
            let key = store::team(id);
            if !kv.exists(&key)? {
                return Err(no_team(id));
            }
            kv.delete(&key)?;
            Ok(Reply::new(204, "text/plain", Vec::new()).into())
        }
        (Method::Get, ["deliveries"]) => {
            log.route("/v1/admin/deliveries");
            let status = match req.query_param("status") {
                None => None,
                Some(s) => Some(serde_json::from_value::<DeliveryStatus>(json!(s)).map_err(
                    |_| {
                        Problem::invalid(vec![FieldError::new(
                            "/query/status",
                            "use pending, delivered, dead-lettered, folded, digested or cancelled",
                        )])
                    },
                )?),
            };
            let mut all: Vec<Delivery> = kv.records_with_prefix::<Delivery>(keys::DELIVERY)?;
            all.retain(|d| status.is_none_or(|s| d.status == s));
            all.sort_by_key(|d| std::cmp::Reverse(d.created_at));
            let total = all.len();
            all.truncate(MAX_LISTED_DELIVERIES);
            Ok(Reply::json(200, &json!({"total": total, "deliveries": all})).into())
        }
        (_, ["teams"] | ["deliveries"]) => Err(http::method_not_allowed("GET")),
        (_, ["teams", _]) => Err(http::method_not_allowed("GET, PUT, DELETE")),
        _ => Err(http::not_found(&req.path)),
    }
}

fn no_team(id: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        format!("there is no team {id}; create it with PUT /v1/admin/teams/{id}"),
    )
}
