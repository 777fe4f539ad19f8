//! Every channel through every failure mode: 500, 429 with Retry-After, a timeout, a
//! malformed reply, a refused connection, a permanent refusal. Each ends delivered exactly
//! once, or dead-lettered with a notice to operations; the outbox never loses a record.

use std::time::Duration;

use closeloop_e2e::mock::{Mode, refused_url};
use closeloop_e2e::{DELIVERY_TIMEOUT_MS, Runtime, on_host_only};
use serde_json::json;

use super::*;

fn statuses(cl: &Closeloop) -> Vec<(String, String, u64)> {
    let mut v: Vec<_> = deliveries(cl)
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

on_host_only!(
    each_channel_survives_500_429_timeout_and_garbage_then_delivers_once,
    "needs the movable clock"
);
async fn each_channel_survives_500_429_timeout_and_garbage_then_delivers_once() {
    let p = Providers::start("resend").await;
    let cl = start(Runtime::Host, &p, &p.team()).await;
    p.set_all(Mode::Status(500, "{}"));
    open(
        &cl,
        &feedback_from("guest-f", "fail-1", 0, "Flooded bathroom"),
    )
    .await;
    quiet(&cl).await;
    let all_at = |attempts: u64| {
        statuses(&cl)
            .iter()
            .all(|(_, s, a)| s == "pending" && *a == attempts)
    };
    assert!(all_at(1), "{:?}", statuses(&cl));
    assert_eq!(deliveries(&cl).len(), 6);

    // 429 with Retry-After: 900 s outweighs the 30 s backoff.
    p.set_all(Mode::RateLimited(900));
    cl.clock().advance(Duration::from_secs(60));
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["retrying"], 6, "{r}");
    cl.clock().advance(Duration::from_secs(600));
    let r = cl.tick().await;
    assert_eq!(
        (
            r["dispatch"]["retrying"].as_u64(),
            r["dispatch"]["delivered"].as_u64()
        ),
        (Some(0), Some(0)),
        "Retry-After is honoured: nothing attempted before it: {r}"
    );
    for (name, m) in p.channels() {
        assert_eq!(m.received().len(), 2, "{name}");
    }

    // A provider slower than the timeout.
    p.set_all(Mode::Slow(Duration::from_millis(DELIVERY_TIMEOUT_MS * 3)));
    cl.clock().advance(Duration::from_secs(400));
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["retrying"], 6, "{r}");
    assert!(
        deliveries(&cl)
            .iter()
            .all(|d| d["last_error"].as_str().unwrap().contains("in time"))
    );

    // A reply that is not HTTP.
    p.set_all(Mode::Malformed);
    cl.clock().advance(Duration::from_secs(3_600));
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["retrying"], 6, "{r}");

    // Recovered: each delivered exactly once, with the same idempotency key every time (past
    // the webhook's wait after its fourth failure: 2 h on the Standard Webhooks schedule).
    p.all_ok();
    cl.clock().advance(Duration::from_secs(3 * 3_600));
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["delivered"], 6, "{r}");
    cl.clock().advance(Duration::from_secs(7_200));
    cl.tick().await;
    for (name, m) in p.channels() {
        assert_eq!(m.delivered().len(), 1, "{name} delivered exactly once");
        // The mock records a request it answered too late only if the app's dropped
        // connection did not cancel it first: four or five, and the record says five.
        assert!(
            (4..=5).contains(&m.received().len()),
            "{name} was tried five times"
        );
    }
    // (The malformed-reply mock reads no headers, so those requests are left out.)
    let keys: Vec<_> = p
        .email
        .received()
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert!(
        keys.len() >= 3 && keys.iter().all(|k| *k == keys[0]),
        "{keys:?}"
    );
    let ids: Vec<_> = p
        .webhook
        .received()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    assert!(
        ids.len() >= 3 && ids.iter().all(|k| *k == ids[0]),
        "{ids:?}"
    );
    assert!(
        statuses(&cl)
            .iter()
            .all(|(_, s, a)| s == "delivered" && *a == 5)
    );
    assert!(p.ops.received().is_empty(), "nothing was given up");
    assert!(scheduled(&cl).is_empty(), "nothing left for tick");
}

