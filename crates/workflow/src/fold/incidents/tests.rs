//! PagerDuty following the case through the log: the acknowledge and resolve go only where
//! the case's triggers went, once per episode, in the change's own write; agents racing
//! included.

use std::collections::{BTreeMap, BTreeSet};

use closeloop_domain::case::{Action, CaseState, CustomerAnswer};
use closeloop_domain::delivery::{Channel, Delivery, DeliveryStatus, Target};
use closeloop_domain::dispatch::incident::Paged;
use closeloop_domain::dispatch::store as dispatch_store;
use closeloop_domain::envelope;
use closeloop_domain::keys;
use closeloop_domain::notice::{Notice, NoticeKind};
use serde_json::json;

use crate::fold::change::tests::{
    ack, act, case, claims, file, notices, opened, resolve, two_acknowledging_at_once,
};
use crate::fold::records;
use crate::fold::tests::{App, arrival, feedback, t0};
use crate::fold::{Command, Verdict};

/// The front desk pages on its PagerDuty service and Dana on her own, besides Slack and
/// email; Lee takes no alerts.
fn paging_front_desk(app: &App) {
    let team: closeloop_domain::dispatch::directory::Team = serde_json::from_value(json!({
        "id": "front-desk",
        "endpoints": [
            {"channel": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"},
            {"channel": "pagerduty", "routing_key": "0123456789abcdef0123456789abcdef"}
        ],
        "members": [
            {"id": "dana", "name": "Dana", "endpoints": [
                {"channel": "email", "address": "dana@hotel.test"},
                {"channel": "pagerduty", "routing_key": "fedcba9876543210fedcba9876543210"}
            ]},
            {"id": "lee", "name": "Lee", "alerts": false, "endpoints": [
                {"channel": "email", "address": "lee@hotel.test"}
            ]}
        ]
    }))
    .unwrap();
    app.store
        .seed(&dispatch_store::team("front-desk"), envelope::encode(&team));
}

fn desk() -> Target {
    Target::Team {
        team: "front-desk".into(),
    }
}

fn dana() -> Target {
    Target::Member {
        team: "front-desk".into(),
        member: "dana".into(),
    }
}

/// The case's deliveries of `kind`.
fn sent_of(app: &App, id: &str, kind: NoticeKind) -> Vec<Delivery> {
    file(app, id)
        .deliveries
        .iter()
        .map(|d| {
            app.record::<Delivery>(&keys::delivery(d))
                .expect("a delivery")
        })
        .filter(|d| d.kind == kind)
        .collect()
}

/// Every notice and delivery record in the store, as stored.
type Outbox = BTreeMap<String, Vec<u8>>;

fn outbox(app: &App) -> Outbox {
    let prefixes = [keys::notice(""), keys::delivery("")];
    app.store
        .keys()
        .into_iter()
        .filter(|k| prefixes.iter().any(|p| k.starts_with(p.as_str())))
        .filter_map(|k| app.store.peek(&k).map(|v| (k, v)))
        .collect()
}

/// The notice and delivery keys written or rewritten since `before` was taken: what a
/// change owed, which the store's write count (calls, not keys) cannot tell.
fn outbox_since(app: &App, before: &Outbox) -> BTreeSet<String> {
    outbox(app)
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, _)| k)
        .collect()
}

/// The kinds of the notices and deliveries at `written` (from [`outbox_since`]).
fn kinds_at(app: &App, written: &BTreeSet<String>) -> Vec<NoticeKind> {
    written
        .iter()
        .map(|k| {
            if k.starts_with(&keys::notice("")) {
                app.record::<Notice>(k).expect("a notice").kind
            } else {
                app.record::<Delivery>(k).expect("a delivery").kind
            }
        })
        .collect()
}

fn targets(deliveries: &[Delivery]) -> Vec<Target> {
    deliveries.iter().map(|d| d.to.clone()).collect()
}

fn assign(to: &str) -> Action {
    Action::Assign {
        by: "Lead".into(),
        to: to.into(),
        note: None,
    }
}

fn close() -> Action {
    Action::CloseWithoutContact {
        by: "Dana".into(),
        reason: "the guest checked out".into(),
    }
}

