//! The key layout in the key-value store: `kind:id[:part]`.
//!
//! Keys stay under 255 characters and avoid `/ \ ? #`, so they work on every Spin backend
//! (SQLite, Redis, DynamoDB, Cosmos); every key starts with its kind, so stores that share one
//! namespace across labels do not collide. Feedback, cases, notices and deliveries are
//! written by the log's folds (closeloop-workflow), their only writer; a delivery's outcome
//! is written under its lease.

pub const FEEDBACK: &str = "feedback:";
pub const FEEDBACK_REF: &str = "feedback-ref:";
pub const CASE: &str = "case:";
pub const NOTICE: &str = "notice:";
pub const DELIVERY: &str = "delivery:";
pub const API_KEY: &str = "apikey:";
pub const DO_NOT_CONTACT: &str = "dnc:";
pub const ERASURE: &str = "erasure:";
pub const REPLY: &str = "reply:";
pub const SMS_ROUTE: &str = "reply-route:";

/// A recorded customer reply, under the digest of its provider and message id
/// (`crate::reply::record_key`).
pub fn reply(digest: &str) -> String {
    format!("{REPLY}{digest}")
}

/// Where an SMS from a phone number goes, under the digest of the number
/// (`crate::reply::sms_route_key`): the key holds no phone number.
pub fn sms_route(digest: &str) -> String {
    format!("{SMS_ROUTE}{digest}")
}

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

pub const CONNECTION: &str = "connection:";

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

pub fn notice(id: &str) -> String {
    format!("{NOTICE}{id}")
}

pub fn delivery(id: &str) -> String {
    format!("{DELIVERY}{id}")
}

/// A source connection (survey platform settings and secrets).
pub fn connection(id: &str) -> String {
    format!("{CONNECTION}{id}")
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
            notice(id),
            delivery(id),
            api_key(&crate::access::hash_key("clk_x")),
            do_not_contact(&crate::ids::digest(&["email", "a@b.c"])),
            erasure(id),
            connection(id),
            crate::reply::record_key(crate::reply::Provider::Twilio, &"S/M?#".repeat(40)),
            crate::reply::sms_route_key("+44 7700 900123"),
        ] {
            assert!(key.len() <= 255, "{key}");
            assert!(!key.contains(['/', '\\', '?', '#']), "{key}");
        }
    }
}
