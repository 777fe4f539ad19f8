//! Planning: which deliveries a notice needs, to whom, on which channels, and when.
//!
//! - Case alerts go to the routed team. A team in the directory is alerted on its shared
//!   endpoints and, per person, the routed owner (or every member who takes alerts) on each
//!   of their endpoints; routing's `channels` narrow that list (empty = all). A team not in
//!   the directory is alerted on the channels configured in variables. PagerDuty is for P1
//!   only. Routing's `digest` mode sends to the digest, `suppress` to no one (a reopened case
//!   is always alerted: the customer said it is not fixed).
//! - Escalations go to the n-th person of the team's escalation chain.
//! - Incident updates (PagerDuty `acknowledge` and `resolve`, see [`super::incident`]) go to
//!   the PagerDuty endpoints the notice lists, those the case's triggers went to, and nowhere
//!   else: whatever the priority, routing or directory say now, never held or folded.
//! - Customer messages go to the first available of the notice's channels (default: the
//!   customer webhook, then email, then SMS).
//! - Quiet hours hold a person's non-P1 alerts until they end. Folding and rate limits (for
//!   recipients in the directory; the variables' channels get every alert) need
//!   counters from the store, so the plan marks each person's deliveries with a [`Guard`] and
//!   the component applies [`decide`] to the counts it took.

use super::directory::{Endpoint, Member, Team};
use super::fatigue;
use crate::Timestamp;
use crate::case::Case;
use crate::delivery::{Channel, ConfiguredChannels, Delivery, DeliveryStatus, Target};
use crate::feedback::Feedback;
use crate::notice::{Notice, NoticeKind};
use crate::triage::{DeliveryMode, Priority};

/// Counters to take for one recipient before their deliveries go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Names identical alerts; counted per fold window (`window`, and the one before).
    pub fold_key: String,
    /// Names the person's alerts, with their hourly limit (none for shared channels).
    pub rate: Option<(String, u32)>,
}

/// The counts a planner took for one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Identical alerts in the current fold window, this one included.
    pub folds: u64,
    /// Identical alerts in the previous fold window.
    pub folds_before: u64,
    /// The person's alerts in the current rate window (this one included), and the previous.
    pub rate: Option<(u64, u64)>,
}

/// One recipient's deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientPlan {
    pub target: Target,
    pub deliveries: Vec<Delivery>,
    pub guard: Option<Guard>,
    /// Routing asked for the digest rather than an alert now.
    pub digest: bool,
}

pub struct PlanInput<'a> {
    pub notice: &'a Notice,
    pub case: Option<&'a Case>,
    pub feedback: Option<&'a Feedback>,
    /// The directory entry of the team the notice is for, if there is one.
    pub team: Option<&'a Team>,
    pub configured: ConfiguredChannels,
    pub now: Timestamp,
}

/// What the counters say about one recipient's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Send,
    Fold,
    Digest,
}

/// What to do with a recipient's alert, from the counts taken for it at `now`.
pub fn decide(guard: &Guard, counts: Counts, digest: bool, now: Timestamp) -> Decision {
    if counts.folds > 1 || counts.folds_before > 0 {
        return Decision::Fold;
    }
    if digest {
        return Decision::Digest;
    }
    match (&guard.rate, counts.rate) {
        (Some((_, limit)), Some((current, before)))
            if fatigue::over_limit(
                fatigue::sliding_count(current, before, now, fatigue::RATE_WINDOW_SECS),
                *limit,
            ) =>
        {
            Decision::Digest
        }
        _ => Decision::Send,
    }
}

/// Applies a decision to the recipient's deliveries.
pub fn apply(plan: &mut RecipientPlan, decision: Decision) {
    for d in &mut plan.deliveries {
        match decision {
            Decision::Send => {}
            Decision::Fold => {
                d.status = DeliveryStatus::Folded;
                d.note = Some(format!(
                    "folded: an identical alert reached {} less than {} minutes ago",
                    plan.target.key(),
                    fatigue::FOLD_WINDOW_SECS / 60
                ));
            }
            Decision::Digest => {
                d.status = DeliveryStatus::Digested;
                d.note = Some(format!(
                    "moved to the daily digest of {}",
                    plan.target.key()
                ));
            }
        }
    }
}