#[test]
fn acknowledging_a_paged_case_acknowledges_its_incidents_once_in_the_same_write() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-1");
    let triggers = sent_of(&app, &id, NoticeKind::CaseOpened)
        .into_iter()
        .filter(|d| d.channel == Channel::PagerDuty)
        .collect::<Vec<_>>();
    assert_eq!(targets(&triggers), [desk(), dana()]);
    assert_eq!(
        file(&app, &id).paged,
        Some(Paged {
            episode: 0,
            targets: vec![desk(), dana()]
        }),
        "noted with the trigger, in its write"
    );

    let writes = app.store.writes();
    let before = outbox(&app);
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: ack("Dana"),
    });
    assert_eq!(
        app.store.writes() - writes,
        2,
        "the ticket and the fold: the acknowledge is in the change's write"
    );
    let acks = sent_of(&app, &id, NoticeKind::IncidentAcknowledged);
    assert_eq!(targets(&acks), [desk(), dana()], "where the triggers went");
    assert!(acks.iter().all(|d| d.channel == Channel::PagerDuty));
    let mut owed: BTreeSet<String> = acks.iter().map(|d| keys::delivery(&d.id)).collect();
    owed.insert(keys::notice(&acks[0].notice_id));
    assert_eq!(
        outbox_since(&app, &before),
        owed,
        "the acknowledge's notice and deliveries, nothing else"
    );
    let handover = done.folded.expect("the agent's request folded");
    let handed: Vec<&String> = acks.iter().map(|d| &d.id).collect();
    assert_eq!(handover.deliveries.iter().collect::<Vec<_>>(), handed);
    for d in &acks {
        assert!(
            d.leased_to(&handover.token, t0()),
            "its first attempt is the folder's"
        );
    }
    let notice: Notice = app.record(&keys::notice(&acks[0].notice_id)).unwrap();
    assert_eq!(notice.paged, [desk(), dana()]);

    // Reassigned and acknowledged again: the episode was acknowledged, nothing more is sent.
    act(&app, &id, assign("lee"));
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: ack("Lee"),
    });
    assert!(matches!(done.verdict, Verdict::CaseChanged { .. }));
    assert!(done.folded.is_none_or(|h| h.deliveries.is_empty()));
    assert_eq!(
        sent_of(&app, &id, NoticeKind::IncidentAcknowledged).len(),
        2
    );
    // An outreach after that is no news either.
    act(
        &app,
        &id,
        Action::LogOutreach {
            by: "Lee".into(),
            channel: closeloop_domain::case::OutreachChannel::Phone,
            outcome: closeloop_domain::case::OutreachOutcome::Reached,
            note: None,
        },
    );
    assert_eq!(
        sent_of(&app, &id, NoticeKind::IncidentAcknowledged).len(),
        2
    );
    // Slack, email and the variables' channels never hear of it.
    let updates = app
        .records::<Delivery>("delivery:")
        .into_iter()
        .filter(|d| d.kind.is_incident_update())
        .collect::<Vec<_>>();
    assert!(updates.iter().all(|d| d.channel == Channel::PagerDuty));
}

#[test]
fn an_outreach_before_any_acknowledgement_takes_the_case_up_too() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-outreach");
    act(
        &app,
        &id,
        Action::LogOutreach {
            by: "Dana".into(),
            channel: closeloop_domain::case::OutreachChannel::Phone,
            outcome: closeloop_domain::case::OutreachOutcome::LeftMessage,
            note: None,
        },
    );
    assert_eq!(case(&app, &id).state, CaseState::InProgress);
    assert_eq!(
        targets(&sent_of(&app, &id, NoticeKind::IncidentAcknowledged)),
        [desk(), dana()]
    );
}

/// Both agents take their tickets before either folds: the first acknowledges, the second is
/// refused, and PagerDuty is told once.
#[test]
fn of_two_agents_acknowledging_at_once_one_acknowledge_is_sent() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-race");
    let (a, b) = two_acknowledging_at_once(&app, &id);
    assert!(b.seq < a.seq);
    assert!(matches!(b.verdict, Verdict::CaseChanged { .. }));
    assert!(a.verdict.problem().is_some());
    let acks = sent_of(&app, &id, NoticeKind::IncidentAcknowledged);
    assert_eq!(targets(&acks), [desk(), dana()]);
    let handed: usize = [&a, &b]
        .iter()
        .filter_map(|d| d.folded.as_ref())
        .map(|h| h.deliveries.len())
        .sum();
    assert_eq!(handed, 2, "each acknowledge handed over once");
}

