//! Every adapter against its documented payload (fixtures in `tests/e2e/fixtures/sources`, with
//! their sources in `SOURCES.md`), signed as the platform signs; then forgeries, drift and
//! arbitrary bytes.

use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::connection::ConnectionInput;
use super::response::{self, CustomerMapping, ScoreMapping};
use super::*;
use crate::score::ScoreKind;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/e2e/fixtures/sources/", $name)).as_slice()
    };
}

const SECRET: &str = "test-signing-secret-0123456789";
const TOKEN: &str = "url-token-0123456789abcdef";
const FORMBRICKS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const JOTFORM_TYPE: &str = "multipart/form-data; boundary=----WebKitFormBoundaryclose1oop";

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 9, 35, 0)
        .unwrap()
}

fn connection(platform: Platform, mapping: Value) -> Connection {
    let mut input = json!({"platform": platform.as_str(), "mapping": mapping});
    if platform.signs() {
        input["signing_secret"] = json!(if platform == Platform::Formbricks {
            FORMBRICKS_SECRET
        } else {
            SECRET
        });
    } else {
        input["url_token"] = json!(TOKEN);
    }
    if platform == Platform::Surveymonkey {
        input["api_key"] = json!("sm-client-id");
    }
    if platform.fetches() {
        input["api"] =
            json!({"base_url": "https://api.example.test", "token": "api-token-0123456789"});
    }
    serde_json::from_value::<ConnectionInput>(input)
        .unwrap()
        .validate("conn-1".into(), now())
        .unwrap()
}

fn headers(pairs: &[(&str, String)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone().into_bytes()))
        .collect()
}

/// The headers `platform` would send with `body` at `at`.
fn signed(platform: Platform, body: &[u8], at: Timestamp) -> Vec<(String, Vec<u8>)> {
    match platform {
        Platform::Typeform => {
            headers(&[(typeform::SIGNATURE_HEADER, typeform::sign(SECRET, body))])
        }
        Platform::Tally => headers(&[(tally::SIGNATURE_HEADER, tally::sign(SECRET, body))]),
        Platform::Formbricks => headers(&[
            (formbricks::ID_HEADER, "msg_2b4fZx9".into()),
            (formbricks::TIMESTAMP_HEADER, at.timestamp().to_string()),
            (
                formbricks::SIGNATURE_HEADER,
                formbricks::sign(FORMBRICKS_SECRET, "msg_2b4fZx9", at.timestamp(), body),
            ),
        ]),
        Platform::Surveymonkey => headers(&[
            (surveymonkey::API_KEY_HEADER, "sm-client-id".into()),
            (
                surveymonkey::SIGNATURE_HEADER,
                surveymonkey::sign("sm-client-id", SECRET, body),
            ),
        ]),
        Platform::GoogleForms => headers(&[
            (google_forms::TIMESTAMP_HEADER, at.timestamp().to_string()),
            (
                google_forms::SIGNATURE_HEADER,
                google_forms::sign(SECRET, at.timestamp(), body),
            ),
        ]),
        Platform::Qualtrics => {
            headers(&[("content-type", "application/x-www-form-urlencoded".into())])
        }
        Platform::Jotform => headers(&[("content-type", JOTFORM_TYPE.into())]),
        _ => headers(&[("content-type", "application/json".into())]),
    }
}

fn deliver(c: &Connection, h: &[(String, Vec<u8>)], body: &[u8]) -> Result<Parsed, String> {
    let token = (!c.platform.signs()).then_some(TOKEN);
    let d = Delivery {
        headers: h,
        body,
        url_token: token,
    };
    verify(c, &d, now()).map_err(|e| e.to_string())?;
    parse(c, &d).map_err(|p| p.detail)
}