fn priority(input: &PlanInput) -> Option<Priority> {
    input.case.map(|c| c.triage.priority)
}

fn allowed(channel: Channel, wanted: &[Channel], p: Option<Priority>) -> bool {
    (wanted.is_empty() || wanted.contains(&channel))
        && (channel != Channel::PagerDuty || p == Some(Priority::P1))
}

/// Names an alert by what its recipient would read: who, what kind, which customer, the
/// priority, score and comment. A customer who submits the same answer twice (or a survey
/// platform that resends it under a new id) makes identical alerts.
fn fold_key(input: &PlanInput, target: &Target) -> String {
    let (customer, score, comment) = input
        .feedback
        .map(|f| {
            let who = f
                .customer
                .id
                .clone()
                .or_else(|| f.customer.email.clone())
                .or_else(|| f.customer.phone.clone())
                .unwrap_or_else(|| f.id.clone());
            let score = f.score.map(|s| s.label()).unwrap_or_default();
            (who, score, f.comment.clone().unwrap_or_default())
        })
        .unwrap_or_default();
    crate::ids::digest(&[
        &target.key(),
        input.notice.kind.as_str(),
        &customer,
        priority(input).map(|p| p.as_str()).unwrap_or(""),
        &score,
        &comment,
    ])
}

fn rate_key(target: &Target) -> String {
    crate::ids::digest(&[&target.key(), "rate"])
}

fn person(
    input: &PlanInput,
    team: &Team,
    m: &Member,
    wanted: &[Channel],
    rate_limited: bool,
) -> Option<RecipientPlan> {
    let p = priority(input);
    let target = Target::Member {
        team: team.id.clone(),
        member: m.id.clone(),
    };
    let held = if p == Some(Priority::P1) {
        None
    } else {
        m.quiet_until(input.now)
    };
    let deliveries: Vec<Delivery> = m
        .endpoints
        .iter()
        .map(Endpoint::channel)
        .filter(|c| allowed(*c, wanted, p))
        .map(|c| {
            let mut d = Delivery::new(input.notice, target.clone(), c);
            if let Some(until) = held {
                d.next_attempt_at = until;
                d.note = Some(format!(
                    "held for {}'s quiet hours until {}",
                    m.id,
                    until.to_rfc3339()
                ));
            }
            d
        })
        .collect();
    if deliveries.is_empty() {
        return None;
    }
    Some(RecipientPlan {
        guard: Some(Guard {
            fold_key: fold_key(input, &target),
            rate: rate_limited.then(|| (rate_key(&target), m.max_alerts_per_hour())),
        }),
        target,
        deliveries,
        digest: false,
    })
}

fn configured(input: &PlanInput, wanted: &[Channel]) -> Option<RecipientPlan> {
    let c = input.configured;
    let p = priority(input);
    let deliveries: Vec<Delivery> = [
        (Channel::Slack, c.slack),
        (Channel::Webhook, c.webhook),
        (Channel::Teams, c.teams),
        (Channel::PagerDuty, c.pagerduty),
    ]
    .into_iter()
    .filter(|(ch, on)| *on && allowed(*ch, wanted, p))
    .map(|(ch, _)| Delivery::new(input.notice, Target::Configured, ch))
    .collect();
    // The variables' channels are nobody's in particular and have no fatigue settings: they
    // get every alert, as before the directory existed.
    (!deliveries.is_empty()).then_some(RecipientPlan {
        guard: None,
        target: Target::Configured,
        deliveries,
        digest: false,
    })
}

fn shared(input: &PlanInput, team: &Team, wanted: &[Channel]) -> Option<RecipientPlan> {
    let p = priority(input);
    let target = Target::Team {
        team: team.id.clone(),
    };
    let deliveries: Vec<Delivery> = team
        .endpoints
        .iter()
        .map(Endpoint::channel)
        .filter(|c| allowed(*c, wanted, p))
        .map(|c| Delivery::new(input.notice, target.clone(), c))
        .collect();
    (!deliveries.is_empty()).then(|| RecipientPlan {
        guard: Some(Guard {
            fold_key: fold_key(input, &target),
            rate: None,
        }),
        target,
        deliveries,
        digest: false,
    })
}