/// Agents acknowledging, reassigning, reaching out and closing at once, for real: whatever
/// the order, one acknowledge and one resolve per endpoint at most, and a resolve only once
/// the case is closed.
#[test]
fn agents_racing_for_real_send_each_update_at_most_once() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-real-race");
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let action = match i % 4 {
                0 => ack(&format!("agent {i}")),
                1 => assign("dana"),
                2 => Action::LogOutreach {
                    by: format!("agent {i}"),
                    channel: closeloop_domain::case::OutreachChannel::Phone,
                    outcome: closeloop_domain::case::OutreachOutcome::NoAnswer,
                    note: None,
                },
                _ if i == 15 => close(),
                _ => ack(&format!("agent {i}")),
            };
            let command = Command::CaseAction {
                case_id: id.clone(),
                action,
            };
            app.submit_on_thread(&format!("agent-{i}"), command)
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let acks = sent_of(&app, &id, NoticeKind::IncidentAcknowledged);
    let resolves = sent_of(&app, &id, NoticeKind::IncidentResolved);
    assert!(acks.len() <= 2, "{acks:?}");
    assert_eq!(resolves.len(), 2, "the close resolved both incidents");
    assert_eq!(targets(&resolves), [desk(), dana()]);
    assert_eq!(case(&app, &id).state, CaseState::ClosedUnconfirmed);
}

#[test]
fn leaving_the_team_resolves_once_and_a_reopening_pages_and_resolves_anew() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-loop");
    act(&app, &id, ack("Dana"));
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: resolve("Dana"),
    });
    let resolves = sent_of(&app, &id, NoticeKind::IncidentResolved);
    assert_eq!(targets(&resolves), [desk(), dana()]);
    let handover = done.folded.expect("folded");
    for d in &resolves {
        assert!(
            handover.deliveries.contains(&d.id),
            "handed over with the change"
        );
    }
    assert_eq!(
        handover.deliveries.len(),
        3,
        "the customer's follow-up and the two resolves"
    );

    // The customer says no: reopened, the reopened alert pages again (same dedup key, a new
    // incident at PagerDuty), and this episode is acknowledged and resolved on its own.
    let link = claims(
        &notices(&app, &id)
            .into_iter()
            .find(|n| n.kind == NoticeKind::CustomerFollowUp)
            .unwrap(),
    );
    let v = app
        .submit(Command::CustomerAnswer {
            case_id: id.clone(),
            round: link.round,
            nonce: link.nonce,
            answer: CustomerAnswer {
                resolved: false,
                score: None,
                comment: Some("still noisy".into()),
                answered_at: t0(),
            },
        })
        .verdict;
    assert!(matches!(v, Verdict::CaseChanged { ref case } if case.state == CaseState::Reopened));
    let retriggers: Vec<Delivery> = sent_of(&app, &id, NoticeKind::CaseReopened)
        .into_iter()
        .filter(|d| d.channel == Channel::PagerDuty)
        .collect();
    assert!(!retriggers.is_empty());
    assert_eq!(file(&app, &id).paged.unwrap().episode, 1);
    assert_eq!(
        sent_of(&app, &id, NoticeKind::IncidentResolved).len(),
        2,
        "nothing new"
    );

    act(&app, &id, ack("Dana"));
    let acks = sent_of(&app, &id, NoticeKind::IncidentAcknowledged);
    assert_eq!(acks.len(), 2 + retriggers.len());
    assert_ne!(acks[0].notice_id, acks.last().unwrap().notice_id, "its own");
    act(&app, &id, close());
    let resolves = sent_of(&app, &id, NoticeKind::IncidentResolved);
    assert_eq!(resolves.len(), 2 + retriggers.len());
    assert_eq!(
        targets(&resolves[2..]),
        targets(&retriggers),
        "where this episode's triggers went"
    );
}