fn feedback_of(c: &Connection, parsed: Parsed) -> crate::feedback::SourcedFeedback {
    match parsed {
        Parsed::Response(r) => response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap(),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn score_of(f: &crate::feedback::SourcedFeedback) -> (ScoreKind, i64, i64) {
    let s = f.score.expect("a score");
    (s.kind, s.value, s.scale)
}

fn at(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[test]
fn typeform_documented_payload() {
    let c = connection(Platform::Typeform, json!({}));
    let body = fixture!("typeform.json");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Typeform, body, now()), body).unwrap(),
    );
    assert_eq!(score_of(&f), (ScoreKind::Nps, 3, 10));
    assert_eq!(
        f.comment.as_deref(),
        Some("The room by the lift was noisy all night")
    );
    assert_eq!(f.customer.email.as_deref(), Some("alex@example.com"));
    assert_eq!(f.customer.id.as_deref(), Some("guest-42"));
    assert_eq!(f.submitted_at, at("2026-11-23T09:30:00Z"));
    assert_eq!(f.external_id, "a3a12ec67a1365927098a606107fac15");
    assert_eq!(f.source, "typeform");
}

#[test]
fn delighted_documented_payloads_merge_into_one_feedback() {
    let c = connection(Platform::Delighted, json!({}));
    let mut events = Vec::new();
    for body in [
        fixture!("delighted-created.json"),
        fixture!("delighted-updated.json"),
    ] {
        let Parsed::Response(r) =
            deliver(&c, &signed(Platform::Delighted, body, now()), body).unwrap()
        else {
            panic!("a response")
        };
        let f = response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap();
        events.push(SourceEvent {
            connection_id: c.id.clone(),
            event_id: r.event_id.clone(),
            sequence: r.sequence,
            received_at: now(),
            feedback: f.into_feedback("fb-1".into(), now()),
        });
    }
    assert_eq!(
        events[0].feedback.comment, None,
        "the created event has no comment yet"
    );
    // Whatever order they arrive in, the merge is the same.
    let forward = merge(None, &events).unwrap();
    events.reverse();
    assert_eq!(merge(None, &events).unwrap(), forward);
    assert_eq!(
        forward.score.map(|s| (s.kind, s.value)),
        Some((ScoreKind::Nps, 2))
    );
    assert_eq!(
        forward.comment.as_deref(),
        Some("Implementation took far too long")
    );
    assert_eq!(
        forward.customer.email.as_deref(),
        Some("charlie_gravis@example.com")
    );
    assert_eq!(forward.customer.attribute_str("tier"), Some("enterprise"));
    assert_eq!(forward.external_id, "5435");
    assert_eq!(
        forward.submitted_at,
        chrono::DateTime::from_timestamp(1_795_426_200, 0).unwrap()
    );
}

#[test]
fn events_update_feedback_sent_canonically_before_them() {
    let c = connection(Platform::Delighted, json!({}));
    let body = fixture!("delighted-updated.json");
    let Parsed::Response(r) = deliver(&c, &signed(Platform::Delighted, body, now()), body).unwrap()
    else {
        panic!("a response")
    };
    let mapped = response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap();
    let event = SourceEvent::new(&c, &r, mapped, now());
    assert_eq!(
        event.feedback.id,
        crate::feedback::derived_id(event.feedback.submitted_at, "delighted", "5435"),
        "derived as canonical feedback's id is"
    );
    let mut base = event.feedback.clone();
    base.id = "canonical".into();
    base.received_at = now() - chrono::Duration::hours(1);
    base.comment = Some("posted first".into());
    base.score = None;
    let merged = merge(Some(&base), std::slice::from_ref(&event)).unwrap();
    assert_eq!(merged.id, "canonical", "the base keeps its identity");
    assert_eq!(merged.received_at, base.received_at);
    assert_eq!(
        merged.comment.as_deref(),
        Some("Implementation took far too long"),
        "the event updates it"
    );
    assert_eq!(merged.score, event.feedback.score);
    assert_eq!(merge(Some(&base), &[]).unwrap(), base);
    assert_eq!(merge(None, &[]), None);
}

