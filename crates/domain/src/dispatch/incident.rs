//! PagerDuty follows the case: the incident a case's alert triggered is acknowledged when
//! someone takes the case up and resolved when the case leaves the team's hands.
//!
//! PagerDuty's Events API v2 correlates events by `dedup_key`, and only under the routing key
//! of the trigger: "Subsequent acknowledge or resolve events sent via a different
//! `routing_key` from the original will be dropped"
//! (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>, "Alert
//! De-Duplication"). Every trigger closeloop sends for a case carries
//! [`dedup_key`] (`closeloop-case-{case_id}`), so an update needs only that key and the
//! endpoints the triggers went to.
//!
//! **Episodes.** A case's episode is 0 from its opening and `n` from its `n`-th reopening
//! ([`episode`]). Each episode has its own incident: once an incident is resolved, "any
//! further events with the same `dedup_key` will create a new alert (for `trigger` events)"
//! (same page), which is what the reopened alert's trigger (same `dedup_key`) does. An episode
//! is acknowledged at most once and resolved at most once: the update notices' ids derive
//! from the case, the kind and the episode (`Notice::incident_update`), so acknowledging,
//! reassigning and acknowledging again sends one `acknowledge`.
//!
//! **When.** [`update`] decides from the case before and after a change:
//! - acknowledged: the case goes from untaken (new, assigned, reopened) to acknowledged or
//!   in progress. An outreach is a first response too: someone is on the phone with the
//!   customer, so PagerDuty should stop paging.
//! - resolved: the case goes from an open state to resolved-awaiting-customer or closed. The
//!   team is done once it resolved: waiting for the customer's answer is not an incident, and
//!   if the customer says no, the reopened alert triggers a new one.
//!
//! **Where.** To the PagerDuty endpoints the case's triggers (its alert, its reopened alert,
//! its escalations) were planned to, in the current episode: the fold records them on the
//! case's file as it plans them ([`Paged::note`]), in the same write. Not from the team's
//! routing at the time of the update: the directory, the routed owner and the priority may
//! all have changed since (a retriage to P2 plans no PagerDuty, yet the P1 incident is open),
//! and an update sent under a routing key that never triggered is dropped. A trigger that
//! was folded into an identical alert or put in a digest was never sent, so it is not
//! recorded. Case files written before this record existed are read from their deliveries
//! once ([`Paged::from_deliveries`]).
//!
//! **Obsolete at send time** ([`still_wanted`]). A trigger still being retried once someone
//! took the case up, or once the case left the team's hands, is cancelled: PagerDuty drops
//! an acknowledge or resolve for an alert it does not have yet, so a late trigger would open
//! an incident nothing ever resolves. An acknowledge is cancelled once the case is no longer
//! open (the resolve supersedes it), and an update of an earlier episode once the case was
//! reopened (it would update the new incident).
//!
//! Limits: the routing key is looked up when an update is sent, like every endpoint (a
//! delivery holds no secret), so a team that changed its PagerDuty key since the trigger
//! sends the update under the new key, which PagerDuty drops. A trigger and an update in
//! flight at the same instant may reach PagerDuty in either order. With a reopened case
//! reassigned after its acknowledgement, the case no longer tells that it was taken up: a
//! reopened alert's trigger still being retried then is sent.

use serde::{Deserialize, Serialize};

use crate::case::{Case, CaseState};
use crate::delivery::{Channel, Delivery, DeliveryStatus, Target};
use crate::notice::{Notice, NoticeKind};

/// The `dedup_key` of every PagerDuty event about case `case_id`.
pub fn dedup_key(case_id: &str) -> String {
    format!("closeloop-case-{case_id}")
}

/// The case's episode: 0 from its opening, `n` from its `n`-th reopening.
fn episode(case: &Case) -> u32 {
    case.reopen_count
}

/// Whether a notice of `kind` with id `notice_id` belongs to the case's current episode.
fn in_current_episode(kind: NoticeKind, notice_id: &str, case: &Case) -> bool {
    match kind {
        // Escalations stop at the first response, which every episode after the first has.
        NoticeKind::CaseOpened | NoticeKind::Escalation => episode(case) == 0,
        _ => notice_id == Notice::id_for(&case.id, case.opened_at, kind, episode(case)),
    }
}

