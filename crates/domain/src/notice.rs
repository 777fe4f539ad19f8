//! Notices: something that must be told to someone, written before dispatch is called.
//!
//! A stage that needs an alert or a customer message stores a [`Notice`] and then calls
//! dispatch; dispatch turns it into one delivery per channel. Notice ids are derived from the
//! case and the occasion (the n-th reopening, the n-th resolution), so a stage that repeats
//! itself, or a tick that re-drives it, never creates a second notice for the same occasion.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::Case;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// Tell the owning team a case needs them.
    CaseOpened,
    /// Tell the owner the customer says the problem is not solved.
    CaseReopened,
    /// Ask the customer whether the problem is solved.
    CustomerFollowUp,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaseOpened => "case-opened",
            Self::CaseReopened => "case-reopened",
            Self::CustomerFollowUp => "customer-follow-up",
        }
    }

    /// Whether the notice goes to the team (alert channels) rather than the customer.
    pub fn is_alert(self) -> bool {
        !matches!(self, Self::CustomerFollowUp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub case_id: String,
    pub kind: NoticeKind,
    pub created_at: Timestamp,
    /// For a customer follow-up: the signed confirmation link.
    pub link: Option<String>,
}

impl Notice {
    fn new(
        case: &Case,
        kind: NoticeKind,
        occasion: u32,
        now: Timestamp,
        link: Option<String>,
    ) -> Self {
        Notice {
            id: crate::ids::derived(
                case.opened_at,
                &["notice", &case.id, kind.as_str(), &occasion.to_string()],
            )
            .to_string(),
            case_id: case.id.clone(),
            kind,
            created_at: now,
            link,
        }
    }

    pub fn case_opened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseOpened, 0, now, None)
    }

    /// The alert for the case's latest reopening.
    pub fn case_reopened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseReopened, case.reopen_count, now, None)
    }

    /// The customer message for the case's latest resolution.
    pub fn customer_follow_up(case: &Case, link: String, now: Timestamp) -> Self {
        Self::new(
            case,
            NoticeKind::CustomerFollowUp,
            case.round,
            now,
            Some(link),
        )
    }
}
