//! Replies (issue 17): a customer who answers a follow-up by replying to its email or its SMS
//! is heard. The payloads are the documented fixtures in `tests/e2e/fixtures/replies` (sources
//! in `SOURCES.md`), authenticated here from the providers' documentation with the HMAC crates
//! directly, not with the app's code: Postmark by basic auth in the webhook URL, Resend by its
//! Svix signature (its received email's text fetched from a mock of Resend's API), Twilio by
//! `X-Twilio-Signature`. Every reply must land on the case its follow-up was about and never
//! on another, once however often it is delivered.

use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use closeloop_e2e::client::{Response, request, request_declaring};
use closeloop_e2e::mock::{MockReceiver, Mode};
use closeloop_e2e::{Closeloop, Runtime, SETTLE_WITHIN, on_host_and_spin};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::open_case;

const REPLY_TO: &str = "reply@reply.closeloop.test";
const POSTMARK_PASSWORD: &str = "postmark-inbound-password-for-tests";
const RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RESEND_API_KEY: &str = "re_api_key_for_tests_0123456789";
const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
const TWILIO_SID: &str = "AC00000000000000000000000000000000";
const TWILIO_FROM: &str = "+15005550006";
/// Where Twilio calls closeloop: the app's `public_base_url` in the tests and the route.
const TWILIO_URL: &str = "http://closeloop.test/v1/inbound/twilio";
/// The e2e customer's phone (`closeloop_e2e::feedback`), the `From` of the Twilio fixtures.
const PHONE: &str = "+447700900123";
/// Resend's answer to `GET /emails/receiving/{id}` (the mock serves it for every path).
const RESEND_EMAIL: &str = include_str!("../../fixtures/replies/resend-received-email.json");
const RESEND_EMAIL_ID: &str = "56761188-7520-42d8-8898-ff6fc54ce618";