/// Whether a notice of `kind` triggers an incident when it goes to PagerDuty.
fn triggers(kind: NoticeKind) -> bool {
    matches!(
        kind,
        NoticeKind::CaseOpened | NoticeKind::CaseReopened | NoticeKind::Escalation
    )
}

/// Whether nobody has taken the case up in its current episode, as far as the case tells.
fn untaken(case: &Case) -> bool {
    if episode(case) == 0 {
        case.first_response_at.is_none() && case.state.is_open()
    } else {
        matches!(case.state, CaseState::Reopened | CaseState::Assigned)
    }
}

/// What the incident is told when the case changes from `before` to `after`, if anything.
pub fn update(before: &Case, after: &Case) -> Option<NoticeKind> {
    if before.state.is_open() && !after.state.is_open() {
        return Some(NoticeKind::IncidentResolved);
    }
    let was_untaken = matches!(
        before.state,
        CaseState::New | CaseState::Assigned | CaseState::Reopened
    );
    let taken = matches!(after.state, CaseState::Acknowledged | CaseState::InProgress);
    (was_untaken && taken).then_some(NoticeKind::IncidentAcknowledged)
}

/// Whether a PagerDuty delivery of `notice` is still wanted for `case` as it is now: checked
/// when the delivery is planned and before every attempt.
pub fn still_wanted(notice: &Notice, case: &Case) -> bool {
    let current = in_current_episode(notice.kind, &notice.id, case);
    match notice.kind {
        NoticeKind::IncidentAcknowledged => current && case.state.is_open(),
        NoticeKind::IncidentResolved => current && !case.state.is_open(),
        kind if triggers(kind) => current && untaken(case),
        _ => true,
    }
}

/// Whether delivery `d` is a PagerDuty trigger that was, or may yet be, sent.
fn paged_by(d: &Delivery) -> bool {
    d.channel == Channel::PagerDuty
        && triggers(d.kind)
        && matches!(
            d.status,
            DeliveryStatus::Pending | DeliveryStatus::Delivered | DeliveryStatus::DeadLettered
        )
}

/// The PagerDuty endpoints a case's triggers went to in one episode: where its acknowledge
/// and resolve go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged {
    pub episode: u32,
    pub targets: Vec<Target>,
}

impl Paged {
    /// Notes delivery `d` of `notice`, planned for `case` as it is now, if it pages: a new
    /// episode starts a new list.
    pub fn note(&mut self, notice: &Notice, case: &Case, d: &Delivery) {
        if !paged_by(d) || !still_wanted(notice, case) {
            return;
        }
        if self.episode != episode(case) {
            *self = Paged {
                episode: episode(case),
                targets: Vec::new(),
            };
        }
        if !self.targets.contains(&d.to) {
            self.targets.push(d.to.clone());
        }
    }

