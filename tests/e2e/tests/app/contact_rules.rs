//! Customer contact rules: nobody on the do-not-contact list gets a message, and nobody gets
//! one in the quiet hours (it is held, then sent when they end).

use std::time::Duration;

use chrono::Timelike;
use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin, on_host_only};
use serde_json::json;

use crate::{open_case, timeline_kinds};

async fn resolve(cl: &Closeloop, case_id: &str) {
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{case_id}/resolve"),
            Some(json!({"by": "Dana", "resolution": "Moved rooms", "root_cause": "facilities"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

on_host_and_spin!(the_do_not_contact_list_stops_customer_messages);
async fn the_do_not_contact_list_stops_customer_messages(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let p = cl
        .admin(
            "PUT",
            "/v1/admin/do-not-contact",
            Some(json!({"email": "x@y.z", "phone": "+1"})),
        )
        .await
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("exactly one"), "{p}");
    // Listed by email, in another case: matched all the same.
    let r = cl
        .admin(
            "PUT",
            "/v1/admin/do-not-contact",
            Some(json!({"email": "GUEST42@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !cl.store_snapshot()
            .values()
            .any(|v| String::from_utf8_lossy(v)
                .to_lowercase()
                .contains("guest42@example.com")),
        "the list holds no email"
    );
    let (_, case_id) = open_case(&cl, "dnc-1", 3, "noisy").await;
    resolve(&cl, &case_id).await;
    cl.settle().await;
    assert!(
        cl.customer.received().is_empty(),
        "no message to a listed customer"
    );
    let view = cl.case(&case_id).await;
    assert_eq!(view["case"]["state"], "resolved-awaiting-customer");
    let suppressed = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "contact-suppressed")
        .cloned();
    assert!(
        suppressed.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("do-not-contact list"),
    );

    // Taken off the list: the next round is sent.
    let r = cl
        .admin(
            "DELETE",
            "/v1/admin/do-not-contact",
            Some(json!({"email": "guest42@example.com"})),
        )
        .await;
    assert_eq!(r.json()["do_not_contact"], false);
    let (_, second) = open_case(&cl, "dnc-2", 3, "noisy again").await;
    resolve(&cl, &second).await;
    let messages = cl.customer.wait_for_delivered(1).await;
    assert_eq!(messages[0].json()["case_id"], second.as_str());
}

on_host_only!(
    quiet_hours_hold_customer_messages_until_they_end,
    "needs the movable clock"
);
async fn quiet_hours_hold_customer_messages_until_they_end() {
    let now = chrono::Utc::now();
    let start = now.hour();
    let end = (start + 2) % 24;
    let window = format!("{start:02}:00-{end:02}:00");
    let cl = Closeloop::start_with(Runtime::Host, move |o| {
        o.variable("customer_quiet_hours", &window)
    })
    .await;
    let (_, case_id) = open_case(&cl, "quiet-1", 3, "noisy").await;
    cl.slack.wait_for_delivered(1).await;
    assert_eq!(
        cl.slack.delivered().len(),
        1,
        "alerts to the team are not held"
    );
    resolve(&cl, &case_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cl.tick().await;
    assert!(cl.customer.received().is_empty(), "held in the quiet hours");
    let held = cl
        .records("delivery:")
        .into_iter()
        .find(|d| d["channel"] == "customer-webhook")
        .expect("recorded");
    assert_eq!(held["status"], "pending");
    assert_eq!(held["attempts"], 0);
    let kinds = timeline_kinds(&cl.case(&case_id).await);
    assert!(
        kinds.contains(&"contact-suppressed".to_owned()),
        "{kinds:?}"
    );

    cl.clock().advance(Duration::from_secs(2 * 3600 + 60));
    let report = cl.tick().await;
    assert_eq!(report["dispatch"]["delivered"], 1, "{report}");
    cl.customer.wait_for_delivered(1).await;
}