#[test]
fn formbricks_documented_payload_with_a_mapping() {
    let c = connection(
        Platform::Formbricks,
        json!({"score": {"question": "nps-question", "kind": "nps"}}),
    );
    let body = fixture!("formbricks-finished.json");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Formbricks, body, now()), body).unwrap(),
    );
    assert_eq!(score_of(&f), (ScoreKind::Nps, 4, 10));
    assert_eq!(
        f.comment.as_deref(),
        Some("Implementation took far too long")
    );
    assert_eq!(f.customer.email.as_deref(), Some("priya@example.com"));
    assert_eq!(f.customer.id.as_deref(), Some("user-4711"));
    assert_eq!(f.customer.name.as_deref(), Some("Priya Shah"));
    assert_eq!(f.submitted_at, at("2026-11-23T09:30:00Z"));
    // The created event sorts before the finished one.
    let created = fixture!("formbricks-created.json");
    let (Parsed::Response(a), Parsed::Response(b)) = (
        deliver(&c, &signed(Platform::Formbricks, created, now()), created).unwrap(),
        deliver(&c, &signed(Platform::Formbricks, body, now()), body).unwrap(),
    ) else {
        panic!("responses")
    };
    assert!(a.sequence < b.sequence);
}

#[test]
fn tally_documented_payload() {
    let c = connection(Platform::Tally, json!({"customer": {"id": "patient_id"}}));
    let body = fixture!("tally.json");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Tally, body, now()), body).unwrap(),
    );
    assert_eq!(score_of(&f), (ScoreKind::Rating, 2, 5));
    assert_eq!(f.comment.as_deref(), Some("I felt rushed"));
    assert_eq!(f.customer.email.as_deref(), Some("sam@example.com"));
    assert_eq!(f.customer.id.as_deref(), Some("patient-311"));
    assert_eq!(f.submitted_at, at("2026-11-23T09:30:00Z"));
}

#[test]
fn surveymonkey_event_then_fetched_details() {
    let c = connection(Platform::Surveymonkey, json!({}));
    let body = fixture!("surveymonkey-event.json");
    let Parsed::Fetch(fetch) =
        deliver(&c, &signed(Platform::Surveymonkey, body, now()), body).unwrap()
    else {
        panic!("SurveyMonkey webhooks are fetched")
    };
    assert_eq!(
        fetch.path,
        "/v3/surveys/405875918/responses/118349561982/details?simple=true"
    );
    assert_eq!(fetch.event_id, "10009843213");
    let r = parse_fetched(&c, &fetch, fixture!("surveymonkey-details.json")).unwrap();
    let f = response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap();
    assert_eq!(score_of(&f), (ScoreKind::Nps, 4, 10));
    assert_eq!(f.comment.as_deref(), Some("Support never called me back"));
    assert_eq!(f.customer.email.as_deref(), Some("jordan@example.com"));
    assert_eq!(f.customer.name.as_deref(), Some("Jordan Lee"));
    assert_eq!(f.customer.attribute_str("tier"), Some("vip"));
    assert_eq!(f.submitted_at, at("2026-11-23T09:29:20Z"));
}

#[test]
fn qualtrics_event_then_fetched_response() {
    let c = connection(Platform::Qualtrics, json!({}));
    let body = fixture!("qualtrics-event.txt");
    let Parsed::Fetch(fetch) =
        deliver(&c, &signed(Platform::Qualtrics, body, now()), body).unwrap()
    else {
        panic!("Qualtrics events are fetched")
    };
    assert_eq!(
        fetch.path,
        "/API/v3/surveys/SV_3HxHEUytuz2vUHk/responses/R_1jU4Ds8IJh5yPTh"
    );
    let r = parse_fetched(&c, &fetch, fixture!("qualtrics-response.json")).unwrap();
    let f = response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap();
    assert_eq!(score_of(&f), (ScoreKind::Nps, 1, 10));
    assert_eq!(
        f.comment.as_deref(),
        Some("Breakfast was cold and nobody apologised")
    );
    assert_eq!(f.customer.email.as_deref(), Some("morgan@example.com"));
    assert_eq!(f.customer.id.as_deref(), Some("guest-1207"));
    assert_eq!(f.customer.attribute_str("tier"), Some("standard"));
    assert_eq!(f.submitted_at, at("2026-11-23T09:30:04Z"));
}

/// The documented Qualtrics event, with the `HMAC` field a subscription with `key` adds.
fn qualtrics_signed(key: &str) -> Vec<u8> {
    let body = fixture!("qualtrics-event.txt");
    let msg = form_urlencoded::parse(body)
        .find(|(k, _)| k == "MSG")
        .unwrap()
        .1
        .into_owned();
    let mut signed = body.to_vec();
    signed.extend(format!("&HMAC={}", qualtrics::sign(key, &msg)).bytes());
    signed
}