#[test]
fn a_resolved_case_closed_later_is_not_resolved_again() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-closed");
    act(&app, &id, resolve("Dana"));
    assert_eq!(sent_of(&app, &id, NoticeKind::IncidentResolved).len(), 2);
    let writes = app.store.writes();
    let before = outbox(&app);
    act(&app, &id, close());
    assert_eq!(app.store.writes() - writes, 2);
    assert_eq!(
        outbox_since(&app, &before),
        BTreeSet::new(),
        "no notice or delivery written or rewritten"
    );
    assert_eq!(case(&app, &id).state, CaseState::ClosedUnconfirmed);
    assert_eq!(sent_of(&app, &id, NoticeKind::IncidentResolved).len(), 2);
    assert!(
        sent_of(&app, &id, NoticeKind::IncidentAcknowledged).is_empty(),
        "resolved without an acknowledgement: only the resolve"
    );
}

#[test]
fn a_case_that_paged_nobody_tells_pagerduty_nothing_and_writes_no_more() {
    // No directory team: the variables' Slack and webhook, no PagerDuty.
    let app = App::new();
    let id = opened(&app, "no-pd");
    for action in [ack("Dana"), resolve("Dana")] {
        let writes = app.store.writes();
        let before = outbox(&app);
        act(&app, &id, action);
        assert_eq!(app.store.writes() - writes, 2);
        let written = outbox_since(&app, &before);
        assert!(
            kinds_at(&app, &written)
                .iter()
                .all(|k| !k.is_incident_update()),
            "no incident update in the fold's write: {written:?}"
        );
    }
    let file = file(&app, &id);
    assert_eq!(file.paged, Some(Paged::default()));
    assert!(
        notices(&app, &id)
            .iter()
            .all(|n| !n.kind.is_incident_update()),
        "no notice at all"
    );

    // A P2 case of a paging team never paged (PagerDuty is for P1 only).
    let app = App::new();
    paging_front_desk(&app);
    let id = match app.submit(arrival(feedback("pd-p2", 5, "ok-ish"))).verdict {
        Verdict::Accepted {
            case_id: Some(id), ..
        } => id,
        other => panic!("{other:?}"),
    };
    assert_ne!(case(&app, &id).triage.priority.as_str(), "P1");
    act(&app, &id, ack("Dana"));
    act(&app, &id, resolve("Dana"));
    assert!(
        app.records::<Delivery>("delivery:")
            .iter()
            .all(|d| d.channel != Channel::PagerDuty)
    );
}

#[test]
fn a_trigger_folded_into_an_identical_alert_was_never_sent_and_is_not_updated() {
    let app = App::new();
    paging_front_desk(&app);
    let first = opened(&app, "pd-same-1");
    // The same customer sends the same answer again under a new response id: a second case
    // whose identical alerts (the team's and Dana's) are folded into the first's.
    let second = opened(&app, "pd-same-2");
    assert_ne!(first, second);
    let folded = sent_of(&app, &second, NoticeKind::CaseOpened);
    assert!(
        folded.iter().all(|d| d.status == DeliveryStatus::Folded),
        "{folded:?}"
    );
    assert_eq!(file(&app, &second).paged, Some(Paged::default()));
    act(&app, &second, ack("Dana"));
    act(&app, &second, resolve("Dana"));
    assert!(sent_of(&app, &second, NoticeKind::IncidentAcknowledged).is_empty());
    assert!(sent_of(&app, &second, NoticeKind::IncidentResolved).is_empty());
}

#[test]
fn a_case_file_from_before_the_record_is_read_from_its_deliveries_once() {
    let app = App::new();
    paging_front_desk(&app);
    let id = opened(&app, "pd-old");
    // As a file written before `paged` was kept.
    let mut old = file(&app, &id);
    old.paged = None;
    app.store
        .seed(&records::case_file(&id), envelope::encode(&old));
    assert!(
        !String::from_utf8(app.store.peek(&records::case_file(&id)).unwrap())
            .unwrap()
            .contains("paged")
    );

    act(&app, &id, ack("Dana"));
    assert_eq!(
        targets(&sent_of(&app, &id, NoticeKind::IncidentAcknowledged)),
        [desk(), dana()]
    );
    assert_eq!(
        file(&app, &id).paged,
        Some(Paged {
            episode: 0,
            targets: vec![desk(), dana()]
        }),
        "kept from then on"
    );
    act(&app, &id, resolve("Dana"));
    assert_eq!(
        targets(&sent_of(&app, &id, NoticeKind::IncidentResolved)),
        [desk(), dana()]
    );
}