    /// The record as it would have been kept, from the case's deliveries (for case files
    /// written before it was kept).
    pub fn from_deliveries<'a>(
        case: &Case,
        deliveries: impl IntoIterator<Item = &'a Delivery>,
    ) -> Self {
        let mut paged = Paged {
            episode: episode(case),
            targets: Vec::new(),
        };
        for d in deliveries {
            if paged_by(d)
                && in_current_episode(d.kind, &d.notice_id, case)
                && !paged.targets.contains(&d.to)
            {
                paged.targets.push(d.to.clone());
            }
        }
        paged
    }

    /// The endpoints to update for `case`'s current episode.
    pub fn targets_for(&self, case: &Case) -> &[Target] {
        if self.episode == episode(case) {
            &self.targets
        } else {
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Action;
    use crate::case::tests::{ack, answer, case, resolve, t0};

    fn apply(c: &Case, a: Action) -> Case {
        c.apply(a, "e".into(), t0()).expect("allowed").0
    }

    fn team() -> Target {
        Target::Team {
            team: "desk".into(),
        }
    }

    #[test]
    fn acknowledging_or_reaching_out_acknowledges_and_leaving_the_team_resolves() {
        let new = case();
        let acked = apply(&new, ack());
        assert_eq!(update(&new, &acked), Some(NoticeKind::IncidentAcknowledged));
        let outreach = Action::LogOutreach {
            by: "dana".into(),
            channel: crate::case::OutreachChannel::Phone,
            outcome: crate::case::OutreachOutcome::Reached,
            note: None,
        };
        let reached = apply(&new, outreach.clone());
        assert_eq!(
            update(&new, &reached),
            Some(NoticeKind::IncidentAcknowledged)
        );
        // Work on a case already taken up tells PagerDuty nothing new.
        assert_eq!(update(&acked, &apply(&acked, outreach)), None);
        let reassigned = apply(
            &acked,
            Action::Assign {
                by: "lead".into(),
                to: "lee".into(),
                note: None,
            },
        );
        assert_eq!(update(&acked, &reassigned), None);
        // Acknowledged again after a reassignment: the same episode's notice (sent once).
        let again = apply(&reassigned, ack());
        assert_eq!(
            update(&reassigned, &again),
            Some(NoticeKind::IncidentAcknowledged)
        );

        // Resolving (awaiting the customer) or closing from an open state resolves it.
        let resolved = apply(&acked, resolve());
        assert_eq!(
            update(&acked, &resolved),
            Some(NoticeKind::IncidentResolved)
        );
        let close = Action::CloseWithoutContact {
            by: "dana".into(),
            reason: "duplicate".into(),
        };
        let closed = apply(&new, close.clone());
        assert_eq!(update(&new, &closed), Some(NoticeKind::IncidentResolved));
        let mut anonymous = case();
        anonymous.anonymous = true;
        let closed_at_once = apply(&anonymous, resolve());
        assert_eq!(closed_at_once.state, CaseState::ClosedUnconfirmed);
        assert_eq!(
            update(&anonymous, &closed_at_once),
            Some(NoticeKind::IncidentResolved)
        );
        // Once resolved, the customer's answer or a close changes nothing at PagerDuty: a
        // "no" reopens the case, whose alert triggers a new incident.
        assert_eq!(update(&resolved, &apply(&resolved, answer(true))), None);
        assert_eq!(update(&resolved, &apply(&resolved, close)), None);
        let reopened = apply(&resolved, answer(false));
        assert_eq!(update(&resolved, &reopened), None);
        assert_eq!(
            update(&reopened, &apply(&reopened, ack())),
            Some(NoticeKind::IncidentAcknowledged)
        );
    }

    #[test]
    fn each_episode_has_its_own_update_notices() {
        let acked = apply(&case(), ack());
        let resolved = apply(&acked, resolve());
        let reopened = apply(&resolved, answer(false));
        let first =
            Notice::incident_update(&acked, NoticeKind::IncidentAcknowledged, vec![team()], t0());
        let reassigned = apply(
            &acked,
            Action::Assign {
                by: "lead".into(),
                to: "lee".into(),
                note: None,
            },
        );
        // The acknowledge notice an `ack` of `case` makes.
        let acknowledged = |case: &Case| {
            Notice::incident_update(
                &apply(case, ack()),
                NoticeKind::IncidentAcknowledged,
                vec![],
                t0(),
            )
        };
        let again = acknowledged(&reassigned);
        assert_eq!(first.id, again.id, "one acknowledge per episode");
        let second = acknowledged(&reopened);
        assert_ne!(first.id, second.id, "the reopened case's own");
        assert_eq!(first.paged, vec![team()]);
        let resolve_1 =
            Notice::incident_update(&resolved, NoticeKind::IncidentResolved, vec![], t0());
        assert_ne!(resolve_1.id, first.id);
        assert!(in_current_episode(resolve_1.kind, &resolve_1.id, &resolved));
        assert!(!in_current_episode(
            resolve_1.kind,
            &resolve_1.id,
            &reopened
        ));
    }

    #[test]
    fn updates_and_triggers_are_obsolete_once_the_case_moved_on() {
        let new = case();
        let opened = Notice::case_opened(&new, t0());
        assert!(still_wanted(&opened, &new));
        let acked = apply(&new, ack());
        assert!(!still_wanted(&opened, &acked), "taken up: no page");
        let ack_notice =
            Notice::incident_update(&acked, NoticeKind::IncidentAcknowledged, vec![team()], t0());
        assert!(still_wanted(&ack_notice, &acked));
        let resolved = apply(&acked, resolve());
        assert!(
            !still_wanted(&ack_notice, &resolved),
            "the resolve supersedes it"
        );
        assert!(!still_wanted(&opened, &resolved));
        let resolve_notice =
            Notice::incident_update(&resolved, NoticeKind::IncidentResolved, vec![team()], t0());
        assert!(still_wanted(&resolve_notice, &resolved));
        let closed = apply(&resolved, answer(true));
        assert!(still_wanted(&resolve_notice, &closed));

        // Reopened: the earlier episode's updates would touch the new incident.
        let reopened = apply(&resolved, answer(false));
        assert!(!still_wanted(&resolve_notice, &reopened));
        assert!(!still_wanted(&ack_notice, &reopened));
        assert!(
            !still_wanted(&opened, &reopened),
            "the reopened alert pages"
        );
        let reopen = Notice::case_reopened(&reopened, t0());
        assert!(still_wanted(&reopen, &reopened));
        assert!(!still_wanted(&reopen, &apply(&reopened, ack())));
        // Escalations page until the first response.
        let escalation = Notice::escalation(&new, 1, t0());
        assert!(still_wanted(&escalation, &new));
        assert!(!still_wanted(&escalation, &acked));
        // Other notices are not PagerDuty's business here.
        assert!(still_wanted(&Notice::case_closed(&closed, t0()), &closed));
    }

    #[test]
    fn paged_endpoints_are_noted_per_episode_and_only_when_sent() {
        let new = case();
        let opened = Notice::case_opened(&new, t0());
        let member = Target::Member {
            team: "desk".into(),
            member: "dana".into(),
        };
        let pd = Delivery::new(&opened, team(), Channel::PagerDuty);
        let slack = Delivery::new(&opened, team(), Channel::Slack);
        let mut folded = Delivery::new(&opened, member.clone(), Channel::PagerDuty);
        folded.status = DeliveryStatus::Folded;
        let mut paged = Paged::default();
        for d in [&pd, &pd, &slack, &folded] {
            paged.note(&opened, &new, d);
        }
        assert_eq!(paged.targets_for(&new), [team()], "once, PagerDuty, sent");
        let escalation = Notice::escalation(&new, 1, t0());
        paged.note(
            &escalation,
            &new,
            &Delivery::new(&escalation, member.clone(), Channel::PagerDuty),
        );
        assert_eq!(paged.targets_for(&new), [team(), member.clone()]);
        assert_eq!(
            Paged::from_deliveries(&new, [&pd, &slack, &folded]),
            Paged {
                episode: 0,
                targets: vec![team()]
            },
            "derived from the deliveries as it would have been noted"
        );

        // The reopened episode starts a list of its own.
        let resolved = apply(&apply(&new, ack()), resolve());
        let reopened = apply(&resolved, answer(false));
        assert!(paged.targets_for(&reopened).is_empty());
        let reopen = Notice::case_reopened(&reopened, t0());
        let again = Delivery::new(&reopen, member.clone(), Channel::PagerDuty);
        paged.note(&reopen, &reopened, &again);
        assert_eq!(paged.targets_for(&reopened), std::slice::from_ref(&member));
        assert_eq!(
            Paged::from_deliveries(&reopened, [&pd, &again]).targets,
            [member]
        );
        // A trigger planned when nobody needs paging (a late alert of a case being worked)
        // is cancelled when sent, so it is not noted.
        let mut late = Paged::default();
        let acked = apply(&new, ack());
        late.note(
            &opened,
            &acked,
            &Delivery::new(&opened, team(), Channel::PagerDuty),
        );
        assert!(late.targets.is_empty());
    }

    #[test]
    fn every_event_about_a_case_shares_its_dedup_key() {
        assert_eq!(dedup_key("c1"), "closeloop-case-c1");
    }
}
