//! What a change of state sends, and the contact rules, through the log; and helpers the
//! other follow-up tests share.

use closeloop_domain::case::{Action, Case, CaseState, EventKind, RootCause};
use closeloop_domain::contact::{self, ContactKind, DncEntry, QuietHours};
use closeloop_domain::delivery::{Delivery, DeliveryStatus};
use closeloop_domain::envelope;
use closeloop_domain::keys;
use closeloop_domain::link::LinkClaims;
use closeloop_domain::notice::{Notice, NoticeKind};

use crate::fold::records::{self, CaseFile};
use crate::fold::tests::{App, arrival, context, feedback, t0};
use crate::fold::{Closeloop, Command, Handover, Verdict};
use crate::log::{self, Submitted};
use crate::testing::{Schedule, spawn};

/// An app with one detractor's case open; returns the case's id.
pub fn opened(app: &App, external_id: &str) -> String {
    match app
        .submit(arrival(feedback(external_id, 3, "noisy room")))
        .verdict
    {
        Verdict::Accepted {
            case_id: Some(id), ..
        } => id,
        other => panic!("{other:?}"),
    }
}

pub fn act(app: &App, case_id: &str, action: Action) -> Verdict {
    app.submit(Command::CaseAction {
        case_id: case_id.to_owned(),
        action,
    })
    .verdict
}

pub fn ack(by: &str) -> Action {
    Action::Acknowledge {
        by: by.into(),
        note: None,
    }
}

pub fn resolve(by: &str) -> Action {
    Action::Resolve {
        by: by.into(),
        summary: "moved the guest to a quiet room".into(),
        root_cause: RootCause::Facilities,
    }
}

/// Agents "a" and "b" acknowledge case `id` at once: "b" takes the first ticket, then "a",
/// both before either folds; then both run freely. Returns what each was answered, `(a, b)`.
pub fn two_acknowledging_at_once(
    app: &App,
    id: &str,
) -> (Submitted<Verdict, Handover>, Submitted<Verdict, Handover>) {
    let schedule = Schedule::install(&app.store, &["b", "a"]);
    let run = |name: &'static str| {
        let (store, env, fold) = (app.store.clone(), app.env.clone(), app.fold.clone());
        let command = Command::CaseAction {
            case_id: id.to_owned(),
            action: ack(name),
        };
        spawn(name, move || {
            log::submit(store.as_ref(), &env, fold.as_ref(), command).unwrap()
        })
    };
    let (a, b) = (run("a"), run("b"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(schedule.remaining().is_empty());
    (a, b)
}

pub fn case(app: &App, id: &str) -> Case {
    app.record(&keys::case(id)).expect("the case")
}

pub fn file(app: &App, id: &str) -> CaseFile {
    app.record(&records::case_file(id)).expect("the case file")
}

pub fn kinds(app: &App, id: &str) -> Vec<EventKind> {
    file(app, id).events.iter().map(|e| e.kind).collect()
}

/// The notices of a case, by kind.
pub fn notices(app: &App, id: &str) -> Vec<Notice> {
    file(app, id)
        .notices
        .iter()
        .map(|n| app.record(&keys::notice(n)).expect("a notice"))
        .collect()
}

/// The case's customer message of `kind`, if one was queued.
pub fn customer_message(app: &App, id: &str, kind: NoticeKind) -> Option<Notice> {
    notices(app, id).into_iter().find(|n| n.kind == kind)
}

/// The claims of a notice's confirmation link, checked with the app's key at `t0`.
pub fn claims(notice: &Notice) -> LinkClaims {
    let link = notice.link.as_deref().expect("a link");
    let token = link.rsplit('/').next().unwrap();
    context()
        .link_key
        .unwrap()
        .verify(token, t0())
        .expect("a valid link")
}

#[test]
fn resolving_sends_the_customer_a_signed_link_for_the_round_and_hands_it_over() {
    let app = App::new();
    let id = opened(&app, "s-1");
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: resolve("Dana"),
    });
    let Verdict::CaseChanged { case } = &done.verdict else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!(
        (case.state, case.round),
        (CaseState::ResolvedAwaitingCustomer, 1)
    );
    let notice = customer_message(&app, &id, NoticeKind::CustomerFollowUp).expect("asked");
    let link = notice.link.as_deref().unwrap();
    assert!(
        link.starts_with("http://closeloop.test/v1/confirm/"),
        "{link}"
    );
    let c = claims(&notice);
    assert_eq!((c.case_id.as_str(), c.round), (id.as_str(), 1));
    assert_eq!(
        c.expires_at,
        (t0() + chrono::Duration::hours(168)).timestamp()
    );
    // Its delivery is leased to the request that folded, which hands it to dispatch.
    let handover = done.folded.unwrap();
    let customer: Vec<Delivery> = handover
        .deliveries
        .iter()
        .map(|d| app.record(&keys::delivery(d)).unwrap())
        .collect();
    assert_eq!(customer.len(), 1);
    assert_eq!(customer[0].kind, NoticeKind::CustomerFollowUp);
    assert!(customer[0].leased_to(&handover.token, t0()));
    assert_eq!(
        kinds(&app, &id),
        [
            EventKind::FeedbackReceived,
            EventKind::Opened,
            EventKind::Resolved
        ]
    );
}

