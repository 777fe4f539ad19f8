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
    /// Followup (issue 8): the one reminder to a customer who has not answered.
    CustomerReminder,
    /// Followup (issue 8): tell the case's watchers it closed.
    CaseClosed,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaseOpened => "case-opened",
            Self::CaseReopened => "case-reopened",
            Self::CustomerFollowUp => "customer-follow-up",
            Self::CustomerReminder => "customer-reminder",
            Self::CaseClosed => "case-closed",
        }
    }

    /// Whether the notice goes to the team (alert channels) rather than the customer.
    pub fn is_alert(self) -> bool {
        !self.is_customer_message()
    }

    /// Whether the notice is a message to the customer (subject to the contact rules, and
    /// obsolete once the case no longer awaits the customer).
    pub fn is_customer_message(self) -> bool {
        matches!(self, Self::CustomerFollowUp | Self::CustomerReminder)
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
    /// Not to be delivered before this time (the customer's quiet hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
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
            not_before: None,
        }
    }

    pub fn case_opened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseOpened, 0, now, None)
    }

    /// The alert for the case's latest reopening.
    pub fn case_reopened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseReopened, case.reopen_count, now, None)
    }

    /// The one reminder for the case's latest resolution, with a fresh link.
    pub fn customer_reminder(case: &Case, link: String, now: Timestamp) -> Self {
        Self::new(
            case,
            NoticeKind::CustomerReminder,
            case.round,
            now,
            Some(link),
        )
    }

    /// Tells the watchers the case closed (a case closes once).
    pub fn case_closed(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseClosed, 0, now, None)
    }

    /// Holds the notice until `at` (quiet hours).
    pub fn hold_until(mut self, at: Option<Timestamp>) -> Self {
        self.not_before = at;
        self
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
