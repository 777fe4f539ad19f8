//! The case a piece of feedback opens, its lifecycle, and the events that make its timeline.
//!
//! A case changes only through [`Case::apply`], which enforces the state machine and returns
//! the new case together with the event that records the change. Every change bumps
//! `version`; the component claims `(case, version)` once in the store before writing, so of
//! two agents acting at the same moment exactly one wins and the other gets a 409.
//!
//! ```text
//!   new ──acknowledge──▶ acknowledged ──resolve──▶ resolved-awaiting-customer ──yes──▶ closed-confirmed
//!    │                                    ▲                    │
//!    └──────────────resolve───────────────┘                    no
//!                                         ▲                    ▼
//!                                         └──resolve── reopened ──acknowledge──▶ acknowledged
//! ```
//! `assigned`, `in-progress` and `closed-unconfirmed` are part of the model already; the
//! agent actions that reach them come with the full follow-up API.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::score::Score;
use crate::triage::Triage;

/// The longest resolution, note or customer comment kept, in characters.
pub const MAX_TEXT_CHARS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseState {
    New,
    Assigned,
    Acknowledged,
    InProgress,
    ResolvedAwaitingCustomer,
    ClosedConfirmed,
    ClosedUnconfirmed,
    Reopened,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Assigned => "assigned",
            Self::Acknowledged => "acknowledged",
            Self::InProgress => "in-progress",
            Self::ResolvedAwaitingCustomer => "resolved-awaiting-customer",
            Self::ClosedConfirmed => "closed-confirmed",
            Self::ClosedUnconfirmed => "closed-unconfirmed",
            Self::Reopened => "reopened",
        }
    }

    /// Whether someone on the team still has to act.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Self::ResolvedAwaitingCustomer | Self::ClosedConfirmed | Self::ClosedUnconfirmed
        )
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Self::ClosedConfirmed | Self::ClosedUnconfirmed)
    }
}

/// Why the problem happened: required to resolve, counted to find recurring causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootCause {
    ProductDefect,
    ServiceFailure,
    StaffBehaviour,
    ProcessGap,
    Communication,
    BillingError,
    DeliveryLogistics,
    Facilities,
    CustomerExpectation,
    External,
    Other,
}

impl RootCause {
    pub const ALL: [RootCause; 11] = [
        Self::ProductDefect,
        Self::ServiceFailure,
        Self::StaffBehaviour,
        Self::ProcessGap,
        Self::Communication,
        Self::BillingError,
        Self::DeliveryLogistics,
        Self::Facilities,
        Self::CustomerExpectation,
        Self::External,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductDefect => "product-defect",
            Self::ServiceFailure => "service-failure",
            Self::StaffBehaviour => "staff-behaviour",
            Self::ProcessGap => "process-gap",
            Self::Communication => "communication",
            Self::BillingError => "billing-error",
            Self::DeliveryLogistics => "delivery-logistics",
            Self::Facilities => "facilities",
            Self::CustomerExpectation => "customer-expectation",
            Self::External => "external",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How a case was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub summary: String,
    pub root_cause: RootCause,
    pub resolved_by: String,
    pub resolved_at: Timestamp,
}

/// What the customer answered on the confirmation page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAnswer {
    pub resolved: bool,
    pub score: Option<Score>,
    pub comment: Option<String>,
    pub answered_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub feedback_id: String,
    pub opened_at: Timestamp,
    pub state: CaseState,
    /// Bumped by every change of state; the unit of optimistic concurrency.
    pub version: u64,
    pub triage: Triage,
    pub owner: Option<String>,
    pub first_response_at: Option<Timestamp>,
    /// How many times the case has been resolved; a confirmation link is valid for one round.
    pub round: u32,
    pub resolution: Option<Resolution>,
    pub customer_answer: Option<CustomerAnswer>,
    pub reopen_count: u32,
    pub closed_at: Option<Timestamp>,
}

/// Something that happened to a case, who did it and why: the timeline and the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub id: String,
    pub case_id: String,
    pub at: Timestamp,
    pub actor: String,
    pub kind: EventKind,
    pub from: Option<CaseState>,
    pub to: Option<CaseState>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    FeedbackReceived,
    Opened,
    Acknowledged,
    Note,
    Resolved,
    CustomerConfirmed,
    Reopened,
    AlertQueued,
    Delivered,
    DeliveryFailed,
    DeadLettered,
    /// The feedback was triaged again (it changed); the case's triage was updated.
    Retriaged,
}