#[test]
fn a_reopening_alerts_again_and_a_close_tells_the_watchers() {
    let app = App::new();
    let id = opened(&app, "s-2");
    act(&app, &id, resolve("Dana"));
    let answer = |resolved| closeloop_domain::case::CustomerAnswer {
        resolved,
        score: None,
        comment: None,
        answered_at: t0(),
    };
    let round = case(&app, &id).round;
    let nonce = claims(&customer_message(&app, &id, NoticeKind::CustomerFollowUp).unwrap()).nonce;
    let v = app
        .submit(Command::CustomerAnswer {
            case_id: id.clone(),
            round,
            nonce,
            answer: answer(false),
        })
        .verdict;
    assert!(matches!(v, Verdict::CaseChanged { ref case } if case.state == CaseState::Reopened));
    assert!(customer_message(&app, &id, NoticeKind::CaseReopened).is_some());
    assert!(customer_message(&app, &id, NoticeKind::CaseClosed).is_none());

    act(
        &app,
        &id,
        Action::AddWatcher {
            by: "Dana".into(),
            watcher: "General Manager".into(),
        },
    );
    let v = act(
        &app,
        &id,
        Action::CloseWithoutContact {
            by: "Dana".into(),
            reason: "the guest checked out".into(),
        },
    );
    assert!(
        matches!(v, Verdict::CaseChanged { ref case } if case.state == CaseState::ClosedUnconfirmed)
    );
    let closed = customer_message(&app, &id, NoticeKind::CaseClosed).expect("watchers told");
    assert_eq!(closed.case_id, id);
}

#[test]
fn a_customer_on_the_do_not_contact_list_gets_no_message_and_the_timeline_says_why() {
    let app = App::new();
    let id = opened(&app, "s-3");
    let digest = contact::dnc_digest(ContactKind::Email, "GUEST42@example.com");
    app.store.seed(
        &keys::do_not_contact(&digest),
        envelope::encode(&DncEntry {
            added_at: t0(),
            added_by: "admin".into(),
        }),
    );
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: resolve("Dana"),
    });
    assert!(matches!(done.verdict, Verdict::CaseChanged { .. }));
    assert!(customer_message(&app, &id, NoticeKind::CustomerFollowUp).is_none());
    assert!(done.folded.unwrap().deliveries.is_empty());
    let f = file(&app, &id);
    let suppressed = f
        .events
        .iter()
        .find(|e| e.kind == EventKind::ContactSuppressed)
        .expect("the reason is recorded");
    assert_eq!(
        suppressed.detail,
        "no customer-follow-up sent: the customer is on the do-not-contact list"
    );
}

#[test]
fn inside_the_customer_quiet_hours_a_message_is_held_until_they_end() {
    let mut app = App::new();
    let mut ctx = context();
    // t0 is 09:30 UTC.
    ctx.customer_quiet_hours = QuietHours::parse("09:00-11:00");
    app.fold = std::sync::Arc::new(Closeloop { ctx });
    let id = opened(&app, "s-4");
    let done = app.submit(Command::CaseAction {
        case_id: id.clone(),
        action: resolve("Dana"),
    });
    let until = t0() + chrono::Duration::minutes(90);
    let notice = customer_message(&app, &id, NoticeKind::CustomerFollowUp).unwrap();
    assert_eq!(notice.not_before, Some(until));
    assert!(done.folded.unwrap().deliveries.is_empty(), "not sent now");
    let delivery: Delivery = file(&app, &id)
        .deliveries
        .iter()
        .map(|d| app.record::<Delivery>(&keys::delivery(d)).unwrap())
        .find(|d| d.kind == NoticeKind::CustomerFollowUp)
        .unwrap();
    assert_eq!(
        (delivery.status, delivery.next_attempt_at, delivery.attempts),
        (DeliveryStatus::Pending, until, 0)
    );
    let held = file(&app, &id)
        .events
        .into_iter()
        .find(|e| e.kind == EventKind::ContactSuppressed)
        .unwrap();
    assert!(held.detail.contains("held until"), "{}", held.detail);
}

#[test]
fn without_a_signing_key_a_resolution_is_refused_and_changes_nothing() {
    let mut app = App::new();
    let mut ctx = context();
    ctx.link_key = None;
    app.fold = std::sync::Arc::new(Closeloop { ctx });
    let id = opened(&app, "s-5");
    let before = (case(&app, &id), file(&app, &id));
    let v = act(&app, &id, resolve("Dana"));
    assert_eq!(v.problem().unwrap().status(), 500);
    assert_eq!((case(&app, &id), file(&app, &id)), before);
}
