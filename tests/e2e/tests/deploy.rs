//! Deployment shapes: hosts without service chaining, and replicas that share one Redis.
//!
//! The replicas are two `RunningApp`s in this process, each on a host of its own (its own
//! listener, router, component instances and Redis connections). Nothing in memory is shared
//! between them except compiled code and the test's clock and mock receivers, which stand in
//! for what real replicas share anyway (wall time and the providers); all application state
//! crosses between them only through the Redis server, as between two Spin processes. In one
//! process the test can move the clock that retries and due times depend on; with two OS
//! processes it could not.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use closeloop_e2e::mock::Mode;
use closeloop_e2e::{Closeloop, Runtime, feedback, on_host_and_spin, on_host_only};
use serde_json::{Value, json};
use spin_test_host::RedisServer;

/// A bound loopback listener and its address: the app serves on it, so no other process can
/// take the port between choosing it and listening.
fn bound() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let addr = listener.local_addr().expect("a local address");
    (listener, addr)
}

fn timeline_kinds(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

on_host_and_spin!(without_chaining_the_stages_hand_over_through_the_public_url);
async fn without_chaining_the_stages_hand_over_through_the_public_url(rt: Runtime) {
    let cl = Closeloop::start_with(rt, |o| o.own_url("dispatch_url")).await;
    // allowed_outbound_hosts is now just the public URL: a chained call would be denied, so
    // an alert proves the hand-over went over HTTP to the app's own route.
    let r = cl
        .post_feedback(&feedback("stay-nochain", 2, "Breakfast was cold"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    let cases = cl.records("case:");
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().unwrap().to_owned();
    let alert = cl.slack.wait_for_delivered(1).await;
    assert!(alert[0].json().to_string().contains(&case_id));
    assert!(
        cl.app
            .component_log("dispatch")
            .contains("/v1/internal/dispatch"),
        "dispatch was reached through its public route: {}",
        cl.app.component_log("dispatch")
    );

    // A tick re-drives through the same URLs.
    let report = cl.tick().await;
    assert!(report.is_object(), "{report}");
}

on_host_and_spin!(a_stage_url_with_a_path_is_refused_at_every_hand_over);
async fn a_stage_url_with_a_path_is_refused_at_every_hand_over(rt: Runtime) {
    // The URL is also the callers' allowed_outbound_hosts entry, where Spin refuses a path:
    // Spin 4.0.2 still starts the app (the template resolves per request), and denies every
    // request to that stage. Feedback is stored; nothing reaches dispatch; tick says so.
    let cl = Closeloop::start_with(rt, |o| {
        o.variable("dispatch_url", "https://closeloop.example.com/base")
    })
    .await;
    let r = cl
        .post_feedback(&feedback("stay-badurl", 2, "Breakfast was cold"))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let auth = format!("Bearer {}", closeloop_e2e::TICK_TOKEN);
    let tick = closeloop_e2e::client::request(
        "POST",
        &cl.url("/v1/tick"),
        &[("authorization", auth.as_str())],
        Vec::new(),
    )
    .await;
    assert_eq!(tick.status, 503, "{}", tick.text());
    assert!(
        tick.json()["dispatch"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("dispatch")),
        "{}",
        tick.text()
    );
    assert!(cl.slack.received().is_empty(), "no alert got through");
}

on_host_only!(
    two_replicas_on_one_redis_lose_and_repeat_nothing,
    "needs the movable clock",
    flavor = "multi_thread",
    worker_threads = 4
);
async fn two_replicas_on_one_redis_lose_and_repeat_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rc = redis.runtime_config_file();
    // Each replica hands its work over to the other's public URL, as a load balancer in front
    // of replicas without service chaining would spread it.
    let listeners = [bound(), bound()];
    let addrs = [listeners[0].1, listeners[1].1];
    let replicas = Closeloop::start_replicas(2, &rc, |i, o| {
        let other = format!("http://{}", addrs[1 - i]);
        let own = listeners[i].0.try_clone().expect("a listener handle");
        o.listener(own).variable("dispatch_url", &other)
    })
    .await;
    let (a, b) = (&replicas[0], &replicas[1]);
    let on = |i: usize| &replicas[i % 2];

    // Slack is down at first, so every alert needs retries that both replicas' ticks race for.
    a.slack.set_mode(Mode::Status(503, "down"));

    // Twelve answers, each posted to both replicas at once (a platform's redelivery racing its
    // first delivery): scores 0..=11 wrap to detractors, passives and promoters.
    const POSTS: usize = 12;
    let mut posts = Vec::new();
    for n in 0..POSTS {
        let body = feedback(&format!("stay-{n}"), (n % 11) as i64, "The lift was noisy");
        for i in 0..2 {
            let url = on(n + i).url("/v1/feedback");
            let body = body.to_string().into_bytes();
            posts.push((
                n,
                tokio::spawn(async move {
                    closeloop_e2e::client::request(
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        body,
                    )
                    .await
                }),
            ));
        }
    }
    // Racing twins may both answer 202 (each saw no earlier copy), but they write the same
    // derived keys: what must hold is one stored feedback and one case per answer, below.
    let mut accepted = [0; POSTS];
    for (n, p) in posts {
        let r = p.await.unwrap();
        match r.status {
            202 => accepted[n] += 1,
            200 => assert_eq!(r.json()["status"], "duplicate", "{}", r.text()),
            other => panic!("feedback answered {other}: {}", r.text()),
        }
    }
    assert!(accepted.iter().all(|&n| n >= 1), "{accepted:?}");
    a.settle().await;

    let feedback_records = a.records("feedback:");
    assert_eq!(feedback_records.len(), POSTS);
    let cases = a.records("case:");
    assert_eq!(cases.len(), POSTS, "one case per feedback");
    let by_feedback: BTreeSet<String> =
        cases.iter().map(|c| c["feedback_id"].to_string()).collect();
    assert_eq!(by_feedback.len(), POSTS);

    // Slack recovers; ticks on both replicas at once, past every backoff, until nothing is due.
    a.slack.set_mode(Mode::Status(200, "ok"));
    for _ in 0..4 {
        a.clock().advance(Duration::from_secs(3600));
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        assert!(ra.is_object() && rb.is_object());
    }
    let alerting: BTreeSet<String> = cases
        .iter()
        .filter(|c| c["triage"]["alert"] == true)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!alerting.is_empty());
    let mut alerts_per_case: BTreeMap<String, usize> = BTreeMap::new();
    for message in a.slack.delivered() {
        let text = message.json().to_string();
        let case = cases
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .find(|id| text.contains(id))
            .unwrap_or_else(|| panic!("an alert for no known case: {text}"));
        *alerts_per_case.entry(case.to_owned()).or_default() += 1;
    }
    assert_eq!(
        alerts_per_case.keys().cloned().collect::<BTreeSet<_>>(),
        alerting,
        "every alerting case alerted"
    );
    assert!(
        alerts_per_case.values().all(|&n| n == 1),
        "each alert delivered once: {alerts_per_case:?}"
    );

    // Agents act through both replicas: two acknowledge one case at the same moment (one
    // wins), a note goes through the other replica, and the case is resolved.
    for (n, case) in cases.iter().enumerate() {
        let id = case["id"].as_str().unwrap();
        let ack = format!("/v1/cases/{id}/acknowledge");
        let body = json!({"by": "Dana"});
        let (r1, r2) = tokio::join!(
            on(n).agent("POST", &ack, Some(body.clone())),
            on(n + 1).agent("POST", &ack, Some(body.clone())),
        );
        let mut statuses = [r1.status, r2.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", r1.text(), r2.text());
        let r = on(n + 1)
            .agent(
                "POST",
                &format!("/v1/cases/{id}/notes"),
                Some(json!({"text": format!("note {n}")})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let r = on(n)
            .agent(
                "POST",
                &format!("/v1/cases/{id}/resolve"),
                Some(json!({"resolution": "Moved rooms", "root_cause": "facilities"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    a.customer.wait_for_delivered(POSTS).await;
    for _ in 0..2 {
        a.clock().advance(Duration::from_secs(3600));
        let _ = tokio::join!(a.tick(), b.tick());
    }

    // No event lost, none repeated: every case has its one acknowledgement, note and
    // resolution, read back through either replica.
    for (n, case) in cases.iter().enumerate() {
        let id = case["id"].as_str().unwrap();
        let view = on(n + 1).case(id).await;
        assert_eq!(
            view["case"]["state"], "resolved-awaiting-customer",
            "{view}"
        );
        let kinds = timeline_kinds(&view);
        for kind in ["opened", "acknowledged", "note", "resolved"] {
            assert_eq!(
                kinds.iter().filter(|k| *k == kind).count(),
                1,
                "{kind} in {kinds:?}"
            );
        }
    }
    let messages: Vec<_> = a
        .customer
        .delivered()
        .iter()
        .map(|m| m.json()["case_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages.len(), POSTS, "one customer message per resolution");
    assert_eq!(messages.iter().collect::<BTreeSet<_>>().len(), POSTS);
    assert_eq!(a.slack.delivered().len(), alerting.len());
    let left: Vec<_> = a
        .store_snapshot()
        .into_keys()
        .filter(|k| k.starts_with("pending:"))
        .collect();
    assert!(left.is_empty(), "nothing left pending: {left:?}");
}
