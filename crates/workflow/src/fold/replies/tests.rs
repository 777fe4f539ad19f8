//! A customer's reply through the log: on its case and never another, once per provider
//! message however often it is delivered, the owner alerted; and where an SMS reply goes.

use closeloop_domain::case::{CaseState, EventKind};
use closeloop_domain::contact::{self, ContactKind, DncEntry};
use closeloop_domain::envelope;
use closeloop_domain::keys;
use closeloop_domain::notice::NoticeKind;
use closeloop_domain::reply::{self, CustomerReply, Provider, ReplyContent, ReplyRecord, SmsRoute};

use crate::fold::change::tests::{act, case, customer_message, file, kinds, notices, resolve};
use crate::fold::tests::{App, arrival, context, feedback, t0};
use crate::fold::{Command, Verdict};
use crate::log::{self, Entry};
use crate::reads;

pub const PHONE: &str = "+447700900123";

/// An app with SMS (Twilio) set up: only then does a follow-up point a number at its case.
pub fn sms_app() -> App {
    App::with(|c| c.channels.sms = true)
}

/// Opens a case for an answer from a customer with `phone`; returns its id.
pub fn opened_with_phone(app: &App, external_id: &str, phone: Option<&str>) -> String {
    let mut fb = feedback(external_id, 3, "noisy room by the lift");
    fb.customer.phone = phone.map(str::to_owned);
    match app.submit(arrival(fb)).verdict {
        Verdict::Accepted {
            case_id: Some(id), ..
        } => id,
        other => panic!("{other:?}"),
    }
}

pub fn words(case_id: &str, provider: Provider, message_id: &str, text: &str) -> Command {
    Command::CustomerReply {
        reply: Box::new(CustomerReply {
            case_id: case_id.into(),
            provider,
            message_id: message_id.into(),
            content: ReplyContent::Words { text: text.into() },
        }),
    }
}

/// The details of the customer-replied events on case `id`.
pub fn replied(app: &App, id: &str) -> Vec<String> {
    file(app, id)
        .events
        .iter()
        .filter(|e| e.kind == EventKind::CustomerReplied)
        .map(|e| e.detail.clone())
        .collect()
}

/// The SMS route of `phone`, as the fold left it.
pub fn route(app: &App, phone: &str) -> Option<SmsRoute> {
    app.record(&reply::sms_route_key(phone))
}

#[test]
fn a_reply_lands_on_its_case_quoted_never_on_another_and_alerts_the_owner() {
    let app = App::new();
    let id = opened_with_phone(&app, "r-1", None);
    let other = opened_with_phone(&app, "r-2", None);
    act(&app, &id, resolve("Dana"));
    act(&app, &other, resolve("Dana"));
    let other_before = (case(&app, &other), file(&app, &other));

    let done = app.submit(words(
        &id,
        Provider::Postmark,
        "pm-1",
        "Still noisy, and nobody called.",
    ));
    let Verdict::Replied {
        case_id,
        event_id,
        duplicate: false,
    } = &done.verdict
    else {
        panic!("{:?}", done.verdict)
    };
    assert_eq!(case_id, &id);
    assert_eq!(
        replied(&app, &id),
        ["the customer replied by email: \"Still noisy, and nobody called.\""]
    );
    let event = file(&app, &id)
        .events
        .into_iter()
        .find(|e| &e.id == event_id)
        .unwrap();
    assert_eq!(event.actor, "customer");
    // No change of state: the owner decides what the words mean.
    assert_eq!(case(&app, &id).state, CaseState::ResolvedAwaitingCustomer);
    // The owner is alerted, and the alert is handed over at once.
    let alert = customer_message(&app, &id, NoticeKind::CustomerReplied).expect("alerted");
    assert_eq!(alert.case_id, id);
    assert_eq!(file(&app, &id).replies, 1);
    let handed = done.folded.unwrap().deliveries;
    assert_eq!(handed.len(), 2, "Slack and the alert webhook: {handed:?}");
    let seen: ReplyRecord = app
        .record(&reply::record_key(Provider::Postmark, "pm-1"))
        .unwrap();
    assert_eq!(
        (seen.case_id.as_str(), seen.event_id.as_str()),
        (id.as_str(), event_id.as_str())
    );
    // The other case is untouched.
    assert_eq!((case(&app, &other), file(&app, &other)), other_before);
    assert!(replied(&app, &other).is_empty());

    // A second reply is a second event and a second alert (its own occasion).
    app.submit(words(
        &id,
        Provider::Twilio,
        "SM2",
        "Room 412 still hears the lift",
    ));
    assert_eq!(replied(&app, &id).len(), 2);
    let alerts = notices(&app, &id)
        .into_iter()
        .filter(|n| n.kind == NoticeKind::CustomerReplied)
        .count();
    assert_eq!(alerts, 2);
}

