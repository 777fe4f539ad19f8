//! Each channel's exact request (method, path, headers, authentication, body) as its
//! provider documents it, checked by a mock of that provider on loopback.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::*;
use closeloop_e2e::{Runtime, on_host_and_spin};

/// Verifies a Standard Webhooks signature independently of the app's code.
fn verify_standard_webhook(r: &closeloop_e2e::mock::Received) {
    let id = r.header("webhook-id").expect("webhook-id");
    let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
    let key = STANDARD
        .decode(WEBHOOK_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    let ts: i64 = ts.parse().expect("seconds");
    assert!(
        (ts - chrono::Utc::now().timestamp()).abs() < 600,
        "a fresh timestamp"
    );
}

on_host_and_spin!(every_channel_sends_its_providers_documented_request);
async fn every_channel_sends_its_providers_documented_request(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = start(rt, &p, &p.team()).await;
    let case_id = open(
        &cl,
        &feedback_from("guest-7", "ch-1", 1, "Room <b>412</b> & the *lift* [noise]"),
    )
    .await;
    p.first_alert_everywhere(&cl).await;
    // Every alert's case link is the console's case page, which a person can open.
    let case_url = format!("http://closeloop.test/console/cases/{case_id}");

    // Slack incoming webhook: POST JSON to the webhook URL; Block Kit with both buttons.
    let s = &p.slack.delivered()[0];
    assert_eq!(
        (s.method.as_str(), s.path.as_str()),
        ("POST", "/services/T1/B1/secretpart")
    );
    assert_eq!(s.header("content-type"), Some("application/json"));
    let b = s.json();
    assert!(
        b["text"]
            .as_str()
            .unwrap()
            .starts_with("P1 feedback from Guest guest-7")
    );
    let text = b.to_string();
    assert!(
        text.contains("Room &lt;b&gt;412&lt;/b&gt; &amp; the *lift* [noise]"),
        "{text}"
    );
    let actions = b["blocks"].as_array().unwrap().last().unwrap();
    assert_eq!(actions["type"], "actions");
    assert_eq!(actions["elements"][0]["url"], case_url.as_str());
    assert_eq!(
        actions["elements"][1]["url"],
        format!("{case_url}#acknowledge").as_str()
    );
    assert!(!text.contains("guest42@example.com") && !text.contains("+447700900123"));

    // Teams Workflows: POST the message with one Adaptive Card, to the signed URL as given.
    let t = &p.teams.delivered()[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.path, "/workflows/abc/triggers/manual/paths/invoke");
    assert_eq!(t.header("content-type"), Some("application/json"));
    let b = t.json();
    assert_eq!(b["type"], "message");
    let att = &b["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    assert_eq!(att["content"]["version"], "1.4");
    assert_eq!(att["content"]["actions"][0]["type"], "Action.OpenUrl");
    // Customer text as typed: a RichTextBlock's TextRun, which Adaptive Cards never read as
    // Markdown (a TextBlock would, and backslash escapes are not supported there).
    let comment = att["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["inlines"][0]["isSubtle"] == true)
        .expect("the comment");
    assert_eq!(comment["type"], "RichTextBlock");
    assert_eq!(comment["inlines"][0]["type"], "TextRun");
    assert_eq!(
        comment["inlines"][0]["text"],
        "Room <b>412</b> & the *lift* [noise]"
    );
    // Generic webhook: Standard Webhooks headers and a valid v1 signature over the body.
    let w = &p.webhook.delivered()[0];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("POST", "/hooks/closeloop")
    );
    verify_standard_webhook(w);
    assert_eq!(w.header("idempotency-key"), w.header("webhook-id"));
    assert_eq!(w.json()["type"], "closeloop.case-opened");
    assert_eq!(w.json()["case"]["id"], case_id.as_str());

    // PagerDuty Events v2: POST /v2/enqueue, routing key in the body, dedup per case.
    let pd = &p.pagerduty.delivered()[0];
    assert_eq!(
        (pd.method.as_str(), pd.path.as_str()),
        ("POST", "/v2/enqueue")
    );
    assert_eq!(pd.header("content-type"), Some("application/json"));
    let b = pd.json();
    assert_eq!(b["routing_key"], PAGERDUTY_KEY);
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], format!("closeloop-case-{case_id}").as_str());
    assert_eq!(b["payload"]["severity"], "critical");
    assert_eq!(b["payload"]["source"], "closeloop");
    assert!(b["payload"]["summary"].as_str().unwrap().len() <= 1024);

    // Postmark: POST /email with the server token header, HTML and text parts.
    let e = &p.email.delivered()[0];
    assert_eq!((e.method.as_str(), e.path.as_str()), ("POST", "/email"));
    assert_eq!(e.header("x-postmark-server-token"), Some(POSTMARK_TOKEN));
    assert_eq!(e.header("accept"), Some("application/json"));
    assert_eq!(e.header("content-type"), Some("application/json"));
    let b = e.json();
    assert_eq!(b["From"], EMAIL_FROM);
    assert_eq!(b["To"], "dana@hotel.test");
    assert_eq!(b["MessageStream"], "outbound");
    let html = b["HtmlBody"].as_str().unwrap();
    assert!(
        html.contains("Room &lt;b&gt;412&lt;/b&gt; &amp; the *lift*"),
        "{html}"
    );
    assert!(b["TextBody"].as_str().unwrap().contains("Room <b>412</b>"));
    assert!(b["Subject"].as_str().unwrap().starts_with("[closeloop] P1"));

    // Twilio: POST form to the account's Messages.json with basic auth.
    let m = &p.twilio.delivered()[0];
    assert_eq!(m.method, "POST");
    assert_eq!(
        m.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
    );
    assert_eq!(
        m.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let basic = STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"));
    assert_eq!(
        m.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(&m.body).into_owned().collect();
    assert_eq!(form[0], ("To".into(), "+447700900001".into()));
    assert_eq!(form[1], ("From".into(), TWILIO_FROM.into()));
    assert!(form[2].1.ends_with(&case_url), "{:?}", form[2]);

    // The team in the directory replaces the variables' channel; nothing was sent twice.
    assert!(cl.slack.received().is_empty());
    for (name, m) in p.channels() {
        assert_eq!(m.received().len(), 1, "{name}");
    }

    // The delivery log is on the case's timeline, one line per channel.
    let view = cl.case(&case_id).await;
    let delivered: Vec<String> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "delivered")
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered.len(), 6, "{delivered:?}");
    assert!(
        delivered
            .iter()
            .any(|d| d.contains("via sms to member.customer-success.dana"))
    );

    // No secret, address or phone number in the outbox, the timeline or the logs.
    let stored = store_text(&cl);
    let log = cl.app.component_log("dispatch");
    for secret in [
        "secretpart",
        "teamssig",
        WEBHOOK_SECRET,
        PAGERDUTY_KEY,
        POSTMARK_TOKEN,
        TWILIO_TOKEN,
        "dana@hotel.test",
        "+447700900001",
    ] {
        assert!(
            !stored.contains(secret),
            "{secret} is stored outside the directory"
        );
        assert!(!log.contains(secret), "{secret} is logged");
    }
    // And the admin API never shows them again.
    let shown = cl
        .admin("GET", &format!("/v1/admin/teams/{TEAM}"), None)
        .await
        .text();
    for secret in ["secretpart", "teamssig", WEBHOOK_SECRET, PAGERDUTY_KEY] {
        assert!(!shown.contains(secret), "{secret} is shown: {shown}");
    }
}

