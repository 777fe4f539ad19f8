//! The directory of teams and the outbox, as the admin API shows and changes them (dispatch
//! routes them; the caller has checked the admin role).
//!
//! Teams are configuration written whole by an admin, not state the fold owns: the fold only
//! reads them when it plans a notice, so a team is written here directly. Listings read every
//! key (Spin lists a store's keys all at once): admin only, never a workflow.

use closeloop_domain::delivery::{Delivery, DeliveryStatus};
use closeloop_domain::dispatch::directory::{Endpoint, Team};
use closeloop_domain::dispatch::store;
use closeloop_domain::keys;
use closeloop_domain::problem::{FieldError, Problem, ProblemKind};
use serde_json::json;

use crate::http::Reply;
use crate::kv::Kv;

/// The most deliveries one listing returns.
pub const MAX_LISTED_DELIVERIES: usize = 500;

/// Every team, with every secret redacted.
pub fn teams(kv: &mut Kv) -> Result<Reply, Problem> {
    let teams: Vec<_> = kv
        .records_with_prefix::<Team>(store::TEAM)?
        .iter()
        .map(Team::redacted)
        .collect();
    Ok(Reply::json(200, &json!({"teams": teams})))
}

/// Team `id`, redacted.
pub fn team(kv: &Kv, id: &str) -> Result<Reply, Problem> {
    let team = kv
        .get::<Team>(&store::team(id))?
        .ok_or_else(|| no_team(id))?;
    Ok(Reply::json(200, &team.redacted()))
}

/// Validates `team` and stores it as team `id`: 201 new, 200 replaced.
/// Saves a team whole. Its webhook endpoints are enabled again (one that answered 410 Gone
/// was disabled: saving the team is the admin saying it is back).
pub fn put_team(kv: &Kv, id: &str, team: Team) -> Result<Reply, Problem> {
    let team = team.validate(id).map_err(Problem::invalid)?;
    let key = store::team(id);
    let existed = kv.get::<Team>(&key)?.is_some();
    kv.put(&key, &team)?;
    let gone: Vec<String> = (team.endpoints.iter())
        .chain(team.members.iter().flat_map(|m| &m.endpoints))
        .filter_map(|e| match e {
            Endpoint::Webhook { url, .. } => Some(store::webhook_gone(url)),
            _ => None,
        })
        .collect();
    if !gone.is_empty() {
        kv.store().delete_many(&gone)?;
    }
    Ok(Reply::json(
        if existed { 200 } else { 201 },
        &team.redacted(),
    ))
}

pub fn delete_team(kv: &Kv, id: &str) -> Result<Reply, Problem> {
    let key = store::team(id);
    if kv.get::<Team>(&key)?.is_none() {
        return Err(no_team(id));
    }
    kv.delete(&key)?;
    Ok(Reply::new(204, "text/plain", Vec::new()))
}

/// The outbox, newest first, optionally only deliveries in `status`.
pub fn deliveries(kv: &mut Kv, status: Option<String>) -> Result<Reply, Problem> {
    let status = status
        .map(|s| {
            serde_json::from_value::<DeliveryStatus>(json!(s)).map_err(|_| {
                Problem::invalid(vec![FieldError::new(
                    "/query/status",
                    "use pending, delivered, dead-lettered, folded, digested or cancelled",
                )])
            })
        })
        .transpose()?;
    let mut all: Vec<Delivery> = kv.records_with_prefix::<Delivery>(keys::DELIVERY)?;
    all.retain(|d| status.is_none_or(|s| d.status == s));
    all.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let total = all.len();
    all.truncate(MAX_LISTED_DELIVERIES);
    Ok(Reply::json(
        200,
        &json!({"total": total, "deliveries": all}),
    ))
}

fn no_team(id: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        format!("there is no team {id}; create it with PUT /v1/admin/teams/{id}"),
    )
}
