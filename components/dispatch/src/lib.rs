//! dispatch: the outbox, the directory, and every channel an alert can take.
//!
//! Internal routes (internal token): `POST /v1/internal/dispatch/notices/{id}` plans a notice's
//! deliveries (one per recipient and channel, recorded before any is sent), answers, then
//! sends them; `POST /v1/internal/dispatch/tick` escalates unacknowledged cases, sends due
//! digests, plans any notice still pending and retries every delivery that is due. Each
//! attempt is claimed in the store first, so a tick racing a first send never sends twice,
//! and every outcome lands on the case's timeline.
//!
//! Admin routes (`admin_token`): the directory of teams and the outbox (see [`admin`]).
//!
//! The logic lives in `closeloop_domain::dispatch`; [`outbox`] drives the store and
//! [`channels`] turns a delivery into its provider's request.

mod admin;
mod channels;
mod outbox;

use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::{self, RequestLog};
use closeloop_edge::{clock, projection, stage};
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

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    let (route, notice_id) = match segments.as_slice() {
        ["v1", "admin", rest @ ..] => return admin::handle(req, rest, log),
        ["v1", "internal", "dispatch", "notices", id] => {
            ("/v1/internal/dispatch/notices/:id", Some((*id).to_owned()))
        }
        ["v1", "internal", "dispatch", "tick"] => ("/v1/internal/dispatch/tick", None),
        _ => return Err(http::not_found(&req.path)),
    };
    log.route(route);
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_bearer(&stage::internal_token()?)?;
    let kv = Kv::open()?;
    let now = clock::now();
    match notice_id {
        Some(id) => {
            log.field("notice_id", id.clone());
            let deliveries = outbox::plan_notice(&kv, &id, now)?
                .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no notice {id}")))?;
            let body = json!({"deliveries": deliveries});
            Ok(Handled::then(Reply::json(202, &body), move || {
                for id in &deliveries {
                    if let Err(e) = outbox::attempt(&kv, id, clock::now()) {
                        log::event(
                            COMPONENT,
                            "delivery attempt failed to record",
                            json!({"delivery_id": id, "error": e.to_string()}),
                        );
                    }
                }
                // A delivered alert changes the alert-latency metrics.
                projection::catch_up_logged(COMPONENT);
            }))
        }
        None => {
            let summary = outbox::tick(&kv, now)?;
            log.field("summary", summary.clone());
            Ok(Reply::json(200, &summary).into())
        }
    }
}
