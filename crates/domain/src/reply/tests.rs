//! Every provider against its documented payload (fixtures in `tests/e2e/fixtures/replies`,
//! with their sources in `SOURCES.md`), authenticated here as the provider does, with the HMAC
//! crates directly rather than with the code under test.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeZone;
use hmac::{Hmac, Mac};

use super::token::{self, Found};
use super::*;
use crate::link::LinkKey;
use crate::sources::verify::AuthError;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/e2e/fixtures/replies/", $name))
    };
}

const CASE: &str = "019ab1c2-d3e4-7f00-8000-0000000000aa";
const RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn key() -> LinkKey {
    LinkKey::new("link-signing-key-for-tests-0123456789").unwrap()
}

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 11, 6, 12)
        .unwrap()
}

/// A fixture with the reply token of [`CASE`] in place of `REPLY_TOKEN`.
fn addressed(fixture: &str) -> String {
    fixture.replace("REPLY_TOKEN", &token::sign(&key(), CASE).unwrap())
}

#[test]
fn a_postmark_reply_is_found_by_its_signed_address_and_read_without_the_history() {
    // "MailboxHash—this field appears in the main JSON object and also for each address the
    // email was addressed to" (Postmark, Inbound webhook).
    let email = postmark::parse(addressed(fixture!("postmark-inbound.json")).as_bytes()).unwrap();
    assert_eq!(email.message_id, "73e6d360-66eb-11e1-8e72-a8904824019b");
    assert_eq!(
        token::find(&key(), email.recipients.iter().map(String::as_str)),
        Found::Case(CASE.into())
    );
    assert_eq!(
        email.text.as_deref(),
        Some("Still noisy, and nobody called.")
    );
    assert!(
        !email.recipients.iter().any(|r| r.contains("guest42")),
        "the sender is never a recipient: {:?}",
        email.recipients
    );
    // Without Postmark's StrippedTextReply, the text body loses its history the same way;
    // without either, the HTML body does.
    let mut v: serde_json::Value =
        serde_json::from_str(&addressed(fixture!("postmark-inbound.json"))).unwrap();
    v["StrippedTextReply"] = "".into();
    let email = postmark::parse(v.to_string().as_bytes()).unwrap();
    assert_eq!(
        email.text.as_deref(),
        Some("Still noisy, and nobody called.")
    );
    v["TextBody"] = "".into();
    let email = postmark::parse(v.to_string().as_bytes()).unwrap();
    assert_eq!(
        email.text.as_deref(),
        Some("Still noisy, and nobody called.")
    );
    // The fixture as Postmark documents it, to an address closeloop did not sign, matches
    // nothing; a token-shaped address with a wrong signature is a forgery.
    let unsigned = postmark::parse(fixture!("postmark-inbound.json").as_bytes()).unwrap();
    assert_eq!(
        token::find(&key(), unsigned.recipients.iter().map(String::as_str)),
        Found::Unaddressed
    );
    let other = LinkKey::new("someone-else-s-key-0123456789").unwrap();
    let forged = fixture!("postmark-inbound.json")
        .replace("REPLY_TOKEN", &token::sign(&other, CASE).unwrap());
    let forged = postmark::parse(forged.as_bytes()).unwrap();
    assert_eq!(
        token::find(&key(), forged.recipients.iter().map(String::as_str)),
        Found::Forged
    );
}

/// Svix's headers for `body`, signed as Svix documents: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's base64-decoded key.
fn svix(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("svix-id", id.to_owned()),
        ("svix-timestamp", ts.to_string()),
        ("svix-signature", format!("v1,{sig}")),
    ]
}

/// Resend's verdict on a delivery of `body` with `headers`, under `secret` at `at`.
fn resend_verify(
    secret: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
    at: Timestamp,
) -> Result<(), InboundAuthError> {
    let headers: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone().into_bytes()))
        .collect();
    let d = crate::sources::Delivery {
        headers: &headers,
        body,
        url_token: None,
    };
    resend::verify(secret, &d, at)
}

