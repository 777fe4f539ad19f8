//! Fan-out: each P1 alert goes to a team's Slack, Teams and signed webhook, and by email to
//! each of its members, through the test host to mock providers on loopback.
//!
//! Prints the alert fan-out throughput (deliveries per second), the post-to-alert latency
//! (first channel and every channel, p50 and p99) and ratios, then checks that every
//! delivery arrived exactly once. Run: `cargo run --release -p closeloop-bench --bin fanout --
//! --posts 100 --members 5 --concurrency 8`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use closeloop_bench::{arg, ms, percentile};
use closeloop_e2e::mock::{MockReceiver, Mode};
use closeloop_e2e::{Closeloop, Runtime, feedback};
use serde_json::json;

#[tokio::main]
async fn main() {
    let posts = arg("--posts", 100);
    let members = arg("--members", 5).max(1);
    let concurrency = arg("--concurrency", 8).max(1);
    let slack = MockReceiver::start().await;
    let teams = MockReceiver::start().await;
    let webhook = MockReceiver::start().await;
    let email = MockReceiver::start().await;
    teams.set_mode(Mode::Status(202, ""));
    email.set_mode(Mode::Status(200, r#"{"ErrorCode":0,"Message":"OK"}"#));
    let cl = Closeloop::start_with(Runtime::Host, |o| {
        o.variable("email_provider", "postmark")
            .variable("email_from", "alerts@closeloop.test")
            .variable("postmark_server_token", "bench-token")
            .variable("postmark_api_url", &email.url(""))
    })
    .await;
    let team = json!({
        "endpoints": [
            {"channel": "slack", "webhook_url": slack.url("/services/T/B/X")},
            {"channel": "teams", "webhook_url": teams.url("/workflows/x")},
            {"channel": "webhook", "url": webhook.url("/hooks"),
             "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        ],
        "members": (0..members).map(|i| json!({
            "id": format!("m{i}"), "name": format!("Member {i}"), "max_alerts_per_hour": 1_000_000,
            "endpoints": [{"channel": "email", "address": format!("m{i}@hotel.test")}]
        })).collect::<Vec<_>>()
    });
    let r = cl
        .admin("PUT", "/v1/admin/teams/customer-success", Some(team))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let per_post = 3 + members;
    let expected = posts * per_post;
    println!(
        "fanout: {posts} P1 posts x {per_post} deliveries (3 team channels + {members} emails) at concurrency {concurrency}"
    );

    let started = Instant::now();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    for chunk in (0..posts).collect::<Vec<_>>().chunks(concurrency) {
        let batch = chunk.iter().map(|i| {
            let marker = format!("fanoutmarker{i:06}");
            let mut body = feedback(&format!("fanout-{i}"), (i % 4) as i64, &marker);
            body["customer"]["id"] = json!(format!("guest-{i}"));
            let cl = &cl;
            async move {
                let t = Instant::now();
                let r = cl.post_feedback(&body).await;
                assert_eq!(r.status, 202, "{}", r.text());
                (marker, t)
            }
        });
        for (marker, t) in futures::future::join_all(batch).await {
            sent_at.insert(marker, t);
        }
    }
    let mut arrivals = Vec::new();
    for m in [&slack, &teams, &webhook] {
        arrivals.extend(m.wait_for_delivered(posts).await);
    }
    arrivals.extend(email.wait_for_delivered(posts * members).await);
    let elapsed = started.elapsed();
    cl.settle().await;

    let mut first: HashMap<&str, Duration> = HashMap::new();
    let mut all = Vec::with_capacity(arrivals.len());
    let mut per_marker: HashMap<&str, usize> = HashMap::new();
    for a in &arrivals {
        let text = String::from_utf8_lossy(&a.body);
        let marker = sent_at
            .keys()
            .find(|m| text.contains(m.as_str()))
            .expect("every delivery names its feedback");
        let latency = a.at.duration_since(sent_at[marker]);
        *per_marker.entry(marker).or_default() += 1;
        all.push(latency);
        let f = first.entry(marker).or_insert(latency);
        *f = (*f).min(latency);
    }
    let mut first: Vec<Duration> = first.into_values().collect();
    first.sort();
    all.sort();
    println!(
        "fan-out throughput: {:.0} deliveries/s ({} in {})",
        arrivals.len() as f64 / elapsed.as_secs_f64(),
        arrivals.len(),
        ms(elapsed)
    );
    println!(
        "alert throughput:   {:.0} alerts/s",
        posts as f64 / elapsed.as_secs_f64()
    );
    println!(
        "post-to-first-alert latency: p50 {}  p99 {}",
        ms(percentile(&first, 0.5)),
        ms(percentile(&first, 0.99))
    );
    println!(
        "post-to-every-alert latency: p50 {}  p99 {}",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99))
    );
    println!(
        "ratio p99 / p50 (every alert): {:.1}",
        percentile(&all, 0.99).as_secs_f64() / percentile(&all, 0.5).as_secs_f64()
    );
    let once = per_marker.len() == posts && per_marker.values().all(|&n| n == per_post);
    println!(
        "check: {} deliveries for {posts} posts (expected {expected}); {per_post} each, exactly once: {once}",
        arrivals.len()
    );
    assert_eq!(arrivals.len(), expected);
    assert!(once, "some post did not fan out exactly once per channel");
}
