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
    /// Tell the next level (team lead, then manager) a case is past its first-response due
    /// time without acknowledgement.
    Escalation,
    /// A person's collected alerts (passives, or alerts past their hourly limit).
    Digest,
    /// Tell operations that a delivery was given up (dead-lettered).
    DeliveryFailed,
    /// Followup (issue 8): the one reminder to a customer who has not answered.
    CustomerReminder,
    /// Followup (issue 8): tell the case's watchers it closed.
    CaseClosed,
    /// Tell the owner the customer replied to a follow-up in their own words (by email or
    /// SMS): someone should read it.
    CustomerReplied,
    /// Tell PagerDuty the incident the case's alert triggered is acknowledged (someone took
    /// the case up): sent only to the PagerDuty endpoints the case paged
    /// (`dispatch::incident`).
    IncidentAcknowledged,
    /// Tell PagerDuty the incident the case's alert triggered is resolved (the case left the
    /// team's hands): sent only to the PagerDuty endpoints the case paged.
    IncidentResolved,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaseOpened => "case-opened",
            Self::CaseReopened => "case-reopened",
            Self::CustomerFollowUp => "customer-follow-up",
            Self::Escalation => "escalation",
            Self::Digest => "digest",
            Self::DeliveryFailed => "delivery-failed",
            Self::CustomerReminder => "customer-reminder",
            Self::CaseClosed => "case-closed",
            Self::CustomerReplied => "customer-replied",
            Self::IncidentAcknowledged => "incident-acknowledged",
            Self::IncidentResolved => "incident-resolved",
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

    /// Whether the notice updates an incident the case's alert triggered on PagerDuty (it goes
    /// only to the endpoints paged, never to a person or a channel).
    pub fn is_incident_update(self) -> bool {
        matches!(self, Self::IncidentAcknowledged | Self::IncidentResolved)
    }

    /// Whether the notice is about one case (digests and operations notices are not).
    pub fn is_about_a_case(self) -> bool {
        !matches!(self, Self::Digest | Self::DeliveryFailed)
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
    /// For an escalation: the level (1 the team lead, 2 the manager).
    #[serde(default)]
    pub level: u32,
    /// For a digest: its cases; for an operations notice: the case of the failed delivery.
    #[serde(default)]
    pub cases: Vec<String>,
    /// For a digest: who it is for.
    #[serde(default)]
    pub target: Option<crate::delivery::Target>,
    /// For an operations notice: what failed, in words (no secrets, no contact details).
    #[serde(default)]
    pub about: Option<String>,
    /// For a customer message: the channels to use, in order of preference (`email`, `sms`,
    /// `customer-webhook`); empty means the configured default.
    #[serde(default)]
    pub channels: Vec<crate::delivery::Channel>,
    /// Not to be delivered before this time (the customer's quiet hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// For an incident update: the PagerDuty endpoints the case's alerts paged in its current
    /// episode, the only ones the update goes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<crate::delivery::Target>,
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
            id: Self::id_for(&case.id, case.opened_at, kind, occasion),
            case_id: case.id.clone(),
            kind,
            created_at: now,
            link,
            level: 0,
            cases: Vec::new(),
            target: None,
            about: None,
            channels: Vec::new(),
            not_before: None,
            paged: Vec::new(),
        }
    }

    /// The id of the notice of `kind` for the `occasion`-th time on case `case_id` (opened at
    /// `opened_at`): what a reader that holds only the case index needs to find it.
    pub fn id_for(case_id: &str, opened_at: Timestamp, kind: NoticeKind, occasion: u32) -> String {
        crate::ids::derived(
            opened_at,
            &["notice", case_id, kind.as_str(), &occasion.to_string()],
        )
        .to_string()
    }

    pub fn case_opened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseOpened, 0, now, None)
    }

    /// The alert for the case's latest reopening.
    pub fn case_reopened(case: &Case, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CaseReopened, case.reopen_count, now, None)
    }

    /// The escalation of an unacknowledged case to `level` (1 the team lead, 2 the manager).
    pub fn escalation(case: &Case, level: u32, now: Timestamp) -> Self {
        let mut n = Self::new(case, NoticeKind::Escalation, level, now, None);
        n.level = level;
        n
    }

    /// The digest of `target` for local day `day`, listing `cases`.
    pub fn digest(
        target: &crate::delivery::Target,
        day: chrono::NaiveDate,
        cases: Vec<String>,
        now: Timestamp,
    ) -> Self {
        let key = target.key();
        let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let day = day.to_string();
        Notice {
            id: crate::ids::derived(midnight, &["notice", "digest", &key, &day]).to_string(),
            case_id: String::new(),
            kind: NoticeKind::Digest,
            created_at: now,
            link: None,
            level: 0,
            cases,
            target: Some(target.clone()),
            about: None,
            channels: Vec::new(),
            not_before: None,
            paged: Vec::new(),
        }
    }

    /// The operations notice that delivery `delivery_id` was dead-lettered.
    pub fn delivery_failed(
        delivery_id: &str,
        case_id: &str,
        about: String,
        now: Timestamp,
    ) -> Self {
        Notice {
            id: crate::ids::derived(now, &["notice", "dead-letter", delivery_id]).to_string(),
            case_id: String::new(),
            kind: NoticeKind::DeliveryFailed,
            created_at: now,
            link: None,
            level: 0,
            cases: if case_id.is_empty() {
                Vec::new()
            } else {
                vec![case_id.to_owned()]
            },
            target: None,
            about: Some(about),
            channels: Vec::new(),
            not_before: None,
            paged: Vec::new(),
        }
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

    /// The alert for the case's `n`-th reply from the customer (from 1).
    pub fn customer_replied(case: &Case, n: u32, now: Timestamp) -> Self {
        Self::new(case, NoticeKind::CustomerReplied, n, now, None)
    }

    /// Tells PagerDuty about the case's current episode (its opening, or its latest
    /// reopening), at the endpoints in `paged`: `kind` is [`NoticeKind::IncidentAcknowledged`]
    /// (someone took the case up) or [`NoticeKind::IncidentResolved`] (the case left the
    /// team's hands). An episode is acknowledged once and resolved once, so the notice's id
    /// is derived from the case, the kind and the episode.
    pub fn incident_update(
        case: &Case,
        kind: NoticeKind,
        paged: Vec<crate::delivery::Target>,
        now: Timestamp,
    ) -> Self {
        debug_assert!(kind.is_incident_update(), "{kind:?} is no incident update");
        let mut n = Self::new(case, kind, case.reopen_count, now, None);
        n.paged = paged;
        n
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
