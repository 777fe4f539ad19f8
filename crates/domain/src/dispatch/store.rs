//! Dispatch's keys and records in the key-value store (same rules as [`crate::keys`]).
//!
//! - `team:{id}`: a directory team, written whole by the admin API.
//! - `digest:{target}:{delivery}`: an alert waiting in a recipient's digest; deleted once the
//!   digest notice that lists it is stored.
//! - `counter:fold:{digest}:{window}` and `counter:rate:{digest}:{window}`: atomic counters
//!   of identical alerts per fold window and of a person's alerts per hour (the digest names
//!   the alert or person, so keys stay short and carry no ids or personal data).
//! - `claim:digest:{target}:{day}`: the one digest of a recipient per local day.
//! - `claim:escalation:{notice}`: the one writer of an escalation notice.

use serde::{Deserialize, Serialize};

use super::directory::Team;
use crate::Timestamp;
use crate::delivery::Target;
use crate::envelope::Record;

pub const TEAM: &str = "team:";
pub const DIGEST: &str = "digest:";

impl Record for Team {
    const SCHEMA: &'static str = "team/1";
}

/// An alert waiting in a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub target: Target,
    pub case_id: String,
    pub delivery_id: String,
    pub added_at: Timestamp,
}

impl Record for DigestEntry {
    const SCHEMA: &'static str = "digest-entry/1";
}

pub fn team(id: &str) -> String {
    format!("{TEAM}{id}")
}

pub fn digest_entry(target: &Target, delivery_id: &str) -> String {
    format!("{DIGEST}{}:{delivery_id}", target.key())
}

/// The counter of identical alerts `digest` in fold window `window`.
pub fn fold_counter(digest: &str, window: i64) -> String {
    format!("counter:fold:{digest}:{window}")
}

/// The counter of a person's alerts (`digest` names them) in rate window `window`.
pub fn rate_counter(digest: &str, window: i64) -> String {
    format!("counter:rate:{digest}:{window}")
}

pub fn digest_claim(target: &Target, day: chrono::NaiveDate) -> String {
    format!("claim:digest:{}:{day}", target.key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_every_backend() {
        let id = "019ab1c2-d3e4-7f00-8000-000000000000";
        let long = "x".repeat(super::super::directory::MAX_ID_CHARS);
        let target = Target::Member {
            team: long.clone(),
            member: long,
        };
        let digest = crate::ids::digest(&["a/b?c#d"]);
        for key in [
            team(&"t".repeat(super::super::directory::MAX_ID_CHARS)),
            digest_entry(&target, id),
            fold_counter(&digest, i64::MIN),
            rate_counter(&digest, i64::MIN),
            digest_claim(&target, chrono::NaiveDate::MAX),
        ] {
            assert!(key.len() <= 255, "{key}");
            assert!(!key.contains(['/', '\\', '?', '#']), "{key}");
        }
    }
}