#[test]
fn qualtrics_verifies_its_hmac_when_the_connection_has_the_shared_key() {
    let mut c = connection(Platform::Qualtrics, json!({}));
    let h = signed(Platform::Qualtrics, b"", now());
    let check = |c: &Connection, body: &[u8]| deliver(c, &h, body).map(|_| ());
    // Without the key: the URL token alone, HMAC or not.
    check(&c, fixture!("qualtrics-event.txt")).unwrap();
    c.signing_secret = Some(SECRET.into());
    check(&c, &qualtrics_signed(SECRET)).unwrap();
    let wrong = check(&c, &qualtrics_signed("another-shared-key-0123456789")).unwrap_err();
    assert!(wrong.contains("signature does not match"), "{wrong}");
    let missing = check(&c, fixture!("qualtrics-event.txt")).unwrap_err();
    assert!(missing.contains("HMAC"), "{missing}");
    // Older subscriptions posted the ids as form fields.
    let legacy = b"Topic=x.surveyengine.completedResponse.SV_1&SurveyID=SV_1&ResponseID=R_1";
    c.signing_secret = None;
    let Ok(Parsed::Fetch(f)) = deliver(&c, &h, legacy) else {
        panic!("fetched")
    };
    assert_eq!(f.path, "/API/v3/surveys/SV_1/responses/R_1");
}

#[test]
fn delighted_verifies_its_signature_when_the_connection_has_the_key() {
    let mut c = connection(Platform::Delighted, json!({}));
    let body = fixture!("delighted-created.json");
    let json_ct = ("content-type", "application/json".to_owned());
    let with = |sig: Option<String>| {
        let mut pairs = vec![json_ct.clone()];
        pairs.extend(sig.map(|s| (delighted::SIGNATURE_HEADER, s)));
        headers(&pairs)
    };
    // Without the key: the URL token alone.
    assert!(deliver(&c, &with(None), body).is_ok());
    c.signing_secret = Some(SECRET.into());
    assert!(deliver(&c, &with(Some(delighted::sign(SECRET, body))), body).is_ok());
    let forged = delighted::sign("another-key-0123456789abcdef", body);
    let e = deliver(&c, &with(Some(forged)), body).unwrap_err();
    assert!(e.contains("signature does not match"), "{e}");
    let e = deliver(&c, &with(None), body).unwrap_err();
    assert!(e.contains(delighted::SIGNATURE_HEADER), "{e}");
    let e = deliver(&c, &with(Some("md5=abc".into())), body).unwrap_err();
    assert!(e.contains("format"), "{e}");
}

#[test]
fn jotform_documented_multipart_payload() {
    let c = connection(Platform::Jotform, json!({}));
    let body = fixture!("jotform.multipart");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Jotform, body, now()), body).unwrap(),
    );
    assert_eq!(score_of(&f), (ScoreKind::Nps, 2, 10));
    assert_eq!(f.comment.as_deref(), Some("Delivery arrived broken"));
    assert_eq!(f.customer.email.as_deref(), Some("casey@example.com"));
    assert_eq!(f.customer.name.as_deref(), Some("Casey Nguyen"));
    assert_eq!(f.external_id, "5812345678901234567");
}

#[test]
fn asknicely_documented_payloads() {
    let c = connection(Platform::Asknicely, json!({}));
    let first = fixture!("asknicely-first.json");
    let update = fixture!("asknicely-update.json");
    let (Parsed::Response(a), Parsed::Response(b)) = (
        deliver(&c, &signed(Platform::Asknicely, first, now()), first).unwrap(),
        deliver(&c, &signed(Platform::Asknicely, update, now()), update).unwrap(),
    ) else {
        panic!("responses")
    };
    assert_eq!(a.response_id, b.response_id);
    assert_ne!(a.event_id, b.event_id);
    let f = response::to_feedback(&b, &c.mapping, &c.source, now()).unwrap();
    assert_eq!(score_of(&f), (ScoreKind::Nps, 3, 10));
    assert_eq!(
        f.comment.as_deref(),
        Some("The class was cancelled twice without notice")
    );
    assert_eq!(f.customer.email.as_deref(), Some("riley@example.com"));
    assert_eq!(f.customer.attribute_str("tier"), Some("strategic"));
    assert_eq!(
        f.submitted_at,
        chrono::DateTime::from_timestamp(1_795_426_200, 0).unwrap()
    );
}