/// What an agent or the customer does to a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Acknowledge {
        by: String,
        note: Option<String>,
    },
    Resolve {
        by: String,
        summary: String,
        root_cause: RootCause,
    },
    CustomerAnswer(CustomerAnswer),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Acknowledge { .. } => "acknowledge",
            Self::Resolve { .. } => "resolve",
            Self::CustomerAnswer(a) if a.resolved => "confirm",
            Self::CustomerAnswer(_) => "reopen",
        }
    }

    /// The states this action may start from.
    pub fn allowed_from(&self) -> &'static [CaseState] {
        use CaseState::*;
        match self {
            Self::Acknowledge { .. } => &[New, Assigned, Reopened],
            Self::Resolve { .. } => &[New, Assigned, Acknowledged, InProgress, Reopened],
            Self::CustomerAnswer(_) => &[ResolvedAwaitingCustomer],
        }
    }
}

/// An action the case's state does not allow: answered with 409 and this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a case that is {from}; {action} is allowed from: {allowed}")]
pub struct TransitionError {
    pub action: &'static str,
    pub from: &'static str,
    pub allowed: String,
}

impl Case {
    /// Opens the case for triaged feedback. Its id is derived from the feedback's, so a
    /// repeated triage opens the same case.
    pub fn open(feedback_id: &str, received_at: Timestamp, triage: Triage) -> Self {
        Case {
            id: crate::ids::derived(received_at, &["case", feedback_id]).to_string(),
            feedback_id: feedback_id.to_owned(),
            opened_at: triage.triaged_at,
            state: CaseState::New,
            version: 1,
            owner: None,
            first_response_at: None,
            round: 0,
            resolution: None,
            customer_answer: None,
            reopen_count: 0,
            closed_at: None,
            triage,
        }
    }

    /// The event recording that the case opened.
    pub fn opened_event(&self) -> CaseEvent {
        CaseEvent {
            id: crate::ids::derived(self.opened_at, &["opened", &self.id]).to_string(),
            case_id: self.id.clone(),
            at: self.opened_at,
            actor: "triage".into(),
            kind: EventKind::Opened,
            from: None,
            to: Some(CaseState::New),
            detail: format!(
                "{} for team {}: {}",
                self.triage.priority.as_str(),
                self.triage.team,
                self.triage.reasons.join("; ")
            ),
        }
    }

    /// When the case next needs someone: the first-response due time until the first
    /// response, then the resolution due time. Sorting open cases by it gives the inbox.
    pub fn next_due(&self) -> Timestamp {
        if self.first_response_at.is_none() {
            self.triage.first_response_due
        } else {
            self.triage.resolution_due
        }
    }

    /// Seconds from opening to the first response, once there was one.
    pub fn first_response_secs(&self) -> Option<i64> {
        self.first_response_at
            .map(|t| (t - self.opened_at).num_seconds().max(0))
    }