#[test]
fn a_resend_event_is_verified_as_svix_signs_it_then_its_email_is_read() {
    let body = addressed(fixture!("resend-email-received.json"));
    let body = body.as_bytes();
    let ts = now().timestamp();
    let headers = svix(RESEND_SECRET, "msg_2pQxR7Ue4XbN9cLk8sVtWm1Hd", ts, body);
    let headers = headers.to_vec();
    assert_eq!(resend_verify(RESEND_SECRET, &headers, body, now()), Ok(()));
    // Another secret, other bytes, a missing header, a stale timestamp: refused.
    let other = "whsec_c2VjcmV0LWZvci1hbm90aGVyLXdlYmhvb2stMDEyMw==";
    assert_eq!(
        resend_verify(other, &headers, body, now()),
        Err(AuthError::BadSignature.into())
    );
    let mut changed = body.to_vec();
    changed.push(b'\n');
    assert_eq!(
        resend_verify(RESEND_SECRET, &headers, &changed, now()),
        Err(AuthError::BadSignature.into())
    );
    assert_eq!(
        resend_verify(RESEND_SECRET, &headers[..2], body, now()),
        Err(AuthError::MissingHeader("svix-signature").into())
    );
    let later = now() + chrono::Duration::minutes(6);
    assert_eq!(
        resend_verify(RESEND_SECRET, &headers, body, later),
        Err(AuthError::StaleTimestamp.into())
    );

    let resend::Event::Received(email) = resend::parse_event(body).unwrap() else {
        panic!("an email.received event");
    };
    assert_eq!(email.message_id, "56761188-7520-42d8-8898-ff6fc54ce618");
    assert_eq!(email.text, None, "the webhook carries metadata only");
    assert_eq!(
        token::find(&key(), email.recipients.iter().map(String::as_str)),
        Found::Case(CASE.into())
    );
    let fetched = fixture!("resend-received-email.json").as_bytes().to_vec();
    assert_eq!(
        resend::read_answer(Ok((200, fetched))).unwrap(),
        "The lift still chimes all night. Nobody called me back."
    );
    // With no text part, the HTML part gives the same words.
    let mut v: serde_json::Value =
        serde_json::from_str(fixture!("resend-received-email.json")).unwrap();
    v["text"] = serde_json::Value::Null;
    assert_eq!(
        resend::read_answer(Ok((200, v.to_string().into_bytes()))).unwrap(),
        "The lift still chimes all night. Nobody called me back."
    );
}

#[test]
fn a_twilio_message_is_verified_over_the_url_and_sorted_parameters() {
    let params = twilio::params(fixture!("twilio-inbound.txt").as_bytes());
    let url = "https://closeloop.example.com/v1/inbound/twilio".to_owned();
    // Computed independently (Python's hmac over the URL and the sorted name+value pairs).
    let documented = "8G4uIyVWnalwara8PlGPSU8FasM=";
    assert_eq!(
        twilio::signature("twilio-auth-token-for-tests", &url, &params),
        documented
    );
    assert_eq!(
        twilio::verify(
            "twilio-auth-token-for-tests",
            Some(documented),
            std::slice::from_ref(&url),
            &params
        ),
        Ok(())
    );
    let sms = twilio::parse(&params).unwrap();
    assert_eq!(sms.message_sid, "SM5f1c2b4e8a0d4e6f9b7c3a2d1e0f9a8b");
    assert_eq!(sms.from, "+447700900123");
    assert_eq!(sms.body, "Still noisy, and nobody called");
    assert_eq!(sms.opt_out, None);
    let stop = twilio::parse(&twilio::params(fixture!("twilio-stop.txt").as_bytes())).unwrap();
    assert_eq!(stop.opt_out.as_deref(), Some("STOP"));
}

