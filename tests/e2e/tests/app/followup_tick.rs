//! After a resolution, tick sends the customer one reminder, then closes the case as
//! unconfirmed after the configured number of days; the old link then changes nothing.

use std::time::Duration;

use closeloop_e2e::{Closeloop, Runtime, on_host_only};

use crate::{answer, open_case, resolve_and_get_link, timeline_kinds};

const DAY: u64 = 24 * 3600;

on_host_only!(
    one_reminder_then_closed_unconfirmed,
    "needs the movable clock"
);
async fn one_reminder_then_closed_unconfirmed() {
    let cl = Closeloop::start_with(Runtime::Host, |o| {
        o.variable("reminder_after_days", "2")
            .variable("close_unconfirmed_after_days", "5")
    })
    .await;
    let (_, case_id) = open_case(&cl, "tick-1", 3, "noisy").await;
    let link = resolve_and_get_link(&cl, &case_id, 0).await;

    // Not yet due.
    cl.clock().advance(Duration::from_secs(2 * DAY - 60));
    let report = cl.tick().await;
    assert_eq!(report["followup"]["reminded"], 0, "{report}");

    // Due: one reminder, with a fresh link, and only one however often tick runs.
    cl.clock().advance(Duration::from_secs(120));
    let report = cl.tick().await;
    assert_eq!(report["followup"]["reminded"], 1, "{report}");
    let messages = cl.customer.wait_for_delivered(2).await;
    let reminder = messages[1].json();
    assert_eq!(reminder["type"], "closeloop.customer-reminder");
    assert_eq!(reminder["case_id"], case_id.as_str());
    let reminder_link = reminder["link"].as_str().unwrap().to_owned();
    assert_ne!(reminder_link, link);
    for _ in 0..3 {
        assert_eq!(cl.tick().await["followup"]["reminded"], 0);
    }
    assert_eq!(cl.customer.received().len(), 2, "a reminder once");

    // Past the close: closed unconfirmed, with the reason, once.
    cl.clock().advance(Duration::from_secs(3 * DAY));
    let report = cl.tick().await;
    assert_eq!(report["followup"]["closed_unconfirmed"], 1, "{report}");
    assert_eq!(cl.tick().await["followup"]["closed_unconfirmed"], 0);
    let view = cl.wait_for_state(&case_id, "closed-unconfirmed").await;
    assert_eq!(
        view["case"]["close_reason"],
        "the customer did not answer within 5 days"
    );
    let kinds = timeline_kinds(&view);
    for kind in ["reminder-queued", "closed-unconfirmed"] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind}: {kinds:?}"
        );
    }

    // Both links are now refused and change nothing.
    cl.settle().await;
    let before = cl.store_snapshot();
    for l in [&link, &reminder_link] {
        let r = answer(&cl, l, "resolved=no").await;
        assert_eq!(r.status, 410, "{}", r.text());
        assert!(r.text().contains("has moved on"), "{}", r.text());
    }
    assert_eq!(cl.store_snapshot(), before);
}

on_host_only!(
    an_answer_to_the_reminder_closes_the_case_and_stops_the_clock,
    "needs the movable clock"
);
async fn an_answer_to_the_reminder_closes_the_case_and_stops_the_clock() {
    let cl = Closeloop::start(Runtime::Host).await;
    let (_, case_id) = open_case(&cl, "tick-2", 3, "noisy").await;
    resolve_and_get_link(&cl, &case_id, 0).await;
    cl.clock().advance(Duration::from_secs(3 * DAY + 60));
    assert_eq!(
        cl.tick().await["followup"]["reminded"],
        1,
        "default: 3 days"
    );
    let messages = cl.customer.wait_for_delivered(2).await;
    let reminder_link = messages[1].json()["link"].as_str().unwrap().to_owned();
    assert_eq!(
        answer(&cl, &reminder_link, "resolved=yes&score=8")
            .await
            .status,
        200
    );
    cl.wait_for_state(&case_id, "closed-confirmed").await;
    cl.clock().advance(Duration::from_secs(10 * DAY));
    assert_eq!(cl.tick().await["followup"]["closed_unconfirmed"], 0);
    assert_eq!(cl.case(&case_id).await["case"]["state"], "closed-confirmed");
}
