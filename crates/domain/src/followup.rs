//! After a resolution: one reminder if the customer has not answered, then the case closes as
//! unconfirmed. Driven by `POST /v1/tick` with the time passed in, so it needs no timer and is
//! tested with a moved clock.

use chrono::Duration;

use crate::Timestamp;
use crate::case::{Case, CaseState};

/// Days after a resolution before the one reminder, unless `reminder_after_days` says otherwise.
pub const DEFAULT_REMINDER_AFTER_DAYS: u32 = 3;
/// Days after a resolution before the case closes unconfirmed, unless `close_unconfirmed_after_days`
/// says otherwise.
pub const DEFAULT_CLOSE_AFTER_DAYS: u32 = 7;
/// The longest either wait may be configured to.
pub const MAX_DAYS: u32 = 90;

/// When to remind and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpPolicy {
    pub reminder_after_days: u32,
    pub close_after_days: u32,
}

impl Default for FollowUpPolicy {
    fn default() -> Self {
        Self {
            reminder_after_days: DEFAULT_REMINDER_AFTER_DAYS,
            close_after_days: DEFAULT_CLOSE_AFTER_DAYS,
        }
    }
}

impl FollowUpPolicy {
    /// The policy from two configured values; a value of 0, over [`MAX_DAYS`], or a reminder
    /// not before the close, is refused with the reason (the operator's mistake, logged).
    pub fn new(reminder_after_days: u32, close_after_days: u32) -> Result<Self, String> {
        for (name, days) in [
            ("reminder_after_days", reminder_after_days),
            ("close_unconfirmed_after_days", close_after_days),
        ] {
            if days == 0 || days > MAX_DAYS {
                return Err(format!("{name} must be 1 to {MAX_DAYS} days, not {days}"));
            }
        }
        if reminder_after_days >= close_after_days {
            return Err(format!(
                "reminder_after_days ({reminder_after_days}) must be less than close_unconfirmed_after_days ({close_after_days})"
            ));
        }
        Ok(Self {
            reminder_after_days,
            close_after_days,
        })
    }

    /// What a case needs at `now`.
    pub fn due(&self, case: &Case, now: Timestamp) -> FollowUpStep {
        let Some(resolution) = &case.resolution else {
            return FollowUpStep::Nothing;
        };
        if case.state != CaseState::ResolvedAwaitingCustomer {
            return FollowUpStep::Nothing;
        }
        let waited = now - resolution.resolved_at;
        if waited >= Duration::days(self.close_after_days.into()) {
            FollowUpStep::CloseUnconfirmed
        } else if waited >= Duration::days(self.reminder_after_days.into()) {
            FollowUpStep::Remind
        } else {
            FollowUpStep::Nothing
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpStep {
    Nothing,
    /// Send the reminder, unless this round's was sent already.
    Remind,
    CloseUnconfirmed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Action, RootCause};
    use crate::triage::{Priority, Routing, Triage};
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn resolved() -> Case {
        let c = Case::open(
            "fb",
            t0(),
            Triage {
                class: None,
                priority: Priority::P2,
                team: "cs".into(),
                first_response_due: t0(),
                resolution_due: t0(),
                alert: false,
                routing: Routing::to_team("cs", false),
                reasons: vec![],
                triaged_at: t0(),
            },
        );
        let resolve = Action::Resolve {
            by: "a".into(),
            summary: "s".into(),
            root_cause: RootCause::Other,
        };
        c.apply(resolve, "e".into(), t0()).unwrap().0
    }

    #[test]
    fn reminds_then_closes_at_the_configured_days() {
        let p = FollowUpPolicy::default();
        let c = resolved();
        let day = |d: i64, s: i64| t0() + Duration::days(d) + Duration::seconds(s);
        assert_eq!(p.due(&c, day(3, -1)), FollowUpStep::Nothing);
        assert_eq!(p.due(&c, day(3, 0)), FollowUpStep::Remind);
        assert_eq!(p.due(&c, day(7, -1)), FollowUpStep::Remind);
        assert_eq!(p.due(&c, day(7, 0)), FollowUpStep::CloseUnconfirmed);
        let mut open = c.clone();
        open.state = CaseState::Reopened;
        assert_eq!(p.due(&open, day(30, 0)), FollowUpStep::Nothing);
        assert_eq!(
            p.due(
                &Case {
                    resolution: None,
                    ..c
                },
                day(30, 0)
            ),
            FollowUpStep::Nothing
        );
    }

    #[test]
    fn policy_limits() {
        assert!(FollowUpPolicy::new(1, MAX_DAYS).is_ok());
        assert!(FollowUpPolicy::new(1, MAX_DAYS + 1).is_err());
        assert!(FollowUpPolicy::new(0, 5).is_err());
        let err = FollowUpPolicy::new(5, 5).unwrap_err();
        assert!(err.contains("must be less than"), "{err}");
    }
}