#[test]
fn a_reply_is_recorded_as_the_customer_s_quoted_words_or_their_opt_out() {
    let feedback = crate::feedback::Feedback {
        id: "f".into(),
        source: "s".into(),
        external_id: "x".into(),
        submitted_at: now(),
        received_at: now(),
        customer: crate::feedback::Customer {
            id: Some("c".into()),
            ..Default::default()
        },
        score: None,
        comment: None,
        metadata: Default::default(),
    };
    let policy = crate::triage::TriagePolicy {
        default_team: "desk".into(),
    };
    let triage = crate::triage::triage(&feedback, &policy, now());
    let case = crate::case::Case {
        id: CASE.into(),
        state: crate::case::CaseState::ResolvedAwaitingCustomer,
        version: 3,
        owner: Some("dana".into()),
        round: 1,
        ..crate::case::Case::open(&feedback.id, now(), triage)
    };
    let reply = CustomerReply {
        case_id: CASE.into(),
        provider: Provider::Twilio,
        message_id: "SM1".into(),
        content: ReplyContent::Words {
            text: "still noisy, and nobody called".into(),
        },
    };
    let event = reply.event(&case, now());
    assert_eq!(event.kind, EventKind::CustomerReplied);
    assert_eq!(event.actor, "customer");
    assert_eq!(
        event.detail,
        "the customer replied by SMS: \"still noisy, and nobody called\""
    );
    assert!(crate::privacy::quotes_customer(event.kind), "erased whole");
    assert_eq!((event.from, event.to), (None, None), "no change of state");
    assert_eq!(event.id, reply.event(&case, now()).id, "derived");
    let stop = CustomerReply {
        content: ReplyContent::OptOut {
            keyword: "STOP".into(),
        },
        message_id: "SM2".into(),
        ..reply.clone()
    };
    let event = stop.event(&case, now());
    assert_eq!(event.kind, EventKind::ContactSuppressed);
    assert!(event.detail.contains("texted STOP"), "{}", event.detail);
    // One key per provider and message id.
    assert_eq!(reply.record_key(), record_key(Provider::Twilio, "SM1"));
    assert_ne!(reply.record_key(), stop.record_key());
    assert_ne!(
        record_key(Provider::Postmark, "m1"),
        record_key(Provider::Resend, "m1")
    );
}

#[test]
fn an_sms_route_leads_to_its_case_within_the_reply_window() {
    let route = SmsRoute {
        case_id: Some(CASE.into()),
        at: now(),
    };
    let window = chrono::Duration::days(REPLY_WINDOW_DAYS);
    assert_eq!(route.case(now()), Some(CASE));
    assert_eq!(route.case(now() + window), Some(CASE));
    assert_eq!(
        route.case(now() + window + chrono::Duration::seconds(1)),
        None
    );
    let erased = SmsRoute {
        case_id: None,
        at: now(),
    };
    assert_eq!(erased.case(now()), None);
    // A route stored when it held a signed token reads, and leads nowhere.
    let old = format!(
        r#"{{"schema":"sms-route/1","data":{{"token":"{}","at":"2026-11-23T11:06:12Z"}}}}"#,
        token::sign(&key(), CASE).unwrap()
    );
    let old: SmsRoute = crate::envelope::decode(old.as_bytes()).unwrap();
    assert_eq!(old.case(now()), None);
    // The number is normalised as the do-not-contact list does, and never in the key.
    assert_eq!(
        sms_route_key("+44 7700-900123"),
        sms_route_key("+447700900123")
    );
    assert!(!sms_route_key("+447700900123").contains("7700900123"));
}

#[test]
fn only_postmark_may_post_a_whole_email() {
    assert_eq!(Provider::Postmark.max_body_bytes(), MAX_INBOUND_BYTES);
    for provider in [Provider::Resend, Provider::Twilio] {
        assert_eq!(provider.max_body_bytes(), crate::sources::MAX_WEBHOOK_BYTES);
    }
}
