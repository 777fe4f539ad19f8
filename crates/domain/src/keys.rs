//! The key layout in the key-value store: `kind:id[:part]`.
//!
//! Keys stay under 255 characters and avoid `/ \ ? #`, so they work on every Spin backend
//! (SQLite, Redis, DynamoDB, Cosmos); every key starts with its kind, so stores that share one
//! namespace across labels do not collide. Records are written by one writer per key where
//! possible; the few contended changes go through `claim:*` keys incremented atomically, whose
//! first incrementer wins.
//!
//! Work that a later stage or `tick` must pick up is marked with a `pending:*` key, written
//! before the next stage is called and deleted once that stage has written its result.

pub const FEEDBACK: &str = "feedback:";
pub const FEEDBACK_REF: &str = "feedback-ref:";
pub const CASE: &str = "case:";
pub const EVENT: &str = "event:";
pub const NOTICE: &str = "notice:";
pub const DELIVERY: &str = "delivery:";
pub const PENDING_TRIAGE: &str = "pending:triage:";
pub const PENDING_NOTICE: &str = "pending:notice:";
pub const PENDING_DELIVERY: &str = "pending:delivery:";
pub const API_KEY: &str = "apikey:";
pub const DO_NOT_CONTACT: &str = "dnc:";
pub const ERASURE: &str = "erasure:";

/// An API key record, under the SHA-256 of the key (`access::hash_key`).
pub fn api_key(key_hash: &str) -> String {
    format!("{API_KEY}{key_hash}")
}

/// A do-not-contact entry, under the digest of a normalised contact (`contact::dnc_digest`):
/// the list itself holds no email or phone number.
pub fn do_not_contact(digest: &str) -> String {
    format!("{DO_NOT_CONTACT}{digest}")
}

/// The anonymous record of one erasure.
pub fn erasure(id: &str) -> String {
    format!("{ERASURE}{id}")
}

/// Claimed by the one reminder a case's `round` may send.
pub fn reminder_claim(case_id: &str, round: u32) -> String {
    format!("claim:reminder:{case_id}:{round}")
}
pub const CONNECTION: &str = "connection:";
pub const SOURCE_EVENT: &str = "source-event:";

pub fn feedback(id: &str) -> String {
    format!("{FEEDBACK}{id}")
}

/// The idempotency key of (source, external id), holding the feedback id.
pub fn feedback_ref(digest: &str) -> String {
    format!("{FEEDBACK_REF}{digest}")
}

pub fn case(id: &str) -> String {
    format!("{CASE}{id}")
}

pub fn event(case_id: &str, event_id: &str) -> String {
    format!("{EVENT}{case_id}:{event_id}")
}

/// The counter numbering a case's events in its timeline.
pub fn timeline_count(case_id: &str) -> String {
    format!("timeline-count:{case_id}")
}

/// The `n`th entry of a case's timeline: the id of an event.
pub fn timeline_entry(case_id: &str, n: u64) -> String {
    format!("timeline:{case_id}:{n}")
}

pub fn notice(id: &str) -> String {
    format!("{NOTICE}{id}")
}

pub fn delivery(id: &str) -> String {
    format!("{DELIVERY}{id}")
}

pub fn pending_triage(feedback_id: &str) -> String {
    format!("{PENDING_TRIAGE}{feedback_id}")
}

pub fn pending_notice(notice_id: &str) -> String {
    format!("{PENDING_NOTICE}{notice_id}")
}

pub fn pending_delivery(delivery_id: &str) -> String {
    format!("{PENDING_DELIVERY}{delivery_id}")
}

/// A source connection (survey platform settings and secrets).
pub fn connection(id: &str) -> String {
    format!("{CONNECTION}{id}")
}

/// One platform event of one response: `response` and `event` are digests of the platform's
/// ids, which may hold any characters.
pub fn source_event(connection_id: &str, response: &str, event: &str) -> String {
    format!("{SOURCE_EVENT}{connection_id}:{response}:{event}")
}

/// The prefix of every event of one response.
pub fn source_events_of(connection_id: &str, response: &str) -> String {
    format!("{SOURCE_EVENT}{connection_id}:{response}:")
}

/// Claimed by whoever moves a case on from `version`.
pub fn case_claim(case_id: &str, version: u64) -> String {
    format!("claim:case:{case_id}:{version}")
}

/// Claimed by whoever makes attempt number `attempt` of a delivery.
pub fn delivery_claim(delivery_id: &str, attempt: u32) -> String {
    format!("claim:delivery:{delivery_id}:{attempt}")
}

/// Claimed by the one answer a confirmation link may carry.
pub fn link_claim(nonce: &str) -> String {
    format!("claim:link:{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_every_backend() {
        let id = "019ab1c2-d3e4-7f00-8000-000000000000";
        for key in [
            feedback(id),
            feedback_ref(&crate::ids::digest(&["a/b?c#d", "x\\y"])),
            case(id),
            event(id, id),
            timeline_count(id),
            timeline_entry(id, u64::MAX),
            notice(id),
            delivery(id),
            pending_triage(id),
            pending_notice(id),
            pending_delivery(id),
            case_claim(id, u64::MAX),
            delivery_claim(id, u32::MAX),
            link_claim(id),
            api_key(&crate::access::hash_key("clk_x")),
            do_not_contact(&crate::ids::digest(&["email", "a@b.c"])),
            erasure(id),
            reminder_claim(id, u32::MAX),
            connection(id),
            source_event(
                id,
                &crate::ids::digest(&["r/1"]),
                &crate::ids::digest(&["e?1"]),
            ),
        ] {
            assert!(key.len() <= 255, "{key}");
            assert!(!key.contains(['/', '\\', '?', '#']), "{key}");
        }
    }
}
