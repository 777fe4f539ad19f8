//! API keys and the do-not-contact list: admin settings, written directly, not through the
//! log. Neither is the loop's state: the fold only reads the list (contact rules), and a key
//! is read by whoever authenticates. Each write is one record with one writer at a time (an
//! admin), so there is nothing to order.
//!
//! Listing keys needs the `apikey:` keys, which only an admin route may list (Spin lists
//! every key at once): callers pass them in.

use closeloop_domain::Timestamp;
use closeloop_domain::access::{self, ApiKey, KEY_BYTES, KeyView, Role};
use closeloop_domain::contact::{self, ContactKind, DncEntry};
use closeloop_domain::envelope;
use closeloop_domain::keys;
use closeloop_domain::problem::{Problem, ProblemKind};
use serde_json::{Value, json};

use crate::reads::records;
use crate::store::{Store, StoreError, get_record};

/// Creates a key for `name` with `role`: the answer shows the key once.
pub fn create_key(
    store: &dyn Store,
    id: String,
    (name, role): (String, Role),
    entropy: [u8; KEY_BYTES],
    by: &str,
    now: Timestamp,
) -> Result<Value, StoreError> {
    let (secret, record) = access::issue(id, name, role, entropy, by, now);
    store.set_many(&[(keys::api_key(&record.key_hash), envelope::encode(&record))])?;
    let mut body = serde_json::to_value(KeyView::from(&record)).expect("a key view serializes");
    body["key"] = json!(secret);
    body["note"] = json!("store this key now: it is shown only once");
    Ok(body)
}

/// The keys stored at `key_keys`, oldest first (never a key or its hash).
pub fn list_keys(store: &dyn Store, key_keys: &[String]) -> Result<Value, StoreError> {
    let mut all: Vec<ApiKey> = records(store, key_keys)?.into_iter().flatten().collect();
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let views: Vec<KeyView> = all.iter().map(KeyView::from).collect();
    Ok(json!({ "keys": views }))
}

/// Revokes key `id` (kept, for the audit); 404 if none of `key_keys` holds it.
pub fn revoke_key(
    store: &dyn Store,
    key_keys: &[String],
    id: &str,
    now: Timestamp,
) -> Result<Value, Problem> {
    let found = key_keys
        .iter()
        .zip(records::<ApiKey>(store, key_keys)?)
        .find_map(|(k, key)| key.filter(|key| key.id == id).map(|key| (k, key)));
    let Some((store_key, mut key)) = found else {
        return Err(Problem::new(
            ProblemKind::NotFound,
            format!("there is no API key {id}"),
        ));
    };
    key.revoked_at.get_or_insert(now);
    store.set_many(&[(store_key.clone(), envelope::encode(&key))])?;
    Ok(serde_json::to_value(KeyView::from(&key)).expect("a key view serializes"))
}

/// Puts the contact on the do-not-contact list (`listed`) or takes it off. The list holds
/// digests only; listing an already listed contact keeps its first entry.
pub fn do_not_contact(
    store: &dyn Store,
    (kind, value): (ContactKind, String),
    listed: bool,
    by: &str,
    now: Timestamp,
) -> Result<Value, StoreError> {
    let key = keys::do_not_contact(&contact::dnc_digest(kind, &value));
    if !listed {
        store.delete_many(&[key])?;
    } else if get_record::<DncEntry, _>(store, &key)?.is_none() {
        let entry = DncEntry {
            added_at: now,
            added_by: by.to_owned(),
        };
        store.set_many(&[(key, envelope::encode(&entry))])?;
    }
    Ok(json!({ "do_not_contact": listed }))
}

#[cfg(test)]
mod tests;
