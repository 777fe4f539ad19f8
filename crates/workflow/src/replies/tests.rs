//! A reply's way in: matched by its signed address or its number's latest follow-up, never by
//! its sender alone; STOP lists the number; a redelivery is answered without a write.

use closeloop_domain::case::EventKind;
use closeloop_domain::contact::{self, ContactKind, DncEntry};
use closeloop_domain::keys;
use closeloop_domain::link::LinkKey;
use closeloop_domain::problem::ProblemKind;
use closeloop_domain::reply::twilio::InboundSms;
use closeloop_domain::reply::{InboundEmail, Provider, REPLY_WINDOW_DAYS, ReplyContent, token};

use super::*;
use crate::fold::change::tests::{act, file, resolve};
use crate::fold::replies::tests::{PHONE, opened_with_phone, replied, sms_app};
use crate::fold::tests::{App, context, t0};
use crate::fold::{Command, Verdict};

fn key() -> LinkKey {
    context().link_key.unwrap()
}

fn email(message_id: &str, recipients: &[String]) -> InboundEmail {
    InboundEmail {
        message_id: message_id.into(),
        recipients: recipients.to_vec(),
        text: Some("Still noisy, and nobody called.".into()),
    }
}

fn reply_address(case_id: &str) -> String {
    let t = token::sign(&key(), case_id).unwrap();
    token::address("reply@reply.closeloop.test", &t).unwrap()
}

fn sms(message_sid: &str, from: &str, body: &str) -> InboundSms {
    InboundSms {
        message_sid: message_sid.into(),
        from: from.into(),
        body: body.into(),
        opt_out: closeloop_domain::reply::twilio::opt_out(body, None),
    }
}

/// Folds what an intake says to fold; the verdict.
fn fold(app: &App, intake: Intake) -> Verdict {
    match intake {
        Intake::Submit(command) => app.submit(command).verdict,
        other => panic!("nothing to fold: {other:?}"),
    }
}

#[test]
fn an_email_reply_lands_on_the_case_its_address_names_and_never_on_another() {
    let app = App::new();
    let ours = opened_with_phone(&app, "i-1", None);
    let other = opened_with_phone(&app, "i-2", None);
    act(&app, &ours, resolve("Dana"));
    act(&app, &other, resolve("Dana"));
    // Sent to the follow-up's reply address, copied to the hotel: the address decides.
    let to = [
        "care@hotel.example".to_owned(),
        format!("\"Harbour Hotel\" <{}>", reply_address(&ours)),
    ];
    let e = email("pm-1", &to);
    let store = app.store.as_ref();
    let Matched::Case(case_id) = email_case(store, Some(&key()), Provider::Postmark, &e).unwrap()
    else {
        panic!("a case")
    };
    assert_eq!(case_id, ours);
    let intake = email_reply(Provider::Postmark, &e.message_id, &case_id, "Still noisy.");
    assert!(matches!(fold(&app, intake), Verdict::Replied { .. }));
    assert_eq!(
        replied(&app, &ours),
        ["the customer replied by email: \"Still noisy.\""]
    );
    assert!(replied(&app, &other).is_empty());

    // The redelivery is answered from one read: no ticket, no write.
    let writes = app.store.writes();
    assert_eq!(
        email_case(store, Some(&key()), Provider::Postmark, &e).unwrap(),
        Matched::Other(Intake::Duplicate {
            case_id: ours.clone()
        })
    );
    assert_eq!(app.store.writes(), writes);
}

#[test]
fn forged_unaddressed_and_unsigned_emails_are_told_apart() {
    let app = App::new();
    let id = opened_with_phone(&app, "i-3", None);
    let store = app.store.as_ref();
    let writes = app.store.writes();
    // Signed with another key: a forgery, 403.
    let stranger = LinkKey::new("someone-else-s-key-0123456789").unwrap();
    let forged_token = token::sign(&stranger, &id).unwrap();
    let forged = email(
        "pm-2",
        &[format!("reply+{forged_token}@reply.closeloop.test")],
    );
    let p = email_case(store, Some(&key()), Provider::Postmark, &forged).unwrap_err();
    assert_eq!((p.kind, p.status()), (ProblemKind::Forbidden, 403));
    // Sent to the inbound domain but to no reply address, from the customer's own address:
    // not a reply; the sender alone never finds a case.
    let plain = email("pm-3", &["hello@reply.closeloop.test".to_owned()]);
    assert_eq!(
        email_case(store, Some(&key()), Provider::Postmark, &plain).unwrap(),
        Matched::Other(Intake::Ignored(
            "the email was not sent to a follow-up's reply address".into()
        ))
    );
    // Without a signing key nothing can be matched: the operator's mistake, 500.
    let e = email("pm-4", &[reply_address(&id)]);
    let p = email_case(store, None, Provider::Postmark, &e).unwrap_err();
    assert_eq!(p.status(), 500);
    assert!(
        !p.detail.contains("link_signing_key"),
        "the provider learns no variable: {}",
        p.detail
    );
    assert_eq!(app.store.writes(), writes, "none of them wrote anything");
    // A reply whose words are all history is nothing to record.
    assert_eq!(
        email_reply(Provider::Postmark, "pm-5", &id, "  \n "),
        Intake::Ignored("the reply has no text".into())
    );
}