#[test]
fn google_forms_script_payload() {
    let c = connection(Platform::GoogleForms, json!({}));
    let body = fixture!("google-forms.json");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::GoogleForms, body, now()), body).unwrap(),
    );
    assert_eq!(score_of(&f), (ScoreKind::Nps, 2, 10));
    assert_eq!(f.comment.as_deref(), Some("The wait was over an hour"));
    assert_eq!(f.customer.email.as_deref(), Some("pat@example.com"));
}

/// Each signed platform with its fixture.
fn signed_fixtures() -> Vec<(Platform, &'static [u8])> {
    vec![
        (Platform::Typeform, fixture!("typeform.json")),
        (Platform::Tally, fixture!("tally.json")),
        (Platform::Formbricks, fixture!("formbricks-finished.json")),
        (Platform::Surveymonkey, fixture!("surveymonkey-event.json")),
        (Platform::GoogleForms, fixture!("google-forms.json")),
    ]
}

#[test]
fn forgeries_are_refused_before_parsing() {
    for (platform, body) in signed_fixtures() {
        let c = connection(platform, json!({}));
        let good = signed(platform, body, now());
        assert!(deliver(&c, &good, body).is_ok(), "{platform:?}");
        // A signature over different bytes.
        let mut other = body.to_vec();
        other.extend_from_slice(b" ");
        assert!(
            deliver(&c, &signed(platform, &other, now()), body).is_err(),
            "{platform:?}"
        );
        // Right bytes, wrong secret.
        let mut wrong = c.clone();
        wrong.signing_secret = Some(if platform == Platform::Formbricks {
            "whsec_QW5vdGhlclNlY3JldEtleTAxMjM0NTY3".into()
        } else {
            "another-secret-0123456789".into()
        });
        let e = deliver(&wrong, &good, body).unwrap_err();
        assert!(
            e.contains("does not match") || e.contains("signature"),
            "{platform:?}: {e}"
        );
        // No signature at all.
        assert!(deliver(&c, &[], body).is_err(), "{platform:?}");
    }
}

#[test]
fn stale_timestamps_are_refused() {
    for platform in [Platform::Formbricks, Platform::GoogleForms] {
        let body = if platform == Platform::Formbricks {
            fixture!("formbricks-finished.json")
        } else {
            fixture!("google-forms.json")
        };
        let c = connection(platform, json!({}));
        let edge = now() - chrono::Duration::seconds(verify::TIMESTAMP_TOLERANCE_SECS);
        assert!(deliver(&c, &signed(platform, body, edge), body).is_ok());
        let stale = edge - chrono::Duration::seconds(1);
        let e = deliver(&c, &signed(platform, body, stale), body).unwrap_err();
        assert!(e.contains("timestamp"), "{platform:?}: {e}");
    }
}

#[test]
fn unsigned_platforms_need_the_url_token() {
    for (platform, body) in [
        (Platform::Delighted, fixture!("delighted-created.json")),
        (Platform::Asknicely, fixture!("asknicely-first.json")),
        (Platform::Qualtrics, fixture!("qualtrics-event.txt")),
        (Platform::Jotform, fixture!("jotform.multipart")),
    ] {
        let c = connection(platform, json!({}));
        let h = signed(platform, body, now());
        for token in [None, Some("url-token-0123456789abcdeX")] {
            let d = Delivery {
                headers: &h,
                body,
                url_token: token,
            };
            assert_eq!(
                verify(&c, &d, now()),
                Err(AuthError::BadUrlToken),
                "{platform:?}"
            );
        }
    }
}

#[test]
fn formbricks_accepts_any_of_several_signatures_during_rotation() {
    let c = connection(Platform::Formbricks, json!({}));
    let body = fixture!("formbricks-finished.json");
    let mut h = signed(Platform::Formbricks, body, now());
    let sig = String::from_utf8(h[2].1.clone()).unwrap();
    h[2].1 = format!("v1,b2xkc2lnbmF0dXJl {sig}").into_bytes();
    assert!(deliver(&c, &h, body).is_ok());
}

