//! Alert fatigue and escalation with the injected clock: quiet hours in the recipient's time
//! zone (P1 breaks through), identical alerts folded, per-person rate limits overflowing into
//! a daily digest, and escalation to the lead then the manager until acknowledged.

use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::json;

use super::*;
use closeloop_e2e::{Runtime, on_host_only};

fn email_member(id: &str, p: &Providers, extra: Value) -> Value {
    let mut m = json!({"id": id, "name": id, "time_zone": "UTC",
        "endpoints": [{"channel": "email", "address": format!("{id}@hotel.test")}]});
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    let _ = p;
    m
}

fn emails_to(p: &Providers, who: &str) -> Vec<Value> {
    p.email
        .delivered()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["To"] == format!("{who}@hotel.test").as_str())
        .collect()
}

fn hhmm(t: chrono::DateTime<Utc>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

on_host_only!(
    quiet_hours_hold_alerts_until_they_end_but_p1_breaks_through,
    "needs the movable clock"
);
async fn quiet_hours_hold_alerts_until_they_end_but_p1_breaks_through() {
    let p = Providers::start("postmark").await;
    let now = Utc::now();
    let quiet = json!({"quiet_hours": {"start": hhmm(now - chrono::Duration::hours(1)),
                                       "end": hhmm(now + chrono::Duration::hours(2))}});
    let team = json!({"members": [email_member("dana", &p, quiet)]});
    let cl = start(Runtime::Host, &p, &team).await;

    let p2 = open(
        &cl,
        &feedback_from("guest-q1", "quiet-1", 5, "Slow check-in"),
    )
    .await;
    let p1 = open(
        &cl,
        &feedback_from("guest-q2", "quiet-2", 0, "Fire alarm all night"),
    )
    .await;
    let first = p.email.wait_for_delivered(1).await;
    assert!(
        first[0].json()["Subject"].as_str().unwrap().contains("P1"),
        "P1 breaks through"
    );
    let held = deliveries(&cl)
        .into_iter()
        .find(|d| d["case_id"] == p2.as_str())
        .unwrap();
    assert_eq!(
        (held["status"].as_str(), held["attempts"].as_u64()),
        (Some("pending"), Some(0))
    );
    let view = cl.case(&p2).await;
    assert!(
        view["timeline"].to_string().contains("quiet hours"),
        "{view}"
    );

    // Still quiet an hour later.
    cl.clock().advance(Duration::from_secs(3_600));
    cl.tick().await;
    assert_eq!(p.email.received().len(), 1);
    // Quiet hours over: sent, once.
    cl.clock().advance(Duration::from_secs(3_600 + 120));
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["delivered"], 1, "{r}");
    cl.clock().advance(Duration::from_secs(3_600));
    cl.tick().await;
    assert_eq!(emails_to(&p, "dana").len(), 2);
    let _ = p1;
}