/// The deliveries `input.notice` needs, per recipient.
pub fn plan(input: &PlanInput) -> Vec<RecipientPlan> {
    let notice = input.notice;
    match notice.kind {
        NoticeKind::CaseOpened | NoticeKind::CaseReopened | NoticeKind::CustomerReplied => {
            let Some(case) = input.case else {
                return Vec::new();
            };
            let routing = &case.triage.routing;
            // The customer speaking again (a "no", a reply) goes to the owner at once, whatever
            // the routing made of the first answer.
            let mode = if notice.kind == NoticeKind::CaseOpened {
                routing.delivery
            } else {
                DeliveryMode::Immediate
            };
            if mode == DeliveryMode::Suppress {
                return Vec::new();
            }
            let wanted: Vec<Channel> = routing
                .channels
                .iter()
                .filter_map(|c| Channel::parse(c))
                .collect();
            let mut plans = Vec::new();
            match input.team {
                Some(team) => {
                    plans.extend(shared(input, team, &wanted));
                    let owner = routing
                        .owner
                        .as_deref()
                        .or(case.owner.as_deref())
                        .and_then(|o| team.member(o));
                    let people: Vec<&Member> = match owner {
                        Some(m) => vec![m],
                        None => team.members.iter().filter(|m| m.alerts).collect(),
                    };
                    for m in people {
                        plans.extend(person(input, team, m, &wanted, true));
                    }
                    if plans.is_empty() {
                        plans.extend(configured(input, &wanted));
                    }
                }
                None => plans.extend(configured(input, &wanted)),
            }
            if mode == DeliveryMode::Digest {
                for p in &mut plans {
                    p.digest = true;
                }
            }
            plans
        }
        NoticeKind::Escalation => {
            let level = notice.level.max(1) as usize;
            let person_plan = input.team.and_then(|team| {
                let m = team.member(team.escalation.get(level - 1)?)?;
                let mut p = person(input, team, m, &[], false)?;
                p.guard = None;
                Some(p)
            });
            match person_plan {
                Some(p) => vec![p],
                None => configured(input, &[])
                    .map(|mut p| {
                        p.guard = None;
                        p
                    })
                    .into_iter()
                    .collect(),
            }
        }
        NoticeKind::CaseClosed => {
            // The watchers: the team's shared endpoints and any member named a watcher, else
            // the configured channels. Reading, not paging: never PagerDuty.
            let Some(case) = input.case else {
                return Vec::new();
            };
            let no_paging: Vec<Channel> = Channel::ALL
                .into_iter()
                .filter(|c| *c != Channel::PagerDuty)
                .collect();
            let mut plans = Vec::new();
            if let Some(team) = input.team {
                plans.extend(shared(input, team, &no_paging));
                for w in crate::message::watchers(case) {
                    if let Some(m) = team.member(&w) {
                        plans.extend(person(input, team, m, &no_paging, false));
                    }
                }
            }
            if plans.is_empty() {
                plans.extend(configured(input, &no_paging));
            }
            for p in &mut plans {
                p.guard = None;
            }
            plans
        }
        NoticeKind::CustomerFollowUp | NoticeKind::CustomerReminder => {
            let c = input.configured;
            let contact = |ch: Channel| {
                let f = input.feedback;
                match ch {
                    Channel::CustomerWebhook => c.customer_webhook,
                    Channel::Email => c.email && f.is_some_and(|f| f.customer.email.is_some()),
                    Channel::Sms => c.sms && f.is_some_and(|f| f.customer.phone.is_some()),
                    _ => false,
                }
            };
            let order = if notice.channels.is_empty() {
                vec![Channel::CustomerWebhook, Channel::Email, Channel::Sms]
            } else {
                notice.channels.clone()
            };
            order
                .into_iter()
                .find(|ch| contact(*ch))
                .map(|ch| {
                    let (target, ch) = if ch == Channel::CustomerWebhook {
                        // The form such deliveries had before targets existed.
                        (Target::Configured, ch)
                    } else {
                        (Target::Customer, ch)
                    };
                    RecipientPlan {
                        deliveries: vec![Delivery::new(notice, target.clone(), ch)],
                        target,
                        guard: None,
                        digest: false,
                    }
                })
                .into_iter()
                .collect()
        }
        NoticeKind::Digest => {
            let Some(target) = notice.target.clone() else {
                return Vec::new();
            };
            let channels: Vec<Channel> = match (&target, input.team) {
                (Target::Member { member, .. }, Some(team)) => team
                    .member(member)
                    .map(|m| m.endpoints.iter().map(Endpoint::channel).collect())
                    .unwrap_or_default(),
                (Target::Team { .. }, Some(team)) => {
                    team.endpoints.iter().map(Endpoint::channel).collect()
                }
                (Target::Configured, _) => {
                    let c = input.configured;
                    [
                        (Channel::Slack, c.slack),
                        (Channel::Webhook, c.webhook),
                        (Channel::Teams, c.teams),
                    ]
                    .into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(ch, _)| ch)
                    .collect()
                }
                _ => Vec::new(),
            };
            // A digest is reading, not paging: no SMS, no PagerDuty.
            let deliveries: Vec<Delivery> = channels
                .into_iter()
                .filter(|c| !matches!(c, Channel::Sms | Channel::PagerDuty))
                .map(|c| Delivery::new(notice, target.clone(), c))
                .collect();
            if deliveries.is_empty() {
                return Vec::new();
            }
            vec![RecipientPlan {
                target,
                deliveries,
                guard: None,
                digest: false,
            }]
        }
        NoticeKind::IncidentAcknowledged | NoticeKind::IncidentResolved => notice
            .paged
            .iter()
            .map(|target| RecipientPlan {
                deliveries: vec![Delivery::new(notice, target.clone(), Channel::PagerDuty)],
                target: target.clone(),
                guard: None,
                digest: false,
            })
            .collect(),
        NoticeKind::DeliveryFailed => {
            if !input.configured_ops() {
                return Vec::new();
            }
            vec![RecipientPlan {
                deliveries: vec![Delivery::new(notice, Target::Operations, Channel::Slack)],
                target: Target::Operations,
                guard: None,
                digest: false,
            }]
        }
    }
}

