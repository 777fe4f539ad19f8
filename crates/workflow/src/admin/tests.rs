//! Keys and the do-not-contact list, written directly.

use closeloop_domain::access::{self, ApiKey, Role};
use closeloop_domain::contact::{self, ContactKind, DncEntry};
use closeloop_domain::keys;

use super::{create_key, do_not_contact, list_keys, revoke_key};
use crate::fold::tests::t0;
use crate::memory::MemoryStore;
use crate::store::get_record;

fn key_keys(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(keys::API_KEY))
        .collect()
}

#[test]
fn a_key_is_shown_once_stored_as_its_hash_listed_and_revoked() {
    let store = MemoryStore::new();
    let created = create_key(
        &store,
        "k1".into(),
        ("Dana".into(), Role::Agent),
        [7; 32],
        "admin",
        t0(),
    )
    .unwrap();
    let secret = created["key"].as_str().unwrap();
    assert!(secret.starts_with("clk_"));
    assert_eq!(store.writes(), 1);
    let stored: ApiKey = get_record(&store, &keys::api_key(&access::hash_key(secret)))
        .unwrap()
        .unwrap();
    assert_eq!((stored.name.as_str(), stored.role), ("Dana", Role::Agent));
    let listed = list_keys(&store, &key_keys(&store)).unwrap();
    assert_eq!(listed["keys"][0]["name"], "Dana");
    let text = listed.to_string();
    assert!(!text.contains(&secret["clk_".len()..]) && !text.contains("hash"));

    assert_eq!(
        revoke_key(&store, &key_keys(&store), "nope", t0())
            .unwrap_err()
            .status(),
        404
    );
    let later = t0() + chrono::Duration::hours(1);
    let revoked = revoke_key(&store, &key_keys(&store), "k1", later).unwrap();
    assert!(revoked["revoked_at"].is_string());
    // Revoking again keeps the first time.
    revoke_key(
        &store,
        &key_keys(&store),
        "k1",
        later + chrono::Duration::hours(1),
    )
    .unwrap();
    let stored: ApiKey = get_record(&store, &keys::api_key(&stored.key_hash))
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(later));
}

#[test]
fn the_do_not_contact_list_holds_digests_and_keeps_its_first_entry() {
    let store = MemoryStore::new();
    let contact = || (ContactKind::Email, "Guest42@Example.com".to_owned());
    let key = keys::do_not_contact(&contact::dnc_digest(
        ContactKind::Email,
        "guest42@example.com",
    ));
    assert_eq!(
        do_not_contact(&store, contact(), true, "ada", t0()).unwrap()["do_not_contact"],
        true
    );
    do_not_contact(
        &store,
        contact(),
        true,
        "bo",
        t0() + chrono::Duration::hours(1),
    )
    .unwrap();
    let entry: DncEntry = get_record(&store, &key).unwrap().unwrap();
    assert_eq!((entry.added_by.as_str(), entry.added_at), ("ada", t0()));
    assert!(
        !String::from_utf8_lossy(&store.peek(&key).unwrap())
            .to_lowercase()
            .contains("guest42")
    );
    assert_eq!(
        do_not_contact(&store, contact(), false, "ada", t0()).unwrap()["do_not_contact"],
        false
    );
    assert!(store.peek(&key).is_none());
}