on_host_and_spin!(p2_cases_do_not_page_and_a_team_template_is_used);
async fn p2_cases_do_not_page_and_a_team_template_is_used(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let mut team = p.team();
    team["templates"] = json!({
        "headline": "{priority}: call {customer} back ({score})",
        "email_subject": "Feedback for {team}: {priority}",
        "sms": "{priority} {customer}: {comment}"
    });
    let cl = start(rt, &p, &team).await;
    open(
        &cl,
        &feedback_from("guest-8", "ch-2", 5, "Cold <breakfast>"),
    )
    .await;
    for (name, m) in p.channels() {
        if name != "pagerduty" {
            m.wait_for_delivered(1).await;
        }
    }
    quiet(&cl).await;
    assert!(
        p.pagerduty.received().is_empty(),
        "PagerDuty is for P1 only"
    );
    assert_eq!(
        p.slack.delivered()[0].json()["blocks"][0]["text"]["text"],
        "P2: call Guest guest-8 back (NPS 5/10)"
    );
    let email = p.email.delivered()[0].json();
    assert_eq!(email["Subject"], "Feedback for customer-success: P2");
    let form: Vec<(String, String)> = form_urlencoded::parse(&p.twilio.delivered()[0].body)
        .into_owned()
        .collect();
    assert!(
        form[2]
            .1
            .starts_with("P2 Guest guest-8: Cold <breakfast> http://closeloop.test/console/cases/"),
        "{:?}",
        form[2]
    );
}