fn fixture(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/replies")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The app with replies set up; `resend_api`: where Resend's API is (a mock); `twilio_api`:
/// where Twilio's is (a mock): SMS must be set up for a follow-up to lead a number's SMS to its
/// case.
async fn start(rt: Runtime, resend_api: &MockReceiver, twilio_api: &MockReceiver) -> Closeloop {
    let api = resend_api.url("");
    let sms_api = twilio_api.url("");
    twilio_api.set_mode(Mode::Status(201, r#"{"sid":"SM123","status":"queued"}"#));
    Closeloop::start_with(rt, move |o| {
        o.variable("reply_to_address", REPLY_TO)
            .variable("postmark_inbound_password", POSTMARK_PASSWORD)
            .variable("resend_webhook_secret", RESEND_SECRET)
            .variable("resend_api_key", RESEND_API_KEY)
            .variable("resend_api_url", &api)
            .variable("twilio_account_sid", TWILIO_SID)
            .variable("twilio_auth_token", TWILIO_TOKEN)
            .variable("twilio_from", TWILIO_FROM)
            .variable("twilio_api_url", &sms_api)
    })
    .await
}

/// Opens a case for another customer (Sam, with a phone of their own); returns its id.
async fn open_case_for_sam(cl: &Closeloop, external_id: &str) -> String {
    let mut body = closeloop_e2e::feedback(external_id, 2, "Cold breakfast");
    body["customer"] = json!({"id": "guest-77", "email": "sam@example.com",
                              "name": "Sam Other", "phone": "+447700900999"});
    let r = cl.post_feedback(&body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let feedback_id = r.json()["feedback_id"].as_str().unwrap().to_owned();
    cl.settle().await;
    cl.records("case:")
        .into_iter()
        .find(|c| c["feedback_id"] == feedback_id.as_str())
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .expect("Sam's case")
}

/// Resolves a case and returns the follow-up the customer gateway received for it.
async fn resolve(cl: &Closeloop, case_id: &str) -> Value {
    let before = cl.customer.delivered().len();
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(
                json!({"by": "Dana", "resolution": "Moved the guest to a quiet room",
                        "root_cause": "facilities"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let messages = cl.customer.wait_for_delivered(before + 1).await;
    let message = messages
        .iter()
        .map(|m| m.json())
        .find(|m| m["case_id"] == case_id)
        .expect("the case's follow-up");
    cl.settle().await;
    message
}

/// The signed token of a follow-up's reply address (`reply+<token>@reply.closeloop.test`).
fn reply_token(follow_up: &Value) -> String {
    let address = follow_up["reply_to"].as_str().expect("a reply address");
    let (local, domain) = address.split_once('@').unwrap();
    assert_eq!(domain, "reply.closeloop.test");
    local
        .strip_prefix("reply+")
        .expect("a plus address")
        .to_owned()
}

async fn post(cl: &Closeloop, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Response {
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request("POST", &cl.url(path), &h, body).await
}

/// Asserts that case `case_id` has one customer-replied event, with `detail`; returns it.
async fn assert_replied_once(cl: &Closeloop, case_id: &str, detail: &str) -> Value {
    let replied = events(cl, case_id, "customer-replied").await;
    assert_eq!(replied.len(), 1, "{replied:?}");
    assert_eq!(replied[0]["detail"], detail);
    replied[0].clone()
}

/// The events of `kind` on a case's timeline.
async fn events(cl: &Closeloop, case_id: &str, kind: &str) -> Vec<Value> {
    cl.case(case_id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Waits for a Slack alert whose message mentions `needle`.
async fn slack_alert(cl: &Closeloop, needle: &str) -> Value {
    let deadline = Instant::now() + SETTLE_WITHIN;
    while Instant::now() < deadline {
        let found = cl
            .slack
            .delivered()
            .iter()
            .map(|r| r.json())
            .find(|m| m.to_string().contains(needle));
        if let Some(alert) = found {
            return alert;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no Slack alert mentions {needle:?}");
}

fn postmark_headers(password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        (
            "authorization",
            format!("Basic {}", B64.encode(format!("postmark:{password}"))),
        ),
    ]
}

on_host_and_spin!(a_postmark_reply_lands_on_the_case_its_follow_up_was_about_and_no_other);
async fn a_postmark_reply_lands_on_the_case_its_follow_up_was_about_and_no_other(rt: Runtime) {
    let (api, sms_api) = (MockReceiver::start().await, MockReceiver::start().await);
    let cl = start(rt, &api, &sms_api).await;
    let (_, ours) = open_case(&cl, "reply-pm-1", 3, "The room by the lift was noisy").await;
    let other = open_case_for_sam(&cl, "reply-pm-2").await;
    // Each follow-up carries its own case's signed reply address.
    let follow_up = resolve(&cl, &ours).await;
    let token = reply_token(&follow_up);
    assert_eq!(token.len(), 52, "{token}");
    assert!(
        token.starts_with(&ours.replace('-', "")),
        "the token names the case: {token}"
    );
    let other_token = reply_token(&resolve(&cl, &other).await);
    assert_ne!(token, other_token);

    let body = fixture("postmark-inbound.json").replace("REPLY_TOKEN", &token);
    let path = "/v1/inbound/postmark";
    // Without the webhook URL's credentials, or with the wrong password: 401, nothing stored.
    let before = cl.store_snapshot();
    let no_auth = vec![("content-type", "application/json".to_owned())];
    post(&cl, path, &no_auth, body.clone().into_bytes())
        .await
        .problem(401);
    let p = post(
        &cl,
        path,
        &postmark_headers("a-guess"),
        body.clone().into_bytes(),
    )
    .await
    .problem(401);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("postmark_inbound_password"),
        "{p}"
    );
    // A reply address whose token was altered: 403 (Postmark stops retrying), nothing stored.
    let mut altered = token.clone();
    let last = if altered.ends_with('0') { "1" } else { "0" };
    altered.replace_range(51.., last);
    let forged = fixture("postmark-inbound.json").replace("REPLY_TOKEN", &altered);
    post(
        &cl,
        path,
        &postmark_headers(POSTMARK_PASSWORD),
        forged.into_bytes(),
    )
    .await
    .problem(403);
    assert_eq!(
        cl.store_snapshot(),
        before,
        "a refused reply stores nothing"
    );

    let r = post(
        &cl,
        path,
        &postmark_headers(POSTMARK_PASSWORD),
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "recorded");
    let reply = assert_replied_once(
        &cl,
        &ours,
        "the customer replied by email: \"Still noisy, and nobody called.\"",
    )
    .await;
    assert_eq!(reply["actor"], "customer");
    assert!(events(&cl, &other, "customer-replied").await.is_empty());
    assert_eq!(
        cl.case(&ours).await["case"]["state"],
        "resolved-awaiting-customer",
        "a reply changes no state"
    );
    // The owner hears of it.
    let alert = slack_alert(&cl, "answered our follow-up").await;
    assert!(alert.to_string().contains(&ours), "{alert}");

    // Postmark redelivers: recorded once, nothing written.
    cl.settle().await;
    let before = cl.store_snapshot();
    let again = post(
        &cl,
        path,
        &postmark_headers(POSTMARK_PASSWORD),
        body.into_bytes(),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(cl.store_snapshot(), before);
    assert_eq!(events(&cl, &ours, "customer-replied").await.len(), 1);

    // An email to the inbound domain that answers no follow-up is acknowledged and ignored.
    let stray = fixture("postmark-inbound.json")
        .replace("REPLY_TOKEN", "hello")
        .replace("73e6d360-66eb-11e1-8e72-a8904824019b", "stray-1");
    let r = post(
        &cl,
        path,
        &postmark_headers(POSTMARK_PASSWORD),
        stray.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ignored");
    assert_eq!(cl.store_snapshot(), before);
}

/// Svix's headers for `body` at `ts`, as Svix documents them.
fn svix_headers(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let key = B64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    vec![
        ("content-type", "application/json".into()),
        ("svix-id", id.into()),
        ("svix-timestamp", ts.to_string()),
        (
            "svix-signature",
            format!("v1,{}", B64.encode(mac.finalize().into_bytes())),
        ),
    ]
}

fn unix(cl: &Closeloop) -> i64 {
    cl.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

on_host_and_spin!(a_resend_reply_is_fetched_from_resend_and_lands_on_its_case);
async fn a_resend_reply_is_fetched_from_resend_and_lands_on_its_case(rt: Runtime) {
    let (api, sms_api) = (MockReceiver::start().await, MockReceiver::start().await);
    let cl = start(rt, &api, &sms_api).await;
    let (_, ours) = open_case(&cl, "reply-rs-1", 3, "The room by the lift was noisy").await;
    let other = open_case_for_sam(&cl, "reply-rs-2").await;
    let token = reply_token(&resolve(&cl, &ours).await);
    resolve(&cl, &other).await;
    let body = fixture("resend-email-received.json")
        .replace("REPLY_TOKEN", &token)
        .into_bytes();
    let path = "/v1/inbound/resend";
    let signed = |body: &[u8]| {
        svix_headers(
            RESEND_SECRET,
            "msg_2pQxR7Ue4XbN9cLk8sVtWm1Hd",
            unix(&cl),
            body,
        )
    };

    // Signed with another secret: 401; Resend's API is never asked, nothing is stored.
    let before = cl.store_snapshot();
    let other_secret = "whsec_c2VjcmV0LWZvci1hbm90aGVyLXdlYmhvb2stMDEyMw==";
    let forged = svix_headers(other_secret, "msg_forged", unix(&cl), &body);
    post(&cl, path, &forged, body.clone()).await.problem(401);
    assert!(api.received().is_empty());
    // Resend's API is down: 503, so Resend retries; nothing stored.
    api.set_mode(Mode::Status(500, "{}"));
    let p = post(&cl, path, &signed(&body), body.clone())
        .await
        .problem(503);
    assert_eq!(p["type"], "urn:closeloop:problem:upstream-unavailable");
    assert_eq!(cl.store_snapshot(), before);

    // The retry finds it back: the email's text is fetched with the API key, its history cut.
    api.set_mode(Mode::Status(200, RESEND_EMAIL));
    let r = post(&cl, path, &signed(&body), body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "recorded");
    let asked = api.received();
    let last = asked.last().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(last.path, format!("/emails/receiving/{RESEND_EMAIL_ID}"));
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {RESEND_API_KEY}").as_str())
    );
    let words = "The lift still chimes all night. Nobody called me back.";
    let detail = format!("the customer replied by email: \"{words}\"");
    assert_replied_once(&cl, &ours, &detail).await;
    assert!(events(&cl, &other, "customer-replied").await.is_empty());
    slack_alert(&cl, "answered our follow-up").await;

    // The redelivery is a duplicate, without asking Resend's API again.
    cl.settle().await;
    let (before, asked) = (cl.store_snapshot(), api.received().len());
    let again = post(&cl, path, &signed(&body), body.clone()).await;
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(api.received().len(), asked);
    assert_eq!(cl.store_snapshot(), before);

    // Other events of the same webhook are acknowledged and ignored.
    let delivered = br#"{"type": "email.delivered", "data": {"email_id": "x"}}"#.to_vec();
    let r = post(&cl, path, &signed(&delivered), delivered).await;
    assert_eq!(r.json()["status"], "ignored");
}

/// Twilio's signature: the URL, then every POST parameter sorted by name as name and value,
/// HMAC-SHA1 under the auth token, base64 ("Secure webhooks", Twilio).
fn twilio_signature(token: &str, url: &str, body: &str) -> String {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    params.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (name, value) in &params {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

async fn post_sms(cl: &Closeloop, body: &str, signature: String) -> Response {
    let headers = vec![
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("x-twilio-signature", signature),
    ];
    post(cl, "/v1/inbound/twilio", &headers, body.as_bytes().to_vec()).await
}

/// Posts `body` as Twilio does, signed with the app's auth token over its URL.
async fn post_signed_sms(cl: &Closeloop, body: &str) -> Response {
    post_sms(cl, body, twilio_signature(TWILIO_TOKEN, TWILIO_URL, body)).await
}

fn assert_twiml(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/xml")),
        "{:?}",
        r.header("content-type")
    );
    assert!(r.text().contains("<Response/>"), "{}", r.text());
}

on_host_and_spin!(
    an_sms_reply_lands_on_the_case_of_the_number_s_follow_up_and_a_forged_one_is_refused
);
async fn an_sms_reply_lands_on_the_case_of_the_number_s_follow_up_and_a_forged_one_is_refused(
    rt: Runtime,
) {
    let (api, sms_api) = (MockReceiver::start().await, MockReceiver::start().await);
    let cl = start(rt, &api, &sms_api).await;
    let (_, ours) = open_case(&cl, "reply-sms-1", 3, "The room by the lift was noisy").await;
    let other = open_case_for_sam(&cl, "reply-sms-2").await;
    resolve(&cl, &ours).await;
    // Sam's follow-up is the latest, but to another number.
    resolve(&cl, &other).await;
    let body = fixture("twilio-inbound.txt");
    assert!(body.contains(&format!("From={}", PHONE.replace('+', "%2B"))));

    // Forged: another auth token, or a signature over another URL. 401, nothing stored.
    let before = cl.store_snapshot();
    let p = post_sms(
        &cl,
        &body,
        twilio_signature("not-the-token", TWILIO_URL, &body),
    )
    .await
    .problem(401);
    assert!(
        p["detail"].as_str().unwrap().contains("X-Twilio-Signature"),
        "{p}"
    );
    let elsewhere = "https://attacker.example/v1/inbound/twilio";
    post_sms(&cl, &body, twilio_signature(TWILIO_TOKEN, elsewhere, &body))
        .await
        .problem(401);
    let no_signature = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    post(
        &cl,
        "/v1/inbound/twilio",
        &no_signature,
        body.clone().into_bytes(),
    )
    .await
    .problem(401);
    assert_eq!(cl.store_snapshot(), before, "a forged SMS stores nothing");

    let r = post_signed_sms(&cl, &body).await;
    assert_twiml(&r);
    assert_replied_once(
        &cl,
        &ours,
        "the customer replied by SMS: \"Still noisy, and nobody called\"",
    )
    .await;
    assert!(events(&cl, &other, "customer-replied").await.is_empty());
    slack_alert(&cl, "answered our follow-up").await;

    // Twilio delivers it again (same MessageSid): recorded once.
    cl.settle().await;
    let before = cl.store_snapshot();
    assert_twiml(&post_signed_sms(&cl, &body).await);
    assert_eq!(cl.store_snapshot(), before);
    assert_eq!(events(&cl, &ours, "customer-replied").await.len(), 1);
}

on_host_and_spin!(stop_by_sms_puts_the_number_on_the_do_not_contact_list);
async fn stop_by_sms_puts_the_number_on_the_do_not_contact_list(rt: Runtime) {
    let (api, sms_api) = (MockReceiver::start().await, MockReceiver::start().await);
    let cl = start(rt, &api, &sms_api).await;
    let (_, first) = open_case(&cl, "reply-stop-1", 3, "The room by the lift was noisy").await;
    resolve(&cl, &first).await;
    let sent = cl.customer.delivered().len();

    let body = fixture("twilio-stop.txt");
    let r = post_signed_sms(&cl, &body).await;
    assert_twiml(&r);
    let noted = events(&cl, &first, "contact-suppressed").await;
    assert!(
        noted
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("texted STOP")),
        "{noted:?}"
    );
    assert!(
        events(&cl, &first, "customer-replied").await.is_empty(),
        "a keyword is not a reply to read"
    );
    // The number is listed (the list holds its digest, never the number), by the customer.
    let listed = cl.records("dnc:");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["added_by"], "customer (SMS opt-out)");
    assert!(!listed[0].to_string().contains("7700900123"));

    // The next follow-up to this customer is not sent, and the timeline says why.
    let (_, second) = open_case(&cl, "reply-stop-2", 3, "Still noisy").await;
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{second}/resolve"),
            Some(json!({"by": "Dana", "resolution": "Fixed the lift chime",
                        "root_cause": "facilities"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.settle().await;
    assert_eq!(
        cl.customer.delivered().len(),
        sent,
        "no message to a listed number"
    );
    let suppressed = events(&cl, &second, "contact-suppressed").await;
    assert!(
        suppressed.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("do-not-contact list")),
        "{suppressed:?}"
    );
    // Taking the number off the list is an admin's decision, through the admin API.
    let r = cl
        .admin(
            "DELETE",
            "/v1/admin/do-not-contact",
            Some(json!({"phone": PHONE})),
        )
        .await;
    assert_eq!(r.json()["do_not_contact"], false);
}

/// `closeloop_domain::reply::MAX_INBOUND_BYTES`: Postmark posts attachments inline.
const MAX_INBOUND_BYTES: usize = 10 * 1024 * 1024;
/// `closeloop_domain::sources::MAX_WEBHOOK_BYTES`: every other webhook's limit.
const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

on_host_and_spin!(an_inbound_email_is_read_up_to_its_limit_and_refused_past_it);
async fn an_inbound_email_is_read_up_to_its_limit_and_refused_past_it(rt: Runtime) {
    let (api, sms_api) = (MockReceiver::start().await, MockReceiver::start().await);
    let cl = start(rt, &api, &sms_api).await;
    let sized = |n: usize| {
        let (head, tail) = (r#"{"MessageID": "big-1", "TextBody": ""#, r#""}"#);
        let mut body = head.as_bytes().to_vec();
        body.resize(n - tail.len(), b'x');
        body.extend_from_slice(tail.as_bytes());
        assert_eq!(body.len(), n);
        body
    };
    let path = "/v1/inbound/postmark";
    let headers = postmark_headers(POSTMARK_PASSWORD);
    let r = post(&cl, path, &headers, sized(MAX_INBOUND_BYTES)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ignored", "read, and no reply address");
    // Past it, refused by the declared length, unread (only the head is sent: the client
    // would otherwise still be writing 10 MiB when the refusal closes the connection).
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request_declaring("POST", &cl.url(path), &h, MAX_INBOUND_BYTES + 1)
        .await
        .problem(413);
    // Resend's and Twilio's webhooks are small: they keep the survey webhooks' limit. At it
    // the body is read (and refused for its signature), past it refused unread.
    let sms_headers = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    for (path, headers) in [
        ("/v1/inbound/twilio", &sms_headers[..]),
        ("/v1/inbound/resend", &[][..]),
    ] {
        let at = vec![b'x'; MAX_WEBHOOK_BYTES];
        post(&cl, path, headers, at).await.problem(401);
        let past = vec![b'x'; MAX_WEBHOOK_BYTES + 1];
        post(&cl, path, headers, past).await.problem(413);
    }
    // The other routes keep their own, smaller limit.
    let r = cl
        .post_raw(
            "/v1/sources/none",
            "application/json",
            vec![b' '; 300 * 1024],
        )
        .await;
    r.problem(413);
}
