//! Dispatch's keys and records in the key-value store (same rules as [`crate::keys`]).
//!
//! - `team:{id}`: a directory team, written whole by the admin API.
//! - `webhook-gone:{sha256 of the URL}`: a webhook endpoint that answered `410 Gone`, disabled
//!   (Standard Webhooks: "the sender should disable the endpoint"); saving the endpoint's team
//!   again enables it. One small record per endpoint, never per message.
//!
//! The rest of the outbox's state (digest queues, fatigue windows, the schedule) is the
//! fold's, in `closeloop_workflow::fold::records`.

use serde::{Deserialize, Serialize};

use super::directory::Team;
use crate::Timestamp;
use crate::delivery::Target;
use crate::envelope::Record;

pub const TEAM: &str = "team:";

impl Record for Team {
    const SCHEMA: &'static str = "team/1";
}

/// An alert waiting in a recipient's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub target: Target,
    pub case_id: String,
    pub delivery_id: String,
    pub added_at: Timestamp,
}

pub fn team(id: &str) -> String {
    format!("{TEAM}{id}")
}

pub const WEBHOOK_GONE: &str = "webhook-gone:";

/// A webhook endpoint disabled by its `410 Gone`: nothing more is sent to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoneEndpoint {
    pub since: Timestamp,
    /// The delivery that heard the 410.
    pub delivery_id: String,
}

impl Record for GoneEndpoint {
    const SCHEMA: &'static str = "webhook-gone/1";
}

impl GoneEndpoint {
    /// Why a delivery to the endpoint is not sent (no URL: it may hold a token).
    pub fn reason(&self) -> String {
        format!(
            "the webhook endpoint answered 410 Gone at {} and is disabled; saving its team in the directory again enables it",
            self.since.format("%Y-%m-%d %H:%M UTC")
        )
    }
}

/// The key of the disabled mark of the webhook at `url` (by digest: URLs may hold tokens).
pub fn webhook_gone(url: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{WEBHOOK_GONE}{}",
        hex::encode(Sha256::digest(url.as_bytes()))
    )
}

/// The key of the directory team `target` belongs to, if it is a team or one of its people.
pub fn target_team(target: &Target) -> Option<String> {
    match target {
        Target::Team { team: id } | Target::Member { team: id, .. } => Some(team(id)),
        _ => None,
    }
}

/// The key of the directory team `case` belongs to: routing's team, else triage's.
pub fn case_team(case: &crate::case::Case) -> String {
    let routed = &case.triage.routing.team;
    team(if routed.is_empty() {
        &case.triage.team
    } else {
        routed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_every_backend() {
        let long = "x".repeat(super::super::directory::MAX_ID_CHARS);
        let target = Target::Member {
            team: long.clone(),
            member: long.clone(),
        };
        for key in [team(&long), target_team(&target).unwrap()] {
            assert!(key.len() <= 255, "{key}");
            assert!(!key.contains(['/', '\\', '?', '#']), "{key}");
        }
        assert_eq!(target_team(&Target::Configured), None);
    }
}