#[test]
fn an_sms_goes_to_the_case_of_its_number_s_latest_follow_up() {
    let app = sms_app();
    let ours = opened_with_phone(&app, "i-4", Some(PHONE));
    let someone_else = opened_with_phone(&app, "i-5", Some("+447700900999"));
    act(&app, &ours, resolve("Dana"));
    act(&app, &someone_else, resolve("Dana"));
    let store = app.store.as_ref();
    let text = sms("SM1", PHONE, "still noisy, and nobody called");
    let intake = super::sms(store, &text, t0()).unwrap();
    let Intake::Submit(Command::CustomerReply { reply }) = &intake else {
        panic!("{intake:?}")
    };
    assert_eq!(reply.case_id, ours);
    assert_eq!(
        reply.content,
        ReplyContent::Words {
            text: "still noisy, and nobody called".into()
        }
    );
    fold(&app, intake);
    assert_eq!(
        replied(&app, &ours),
        ["the customer replied by SMS: \"still noisy, and nobody called\""]
    );
    assert!(replied(&app, &someone_else).is_empty());
    // Twilio's redelivery: a duplicate, no write.
    let writes = app.store.writes();
    assert_eq!(
        super::sms(store, &text, t0()).unwrap(),
        Intake::Duplicate {
            case_id: ours.clone()
        }
    );
    assert_eq!(app.store.writes(), writes);
    // A number closeloop never sent a follow-up to matches nothing.
    let stranger = sms("SM2", "+15005550006", "who is this?");
    assert!(matches!(
        super::sms(store, &stranger, t0()).unwrap(),
        Intake::Ignored(_)
    ));
}

#[test]
fn an_sms_within_the_reply_window_lands_and_one_past_it_does_not() {
    let app = sms_app();
    let id = opened_with_phone(&app, "i-6", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    let store = app.store.as_ref();
    let window = chrono::Duration::days(REPLY_WINDOW_DAYS);
    let at_limit = super::sms(store, &sms("SM3", PHONE, "ok"), t0() + window);
    assert!(matches!(at_limit.unwrap(), Intake::Submit(_)));
    let past = t0() + window + chrono::Duration::seconds(1);
    let late = super::sms(store, &sms("SM4", PHONE, "ok"), past).unwrap();
    assert_eq!(
        late,
        Intake::Ignored(format!(
            "no follow-up went to this number in the last {REPLY_WINDOW_DAYS} days"
        ))
    );
}

#[test]
fn stop_puts_the_number_on_the_do_not_contact_list_with_or_without_a_case() {
    let app = sms_app();
    let id = opened_with_phone(&app, "i-7", Some(PHONE));
    act(&app, &id, resolve("Dana"));
    let store = app.store.as_ref();
    let listed = |phone: &str| {
        app.record::<DncEntry>(&keys::do_not_contact(&contact::dnc_digest(
            ContactKind::Phone,
            phone,
        )))
    };
    assert!(listed(PHONE).is_none());
    let stop = sms("SM5", PHONE, "Stop");
    let intake = super::sms(store, &stop, t0()).unwrap();
    let entry = listed(PHONE).expect("listed at once");
    assert_eq!(entry.added_by, OPT_OUT_BY);
    let Intake::Submit(Command::CustomerReply { reply }) = &intake else {
        panic!("{intake:?}")
    };
    assert_eq!(
        (reply.case_id.as_str(), &reply.content),
        (
            id.as_str(),
            &ReplyContent::OptOut {
                keyword: "STOP".into()
            }
        )
    );
    fold(&app, intake);
    let events = file(&app, &id).events;
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::ContactSuppressed && e.detail.contains("STOP"))
    );
    // Listed already: the redelivery writes nothing more.
    let writes = app.store.writes();
    assert!(matches!(
        super::sms(store, &stop, t0()).unwrap(),
        Intake::Duplicate { .. }
    ));
    assert_eq!(app.store.writes(), writes);
    // A number with no follow-up is listed all the same, and nothing else happens.
    let unknown = sms("SM6", "+15005550006", "unsubscribe");
    let intake = super::sms(store, &unknown, t0()).unwrap();
    assert!(matches!(intake, Intake::Ignored(ref why) if why.starts_with("UNSUBSCRIBE")));
    assert!(listed("+15005550006").is_some());
    // The listed customer gets no reminder or later follow-up: the contact rules read the list.
    let again = opened_with_phone(&app, "i-8", Some(PHONE));
    act(&app, &again, resolve("Dana"));
    assert!(
        file(&app, &again)
            .events
            .iter()
            .any(|e| e.kind == EventKind::ContactSuppressed && e.detail.contains("do-not-contact"))
    );
}
