//! Escalation: a case nobody acknowledged by its first-response due time goes up the chain.
//!
//! Level 1 (the team lead) is due at the first-response due time; each further level one
//! first-response interval later (a P1, due in an hour, reaches the manager an hour after the
//! lead). Tick asks [`due_level`] for every open case and writes the escalation notices of
//! the levels reached; their ids are derived from the case and level, so each is sent once.
//! Acknowledging stops it: a pending escalation of an acknowledged case is cancelled.

use crate::Timestamp;
use crate::case::Case;

/// How many levels a chain has: the team lead, then the manager.
pub const MAX_ESCALATION_LEVELS: u32 = 2;

/// The highest escalation level due for `case` at `now` (0 for none).
pub fn due_level(case: &Case, now: Timestamp) -> u32 {
    if case.first_response_at.is_some() || !case.state.is_open() {
        return 0;
    }
    let due = case.triage.first_response_due;
    if now < due {
        return 0;
    }
    let (interval, _) = case.triage.priority.targets();
    let mut level = 1;
    while level < MAX_ESCALATION_LEVELS && now >= due + interval * level as i32 {
        level += 1;
    }
    level
}

/// Whether an escalation is still wanted when it is about to be sent.
pub fn still_wanted(case: &Case) -> bool {
    case.first_response_at.is_none() && case.state.is_open()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Action;
    use crate::triage::{Priority, Routing, Triage};
    use chrono::{Duration, TimeZone};

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn case(p: Priority) -> Case {
        let (first, res) = p.targets();
        Case::open(
            "fb",
            t0(),
            Triage {
                class: None,
                priority: p,
                team: "t".into(),
                first_response_due: t0() + first,
                resolution_due: t0() + res,
                alert: true,
                routing: Routing::to_team("t", true),
                reasons: vec![],
                analysis: Default::default(),
                triaged_at: t0(),
            },
        )
    }

    #[test]
    fn levels_at_and_past_each_due_time() {
        let c = case(Priority::P1);
        let due = t0() + Duration::hours(1);
        assert_eq!(due_level(&c, due - Duration::seconds(1)), 0);
        assert_eq!(due_level(&c, due), 1);
        assert_eq!(due_level(&c, due + Duration::minutes(59)), 1);
        assert_eq!(due_level(&c, due + Duration::hours(1)), 2);
        assert_eq!(
            due_level(&c, due + Duration::days(9)),
            MAX_ESCALATION_LEVELS
        );
    }

    #[test]
    fn acknowledging_stops_it() {
        let c = case(Priority::P2);
        let (acked, _) = c
            .apply(
                Action::Acknowledge {
                    by: "a".into(),
                    note: None,
                },
                "e".into(),
                t0() + Duration::hours(5),
            )
            .unwrap();
        assert_eq!(due_level(&c, t0() + Duration::hours(5)), 1);
        assert_eq!(due_level(&acked, t0() + Duration::hours(50)), 0);
        assert!(!still_wanted(&acked));
    }
}
