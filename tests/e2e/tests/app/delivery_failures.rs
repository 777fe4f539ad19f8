//! A provider that fails, hangs or answers garbage: retried on tick until it recovers, then
//! delivered exactly once; nothing lost.

use std::time::Duration;

use closeloop_e2e::mock::Mode;
use closeloop_e2e::{Closeloop, DELIVERY_TIMEOUT_MS, Runtime, on_host_and_spin, on_host_only};

use crate::{open_case, timeline_kinds};

fn slack_delivery(cl: &Closeloop) -> serde_json::Value {
    cl.records("delivery:")
        .into_iter()
        .find(|d| d["channel"] == "slack")
        .expect("a slack delivery is recorded")
}

on_host_only!(
    slack_fails_then_times_out_then_recovers,
    "needs the movable clock"
);
async fn slack_fails_then_times_out_then_recovers() {
    let cl = Closeloop::start(Runtime::Host).await;
    cl.slack.set_mode(Mode::Status(500, "internal_error"));
    let (_, case_id) = open_case(&cl, "stay-500", 1, "No hot water").await;

    // First attempt: 500. The delivery is recorded and stays pending.
    cl.slack.wait_for_requests(1).await;
    let d = slack_delivery(&cl);
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 1);
    assert!(d["last_error"].as_str().unwrap().contains("500"));

    // A tick before the backoff has passed does not retry.
    let report = cl.tick().await;
    assert_eq!(report["dispatch"]["not_due"], 1, "{report}");
    assert_eq!(cl.slack.received().len(), 1);

    // Second attempt after the backoff: the provider hangs past the timeout.
    cl.slack
        .set_mode(Mode::Slow(Duration::from_millis(DELIVERY_TIMEOUT_MS * 4)));
    cl.clock().advance(Duration::from_secs(120));
    let report = cl.tick().await;
    assert_eq!(report["dispatch"]["retrying"], 1, "{report}");
    let d = slack_delivery(&cl);
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("pending"), Some(2))
    );
    assert!(d["last_error"].as_str().unwrap().contains("in time"), "{d}");

    // Recovered: the next tick after the backoff delivers, exactly once.
    cl.slack.set_mode(Mode::Status(200, "ok"));
    cl.clock().advance(Duration::from_secs(600));
    let report = cl.tick().await;
    assert_eq!(report["dispatch"]["delivered"], 1, "{report}");
    cl.clock().advance(Duration::from_secs(3600));
    cl.tick().await;
    assert_eq!(cl.slack.delivered().len(), 1, "delivered exactly once");
    let d = slack_delivery(&cl);
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("delivered"), Some(3))
    );
    assert!(
        crate::dispatch::scheduled(&cl).is_empty(),
        "nothing left for tick"
    );
    let kinds = timeline_kinds(&cl.case(&case_id).await);
    assert_eq!(
        kinds.iter().filter(|k| *k == "delivery-failed").count(),
        2,
        "{kinds:?}"
    );
}

on_host_only!(
    rate_limits_are_honoured_and_garbage_replies_retried,
    "needs the movable clock"
);
async fn rate_limits_are_honoured_and_garbage_replies_retried() {
    let cl = Closeloop::start(Runtime::Host).await;
    cl.slack.set_mode(Mode::RateLimited(900));
    open_case(&cl, "stay-429", 0, "Worst stay ever").await;
    cl.slack.wait_for_requests(1).await;
    // Retry-After 900 s outweighs the 30 s backoff.
    cl.clock().advance(Duration::from_secs(600));
    assert_eq!(cl.tick().await["dispatch"]["not_due"], 1);
    cl.slack.set_mode(Mode::Malformed);
    cl.clock().advance(Duration::from_secs(400));
    assert_eq!(cl.tick().await["dispatch"]["retrying"], 1);
    assert_eq!(cl.slack.received().len(), 2);
    cl.slack.set_mode(Mode::Status(200, "ok"));
    cl.clock().advance(Duration::from_secs(3600));
    assert_eq!(cl.tick().await["dispatch"]["delivered"], 1);
    assert_eq!(cl.slack.delivered().len(), 1);
}

on_host_and_spin!(a_refused_connection_is_retried_and_a_revoked_webhook_dead_lettered);
async fn a_refused_connection_is_retried_and_a_revoked_webhook_dead_lettered(rt: Runtime) {
    let refused = closeloop_e2e::mock::refused_url().await;
    let cl = Closeloop::start_with(rt, |o| o.variable("slack_webhook_url", &refused)).await;
    cl.webhook.set_mode(Mode::Status(410, "gone"));
    open_case(&cl, "stay-refused", 2, "Cold room").await;
    cl.webhook.wait_for_requests(1).await;
    for _ in 0..50 {
        if cl.records("delivery:").iter().all(|d| d["attempts"] == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliveries = cl.records("delivery:");
    let slack = deliveries.iter().find(|d| d["channel"] == "slack").unwrap();
    let hook = deliveries
        .iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap();
    assert_eq!(
        slack["status"], "pending",
        "a refused connection is retried: {slack}"
    );
    assert_eq!(
        hook["status"], "dead-lettered",
        "410 means the webhook is gone: {hook}"
    );
    assert_eq!(
        cl.records("delivery:").len(),
        2,
        "the outbox keeps both records"
    );

    // Standard Webhooks: "If the endpoint returns 410 Gone, the sender should disable the
    // endpoint" (and the spec's "Retry schedule" section): the next alert is not sent there.
    let (_, second) = open_case(&cl, "stay-refused-2", 1, "Still cold").await;
    let deadline = std::time::Instant::now() + closeloop_e2e::SETTLE_WITHIN;
    let cancelled = loop {
        let hook = cl
            .records("delivery:")
            .into_iter()
            .find(|d| d["channel"] == "webhook" && d["case_id"] == second.as_str());
        match hook {
            Some(h) if h["status"] != "pending" => break h,
            _ if std::time::Instant::now() > deadline => {
                panic!("the second webhook delivery did not settle")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(
        cancelled["last_error"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{cancelled}"
    );
    assert_eq!(
        cl.webhook.received().len(),
        1,
        "nothing more was sent to the gone endpoint"
    );
}
