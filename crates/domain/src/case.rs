//! The case a piece of feedback opens, its lifecycle, and the events that make its timeline.
//!
//! A case changes only through [`Case::apply`], which enforces the state machine below and
//! returns the new case together with the event that records the change (who, when, from, to,
//! why): the timeline and the audit trail are these events, appended and never rewritten.
//! Every change bumps `version`. Changes are applied one after the other by the workflow's
//! fold, so of two agents acting at the same moment the first applies and the second finds
//! the changed case: a 409 if its action no longer applies.
//!
//! ```text
//!              assign                  acknowledge               outreach
//!   new ─────────────────▶ assigned ───────────────▶ acknowledged ─────────▶ in-progress
//!    │ (any open state may be (re)assigned, acknowledged from new/assigned/reopened,
//!    │  and move to in-progress by logging an outreach)                        │
//!    └──────────────────────────── resolve (from any open state) ──────────────┤
//!                                                                             ▼
//!   closed-confirmed ◀──customer: yes── resolved-awaiting-customer ──customer: no──▶ reopened
//!                                        │            │
//!            tick: no answer in N days ──┘            └── close without contact (reason)
//!                                        ▼
//!                              closed-unconfirmed ◀── close without contact (from any open state)
//! ```
//! Open states: new, assigned, acknowledged, in-progress, reopened. Closed states are final:
//! a customer who writes again opens a new case. Adding a watcher changes no state.

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
    /// Why the case was closed without the customer's confirmation.
    #[serde(default)]
    pub close_reason: Option<String>,
    /// People told when the case closes, besides the routing's watchers.
    #[serde(default)]
    pub watchers: Vec<String>,
    /// The answer was anonymous: there is no customer to follow up with, so resolving closes
    /// the case (with [`ANONYMOUS_CLOSE_REASON`]) instead of waiting for a confirmation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// Why resolving an anonymous answer's case closes it.
pub const ANONYMOUS_CLOSE_REASON: &str =
    "the answer is anonymous: there is no customer to confirm the fix";

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
    Assigned,
    Outreach,
    /// More feedback the customer gave an agent, recorded by the agent.
    CustomerFeedback,
    ClosedWithoutContact,
    ClosedUnconfirmed,
    WatcherAdded,
    /// The one reminder asking the customer to answer was queued.
    ReminderQueued,
    /// A customer message was not sent because of the contact rules.
    ContactSuppressed,
    /// The customer's personal data was erased.
    CustomerErased,
    /// The customer answered a follow-up in their own words, by replying to its email or SMS
    /// (`crate::reply`); the detail quotes them.
    CustomerReplied,
}

/// How an agent reached out to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutreachChannel {
    Phone,
    Email,
    Sms,
    Chat,
    InPerson,
    Other,
}

/// What came of an outreach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutreachOutcome {
    Reached,
    LeftMessage,
    NoAnswer,
    WrongContact,
    Declined,
}

macro_rules! kebab_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}
kebab_names!(OutreachChannel { Phone => "phone", Email => "email", Sms => "sms", Chat => "chat", InPerson => "in-person", Other => "other" });
kebab_names!(OutreachOutcome { Reached => "reached", LeftMessage => "left-message", NoAnswer => "no-answer", WrongContact => "wrong-contact", Declined => "declined" });
kebab_names!(EventKind {
    FeedbackReceived => "feedback-received", Opened => "opened", Acknowledged => "acknowledged",
    Note => "note", Resolved => "resolved", CustomerConfirmed => "customer-confirmed",
    Reopened => "reopened", AlertQueued => "alert-queued", Delivered => "delivered",
    DeliveryFailed => "delivery-failed", DeadLettered => "dead-lettered", Retriaged => "retriaged",
    Assigned => "assigned", Outreach => "outreach", CustomerFeedback => "customer-feedback",
    ClosedWithoutContact => "closed-without-contact", ClosedUnconfirmed => "closed-unconfirmed",
    WatcherAdded => "watcher-added", ReminderQueued => "reminder-queued",
    ContactSuppressed => "contact-suppressed", CustomerErased => "customer-erased",
    CustomerReplied => "customer-replied",
});