on_host_and_spin!(pagerduty_incidents_are_acknowledged_and_resolved_with_the_case);
/// PagerDuty, "Send an Alert Event" (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>):
/// the Acknowledge and Resolve example payloads are exactly `{"routing_key", "dedup_key",
/// "event_action"}`; "Subsequent acknowledge or resolve events sent via a different
/// `routing_key` from the original will be dropped"; and "Once the alert is resolved, any
/// further events with the same `dedup_key` will create a new alert (for `trigger` events)".
/// So the case's acknowledge and resolve reach the endpoint its alert paged, under the
/// trigger's routing key and dedup key, once per episode, and never another channel.
async fn pagerduty_incidents_are_acknowledged_and_resolved_with_the_case(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = start(rt, &p, &p.team()).await;
    let case_id = open(
        &cl,
        &feedback_from("guest-pd", "pd-1", 1, "Water through the ceiling"),
    )
    .await;
    p.first_alert_everywhere(&cl).await;
    let dedup_key = format!("closeloop-case-{case_id}");
    let trigger = p.pagerduty.delivered()[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], dedup_key.as_str());
    let event = |action: &str| json!({"routing_key": PAGERDUTY_KEY, "dedup_key": dedup_key, "event_action": action});
    let others = |p: &Providers| -> Vec<(&'static str, usize)> {
        p.channels()
            .into_iter()
            .filter(|(name, _)| *name != "pagerduty")
            .map(|(name, m)| (name, m.received().len()))
            .collect()
    };
    let before = others(&p);
    let act = |path: &'static str, body: Value| {
        let (cl, case_id) = (&cl, &case_id);
        async move {
            let r = cl
                .agent("POST", &format!("/v1/cases/{case_id}/{path}"), Some(body))
                .await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
        }
    };

    // Acknowledged through the agent API: PagerDuty acknowledges the incident.
    act("acknowledge", json!({"by": "Dana"})).await;
    let sent = p.pagerduty.wait_for_delivered(2).await;
    let ack = &sent[1];
    assert_eq!(
        (ack.method.as_str(), ack.path.as_str()),
        ("POST", "/v2/enqueue")
    );
    assert_eq!(ack.header("content-type"), Some("application/json"));
    assert_eq!(ack.json(), event("acknowledge"));

    // Reassigned and acknowledged again: the incident is acknowledged already, once is all.
    let r = cl
        .admin(
            "POST",
            &format!("/v1/cases/{case_id}/assign"),
            Some(json!({"to": "dana"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    act("acknowledge", json!({"by": "Dana"})).await;
    cl.settle().await;
    assert_eq!(p.pagerduty.received().len(), 2, "one acknowledge");

    // Resolved: the case leaves the team's hands (it awaits the customer), so does the
    // incident.
    act(
        "resolve",
        json!({"by": "Dana", "resolution": "Fixed the leak and moved the guest", "root_cause": "facilities"}),
    )
    .await;
    let sent = p.pagerduty.wait_for_delivered(3).await;
    assert_eq!(sent[2].json(), event("resolve"));
    cl.settle().await;
    assert_eq!(
        others(&p),
        before,
        "Slack, Teams, the webhook, email and SMS hear nothing of it"
    );

    // The customer says it is not fixed: the reopened alert triggers under the same dedup key
    // (a new incident, the first being resolved), and this episode is resolved on its own.
    let messages = cl.customer.wait_for_delivered(1).await;
    let link = messages.last().unwrap().json()["link"]
        .as_str()
        .expect("a link")
        .to_owned();
    let r = crate::answer(&cl, &link, "resolved=no").await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.wait_for_state(&case_id, "reopened").await;
    let sent = p.pagerduty.wait_for_delivered(4).await;
    let again = sent[3].json();
    assert_eq!(again["event_action"], "trigger");
    assert_eq!(again["dedup_key"], dedup_key.as_str());
    assert_eq!(again["routing_key"], PAGERDUTY_KEY);
    act(
        "close",
        json!({"by": "Dana", "reason": "the guest checked out; refunded"}),
    )
    .await;
    let sent = p.pagerduty.wait_for_delivered(5).await;
    assert_eq!(sent[4].json(), event("resolve"));
    cl.settle().await;
    let actions: Vec<Value> = p
        .pagerduty
        .received()
        .iter()
        .map(|r| r.json()["event_action"].clone())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "acknowledge", "resolve", "trigger", "resolve"]
    );

    // The case's timeline says so, like every delivery.
    let view = cl.case(&case_id).await;
    let delivered: Vec<String> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "delivered")
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect();
    let to_pagerduty = |kind: &str| {
        delivered
            .iter()
            .filter(|d| d.starts_with(&format!("{kind} via pagerduty to team.{TEAM}")))
            .count()
    };
    assert_eq!(to_pagerduty("incident-acknowledged"), 1, "{delivered:?}");
    assert_eq!(to_pagerduty("incident-resolved"), 2, "{delivered:?}");
    // The routing key is never kept.
    assert!(!store_text(&cl).contains(PAGERDUTY_KEY));
}

