//! dispatch: the sender of every delivery, the directory of teams, and the outbox's tick.
//!
//! Internal routes (internal token):
//! - `POST /v1/internal/dispatch/deliveries` takes a fold's hand-over (the deliveries it
//!   leased to the request that folded, and the lease's token), answers 202, then attempts
//!   each under that lease.
//! - `POST /v1/internal/dispatch/tick` escalates unacknowledged cases, sends due digests and
//!   works through the outbox's due deliveries, and answers what it did.
//!
//! Admin routes (role admin): `GET /v1/admin/teams`, `GET|PUT|DELETE /v1/admin/teams/{id}`
//! (the directory) and `GET /v1/admin/deliveries[?status=..]` (the outbox).
//!
//! What people do from an alert: `POST /v1/slack/interactions` (Slack's buttons, signed by
//! Slack) and `GET|POST /v1/act/{token}` (one-click links in email and Teams).
//!
//! The outbox is `closeloop_workflow::outbox_tick`; channels, the admin views and the alert
//! actions are `closeloop_edge::{channels, directory, alert_actions}`.

use std::collections::BTreeMap;

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::problem::Problem;
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{alert_actions, directory, stage, workflow};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "dispatch";
/// The largest request body: a directory team with its members and templates.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, MAX_BODY_BYTES, route);
}

/// A fold's hand-over: the deliveries it leased to the request that folded, and the records
/// they are rendered from as the fold left them.
#[derive(serde::Deserialize)]
struct HandedOver {
    token: String,
    deliveries: Vec<String>,
    #[serde(default)]
    records: BTreeMap<String, Option<String>>,
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let tick = match req.segments().as_slice() {
        ["v1", "admin", rest @ ..] => return admin(req, rest, log).map(Handled::from),
        ["v1", "slack", "interactions"] => {
            return alert_actions::slack(req, &Kv::open()?, log, COMPONENT);
        }
        ["v1", "act", token] => {
            return alert_actions::one_click(req, &Kv::open()?, token, log, COMPONENT);
        }
        ["v1", "internal", "dispatch", "deliveries"] => false,
        ["v1", "internal", "dispatch", "tick"] => true,
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(if tick {
        "/v1/internal/dispatch/tick"
    } else {
        "/v1/internal/dispatch/deliveries"
    });
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_bearer(&stage::internal_token()?)?;
    let kv = Kv::open()?;
    if tick {
        let report = workflow::tick(&kv, COMPONENT)?;
        log.field("report", json!(report));
        return Ok(Reply::json(200, &report).into());
    }
    let handed: HandedOver = req.json()?;
    log.field("deliveries", handed.deliveries.len());
    Ok(Handled::then(
        Reply::json(202, &json!({"deliveries": handed.deliveries.len()})),
        move || {
            let (token, deliveries) = (&handed.token, &handed.deliveries);
            workflow::attempt_handed_over(&kv, COMPONENT, token, deliveries, handed.records);
        },
    ))
}

fn admin(req: &Incoming, rest: &[&str], log: &mut RequestLog) -> Result<Reply, Problem> {
    let mut kv = Kv::open()?;
    authenticate(req, &kv)?.require(Role::Admin, "the dispatch admin API")?;
    match (&req.method, rest) {
        (Method::Get, ["teams"]) => {
            log.route("/v1/admin/teams");
            directory::teams(&mut kv)
        }
        (Method::Get | Method::Put | Method::Delete, ["teams", id]) => {
            log.route("/v1/admin/teams/:id");
            log.field("team", *id);
            match req.method {
                Method::Get => directory::team(&kv, id),
                Method::Put => directory::put_team(&kv, id, req.json()?),
                _ => directory::delete_team(&kv, id),
            }
        }
        (Method::Get, ["deliveries"]) => {
            log.route("/v1/admin/deliveries");
            directory::deliveries(&mut kv, req.query_param("status"))
        }
        (_, ["teams"] | ["deliveries"]) => Err(http::method_not_allowed("GET")),
        (_, ["teams", _]) => Err(http::method_not_allowed("GET, PUT, DELETE")),
        _ => Err(http::not_found(&req.path)),
    }
}