    /// Applies `action` at `now`, returning the changed case and the event that records it.
    pub fn apply(
        &self,
        action: Action,
        event_id: String,
        now: Timestamp,
    ) -> Result<(Case, CaseEvent), TransitionError> {
        if !action.allowed_from().contains(&self.state) {
            return Err(TransitionError {
                action: action.name(),
                from: self.state.as_str(),
                allowed: action
                    .allowed_from()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut next = self.clone();
        next.version += 1;
        let (actor, kind, detail) = match action {
            Action::Acknowledge { by, note } => {
                next.state = CaseState::Acknowledged;
                next.first_response_at.get_or_insert(now);
                next.owner.get_or_insert_with(|| by.clone());
                (by, EventKind::Acknowledged, note.unwrap_or_default())
            }
            Action::Resolve {
                by,
                summary,
                root_cause,
            } => {
                next.state = CaseState::ResolvedAwaitingCustomer;
                next.first_response_at.get_or_insert(now);
                next.round += 1;
                let detail = format!("{summary} (root cause: {})", root_cause.as_str());
                next.resolution = Some(Resolution {
                    summary,
                    root_cause,
                    resolved_by: by.clone(),
                    resolved_at: now,
                });
                (by, EventKind::Resolved, detail)
            }
            Action::CustomerAnswer(answer) => {
                let mut detail = if answer.resolved {
                    "the customer confirmed the fix".to_owned()
                } else {
                    "the customer says it is not resolved".to_owned()
                };
                if let Some(score) = answer.score {
                    detail.push_str(&format!("; new score {}", score.label()));
                }
                if let Some(comment) = &answer.comment {
                    detail.push_str(&format!(": \"{comment}\""));
                }
                let kind = if answer.resolved {
                    next.state = CaseState::ClosedConfirmed;
                    next.closed_at = Some(now);
                    EventKind::CustomerConfirmed
                } else {
                    next.state = CaseState::Reopened;
                    next.reopen_count += 1;
                    EventKind::Reopened
                };
                next.customer_answer = Some(answer);
                ("customer".to_owned(), kind, detail)
            }
        };
        let event = CaseEvent {
            id: event_id,
            case_id: self.id.clone(),
            at: now,
            actor,
            kind,
            from: Some(self.state),
            to: Some(next.state),
            detail,
        };
        Ok((next, event))
    }

    /// A note: recorded on the timeline, never a change of state, so notes never conflict.
    pub fn note(&self, by: &str, text: &str, event_id: String, now: Timestamp) -> CaseEvent {
        CaseEvent {
            id: event_id,
            case_id: self.id.clone(),
            at: now,
            actor: by.to_owned(),
            kind: EventKind::Note,
            from: None,
            to: None,
            detail: text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::Priority;
    use chrono::{Duration, TimeZone};

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn case() -> Case {
        Case::open(
            "fb",
            t0(),
            Triage {
                class: None,
                priority: Priority::P1,
                team: "cs".into(),
                first_response_due: t0() + Duration::hours(1),
                resolution_due: t0() + Duration::hours(24),
                alert: true,
                routing: crate::triage::Routing::to_team("cs", true),
                reasons: vec!["r".into()],
                triaged_at: t0(),
                analysis: Default::default(),
            },
        )
    }

    fn ack() -> Action {
        Action::Acknowledge {
            by: "ann".into(),
            note: None,
        }
    }

    fn resolve() -> Action {
        Action::Resolve {
            by: "ann".into(),
            summary: "moved room".into(),
            root_cause: RootCause::Facilities,
        }
    }

    fn answer(resolved: bool) -> Action {
        Action::CustomerAnswer(CustomerAnswer {
            resolved,
            score: None,
            comment: None,
            answered_at: t0(),
        })
    }

    fn step(c: &Case, a: Action, minutes: i64) -> Result<Case, TransitionError> {
        c.apply(a, "e".into(), t0() + Duration::minutes(minutes))
            .map(|(c, _)| c)
    }

    #[test]
    fn the_happy_loop() {
        let c = case();
        assert_eq!(Case::open("fb", t0(), c.triage.clone()).id, c.id);
        let c = step(&c, ack(), 10).unwrap();
        assert_eq!(c.state, CaseState::Acknowledged);
        assert_eq!(c.first_response_secs(), Some(600));
        assert_eq!(c.next_due(), c.triage.resolution_due);
        let c = step(&c, resolve(), 20).unwrap();
        assert_eq!(
            (c.state, c.round, c.version),
            (CaseState::ResolvedAwaitingCustomer, 1, 3)
        );
        let c = step(&c, answer(true), 30).unwrap();
        assert_eq!(c.state, CaseState::ClosedConfirmed);
        assert!(c.closed_at.is_some());
    }

    #[test]
    fn not_resolved_reopens_and_can_be_resolved_again() {
        let c = step(&case(), resolve(), 5).unwrap();
        assert_eq!(c.first_response_secs(), Some(300));
        let c = step(&c, answer(false), 6).unwrap();
        assert_eq!((c.state, c.reopen_count), (CaseState::Reopened, 1));
        let c = step(&c, ack(), 7).unwrap();
        assert_eq!(c.first_response_secs(), Some(300), "first response kept");
        let c = step(&c, resolve(), 8).unwrap();
        assert_eq!(c.round, 2);
    }

    #[test]
    fn every_forbidden_transition_names_the_allowed_states() {
        let closed = step(&step(&case(), resolve(), 1).unwrap(), answer(true), 2).unwrap();
        for action in [ack(), resolve(), answer(true), answer(false)] {
            let err = step(&closed, action, 3).unwrap_err();
            assert_eq!(err.from, "closed-confirmed");
        }
        let acked = step(&case(), ack(), 1).unwrap();
        let err = step(&acked, ack(), 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot acknowledge a case that is acknowledged; acknowledge is allowed from: new, assigned, reopened"
        );
        assert!(step(&case(), answer(true), 1).is_err());
    }

    #[test]
    fn events_record_who_from_and_to() {
        let (_, e) = case().apply(ack(), "e1".into(), t0()).unwrap();
        assert_eq!(e.actor, "ann");
        assert_eq!(e.from, Some(CaseState::New));
        assert_eq!(e.to, Some(CaseState::Acknowledged));
        assert_eq!(case().opened_event().kind, EventKind::Opened);
    }
}