on_host_only!(
    refused_and_rejected_deliveries_are_dead_lettered_with_a_notice_to_operations,
    "needs the movable clock"
);
async fn refused_and_rejected_deliveries_are_dead_lettered_with_a_notice_to_operations() {
    let p = Providers::start("postmark").await;
    let refused = refused_url().await;
    let team = json!({
        "members": [{"id": "dana", "name": "Dana",
            "endpoints": [
                {"channel": "webhook", "url": refused, "secret": WEBHOOK_SECRET},
                {"channel": "email", "address": "dana@hotel.test"}
            ]}]
    });
    let cl = start(Runtime::Host, &p, &team).await;
    // Postmark: 422 ErrorCode 406, an inactive recipient: permanent.
    p.email.set_mode(Mode::Status(422, r#"{"ErrorCode":406,"Message":"You tried to send to a recipient that has been marked as inactive."}"#));
    let case_id = open(&cl, &feedback_from("guest-d", "dead-1", 1, "Broken heater")).await;
    quiet(&cl).await;
    let ops = p.ops.wait_for_delivered(1).await;
    let text = ops[0].json().to_string();
    assert!(
        text.contains("via email to member.customer-success.dana"),
        "{text}"
    );
    assert!(text.contains("Postmark ErrorCode 406"), "{text}");
    assert!(text.contains(&case_id));
    assert!(!text.contains("dana@hotel.test") && !text.contains(POSTMARK_TOKEN));

    // The refused webhook is retried until its attempts run out, on the Standard Webhooks
    // schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after each failure (each with up to
    // 20% jitter); an attempt is never made before its time.
    let max = 8;
    for wait in [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000] {
        cl.clock().advance(Duration::from_secs(wait - 1));
        let r = cl.tick().await;
        assert_eq!(r["dispatch"]["retrying"], 0, "not before {wait} s: {r}");
        cl.clock().advance(Duration::from_secs(wait / 5 + 2));
        cl.tick().await;
    }
    let hook = deliveries(&cl)
        .into_iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap();
    assert_eq!(hook["status"], "dead-lettered", "{hook}");
    assert_eq!(hook["attempts"], max);
    let ops = p.ops.wait_for_delivered(2).await;
    assert!(
        ops[1].json().to_string().contains("via webhook"),
        "{:?}",
        ops[1].json()
    );
    assert!(
        !ops[1].json().to_string().contains(&refused),
        "no endpoint URL in the notice"
    );

    // Every record is kept: two dead letters and two notices delivered, nothing pending.
    let mut kept: Vec<(String, String)> = deliveries(&cl)
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            ("case-opened".into(), "dead-lettered".into()),
            ("case-opened".into(), "dead-lettered".into()),
            ("delivery-failed".into(), "delivered".into()),
            ("delivery-failed".into(), "delivered".into()),
        ]
    );
    let listed = cl
        .admin("GET", "/v1/admin/deliveries?status=dead-lettered", None)
        .await;
    assert_eq!(listed.json()["total"], 2, "{}", listed.text());
    let kinds = crate::timeline_kinds(&cl.case(&case_id).await);
    assert_eq!(
        kinds.iter().filter(|k| *k == "dead-lettered").count(),
        2,
        "{kinds:?}"
    );
}

