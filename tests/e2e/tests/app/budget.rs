//! The write budget (issue "Exactly once and fast on real Spin"): what a request costs in
//! key-value write calls, each a transaction with its disk syncs on Spin's default store, or a
//! round trip on Redis. Counted by the test host, per call whatever the number of keys.

use closeloop_e2e::{Closeloop, Runtime, feedback, on_host_only};
use serde_json::json;

/// Write calls from `POST /v1/feedback` to a delivered alert, for one detractor on one channel.
const POST_TO_ALERT: u64 = 4;
/// Write calls of one agent action (its ticket and its fold).
const AGENT_ACTION: u64 = 2;

on_host_only!(
    each_step_stays_within_its_write_budget,
    "needs the host's count of write calls"
);
async fn each_step_stays_within_its_write_budget() {
    // One alert channel: Slack.
    let cl = Closeloop::start_with(Runtime::Host, |o| {
        o.variable("alert_webhook_url", "")
            .variable("customer_webhook_url", "")
    })
    .await;
    let kv = cl.app.kv("default");

    let before = kv.writes();
    let r = cl
        .post_feedback(&feedback(
            "budget-1",
            2,
            "The room by the lift was noisy all night",
        ))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.slack.wait_for_delivered(1).await;
    cl.settle().await;
    let to_alert = kv.writes() - before;
    assert!(
        to_alert <= POST_TO_ALERT,
        "post to delivered alert: {to_alert} write calls"
    );
    let case_id = cl.records("case:")[0]["id"].as_str().unwrap().to_owned();

    // A read that finds nothing to fold writes nothing.
    let before = kv.writes();
    for path in [
        "/v1/cases".to_owned(),
        format!("/v1/cases/{case_id}"),
        "/v1/metrics".to_owned(),
        "/v1/exports/cases.json".to_owned(),
    ] {
        let r = cl.admin("GET", &path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    assert_eq!(kv.writes() - before, 0, "reads write nothing");

    for (action, body, status) in [
        ("acknowledge", json!({"by": "Dana"}), 200),
        (
            "notes",
            json!({"by": "Dana", "text": "calling the guest"}),
            201,
        ),
        (
            "resolve",
            json!({"by": "Dana", "resolution": "Moved the guest", "root_cause": "facilities"}),
            200,
        ),
    ] {
        let before = kv.writes();
        let r = cl
            .agent("POST", &format!("/v1/cases/{case_id}/{action}"), Some(body))
            .await;
        assert_eq!(r.status, status, "{action}: {}", r.text());
        cl.settle().await;
        assert_eq!(
            kv.writes() - before,
            AGENT_ACTION,
            "{action}: its ticket and its fold"
        );
    }
}