#[test]
fn the_same_reply_delivered_twice_is_recorded_once() {
    let app = App::new();
    let id = opened_with_phone(&app, "r-3", None);
    act(&app, &id, resolve("Dana"));
    let command = words(&id, Provider::Resend, "em-1", "Better now, thank you");
    app.submit(command.clone());
    let before = (file(&app, &id), app.records::<ReplyRecord>(keys::REPLY));
    let done = app.submit(command);
    assert!(
        matches!(done.verdict, Verdict::Replied { duplicate: true, ref case_id, .. } if *case_id == id),
        "{:?}",
        done.verdict
    );
    assert!(
        done.folded.unwrap().deliveries.is_empty(),
        "no second alert"
    );
    assert_eq!(
        (file(&app, &id), app.records::<ReplyRecord>(keys::REPLY)),
        before
    );
    // The same message id from another provider is another message.
    app.submit(words(
        &id,
        Provider::Postmark,
        "em-1",
        "Better now, thank you",
    ));
    assert_eq!(replied(&app, &id).len(), 2);
}

#[test]
fn racing_copies_of_one_reply_are_recorded_once() {
    let app = App::new();
    let id = opened_with_phone(&app, "r-4", None);
    act(&app, &id, resolve("Dana"));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let command = words(&id, Provider::Twilio, "SM-race", "still noisy");
            app.submit_on_thread(&format!("sms-{i}"), command)
        })
        .collect();
    let verdicts: Vec<Verdict> = threads
        .into_iter()
        .map(|t| t.join().unwrap().verdict)
        .collect();
    let first = verdicts
        .iter()
        .filter(|v| {
            matches!(
                v,
                Verdict::Replied {
                    duplicate: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(first, 1, "{verdicts:?}");
    assert!(
        verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Replied { .. }))
    );
    assert_eq!(replied(&app, &id).len(), 1);
    assert_eq!(file(&app, &id).replies, 1);
}

#[test]
fn a_stop_is_noted_on_the_case_without_an_alert() {
    let app = App::new();
    let id = opened_with_phone(&app, "r-5", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    let stop = Command::CustomerReply {
        reply: Box::new(CustomerReply {
            case_id: id.clone(),
            provider: Provider::Twilio,
            message_id: "SM-stop".into(),
            content: ReplyContent::OptOut {
                keyword: "STOP".into(),
            },
        }),
    };
    let done = app.submit(stop);
    assert!(matches!(
        done.verdict,
        Verdict::Replied {
            duplicate: false,
            ..
        }
    ));
    let noted = file(&app, &id)
        .events
        .into_iter()
        .find(|e| e.kind == EventKind::ContactSuppressed)
        .expect("noted");
    assert!(noted.detail.contains("texted STOP"), "{}", noted.detail);
    assert!(customer_message(&app, &id, NoticeKind::CustomerReplied).is_none());
    assert!(replied(&app, &id).is_empty());
}

#[test]
fn a_reply_to_a_case_that_does_not_exist_is_refused_and_stores_nothing() {
    let app = App::new();
    let v = app
        .submit(words(
            "019ab1c2-d3e4-7f00-8000-0000000000aa",
            Provider::Postmark,
            "m",
            "hi",
        ))
        .verdict;
    assert_eq!(v.problem().unwrap().status(), 404);
    assert!(app.records::<ReplyRecord>(keys::REPLY).is_empty());
}

#[test]
fn a_follow_up_points_the_number_at_its_case_and_the_latest_follow_up_wins() {
    let app = sms_app();
    let first = opened_with_phone(&app, "r-6", Some(PHONE));
    assert!(route(&app, PHONE).is_none(), "no follow-up yet");
    act(&app, &first, resolve("Dana"));
    let r = route(&app, PHONE).expect("the follow-up's route");
    assert_eq!(r.case(t0()), Some(first.as_str()));
    assert_eq!(r.case_id.as_deref(), Some(first.as_str()));
    // The same number written another way is the same route.
    let second = opened_with_phone(&app, "r-7", Some("+44 7700 900123"));
    act(&app, &second, resolve("Dana"));
    let r = route(&app, PHONE).unwrap();
    assert_eq!(r.case(t0()), Some(second.as_str()));
    // No phone, no route; nobody's number stored in a key or a route.
    let without = opened_with_phone(&app, "r-8", None);
    act(&app, &without, resolve("Dana"));
    assert_eq!(
        route(&app, PHONE).unwrap().case(t0()),
        Some(second.as_str())
    );
    let routes = app.records::<SmsRoute>(keys::SMS_ROUTE);
    assert_eq!(routes.len(), 1);
    assert!(!serde_json::to_string(&routes).unwrap().contains("7700"));
}

#[test]
fn a_customer_on_the_do_not_contact_list_gets_no_route() {
    let app = sms_app();
    let digest = contact::dnc_digest(ContactKind::Phone, PHONE);
    app.store.seed(
        &keys::do_not_contact(&digest),
        envelope::encode(&DncEntry {
            added_at: t0(),
            added_by: "admin".into(),
        }),
    );
    let id = opened_with_phone(&app, "r-9", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    assert!(customer_message(&app, &id, NoticeKind::CustomerFollowUp).is_none());
    assert!(route(&app, PHONE).is_none());
    assert!(kinds(&app, &id).contains(&EventKind::ContactSuppressed));
}

#[test]
fn an_erasure_takes_the_reply_and_the_number_s_route_and_drops_the_reply_from_the_ring() {
    let app = sms_app();
    let id = opened_with_phone(&app, "r-10", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    let command = words(
        &id,
        Provider::Twilio,
        "SM-erase",
        "Still noisy, call me on 07700 900123",
    );
    let answered = app.submit(command.clone());
    // The command left in the log's ring, as a waiting submitter leaves it.
    let seq = reads::progress(app.store.as_ref()).unwrap().folded;
    let entry: Entry<Command, Verdict> = Entry {
        seq,
        written_at: t0(),
        command: Some(command),
        verdict: Some(answered.verdict),
    };
    app.store
        .seed(&log::entry_key(seq), envelope::encode(&entry));
    let fb_id = case(&app, &id).feedback_id;
    let done = app.submit(Command::EraseCustomer {
        feedback_ids: vec![fb_id],
        by: "admin".into(),
        erasure_id: "erasure-r".into(),
    });
    assert!(
        matches!(done.verdict, Verdict::Erased { .. }),
        "{:?}",
        done.verdict
    );
    let events = file(&app, &id).events;
    let reply = events
        .iter()
        .find(|e| e.kind == EventKind::CustomerReplied)
        .unwrap();
    assert_eq!(reply.detail, closeloop_domain::privacy::ERASED);
    for key in app.store.keys() {
        let value = String::from_utf8_lossy(&app.store.peek(&key).unwrap()).to_lowercase();
        assert!(!value.contains("still noisy"), "{key}: {value}");
    }
    let ring: Entry<Command, Verdict> = app.record(&log::entry_key(seq)).unwrap();
    assert!(ring.command.is_none(), "the reply's command is dropped");
    let cleared = route(&app, PHONE).unwrap();
    assert_eq!(cleared.case(t0()), None, "an SMS from them goes nowhere");
}

#[test]
fn without_sms_a_follow_up_writes_no_route() {
    let app = App::new();
    assert!(!context().channels.sms);
    let id = opened_with_phone(&app, "r-11", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    assert!(customer_message(&app, &id, NoticeKind::CustomerFollowUp).is_some());
    assert!(route(&app, PHONE).is_none());
    assert!(app.records::<SmsRoute>(keys::SMS_ROUTE).is_empty());
}
