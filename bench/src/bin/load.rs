//! Load: N feedback posts at concurrency C through the test host, with a mock Slack receiver.
//!
//! Prints ingest throughput, the latency of the post itself, and the latency from post to the
//! alert arriving at Slack (p50, p99), then checks that every post produced exactly one case
//! and exactly one alert. Run: `cargo run --release -p closeloop-bench --bin load -- --posts 500
//! --concurrency 16`.

use std::collections::HashMap;
use std::time::Instant;

use closeloop_bench::{arg, ms, percentile};
use closeloop_e2e::{Closeloop, Runtime, feedback};

#[tokio::main]
async fn main() {
    let posts = arg("--posts", 500);
    let concurrency = arg("--concurrency", 16).max(1);
    let cl = Closeloop::start(Runtime::Host).await;
    println!("load: {posts} posts at concurrency {concurrency}");

    let started = Instant::now();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut post_latency = Vec::with_capacity(posts);
    for chunk in (0..posts).collect::<Vec<_>>().chunks(concurrency) {
        let batch = chunk.iter().map(|i| {
            let marker = format!("load-marker-{i:06}");
            let body = feedback(&format!("load-{i}"), (i % 7) as i64, &marker);
            let cl = &cl;
            async move {
                let t = Instant::now();
                let r = cl.post_feedback(&body).await;
                assert_eq!(r.status, 202, "{}", r.text());
                (marker, t, t.elapsed())
            }
        });
        for (marker, t, latency) in futures::future::join_all(batch).await {
            sent_at.insert(marker, t);
            post_latency.push(latency);
        }
    }
    let posted = started.elapsed();

    // Every NPS 0-6 is a detractor: every post alerts.
    let alerts = cl.slack.wait_for_delivered(posts).await;
    let all_alerted = started.elapsed();
    cl.settle().await;

    let mut alert_latency = Vec::with_capacity(posts);
    let mut per_marker: HashMap<&str, usize> = HashMap::new();
    for alert in &alerts {
        let text = String::from_utf8_lossy(&alert.body);
        let marker = sent_at
            .keys()
            .find(|m| text.contains(m.as_str()))
            .expect("every alert names its feedback");
        *per_marker.entry(marker).or_default() += 1;
        alert_latency.push(alert.at.duration_since(sent_at[marker]));
    }
    post_latency.sort();
    alert_latency.sort();
    let cases = cl.records("case:").len();
    let feedback_records = cl.records("feedback:").len();

    println!(
        "ingest throughput: {:.0} posts/s ({posts} in {})",
        posts as f64 / posted.as_secs_f64(),
        ms(posted)
    );
    println!(
        "end-to-end throughput: {:.0} alerts/s",
        posts as f64 / all_alerted.as_secs_f64()
    );
    println!(
        "post latency:          p50 {}  p99 {}",
        ms(percentile(&post_latency, 0.5)),
        ms(percentile(&post_latency, 0.99))
    );
    println!(
        "post-to-alert latency: p50 {}  p99 {}",
        ms(percentile(&alert_latency, 0.5)),
        ms(percentile(&alert_latency, 0.99))
    );
    println!(
        "ratio post-to-alert p50 / post p50: {:.1}",
        percentile(&alert_latency, 0.5).as_secs_f64()
            / percentile(&post_latency, 0.5).as_secs_f64()
    );
    let once = per_marker.len() == posts && per_marker.values().all(|&n| n == 1);
    println!(
        "check: {feedback_records} feedback, {cases} cases, {} alerts for {posts} posts; exactly one each: {once}",
        alerts.len()
    );
    assert_eq!(feedback_records, posts);
    assert_eq!(cases, posts);
    assert!(once, "some post did not produce exactly one alert");
}