impl PlanInput<'_> {
    fn configured_ops(&self) -> bool {
        self.configured.ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{Routing, Triage};
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn t(h: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap()
    }

    fn case(p: Priority, routing: Routing) -> Case {
        Case::open(
            "fb",
            t(9),
            Triage {
                class: None,
                priority: p,
                team: routing.team.clone(),
                first_response_due: t(10),
                resolution_due: t(9) + Duration::hours(24),
                alert: true,
                routing,
                reasons: vec![],
                analysis: Default::default(),
                triaged_at: t(9),
            },
        )
    }

    fn team() -> Team {
        let v = json!({
            "endpoints": [{"channel": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"},
                          {"channel": "pagerduty", "routing_key": "0123456789abcdef0123456789abcdef"}],
            "members": [
                {"id": "dana", "name": "Dana", "time_zone": "Europe/London",
                 "quiet_hours": {"start": "22:00", "end": "07:00"},
                 "endpoints": [{"channel": "email", "address": "dana@example.com"},
                               {"channel": "sms", "phone": "+447700900001"}]},
                {"id": "lee", "name": "Lee", "alerts": false,
                 "endpoints": [{"channel": "email", "address": "lee@example.com"}]}
            ],
            "escalation": ["dana", "lee"]
        });
        serde_json::from_value::<Team>(v)
            .unwrap()
            .validate("desk")
            .unwrap()
    }

    fn run(
        case: &Case,
        notice: &Notice,
        team: Option<&Team>,
        now: Timestamp,
    ) -> Vec<RecipientPlan> {
        plan(&PlanInput {
            notice,
            case: Some(case),
            feedback: None,
            team,
            configured: ConfiguredChannels {
                slack: true,
                webhook: true,
                ..Default::default()
            },
            now,
        })
    }

    fn channels(p: &RecipientPlan) -> Vec<&str> {
        p.deliveries.iter().map(|d| d.channel.as_str()).collect()
    }

    #[test]
    fn a_directory_team_is_alerted_on_its_channel_and_per_person() {
        let team = team();
        let c = case(Priority::P1, Routing::to_team("desk", true));
        let plans = run(&c, &Notice::case_opened(&c, t(9)), Some(&team), t(9));
        assert_eq!(plans.len(), 2, "team channel and Dana; Lee takes no alerts");
        assert_eq!(plans[0].target.key(), "team.desk");
        assert_eq!(channels(&plans[0]), ["slack", "pagerduty"]);
        assert_eq!(plans[1].target.key(), "member.desk.dana");
        assert_eq!(channels(&plans[1]), ["email", "sms"]);
        assert!(plans[1].guard.as_ref().unwrap().rate.is_some());
        // P2: no PagerDuty.
        let c2 = case(Priority::P2, Routing::to_team("desk", true));
        let plans = run(&c2, &Notice::case_opened(&c2, t(9)), Some(&team), t(9));
        assert_eq!(channels(&plans[0]), ["slack"]);
    }

    #[test]
    fn routing_narrows_channels_and_picks_the_owner() {
        let team = team();
        let mut r = Routing::to_team("desk", true);
        r.channels = vec!["email".into()];
        r.owner = Some("lee".into());
        let c = case(Priority::P2, r);
        let plans = run(&c, &Notice::case_opened(&c, t(9)), Some(&team), t(9));
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].target.key(), "member.desk.lee");
        assert_eq!(channels(&plans[0]), ["email"]);
    }

    #[test]
    fn a_customer_s_reply_goes_to_the_case_owner_and_the_team_channel() {
        let team = team();
        let mut c = case(Priority::P2, Routing::to_team("desk", true));
        c.owner = Some("lee".into());
        let plans = run(
            &c,
            &Notice::customer_replied(&c, 1, t(9)),
            Some(&team),
            t(9),
        );
        let targets: Vec<String> = plans.iter().map(|p| p.target.key()).collect();
        assert_eq!(targets, ["team.desk", "member.desk.lee"]);
    }

    #[test]
    fn quiet_hours_hold_all_but_p1() {
        let team = team();
        // 23:00 UTC is 23:00 in London: quiet until 07:00.
        let c = case(Priority::P2, Routing::to_team("desk", true));
        let plans = run(&c, &Notice::case_opened(&c, t(23)), Some(&team), t(23));
        let dana = &plans[1];
        let next = dana.deliveries[0].next_attempt_at;
        assert_eq!(next, t(23) + Duration::hours(8));
        assert!(
            dana.deliveries[0]
                .note
                .as_ref()
                .unwrap()
                .contains("quiet hours")
        );
        let c1 = case(Priority::P1, Routing::to_team("desk", true));
        let plans = run(&c1, &Notice::case_opened(&c1, t(23)), Some(&team), t(23));
        assert_eq!(plans[1].deliveries[0].next_attempt_at, t(23));
    }

    #[test]
    fn digest_and_suppress_modes() {
        let mut r = Routing::to_team("desk", true);
        r.delivery = DeliveryMode::Digest;
        let c = case(Priority::P3, r);
        let plans = run(&c, &Notice::case_opened(&c, t(9)), None, t(9));
        assert!(plans.iter().all(|p| p.digest));
        let mut r = Routing::to_team("desk", true);
        r.delivery = DeliveryMode::Suppress;
        let c = case(Priority::P3, r);
        assert!(run(&c, &Notice::case_opened(&c, t(9)), None, t(9)).is_empty());
        assert!(!run(&c, &Notice::case_reopened(&c, t(9)), None, t(9)).is_empty());
        // A customer's reply is read at once too, whatever the routing made of the answer.
        let plans = run(&c, &Notice::customer_replied(&c, 1, t(9)), None, t(9));
        assert!(!plans.is_empty() && plans.iter().all(|p| !p.digest));
    }

    #[test]
    fn escalations_follow_the_chain() {
        let team = team();
        let c = case(Priority::P2, Routing::to_team("desk", true));
        let p1 = run(&c, &Notice::escalation(&c, 1, t(10)), Some(&team), t(12));
        assert_eq!(p1[0].target.key(), "member.desk.dana");
        let p2 = run(&c, &Notice::escalation(&c, 2, t(11)), Some(&team), t(12));
        assert_eq!(p2[0].target.key(), "member.desk.lee");
        assert!(
            p2[0].guard.is_none(),
            "escalations are never folded or limited"
        );
        // Without a directory entry, the configured channels.
        let p = run(&c, &Notice::escalation(&c, 1, t(10)), None, t(12));
        assert_eq!(p[0].target, Target::Configured);
    }

    #[test]
    fn incident_updates_go_to_the_endpoints_paged_and_nowhere_else() {
        let team = team();
        let dana = Target::Member {
            team: "desk".into(),
            member: "dana".into(),
        };
        let paged = vec![
            Target::Team {
                team: "desk".into(),
            },
            dana,
        ];
        // Retriaged to P2 since, at night: the incident is open all the same.
        let c = case(Priority::P2, Routing::to_team("desk", true));
        for notice in [
            Notice::incident_update(&c, NoticeKind::IncidentAcknowledged, paged.clone(), t(23)),
            Notice::incident_update(&c, NoticeKind::IncidentResolved, paged.clone(), t(23)),
        ] {
            let plans = run(&c, &notice, Some(&team), t(23));
            let to: Vec<&Target> = plans.iter().map(|p| &p.target).collect();
            assert_eq!(to, paged.iter().collect::<Vec<_>>());
            for p in &plans {
                assert_eq!(channels(p), ["pagerduty"]);
                assert!(p.guard.is_none() && !p.digest);
                assert_eq!(p.deliveries[0].next_attempt_at, t(23), "not held");
            }
        }
        // Nothing paged, nothing to update (and never Slack or email).
        let none = Notice::incident_update(&c, NoticeKind::IncidentResolved, vec![], t(9));
        assert!(run(&c, &none, Some(&team), t(9)).is_empty());
    }

    #[test]
    fn identical_answers_share_a_fold_key_and_different_ones_do_not() {
        let team = team();
        let c = case(Priority::P2, Routing::to_team("desk", true));
        let n = Notice::case_opened(&c, t(9));
        let fb = |comment: &str| -> Feedback {
            serde_json::from_value(json!({
                "id": "f", "source": "s", "external_id": "e",
                "submitted_at": t(9), "received_at": t(9),
                "customer": {"id": "c1", "email": null, "name": null, "phone": null},
                "score": {"kind": "nps", "value": 4, "scale": 10},
                "comment": comment
            }))
            .unwrap()
        };
        let key = |f: &Feedback| {
            plan(&PlanInput {
                notice: &n,
                case: Some(&c),
                feedback: Some(f),
                team: Some(&team),
                configured: ConfiguredChannels::default(),
                now: t(9),
            })[1]
                .guard
                .clone()
                .unwrap()
                .fold_key
        };
        assert_eq!(key(&fb("Dirty towels")), key(&fb("Dirty towels")));
        assert_ne!(key(&fb("Dirty towels")), key(&fb("Dirty towels again")));
    }

    #[test]
    fn decisions_at_and_past_the_limit() {
        let g = Guard {
            fold_key: "f".into(),
            rate: Some(("r".into(), 2)),
        };
        let c = |folds, folds_before, rate| Counts {
            folds,
            folds_before,
            rate: Some(rate),
        };
        let mid = t(9) + Duration::minutes(30);
        assert_eq!(decide(&g, c(1, 0, (2, 0)), false, t(9)), Decision::Send);
        assert_eq!(decide(&g, c(1, 0, (3, 0)), false, t(9)), Decision::Digest);
        // A burst across the hour still counts together; half an hour on, half as much.
        assert_eq!(decide(&g, c(1, 0, (1, 2)), false, t(9)), Decision::Digest);
        assert_eq!(decide(&g, c(1, 0, (1, 2)), false, mid), Decision::Send);
        assert_eq!(decide(&g, c(2, 0, (1, 0)), false, t(9)), Decision::Fold);
        assert_eq!(decide(&g, c(1, 1, (1, 0)), false, t(9)), Decision::Fold);
        assert_eq!(decide(&g, c(1, 0, (1, 0)), true, t(9)), Decision::Digest);
    }
}