/// What an agent, the customer or the scheduler does to a case (serialized: the log carries
/// it as a command).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Give the case to `to` (a first assignment or a reassignment).
    Assign {
        by: String,
        to: String,
        note: Option<String>,
    },
    Acknowledge {
        by: String,
        note: Option<String>,
    },
    /// An attempt to reach the customer; the work is now in progress.
    LogOutreach {
        by: String,
        channel: OutreachChannel,
        outcome: OutreachOutcome,
        note: Option<String>,
    },
    Resolve {
        by: String,
        summary: String,
        root_cause: RootCause,
    },
    CustomerAnswer(CustomerAnswer),
    /// Closed by an agent without the customer's confirmation, for a stated reason.
    CloseWithoutContact {
        by: String,
        reason: String,
    },
    /// Closed by the scheduler: the customer did not answer within `after_days`.
    ExpireUnconfirmed {
        after_days: u32,
    },
    /// Someone to tell when the case closes; no change of state.
    AddWatcher {
        by: String,
        watcher: String,
    },
}

use CaseState::*;
/// The states someone on the team still works in.
const OPEN: &[CaseState] = &[New, Assigned, Acknowledged, InProgress, Reopened];

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Assign { .. } => "assign",
            Self::Acknowledge { .. } => "acknowledge",
            Self::LogOutreach { .. } => "log an outreach on",
            Self::Resolve { .. } => "resolve",
            Self::CustomerAnswer(a) if a.resolved => "confirm",
            Self::CustomerAnswer(_) => "reopen",
            Self::CloseWithoutContact { .. } => "close",
            Self::ExpireUnconfirmed { .. } => "close unconfirmed",
            Self::AddWatcher { .. } => "add a watcher to",
        }
    }

    /// Who is acting, for the actions a person takes.
    pub fn actor_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::Assign { by, .. }
            | Self::Acknowledge { by, .. }
            | Self::LogOutreach { by, .. }
            | Self::Resolve { by, .. }
            | Self::CloseWithoutContact { by, .. }
            | Self::AddWatcher { by, .. } => Some(by),
            Self::CustomerAnswer(_) | Self::ExpireUnconfirmed { .. } => None,
        }
    }

    /// The states this action may start from.
    pub fn allowed_from(&self) -> &'static [CaseState] {
        match self {
            Self::Assign { .. } | Self::LogOutreach { .. } | Self::Resolve { .. } => OPEN,
            Self::Acknowledge { .. } => &[New, Assigned, Reopened],
            Self::CustomerAnswer(_) | Self::ExpireUnconfirmed { .. } => &[ResolvedAwaitingCustomer],
            Self::CloseWithoutContact { .. } | Self::AddWatcher { .. } => &[
                New,
                Assigned,
                Acknowledged,
                InProgress,
                Reopened,
                ResolvedAwaitingCustomer,
            ],
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
            id: Self::id_for(feedback_id, received_at),
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
            close_reason: None,
            watchers: Vec::new(),
            anonymous: false,
            triage,
        }
    }

    /// The id of the case the feedback `feedback_id`, received at `received_at`, opens.
    pub fn id_for(feedback_id: &str, received_at: Timestamp) -> String {
        crate::ids::derived(received_at, &["case", feedback_id]).to_string()
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

    /// A detractor whose new score, given when confirming the fix, is no longer a detractor's:
    /// the measure of the inner loop working. `original` is the feedback's score.
    pub fn recovered_detractor(&self, original: Option<crate::score::Score>) -> bool {
        use crate::score::ScoreClass;
        let new = self.customer_answer.as_ref().and_then(|a| a.score);
        matches!(
            (original.map(|s| s.class()), new.map(|s| s.class())),
            (
                Some(ScoreClass::Detractor),
                Some(ScoreClass::Passive | ScoreClass::Promoter)
            )
        )
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
            Action::Assign { by, to, note } => {
                next.state = Assigned;
                let detail = match (&self.owner, note) {
                    (Some(from), Some(n)) => format!("reassigned from {from} to {to}: {n}"),
                    (Some(from), None) => format!("reassigned from {from} to {to}"),
                    (None, Some(n)) => format!("assigned to {to}: {n}"),
                    (None, None) => format!("assigned to {to}"),
                };
                next.owner = Some(to);
                (by, EventKind::Assigned, detail)
            }
            Action::Acknowledge { by, note } => {
                next.state = Acknowledged;
                next.first_response_at.get_or_insert(now);
                next.owner.get_or_insert_with(|| by.clone());
                (by, EventKind::Acknowledged, note.unwrap_or_default())
            }
            Action::LogOutreach {
                by,
                channel,
                outcome,
                note,
            } => {
                next.state = InProgress;
                next.first_response_at.get_or_insert(now);
                next.owner.get_or_insert_with(|| by.clone());
                let mut detail = format!("{} outreach: {}", channel.as_str(), outcome.as_str());
                if let Some(note) = note {
                    detail.push_str(&format!("; {note}"));
                }
                (by, EventKind::Outreach, detail)
            }
            Action::Resolve {
                by,
                summary,
                root_cause,
            } => {
                next.first_response_at.get_or_insert(now);
                next.round += 1;
                let mut detail = format!("{summary} (root cause: {})", root_cause.as_str());
                if next.anonymous {
                    next.state = ClosedUnconfirmed;
                    next.closed_at = Some(now);
                    next.close_reason = Some(ANONYMOUS_CLOSE_REASON.to_owned());
                    detail.push_str(&format!("; closed: {ANONYMOUS_CLOSE_REASON}"));
                } else {
                    next.state = ResolvedAwaitingCustomer;
                }
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
                    next.state = ClosedConfirmed;
                    next.closed_at = Some(now);
                    EventKind::CustomerConfirmed
                } else {
                    next.state = Reopened;
                    next.reopen_count += 1;
                    EventKind::Reopened
                };
                next.customer_answer = Some(answer);
                ("customer".to_owned(), kind, detail)
            }
            Action::CloseWithoutContact { by, reason } => {
                next.state = ClosedUnconfirmed;
                next.closed_at = Some(now);
                next.close_reason = Some(reason.clone());
                (by, EventKind::ClosedWithoutContact, reason)
            }
            Action::ExpireUnconfirmed { after_days } => {
                next.state = ClosedUnconfirmed;
                next.closed_at = Some(now);
                let reason = format!("the customer did not answer within {after_days} days");
                next.close_reason = Some(reason.clone());
                ("closeloop".to_owned(), EventKind::ClosedUnconfirmed, reason)
            }
            Action::AddWatcher { by, watcher } => {
                let detail = format!("{watcher} will be told when the case closes");
                if !next.watchers.contains(&watcher) {
                    next.watchers.push(watcher);
                }
                (by, EventKind::WatcherAdded, detail)
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
        self.remark(EventKind::Note, by, text, event_id, now)
    }

    /// A note or extra customer feedback: an event that changes no state.
    pub fn remark(
        &self,
        kind: EventKind,
        by: &str,
        text: &str,
        event_id: String,
        now: Timestamp,
    ) -> CaseEvent {
        CaseEvent {
            id: event_id,
            case_id: self.id.clone(),
            at: now,
            actor: by.to_owned(),
            kind,
            from: None,
            to: None,
            detail: text.to_owned(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::triage::Priority;
    use chrono::{Duration, TimeZone};

    pub(crate) fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn kebab_names_are_the_wire_names() {
        let wire = |v: serde_json::Value| v.as_str().unwrap().to_owned();
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str(), wire(serde_json::to_value(kind).unwrap()));
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        for c in OutreachChannel::ALL {
            assert_eq!(c.as_str(), wire(serde_json::to_value(c).unwrap()));
        }
        for o in OutreachOutcome::ALL {
            assert_eq!(o.as_str(), wire(serde_json::to_value(o).unwrap()));
        }
    }

    /// A P1 case of team "cs", opened at [`t0`] (shared with other modules' tests).
    pub(crate) fn case() -> Case {
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

    pub(crate) fn ack() -> Action {
        Action::Acknowledge {
            by: "ann".into(),
            note: None,
        }
    }

    pub(crate) fn resolve() -> Action {
        Action::Resolve {
            by: "ann".into(),
            summary: "moved room".into(),
            root_cause: RootCause::Facilities,
        }
    }

    pub(crate) fn answer(resolved: bool) -> Action {
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
    fn resolving_an_anonymous_answers_case_closes_it_with_the_resolution() {
        let mut c = case();
        c.anonymous = true;
        let (closed, event) = c.apply(resolve(), "e".into(), t0()).unwrap();
        assert_eq!(closed.state, CaseState::ClosedUnconfirmed);
        assert_eq!(closed.close_reason.as_deref(), Some(ANONYMOUS_CLOSE_REASON));
        assert_eq!(closed.closed_at, Some(t0()));
        assert_eq!(closed.resolution.unwrap().root_cause, RootCause::Facilities);
        assert_eq!(event.kind, EventKind::Resolved);
        assert_eq!(event.to, Some(CaseState::ClosedUnconfirmed));
        // Never waiting for a customer nobody can reach; an agent may also close it outright.
        let close = Action::CloseWithoutContact {
            by: "ann".into(),
            reason: "nothing to do".into(),
        };
        assert_eq!(
            step(&c, close, 1).unwrap().state,
            CaseState::ClosedUnconfirmed
        );
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

    /// One of every action, named as in the transition table below.
    fn every_action() -> Vec<(&'static str, Action)> {
        vec![
            (
                "assign",
                Action::Assign {
                    by: "lead".into(),
                    to: "bo".into(),
                    note: None,
                },
            ),
            ("acknowledge", ack()),
            (
                "outreach",
                Action::LogOutreach {
                    by: "ann".into(),
                    channel: OutreachChannel::Phone,
                    outcome: OutreachOutcome::Reached,
                    note: None,
                },
            ),
            ("resolve", resolve()),
            ("yes", answer(true)),
            ("no", answer(false)),
            (
                "close",
                Action::CloseWithoutContact {
                    by: "ann".into(),
                    reason: "customer asked not to be called".into(),
                },
            ),
            ("expire", Action::ExpireUnconfirmed { after_days: 7 }),
            (
                "watch",
                Action::AddWatcher {
                    by: "ann".into(),
                    watcher: "gm".into(),
                },
            ),
        ]
    }

    /// The documented lifecycle, written out by hand: (from, action, to). Anything not listed
    /// is forbidden.
    const ALLOWED: &[(CaseState, &str, CaseState)] = &[
        (New, "assign", Assigned),
        (Assigned, "assign", Assigned),
        (Acknowledged, "assign", Assigned),
        (InProgress, "assign", Assigned),
        (Reopened, "assign", Assigned),
        (New, "acknowledge", Acknowledged),
        (Assigned, "acknowledge", Acknowledged),
        (Reopened, "acknowledge", Acknowledged),
        (New, "outreach", InProgress),
        (Assigned, "outreach", InProgress),
        (Acknowledged, "outreach", InProgress),
        (InProgress, "outreach", InProgress),
        (Reopened, "outreach", InProgress),
        (New, "resolve", ResolvedAwaitingCustomer),
        (Assigned, "resolve", ResolvedAwaitingCustomer),
        (Acknowledged, "resolve", ResolvedAwaitingCustomer),
        (InProgress, "resolve", ResolvedAwaitingCustomer),
        (Reopened, "resolve", ResolvedAwaitingCustomer),
        (ResolvedAwaitingCustomer, "yes", ClosedConfirmed),
        (ResolvedAwaitingCustomer, "no", Reopened),
        (New, "close", ClosedUnconfirmed),
        (Assigned, "close", ClosedUnconfirmed),
        (Acknowledged, "close", ClosedUnconfirmed),
        (InProgress, "close", ClosedUnconfirmed),
        (Reopened, "close", ClosedUnconfirmed),
        (ResolvedAwaitingCustomer, "close", ClosedUnconfirmed),
        (ResolvedAwaitingCustomer, "expire", ClosedUnconfirmed),
        (New, "watch", New),
        (Assigned, "watch", Assigned),
        (Acknowledged, "watch", Acknowledged),
        (InProgress, "watch", InProgress),
        (Reopened, "watch", Reopened),
        (ResolvedAwaitingCustomer, "watch", ResolvedAwaitingCustomer),
    ];

    const ALL_STATES: [CaseState; 8] = [
        New,
        Assigned,
        Acknowledged,
        InProgress,
        ResolvedAwaitingCustomer,
        ClosedConfirmed,
        ClosedUnconfirmed,
        Reopened,
    ];

    #[test]
    fn every_allowed_and_every_forbidden_transition() {
        let mut checked = 0;
        for from in ALL_STATES {
            let mut c = case();
            c.state = from;
            for (name, action) in every_action() {
                let expected = ALLOWED
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == name)
                    .map(|(_, _, to)| *to);
                let result = c.apply(action, "e".into(), t0());
                match (expected, result) {
                    (Some(to), Ok((next, event))) => {
                        assert_eq!(next.state, to, "{from:?} {name}");
                        assert_eq!(next.version, c.version + 1);
                        assert_eq!((event.from, event.to), (Some(from), Some(to)));
                        assert!(!event.actor.is_empty());
                    }
                    (None, Err(e)) => {
                        assert_eq!(e.from, from.as_str());
                        assert!(e.to_string().contains("is allowed from"), "{e}");
                    }
                    (expected, result) => {
                        panic!("{from:?} {name}: expected {expected:?}, got {result:?}")
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 8 * 9);
    }

    #[test]
    fn assign_reassign_outreach_and_close_record_why() {
        let c = case();
        let assign = |to: &str| Action::Assign {
            by: "lead".into(),
            to: to.into(),
            note: None,
        };
        let (c, e) = c.apply(assign("bo"), "e1".into(), t0()).unwrap();
        assert_eq!(
            (c.owner.as_deref(), e.detail.as_str()),
            (Some("bo"), "assigned to bo")
        );
        let (c, e) = c.apply(assign("cy"), "e2".into(), t0()).unwrap();
        assert_eq!(e.detail, "reassigned from bo to cy");
        assert_eq!(e.kind, EventKind::Assigned);
        let outreach = Action::LogOutreach {
            by: "cy".into(),
            channel: OutreachChannel::Phone,
            outcome: OutreachOutcome::LeftMessage,
            note: Some("will call back at 5".into()),
        };
        let (c, e) = c
            .apply(outreach, "e3".into(), t0() + Duration::minutes(3))
            .unwrap();
        assert_eq!(
            e.detail,
            "phone outreach: left-message; will call back at 5"
        );
        assert_eq!(
            c.first_response_secs(),
            Some(180),
            "an outreach is a response"
        );
        let close = Action::CloseWithoutContact {
            by: "cy".into(),
            reason: "duplicate of another case".into(),
        };
        let (c, e) = c.apply(close, "e4".into(), t0()).unwrap();
        assert_eq!(c.state, ClosedUnconfirmed);
        assert_eq!(c.close_reason.as_deref(), Some("duplicate of another case"));
        assert_eq!(e.kind, EventKind::ClosedWithoutContact);
        assert!(c.closed_at.is_some());
    }

    #[test]
    fn expiry_is_the_schedulers_and_watchers_are_kept_once() {
        let c = step(&case(), resolve(), 1).unwrap();
        let watch = || Action::AddWatcher {
            by: "ann".into(),
            watcher: "gm".into(),
        };
        let c = step(&c, watch(), 2).unwrap();
        let c = step(&c, watch(), 3).unwrap();
        assert_eq!(c.watchers, ["gm"]);
        let (c, e) = c
            .apply(
                Action::ExpireUnconfirmed { after_days: 7 },
                "e".into(),
                t0(),
            )
            .unwrap();
        assert_eq!(
            (c.state, e.actor.as_str()),
            (ClosedUnconfirmed, "closeloop")
        );
        assert_eq!(e.detail, "the customer did not answer within 7 days");
        assert_eq!(
            OutreachChannel::parse("in-person"),
            Some(OutreachChannel::InPerson)
        );
        assert_eq!(OutreachOutcome::parse("nope"), None);
    }

    #[test]
    fn a_detractor_who_scores_again_higher_is_recovered() {
        use crate::score::{Score, ScoreKind};
        let nps = |value| Score {
            kind: ScoreKind::Nps,
            value,
            scale: 10,
        };
        let answered = |new: Option<i64>| {
            let c = step(&case(), resolve(), 1).unwrap();
            let a = Action::CustomerAnswer(CustomerAnswer {
                resolved: true,
                score: new.map(nps),
                comment: None,
                answered_at: t0(),
            });
            step(&c, a, 2).unwrap()
        };
        assert!(answered(Some(7)).recovered_detractor(Some(nps(3))));
        assert!(!answered(Some(6)).recovered_detractor(Some(nps(3))));
        assert!(!answered(None).recovered_detractor(Some(nps(3))));
        assert!(
            !answered(Some(10)).recovered_detractor(Some(nps(8))),
            "not a detractor"
        );
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
