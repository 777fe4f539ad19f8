//! When tick must look at a delivery again: the outbox's schedule.
//!
//! A delivery is scheduled when it is planned (at once for an alert, at the end of the quiet
//! hours for a held one). Tick reads the schedule's due seconds ([`due`]), attempts what is
//! due and free of leases, and the fold reschedules or drops each delivery it saw
//! ([`super::reconcile`]). So tick never lists the store and reads only what is due.
//!
//! The schedule is a sorted list of the seconds that hold deliveries (`outbox:slots`) and, per
//! second, the deliveries to look at then. The seconds share [`SLOT_RING`] keys
//! (`outbox:due:<second mod SLOT_RING>`, each holding the lists of its seconds): a fold never
//! deletes, so one key per second would leave an empty record behind for every second that
//! ever held a delivery; the ring keeps the schedule at a bounded number of keys.

use std::collections::BTreeMap;

use closeloop_domain::Timestamp;
use closeloop_domain::envelope::Record;
use serde::{Deserialize, Serialize};

use super::Folder;
use super::reconcile::Seen;
use crate::store::{Store, StoreError, decode, get_record};

pub const SLOTS_KEY: &str = "outbox:slots";
/// How many keys the seconds of the schedule share (an hour's worth: the seconds of one key
/// are usually an hour or more apart, so a key holds one list or a few).
pub const SLOT_RING: i64 = 3_600;

/// The key holding the deliveries of `second`.
pub fn slot(second: i64) -> String {
    format!("outbox:due:{}", second.rem_euclid(SLOT_RING))
}

/// The deliveries to look at, per second, of the seconds that share one key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub due: BTreeMap<i64, Vec<String>>,
}

impl Record for Slot {
    const SCHEMA: &'static str = "outbox-slot/2";
}

/// The seconds that hold deliveries, ascending.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slots {
    pub seconds: Vec<i64>,
}

impl Record for Slots {
    const SCHEMA: &'static str = "outbox-slots/1";
}

/// Puts delivery `id` on the schedule at `at`.
pub fn schedule(f: &mut Folder<'_, '_>, id: &str, at: Timestamp) -> Result<(), StoreError> {
    let second = at.timestamp();
    let key = slot(second);
    let mut slot: Slot = f.tx.get(&key)?.unwrap_or_default();
    let ids = slot.due.entry(second).or_default();
    if !ids.iter().any(|d| d == id) {
        ids.push(id.to_owned());
        f.tx.put(key, &slot);
    }
    let mut slots: Slots = f.tx.get(SLOTS_KEY)?.unwrap_or_default();
    if let Err(i) = slots.seconds.binary_search(&second) {
        slots.seconds.insert(i, second);
        f.tx.put(SLOTS_KEY, &slots);
    }
    Ok(())
}

/// Takes delivery `id` off the schedule at `second` (nothing if it is not there).
pub fn unschedule(f: &mut Folder<'_, '_>, id: &str, second: i64) -> Result<(), StoreError> {
    let key = slot(second);
    let mut slot: Slot = f.tx.get(&key)?.unwrap_or_default();
    let Some(ids) = slot.due.get_mut(&second) else {
        return Ok(());
    };
    let before = ids.len();
    ids.retain(|d| d != id);
    if ids.len() == before {
        return Ok(());
    }
    if ids.is_empty() {
        slot.due.remove(&second);
        let mut slots: Slots = f.tx.get(SLOTS_KEY)?.unwrap_or_default();
        slots.seconds.retain(|s| *s != second);
        f.tx.put(SLOTS_KEY, &slots);
    }
    f.tx.put(key, &slot);
    Ok(())
}

/// The deliveries due at `now`, earliest first, at most `limit` (tick's read, outside the
/// fold): two reads whatever the schedule holds, none of them a listing.
pub fn due(store: &dyn Store, now: Timestamp, limit: usize) -> Result<Vec<Seen>, StoreError> {
    let slots: Slots = get_record(store, SLOTS_KEY)?.unwrap_or_default();
    let seconds: Vec<i64> = slots
        .seconds
        .into_iter()
        .take_while(|s| *s <= now.timestamp())
        .take(limit)
        .collect();
    let mut keys: Vec<String> = seconds.iter().map(|s| slot(*s)).collect();
    keys.sort();
    keys.dedup();
    let mut slots = BTreeMap::new();
    for (key, value) in keys.iter().zip(store.get_many(&keys)?) {
        if let Some(bytes) = value {
            slots.insert(key.clone(), decode::<Slot>(key, &bytes)?);
        }
    }
    let mut due = Vec::new();
    for second in seconds {
        let ids = slots
            .get(&slot(second))
            .and_then(|s| s.due.get(&second))
            .into_iter()
            .flatten();
        for id in ids {
            if due.len() == limit {
                return Ok(due);
            }
            due.push(Seen {
                id: id.clone(),
                at: Some(second),
            });
        }
    }
    Ok(due)
}