on_host_only!(
    identical_alerts_are_folded_and_a_persons_excess_goes_to_the_daily_digest,
    "needs the movable clock"
);
async fn identical_alerts_are_folded_and_a_persons_excess_goes_to_the_daily_digest() {
    let p = Providers::start("postmark").await;
    let team = json!({"members": [
        email_member("sam", &p, json!({"max_alerts_per_hour": 2})),
    ]});
    let cl = start(Runtime::Host, &p, &team).await;

    // The same answer twice within minutes (a double submission): one alert, the second
    // folded.
    let a = open(
        &cl,
        &feedback_from("guest-same", "fold-1", 4, "Dirty towels"),
    )
    .await;
    quiet(&cl).await;
    let b = open(
        &cl,
        &feedback_from("guest-same", "fold-2", 4, "Dirty towels"),
    )
    .await;
    quiet(&cl).await;
    assert_eq!(emails_to(&p, "sam").len(), 1);
    let folded = deliveries(&cl)
        .into_iter()
        .find(|d| d["case_id"] == b.as_str())
        .unwrap();
    assert_eq!(folded["status"], "folded", "{folded}");
    assert!(cl.case(&b).await["timeline"].to_string().contains("folded"));
    let _ = a;

    // Two more customers: the second alert is Sam's limit (2 an hour), the third goes to
    // the digest.
    open(
        &cl,
        &feedback_from("guest-r2", "rate-2", 4, "Late breakfast"),
    )
    .await;
    quiet(&cl).await;
    let over = open(&cl, &feedback_from("guest-r3", "rate-3", 4, "No towels")).await;
    quiet(&cl).await;
    assert_eq!(emails_to(&p, "sam").len(), 2);
    let digested = deliveries(&cl)
        .into_iter()
        .find(|d| d["case_id"] == over.as_str())
        .unwrap();
    assert_eq!(digested["status"], "digested", "{digested}");

    // The digest goes out at the first tick after 09:00 in Sam's zone (UTC), once a day.
    let now: chrono::DateTime<Utc> = cl.now().into();
    let today_nine = now.date_naive().and_hms_opt(9, 5, 0).unwrap().and_utc();
    let next_nine = if now < today_nine {
        today_nine
    } else {
        today_nine + chrono::Duration::days(1)
    };
    cl.clock().advance((next_nine - now).to_std().unwrap());
    let r = cl.tick().await;
    assert_eq!(r["dispatch"]["digests"], 1, "{r}");
    let mails = emails_to(&p, "sam");
    assert_eq!(mails.len(), 3);
    let digest = &mails[2];
    assert!(
        digest["Subject"]
            .as_str()
            .unwrap()
            .contains("digest: 1 case"),
        "{digest}"
    );
    assert!(
        digest["TextBody"]
            .as_str()
            .unwrap()
            .contains(&format!("/console/cases/{over}"))
    );
    assert!(
        cl.case(&over).await["timeline"]
            .to_string()
            .contains("digest via email")
    );
    cl.clock().advance(Duration::from_secs(600));
    assert_eq!(cl.tick().await["dispatch"]["digests"], 0);
    assert_eq!(emails_to(&p, "sam").len(), 3);
}

on_host_only!(
    unacknowledged_cases_escalate_to_the_lead_then_the_manager_until_acknowledged,
    "needs the movable clock"
);
async fn unacknowledged_cases_escalate_to_the_lead_then_the_manager_until_acknowledged() {
    let p = Providers::start("postmark").await;
    let team = json!({
        "members": [
            email_member("dana", &p, json!({})),
            email_member("lee", &p, json!({"alerts": false})),
            email_member("max", &p, json!({"alerts": false})),
        ],
        "escalation": ["lee", "max"]
    });
    let cl = start(Runtime::Host, &p, &team).await;
    let ignored = open(
        &cl,
        &feedback_from("guest-e1", "esc-1", 1, "Nobody answered"),
    )
    .await;
    let handled = open(&cl, &feedback_from("guest-e2", "esc-2", 2, "Cold soup")).await;
    quiet(&cl).await;
    assert_eq!(emails_to(&p, "dana").len(), 2);

    // Before the first-response due time (P1: one hour): nothing.
    cl.clock().advance(Duration::from_secs(59 * 60));
    assert_eq!(cl.tick().await["dispatch"]["escalations"], 0);
    // Past it: the team lead, for both.
    cl.clock().advance(Duration::from_secs(2 * 60));
    assert_eq!(cl.tick().await["dispatch"]["escalations"], 2);
    let lee = emails_to(&p, "lee");
    assert_eq!(lee.len(), 2);
    assert!(
        lee[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("Escalation to the team lead"),
        "{}",
        lee[0]
    );
    // One case is acknowledged; the other goes on to the manager an hour later.
    let r = cl
        .agent(
            "POST",
            &format!("/v1/cases/{handled}/acknowledge"),
            Some(json!({"by": "lee"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.clock().advance(Duration::from_secs(60 * 60));
    assert_eq!(cl.tick().await["dispatch"]["escalations"], 1);
    let max = emails_to(&p, "max");
    assert_eq!(max.len(), 1);
    assert!(max[0]["TextBody"].as_str().unwrap().contains(&ignored));
    assert!(max[0]["Subject"].as_str().unwrap().contains("manager"));
    // Nothing more, however long it waits: the chain has two levels.
    cl.clock().advance(Duration::from_secs(24 * 3_600));
    cl.tick().await;
    assert_eq!(emails_to(&p, "lee").len(), 2);
    assert_eq!(emails_to(&p, "max").len(), 1);
    assert!(
        cl.case(&ignored).await["timeline"]
            .to_string()
            .contains("escalated to max (manager)")
    );
}