/// Drift: a JSON payload changed by `f`, re-signed.
fn drifted(platform: Platform, body: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    f(&mut v);
    let _ = platform;
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn vendor_drift_extra_missing_and_reordered_fields() {
    let c = connection(Platform::Typeform, json!({}));
    let base = fixture!("typeform.json");
    // Extra fields anywhere are ignored.
    let extra = drifted(Platform::Typeform, base, |v| {
        v["new_top_level"] = json!({"x": 1});
        v["form_response"]["answers"][0]["confidence"] = json!(0.9);
        v["form_response"]["definition"]["fields"][0]["properties"]["new"] = json!(true);
    });
    // Reordered answers map the same.
    let reordered = drifted(Platform::Typeform, base, |v| {
        v["form_response"]["answers"]
            .as_array_mut()
            .unwrap()
            .reverse();
    });
    // Missing optional parts (hidden fields, definition, submitted_at) are fine.
    let missing = drifted(Platform::Typeform, base, |v| {
        let fr = v["form_response"].as_object_mut().unwrap();
        fr.remove("hidden");
        fr.remove("definition");
        fr.remove("calculated");
    });
    for body in [extra, reordered, missing] {
        let f = feedback_of(
            &c,
            deliver(&c, &signed(Platform::Typeform, &body, now()), &body).unwrap(),
        );
        assert_eq!(score_of(&f), (ScoreKind::Nps, 3, 10));
        assert_eq!(
            f.comment.as_deref(),
            Some("The room by the lift was noisy all night")
        );
    }
}

#[test]
fn a_response_without_the_mapped_score() {
    let c = connection(
        Platform::Typeform,
        json!({"score": {"question": "nps_recommend", "kind": "nps"}}),
    );
    let base = fixture!("typeform.json");
    let no_score = drifted(Platform::Typeform, base, |v| {
        v["form_response"]["answers"]
            .as_array_mut()
            .unwrap()
            .remove(0);
    });
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Typeform, &no_score, now()), &no_score).unwrap(),
    );
    assert_eq!(f.score, None, "kept unscored: it has a comment");
    assert!(f.comment.is_some());
    let nothing = drifted(Platform::Typeform, base, |v| {
        v["form_response"]["answers"] = json!([]);
    });
    let Parsed::Response(r) =
        deliver(&c, &signed(Platform::Typeform, &nothing, now()), &nothing).unwrap()
    else {
        panic!("a response")
    };
    let e = response::to_feedback(&r, &c.mapping, &c.source, now()).unwrap_err();
    assert!(e[0].detail.contains("nps_recommend"), "{e:?}");
}

#[test]
fn not_a_payload_is_a_4xx_problem() {
    for platform in Platform::ALL {
        let c = connection(platform, json!({}));
        let h = signed(platform, b"{\"half\":", now());
        match deliver(&c, &h, b"{\"half\":") {
            Ok(Parsed::Ignored { .. }) => {}
            Ok(other) => panic!("{platform:?} parsed garbage into {other:?}"),
            Err(detail) => assert!(!detail.is_empty()),
        }
        let d = Delivery {
            headers: &h,
            body: b"{\"half\":",
            url_token: Some(TOKEN),
        };
        if let Err(p) = parse(&c, &d) {
            assert!(
                (400..500).contains(&p.status()),
                "{platform:?}: {}",
                p.status()
            );
        }
    }
}