on_host_only!(
    a_retry_sends_the_first_attempts_message_byte_for_byte_after_the_case_moved_on,
    "needs the movable clock"
);
/// Resend, "Idempotency Keys": "409: invalid_idempotent_request - this idempotency key has
/// already been used on a request that had a different payload. Retrying this request is
/// useless without changing the idempotency key or payload"
/// (<https://resend.com/docs/dashboard/emails/idempotency-keys>). A retry rendered again after
/// the case was acknowledged carried another body under the same key; every channel now
/// sends the message its first attempt rendered. Standard Webhooks signs each attempt anew
/// ("webhook-timestamp"), over the same body. PagerDuty is the exception: its trigger is not
/// retried once the case is acknowledged (the acknowledge goes instead), since PagerDuty
/// drops an acknowledge for an alert it does not have yet and the late trigger would page
/// for a case someone is working on.
async fn a_retry_sends_the_first_attempts_message_byte_for_byte_after_the_case_moved_on() {
    let p = Providers::start("resend").await;
    let cl = start(Runtime::Host, &p, &p.team()).await;
    p.set_all(Mode::Status(503, "{}"));
    let case_id = open(
        &cl,
        &feedback_from("guest-r", "render-once-1", 1, "Cold room"),
    )
    .await;
    quiet(&cl).await;
    for (name, m) in p.channels() {
        assert_eq!(m.received().len(), 1, "{name} tried once");
    }
    // The case moves on before the retry: an alert rendered now would say so.
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/acknowledge"),
            Some(json!({"by": "Dana", "note": "on it"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // PagerDuty is told at once, and is down too.
    let pd = p.pagerduty.wait_for_requests(2).await;
    assert_eq!(pd[1].json()["event_action"], "acknowledge");
    quiet(&cl).await;
    p.all_ok();
    cl.clock().advance(Duration::from_secs(60));
    let r = cl.tick().await;
    assert_eq!(
        r["dispatch"]["delivered"], 6,
        "five alerts and PagerDuty's acknowledge: {r}"
    );
    assert_eq!(r["dispatch"]["cancelled"], 1, "PagerDuty's trigger: {r}");
    for (name, m) in p.channels() {
        let sent = m.received();
        if name == "pagerduty" {
            let actions: Vec<Value> = (sent.iter())
                .map(|r| r.json()["event_action"].clone())
                .collect();
            assert_eq!(actions, ["trigger", "acknowledge", "acknowledge"]);
            assert_eq!(
                String::from_utf8_lossy(&sent[2].body),
                String::from_utf8_lossy(&sent[1].body),
                "the acknowledge's retry sends the same bytes"
            );
            continue;
        }
        assert_eq!(sent.len(), 2, "{name}");
        assert_eq!(
            String::from_utf8_lossy(&sent[1].body),
            String::from_utf8_lossy(&sent[0].body),
            "{name}: the retry sends the same bytes"
        );
    }
    let keys: Vec<_> = (p.email.received().iter())
        .map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert!(keys[0].is_some() && keys[0] == keys[1], "{keys:?}");
    let hooks = p.webhook.received();
    assert_eq!(hooks[0].header("webhook-id"), hooks[1].header("webhook-id"));
    assert_ne!(
        hooks[0].header("webhook-timestamp"),
        hooks[1].header("webhook-timestamp"),
        "each attempt is signed at its own time"
    );
    assert!(
        !String::from_utf8_lossy(&hooks[1].body).contains("acknowledged"),
        "the webhook body is the first attempt's, from before the acknowledgement"
    );
    // Once delivered, nothing of the message is kept.
    assert!(
        deliveries(&cl).iter().all(|d| d.get("rendered").is_none()),
        "{:?}",
        deliveries(&cl)
    );
}

/// The webhook delivery of the case `case_id`, once it is no longer pending.
async fn settled_webhook(cl: &Closeloop, case_id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + closeloop_e2e::SETTLE_WITHIN;
    loop {
        let hook = (deliveries(cl).into_iter())
            .find(|d| d["channel"] == "webhook" && d["case_id"] == case_id);
        match hook {
            Some(h) if h["status"] != "pending" => return h,
            _ if std::time::Instant::now() > deadline => panic!("no settled webhook for {case_id}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

closeloop_e2e::on_host_and_spin!(a_webhook_answering_410_is_disabled_until_its_team_is_saved_again);
/// Standard Webhooks: "If the endpoint returns 410 Gone, the sender should disable the
/// endpoint". Dead-lettered once, the endpoint gets nothing more until an admin saves its
/// team again.
async fn a_webhook_answering_410_is_disabled_until_its_team_is_saved_again(rt: Runtime) {
    let p = Providers::start("postmark").await;
    let cl = start(rt, &p, &p.team()).await;
    p.webhook.set_mode(Mode::Status(410, "gone"));
    let first = open(&cl, &feedback_from("guest-g1", "gone-1", 1, "Cold")).await;
    assert_eq!(
        settled_webhook(&cl, &first).await["status"],
        "dead-lettered"
    );
    let second = open(&cl, &feedback_from("guest-g2", "gone-2", 1, "Colder")).await;
    let hook = settled_webhook(&cl, &second).await;
    assert_eq!(hook["status"], "cancelled", "{hook}");
    assert!(
        hook["last_error"].as_str().unwrap().contains("410 Gone"),
        "{hook}"
    );
    assert_eq!(
        p.webhook.received().len(),
        1,
        "nothing more went to the gone endpoint"
    );

    p.webhook.set_mode(WEBHOOK_OK);
    put_team(&cl, TEAM, &p.team()).await;
    let third = open(&cl, &feedback_from("guest-g3", "gone-3", 1, "Coldest")).await;
    assert_eq!(settled_webhook(&cl, &third).await["status"], "delivered");
    assert_eq!(p.webhook.delivered().len(), 1);
}
