//! A case's timeline, read without listing the store.
//!
//! Each event keeps its own key (`event:<case>:<id>`; ids are derived, so a repeated write
//! rewrites the same key). Appending also numbers the event in the case's timeline: an atomic
//! counter per case gives the number and `timeline:<case>:<n>` holds the event's id, written
//! before the event so that an event is never stored unlisted. Reading takes the counter, the
//! numbered ids and their events; an id listed twice (two writers racing) is read once, and a
//! number whose event was never written is skipped.

use closeloop_domain::api;
use closeloop_domain::case::CaseEvent;
use closeloop_domain::envelope::Ref;
use closeloop_domain::keys;

use crate::kv::{Kv, KvError};

/// Stores `event` and lists it in its case's timeline (once, however often it is stored).
pub fn append(kv: &Kv, event: &CaseEvent) -> Result<(), KvError> {
    let key = keys::event(&event.case_id, &event.id);
    if !kv.exists(&key)? {
        let n = kv.increment(&keys::timeline_count(&event.case_id))?;
        kv.put(
            &keys::timeline_entry(&event.case_id, n),
            &Ref {
                id: event.id.clone(),
            },
        )?;
    }
    kv.put(&key, event)
}

/// The store keys of a case's events, in the order they were appended.
pub fn event_keys(kv: &Kv, case_id: &str) -> Result<Vec<String>, KvError> {
    let count = kv.add(&keys::timeline_count(case_id), 0)?;
    let mut keys_seen: Vec<String> = Vec::new();
    for n in 1..=count {
        if let Some(entry) = kv.get::<Ref>(&keys::timeline_entry(case_id, n))? {
            let key = keys::event(case_id, &entry.id);
            if !keys_seen.contains(&key) {
                keys_seen.push(key);
            }
        }
    }
    Ok(keys_seen)
}

/// A case's events, oldest first.
pub fn read(kv: &Kv, case_id: &str) -> Result<Vec<CaseEvent>, KvError> {
    let mut events = Vec::new();
    for key in event_keys(kv, case_id)? {
        if let Some(event) = kv.get::<CaseEvent>(&key)? {
            events.push(event);
        }
    }
    api::sort_timeline(&mut events);
    Ok(events)
}
