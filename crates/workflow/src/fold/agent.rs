//! An agent's work on a case: the lifecycle's actions (`POST /v1/cases/{id}/{action}`) and
//! notes, each a command the fold applies in ticket order.
//!
//! Two agents acting on one case at the same moment are two commands: the first in ticket
//! order changes the case, the second finds the changed case and is refused with the
//! transition's reason (409) if its action no longer applies. Notes change no state, so
//! every note is kept. Nothing is claimed, so nothing is left behind by a crash.
//!
//! [`command`] turns a request body into the command (strict inputs, the key holder's name
//! as the actor); [`precheck`] answers a request that cannot apply (no such case, a state
//! that forbids the action) from one read, without taking a ticket, so a refused change
//! writes nothing. The fold checks again: the precheck only saves the write.

use closeloop_domain::access::{Principal, Role};
use closeloop_domain::api::{
    AcknowledgeInput, AssignInput, CloseInput, NoteInput, OutreachInput, ResolveInput, WatchInput,
};
use closeloop_domain::case::{Action, Case, EventKind};
use closeloop_domain::keys;
use closeloop_domain::problem::{self, FieldError, Problem, ProblemKind};
use serde::de::DeserializeOwned;

use super::change::{self, not_found};
use super::notices::record;
use super::{Command, Folder, Verdict};
use crate::store::{Store, StoreError, get_record};

/// The routes of an agent's actions on a case, by the path's last segment.
pub const ROUTES: [(&str, &str); 7] = [
    ("assign", "/v1/cases/:id/assign"),
    ("acknowledge", "/v1/cases/:id/acknowledge"),
    ("outreach", "/v1/cases/:id/outreach"),
    ("notes", "/v1/cases/:id/notes"),
    ("resolve", "/v1/cases/:id/resolve"),
    ("close", "/v1/cases/:id/close"),
    ("watchers", "/v1/cases/:id/watchers"),
];

/// The route pattern of action `name`, if it is one.
pub fn route(name: &str) -> Option<&'static str> {
    ROUTES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| problem::from_json_error(&e))
}

/// The command for action `name` on case `case_id` from its JSON body, acted by `principal`
/// (a personal key acts under its holder's name). `event_id` names a note's event.
pub fn command(
    case_id: &str,
    name: &str,
    body: &[u8],
    principal: &Principal,
    event_id: String,
) -> Result<Command, Problem> {
    let invalid = |e: Vec<FieldError>| Problem::invalid(e);
    let action = match name {
        "assign" => {
            principal.require(Role::TeamLead, "assigning a case")?;
            parse::<AssignInput>(body)?.into_action()
        }
        "acknowledge" => parse::<AcknowledgeInput>(body)?.into_action(),
        "outreach" => parse::<OutreachInput>(body)?.into_action(),
        "resolve" => parse::<ResolveInput>(body)?.into_action(),
        "close" => parse::<CloseInput>(body)?.into_action(),
        "watchers" => parse::<WatchInput>(body)?.into_action(),
        "notes" => {
            let (by, text, kind) = parse::<NoteInput>(body)?.validate().map_err(invalid)?;
            return Ok(Command::CaseNote {
                case_id: case_id.to_owned(),
                by: principal.actor(by),
                text,
                kind,
                event_id,
            });
        }
        other => {
            return Err(Problem::new(
                ProblemKind::NotFound,
                format!("a case has no action {other}"),
            ));
        }
    }
    .map_err(invalid)?;
    Ok(Command::CaseAction {
        case_id: case_id.to_owned(),
        action: principal.attribute(action),
    })
}

/// The refusal a command would get as the store stands, from one read (`None`: submit it).
pub fn precheck(
    store: &dyn Store,
    command: &Command,
    now: closeloop_domain::Timestamp,
) -> Result<Option<Verdict>, StoreError> {
    let (case_id, action) = match command {
        Command::CaseAction { case_id, action } => (case_id, Some(action)),
        Command::CaseNote { case_id, .. } => (case_id, None),
        _ => return Ok(None),
    };
    let Some(case) = get_record::<Case, _>(store, &keys::case(case_id))? else {
        return Ok(Some(not_found(case_id)));
    };
    Ok(action.and_then(|a| {
        let e = case.apply(a.clone(), String::new(), now).err()?;
        Some(Verdict::refused(
            ProblemKind::InvalidTransition,
            e.to_string(),
        ))
    }))
}

/// `CaseAction`: an agent's action, applied if the case's state allows it.
pub fn act(f: &mut Folder<'_, '_>, case_id: &str, action: &Action) -> Result<Verdict, StoreError> {
    if action.clone().actor_mut().is_none() {
        return Ok(Verdict::refused(
            ProblemKind::InvalidRequest,
            format!("an agent cannot {} a case", action.name()),
        ));
    }
    let Some((case, mut file)) = change::load(f, case_id)? else {
        return Ok(not_found(case_id));
    };
    Ok(match change::apply(f, &case, &mut file, action.clone())? {
        Ok(next) => {
            change::save(f, &file);
            Verdict::CaseChanged {
                case: Box::new(next),
            }
        }
        Err(refused) => refused,
    })
}

/// `CaseNote`: a note, or more feedback the customer gave, on the case's timeline.
pub fn note(
    f: &mut Folder<'_, '_>,
    case_id: &str,
    by: &str,
    text: &str,
    kind: EventKind,
    event_id: &str,
) -> Result<Verdict, StoreError> {
    if !matches!(kind, EventKind::Note | EventKind::CustomerFeedback) {
        return Ok(Verdict::refused(
            ProblemKind::InvalidRequest,
            format!("a note cannot be a {} event", kind.as_str()),
        ));
    }
    let Some((case, mut file)) = change::load(f, case_id)? else {
        return Ok(not_found(case_id));
    };
    let event = case.remark(kind, by, text, event_id.to_owned(), f.now);
    record(f, &mut file, event.clone());
    change::save(f, &file);
    Ok(Verdict::Noted {
        event: Box::new(event),
    })
}

#[cfg(test)]
pub(crate) mod tests;