on_host_and_spin!(customers_get_their_follow_up_by_email_through_resend_or_by_sms);
async fn customers_get_their_follow_up_by_email_through_resend_or_by_sms(rt: Runtime) {
    let p = Providers::start("resend").await;
    // No customer gateway: customers are written to directly.
    let cl = Closeloop::start_with(rt, |o| p.options(o).variable("customer_webhook_url", "")).await;
    let (_, case_id) = crate::open_case(&cl, "fu-1", 3, "noisy").await;
    for (path, body) in [
        ("acknowledge", json!({"by": "Dana"})),
        (
            "resolve",
            json!({"by": "Dana", "resolution": "Moved you to a quiet room & fixed the lift", "root_cause": "facilities"}),
        ),
    ] {
        let r = cl
            .agent("POST", &format!("/v1/cases/{case_id}/{path}"), Some(body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let sent = p.email.wait_for_delivered(1).await;
    let r = &sent[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/emails"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {RESEND_KEY}").as_str())
    );
    let key = r.header("idempotency-key").expect("an idempotency key");
    let delivery = deliveries(&cl)
        .into_iter()
        .find(|d| d["channel"] == "email")
        .unwrap();
    assert_eq!(
        key,
        delivery["id"].as_str().unwrap(),
        "the delivery id, stable across retries"
    );
    let b = r.json();
    assert_eq!(b["to"], json!(["guest42@example.com"]));
    assert_eq!(b["from"], EMAIL_FROM);
    assert!(
        b["html"]
            .as_str()
            .unwrap()
            .contains("quiet room &amp; fixed the lift")
    );
    assert!(b["text"].as_str().unwrap().contains("/v1/confirm/"));

    // A customer who left only a phone number gets an SMS with the link.
    let mut body = feedback_from("guest-9", "fu-2", 2, "rude staff");
    body["customer"]["email"] = serde_json::Value::Null;
    let case2 = open(&cl, &body).await;
    quiet(&cl).await;
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case2}/resolve"),
            Some(
                json!({"by": "Dana", "resolution": "Apologised", "root_cause": "staff-behaviour"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sms = p.twilio.wait_for_delivered(1).await;
    let form: Vec<(String, String)> = form_urlencoded::parse(&sms[0].body).into_owned().collect();
    assert_eq!(form[0], ("To".into(), "+447700900123".into()));
    assert!(form[2].1.contains("/v1/confirm/"), "{:?}", form[2]);
    assert!(cl.customer.received().is_empty());
}

on_host_and_spin!(one_slow_provider_does_not_hold_back_the_other_alerts);
/// An answer's alerts go out at once: providers taking seconds to answer do not delay each
/// other (dispatch keeps several provider calls in flight). One after the other, the second
/// would arrive only once the first had answered.
async fn one_slow_provider_does_not_hold_back_the_other_alerts(rt: Runtime) {
    let slow = Duration::from_secs(3);
    let cl = Closeloop::start_with(rt, |o| {
        o.variable("delivery_timeout_ms", &(slow * 3).as_millis().to_string())
    })
    .await;
    cl.slack.set_mode(Mode::Slow(slow));
    cl.webhook.set_mode(Mode::Slow(slow));
    let r = cl
        .post_feedback(&closeloop_e2e::feedback("slow-1", 1, "Nobody came"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    // (The mock records a slow request once it answered, with the time it arrived.)
    let hook = cl.webhook.wait_for_requests(1).await;
    let slack = cl.slack.wait_for_requests(1).await;
    let apart = hook[0].at.max(slack[0].at) - hook[0].at.min(slack[0].at);
    assert!(
        apart < slow / 2,
        "one alert waited {apart:?} for the other's answer"
    );
}

on_host_and_spin!(the_customer_webhook_is_signed_once_it_has_a_secret);
/// The customer gateway's message carries the customer's confirmation link: with
/// `customer_webhook_secret` set it is signed as Standard Webhooks specifies, like the alert
/// webhook (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).
async fn the_customer_webhook_is_signed_once_it_has_a_secret(rt: Runtime) {
    let cl = Closeloop::start_with(rt, |o| {
        o.variable("customer_webhook_secret", WEBHOOK_SECRET)
    })
    .await;
    let (_, case_id) = crate::open_case(&cl, "signed-1", 2, "Nobody answered the phone").await;
    crate::resolve_and_get_link(&cl, &case_id, 0).await;
    let sent = cl.customer.wait_for_delivered(1).await;
    verify_standard_webhook(&sent[0]);
}
