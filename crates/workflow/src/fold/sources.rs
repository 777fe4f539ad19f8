//! A survey platform's events about one response, folded into one feedback.
//!
//! Platforms send several events per response (Delighted: created, then updated with the
//! comment; AskNicely: one per change; Formbricks: created, then finished), redeliver them,
//! and may deliver them out of order or at the same moment. Every event of a response is kept
//! in one record, [`ResponseEvents`] (at most `sources::MAX_EVENTS_PER_RESPONSE`), recognised
//! by the platform's event id, and the feedback is the merge of all of them in the platform's
//! order (`closeloop_domain::sources::merge`): whatever order they come in, it ends the same.
//!
//! The first event makes the feedback as canonical feedback is made ([`arrival`]: stored,
//! triaged, its case opened and alerted); a later one updates it, and its case is triaged
//! again ([`retriage`]). Feedback sent canonically first (same source and external id) is the
//! base the events update. A redelivered event is a duplicate and changes nothing. The fold
//! is the only writer, so no racing delivery comes between "is this event new?" and
//! recording it.
//!
//! The record is keyed by the feedback's identity (source, response id) rather than by
//! connection: a response has one feedback whichever connection delivers its events.

use closeloop_domain::envelope::{Record, Ref};
use closeloop_domain::feedback::{self, Feedback};
use closeloop_domain::keys;
use closeloop_domain::sources::{self, SourceEvent};
use serde::{Deserialize, Serialize};

use super::{Folder, Verdict, arrival, retriage};
use crate::store::{Store, StoreError, get_record};

pub const RESPONSE: &str = "source-response:";

/// The record of the response `response_id` from `source`.
pub fn response_key(source: &str, response_id: &str) -> String {
    format!("{RESPONSE}{}", feedback::dedup_digest(source, response_id))
}

/// Every event of one response, and what they update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvents {
    pub feedback_id: String,
    /// The feedback as it was sent canonically before the response's first event, if it was.
    #[serde(default)]
    pub base: Option<Feedback>,
    pub events: Vec<SourceEvent>,
}

impl Record for ResponseEvents {
    const SCHEMA: &'static str = "source-response/1";
}

impl ResponseEvents {
    fn has(&self, connection_id: &str, event_id: &str) -> bool {
        self.events
            .iter()
            .any(|e| e.connection_id == connection_id && e.event_id == event_id)
    }
}

/// The feedback id of the response `response_id` from `source` when its event `event_id`
/// (through `connection_id`) is recorded already: a redelivery is answered from this one
/// read, with no command and no fetch from the platform's API.
pub fn recorded(
    store: &dyn Store,
    connection_id: &str,
    source: &str,
    response_id: &str,
    event_id: &str,
) -> Result<Option<String>, StoreError> {
    let record: Option<ResponseEvents> = get_record(store, &response_key(source, response_id))?;
    Ok(record
        .filter(|r| r.has(connection_id, event_id))
        .map(|r| r.feedback_id))
}

/// Records `event` and makes or updates its response's feedback.
pub fn receive(f: &mut Folder<'_, '_>, event: &SourceEvent) -> Result<Verdict, StoreError> {
    let (source, response_id) = (&event.feedback.source, &event.feedback.external_id);
    let key = response_key(source, response_id);
    let record: Option<ResponseEvents> = f.tx.get(&key)?;
    if let Some(r) = &record
        && r.has(&event.connection_id, &event.event_id)
    {
        return Ok(Verdict::Duplicate {
            feedback_id: r.feedback_id.clone(),
        });
    }
    let prior = record.as_ref().map_or(0, |r| r.events.len());
    if let Err(p) = sources::check_event_count(prior, response_id) {
        return Ok(Verdict::refused(p.kind, p.detail));
    }
    let mut record = match record {
        Some(r) => r,
        None => first_record(f, event)?,
    };
    let stored: Option<Feedback> = f.tx.get(&keys::feedback(&record.feedback_id))?;
    let mut event = event.clone();
    event.feedback.id.clone_from(&record.feedback_id);
    record.events.push(event);
    let mut merged =
        sources::merge(record.base.as_ref(), &record.events).expect("the record has an event");
    f.tx.put(key, &record);
    let Some(stored) = stored else {
        return arrival::arrive(f, &merged);
    };
    // The feedback keeps its identity: its case's id derives from when it was received.
    merged.received_at = stored.received_at;
    if merged != stored {
        f.tx.put(keys::feedback(&stored.id), &merged);
        retriage::retriage(f, &merged)?;
        f.touch(&stored.id);
    }
    Ok(Verdict::Updated {
        feedback_id: stored.id,
    })
}

/// The record of a response before its first event: when its feedback was sent canonically
/// first, that feedback is the base the events update.
fn first_record(f: &mut Folder<'_, '_>, event: &SourceEvent) -> Result<ResponseEvents, StoreError> {
    let fb = &event.feedback;
    let ref_key = keys::feedback_ref(&feedback::dedup_digest(&fb.source, &fb.external_id));
    let Some(existing) = f.tx.get::<Ref>(&ref_key)? else {
        return Ok(ResponseEvents {
            feedback_id: fb.id.clone(),
            base: None,
            events: Vec::new(),
        });
    };
    Ok(ResponseEvents {
        base: f.tx.get(&keys::feedback(&existing.id))?,
        feedback_id: existing.id,
        events: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