#[test]
fn valid_json_of_the_wrong_shape_is_422_and_not_json_is_400() {
    let c = connection(Platform::Typeform, json!({}));
    let status = |body: &[u8]| {
        let h = signed(Platform::Typeform, body, now());
        let d = Delivery {
            headers: &h,
            body,
            url_token: None,
        };
        let p = parse(&c, &d).unwrap_err();
        (p.status(), p.kind.title())
    };
    assert_eq!(status(br#"{"form_response": 7}"#).0, 422);
    assert_eq!(
        status(br#"{"form_response": 7}"#).1,
        "The request is invalid"
    );
    assert_eq!(status(b"{\"half").0, 400);
}

#[test]
fn ignored_events_are_acknowledged() {
    let c = connection(Platform::Delighted, json!({}));
    let body =
        br#"{"event_type":"unsubscribe.created","event_id":"x","event_data":{"person_id":"1"}}"#;
    assert!(matches!(
        deliver(&c, &signed(Platform::Delighted, body, now()), body),
        Ok(Parsed::Ignored { .. })
    ));
}

#[test]
fn delighted_refuses_what_it_does_not_send() {
    let c = connection(Platform::Delighted, json!({}));
    let body = fixture!("delighted-created.json");
    let status = |content_type: Option<&str>, body: &[u8]| {
        let h = content_type.map_or_else(Vec::new, |ct| headers(&[("content-type", ct.into())]));
        let d = Delivery {
            headers: &h,
            body,
            url_token: Some(TOKEN),
        };
        parse(&c, &d).map(|_| 200).unwrap_or_else(|p| {
            assert!(
                p.detail.contains("Delighted") || p.detail.contains("event"),
                "{}",
                p.detail
            );
            p.status()
        })
    };
    assert_eq!(status(Some("application/json; charset=utf-8"), body), 200);
    assert_eq!(status(Some("text/plain"), body), 415);
    assert_eq!(status(None, body), 415);
    assert_eq!(
        status(Some("application/json"), b"{\"event_type\": \"\xff\"}"),
        400
    );
    // An object without an event type is no Delighted event (valid JSON: 422); one of another
    // type is acknowledged and named.
    assert_eq!(
        status(Some("application/json"), br#"{"event_data": {}}"#),
        422
    );
    let other = br#"{"event_type": "unsubscribe.created"}"#;
    match deliver(&c, &signed(Platform::Delighted, other, now()), other) {
        Ok(Parsed::Ignored { reason }) => {
            assert!(reason.contains("\"unsubscribe.created\""), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_at_and_past_the_limit() {
    let c = connection(Platform::Delighted, json!({}));
    let body = |id: &str| {
        serde_json::to_vec(
            &json!({"event_type": "survey_response.created", "event_id": "e",
            "event_data": {"id": id, "score": 3, "person": {"email": "a@example.com"}}}),
        )
        .unwrap()
    };
    let ok = body(&"r".repeat(MAX_PLATFORM_ID_CHARS));
    assert!(deliver(&c, &signed(Platform::Delighted, &ok, now()), &ok).is_ok());
    let long = body(&"r".repeat(MAX_PLATFORM_ID_CHARS + 1));
    assert!(deliver(&c, &signed(Platform::Delighted, &long, now()), &long).is_err());
}

#[test]
fn the_mapping_can_name_the_customer_fields() {
    let c = connection(
        Platform::Typeform,
        json!({"customer": {"id": "readable_ref_email", "attributes": ["tier"]}, "comment": "DlXFaesGBpoF"}),
    );
    let body = fixture!("typeform.json");
    let f = feedback_of(
        &c,
        deliver(&c, &signed(Platform::Typeform, body, now()), body).unwrap(),
    );
    assert_eq!(f.customer.id.as_deref(), Some("alex@example.com"));
    assert_eq!(f.customer.attributes.len(), 1);
    let _ = CustomerMapping::default();
    let _ = ScoreMapping {
        question: "x".into(),
        kind: ScoreKind::Nps,
        scale: None,
    };
}

#[test]
fn events_per_response_at_and_past_the_limit() {
    assert!(check_event_count(MAX_EVENTS_PER_RESPONSE - 1, "r").is_ok());
    assert_eq!(
        check_event_count(MAX_EVENTS_PER_RESPONSE, "r")
            .unwrap_err()
            .status(),
        422
    );
}

fn jotform_form(n: usize) -> Vec<u8> {
    let b = "----WebKitFormBoundaryclose1oop";
    let part = |name: &str, value: &str| {
        format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let mut out = part("submissionID", "581");
    out.push_str(&part("rawRequest", "{\"q1_comment\":\"late\"}"));
    for i in 2..n {
        out.push_str(&part(&format!("extra{i}"), "x"));
    }
    out.push_str(&format!("--{b}--\r\n"));
    out.into_bytes()
}

#[test]
fn jotform_parts_at_and_past_the_limit() {
    let c = connection(Platform::Jotform, json!({}));
    let h = signed(Platform::Jotform, b"", now());
    assert!(deliver(&c, &h, &jotform_form(jotform::MAX_PARTS)).is_ok());
    let e = deliver(&c, &h, &jotform_form(jotform::MAX_PARTS + 1)).unwrap_err();
    assert!(e.contains("parts"), "{e}");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Arbitrary bytes, correctly verified (URL token; signatures are checked before parsing
    /// and so never see them), never panic any parser.
    #[test]
    fn parsers_survive_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for platform in Platform::ALL {
            let c = connection(platform, json!({}));
            let content_type = match platform {
                Platform::Qualtrics => "application/x-www-form-urlencoded",
                Platform::Jotform => JOTFORM_TYPE,
                _ => "application/json",
            };
            let h = headers(&[("content-type", content_type.to_owned()), (formbricks::ID_HEADER, "m".into())]);
            let d = Delivery { headers: &h, body: &body, url_token: Some(TOKEN) };
            if let Ok(Parsed::Response(r)) = parse(&c, &d) {
                let _ = response::to_feedback(&r, &c.mapping, &c.source, now());
            }
            let fetch = FetchRequest { event_id: "e".into(), response_id: "r".into(), path: "/".into(), sequence: 0 };
            let _ = parse_fetched(&c, &fetch, &body);
        }
    }

    /// Well-formed JSON of any shape, too.
    #[test]
    fn parsers_survive_arbitrary_json(v in arb_json()) {
        let body = serde_json::to_vec(&v).unwrap();
        for platform in Platform::ALL {
            let c = connection(platform, json!({}));
            let h = headers(&[("content-type", "application/json".to_owned())]);
            let d = Delivery { headers: &h, body: &body, url_token: Some(TOKEN) };
            if let Ok(Parsed::Response(r)) = parse(&c, &d) {
                let _ = response::to_feedback(&r, &c.mapping, &c.source, now());
            }
            let fetch = FetchRequest { event_id: "e".into(), response_id: "r".into(), path: "/".into(), sequence: 0 };
            let _ = parse_fetched(&c, &fetch, &body);
        }
    }

    /// Signature checks never panic on arbitrary headers.
    #[test]
    fn verifiers_survive_arbitrary_headers(sig in ".{0,120}", ts in ".{0,20}") {
        for platform in Platform::ALL {
            let c = connection(platform, json!({}));
            let h = headers(&[
                (typeform::SIGNATURE_HEADER, sig.clone()), (tally::SIGNATURE_HEADER, sig.clone()),
                (formbricks::SIGNATURE_HEADER, sig.clone()), (formbricks::ID_HEADER, sig.clone()),
                (formbricks::TIMESTAMP_HEADER, ts.clone()), (surveymonkey::SIGNATURE_HEADER, sig.clone()),
                (google_forms::SIGNATURE_HEADER, sig.clone()), (google_forms::TIMESTAMP_HEADER, ts.clone()),
            ]);
            let d = Delivery { headers: &h, body: b"{}", url_token: Some(&sig) };
            prop_assert!(verify(&c, &d, now()).is_err());
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("form_response"),
            Just("FORM_RESPONSE"),
            Just("survey_response.updated"),
            Just("responseFinished"),
            Just("response_completed"),
            Just("response")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("event_id".to_owned()),
                    Just("eventId".to_owned()),
                    Just("event_type".to_owned()),
                    Just("eventType".to_owned()),
                    Just("event".to_owned()),
                    Just("data".to_owned()),
                    Just("form_response".to_owned()),
                    Just("event_data".to_owned()),
                    Just("answers".to_owned()),
                    Just("fields".to_owned()),
                    Just("question".to_owned()),
                    Just("id".to_owned()),
                    Just("token".to_owned()),
                    Just("responseId".to_owned()),
                    Just("score".to_owned()),
                    Just("value".to_owned()),
                    Just("type".to_owned()),
                    Just("field".to_owned()),
                    Just("object_type".to_owned()),
                    Just("object_id".to_owned()),
                    Just("resources".to_owned()),
                    Just("survey_id".to_owned()),
                    Just("response_id".to_owned()),
                    Just("result".to_owned()),
                    Just("values".to_owned()),
                    Just("pages".to_owned()),
                    Just("questions".to_owned()),
                    ".{0,6}".prop_map(|s| s),
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
