//! Load, on real Spin and on the test host in one run: detractor answers posted by C kept-alive
//! connections, each posting its next answer as soon as the last is answered (as wrk does),
//! alerts to a loopback Slack receiver.
//!
//! Per runtime and store it prints throughput end to end (answers per second until every alert
//! has arrived), the post's latency and the latency from post to alert (p50, p99), and what the
//! store keeps per 1,000 answers (keys and bytes); then the ratios host/Spin, where above 1
//! means the host was as fast or faster. It checks exactly one feedback, case and alert per
//! answer. Both runtimes run as `up` processes on the same kind of store (the default SQLite
//! file in the state dir, or a Redis server of their own), one after the other.
//!
//! Run: `cargo run --release -p closeloop-bench --bin load -- [--posts 1000]
//! [--concurrency 16] [--store default|redis|both]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use closeloop_bench::{arg, ms, percentile, text_arg};
use closeloop_e2e::client::KeptAlive;
use closeloop_e2e::{Closeloop, Options, Runtime, feedback};
use spin_test_host::RedisServer;

/// What one run measured.
struct Figures {
    throughput: f64,
    post: Vec<Duration>,
    alert: Vec<Duration>,
    keys_per_1000: f64,
    bytes_per_1000: f64,
    /// Keys per kind (the key's first segment).
    kinds: std::collections::BTreeMap<String, usize>,
}

async fn load(rt: Runtime, store: &str, posts: usize, concurrency: usize) -> Figures {
    let redis = (store == "redis").then(|| RedisServer::start().expect("redis-server installed"));
    let config = redis.as_ref().map(RedisServer::runtime_config_file);
    let cl = Closeloop::start_with(rt, |o: Options| match &config {
        Some(file) => o.runtime_config(file),
        None => o,
    })
    .await;
    let url = cl.url("/v1/feedback");
    // Warm up: every component instantiated once, the store's files and connections open.
    for i in 0..concurrency {
        let body = feedback(&format!("warm-{i}"), 2, "warming up");
        let r = cl.post_feedback(&body).await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    cl.slack.wait_for_delivered(concurrency).await;
    cl.settle().await;
    let before = cl.slack.delivered().len();

    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let workers = (0..concurrency).map(|w| {
        let (url, sent_at) = (url.clone(), sent_at.clone());
        tokio::spawn(async move {
            let client = KeptAlive::new();
            let mut latencies = Vec::new();
            for i in (w..posts).step_by(concurrency) {
                let marker = format!("load-marker-{i:06}");
                // NPS 0-6: every answer is a detractor, and alerts.
                let body = feedback(&format!("load-{i}"), (i % 7) as i64, &marker);
                let t = Instant::now();
                sent_at.lock().unwrap().insert(marker, t);
                let r = client
                    .request(
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        body.to_string().into_bytes(),
                    )
                    .await;
                assert_eq!(r.status, 202, "{}", r.text());
                latencies.push(t.elapsed());
            }
            latencies
        })
    });
    let mut post = Vec::with_capacity(posts);
    for w in futures::future::join_all(workers).await {
        post.extend(w.expect("a posting connection"));
    }
    let alerts = cl.slack.wait_for_delivered(before + posts).await;
    let elapsed = started.elapsed();
    cl.settle().await;
    cl.tick().await;

    let sent_at = std::mem::take(&mut *sent_at.lock().unwrap());
    let mut per_marker: HashMap<String, usize> = HashMap::new();
    let mut alert = Vec::with_capacity(posts);
    for a in &alerts[before..] {
        let text = String::from_utf8_lossy(&a.body);
        let at = text
            .find("load-marker-")
            .expect("every alert names its answer");
        let marker = text[at..at + "load-marker-000000".len()].to_owned();
        alert.push(a.at.duration_since(sent_at[&marker]));
        *per_marker.entry(marker).or_default() += 1;
    }
    let total = posts + concurrency;
    assert_eq!(
        cl.records("feedback:").len(),
        total,
        "one feedback per answer"
    );
    assert_eq!(cl.records("case:").len(), total, "one case per answer");
    assert!(
        per_marker.len() == posts && per_marker.values().all(|&n| n == 1),
        "one alert per answer"
    );
    let snapshot = cl.store_snapshot();
    let bytes: usize = snapshot.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut kinds = std::collections::BTreeMap::new();
    for key in snapshot.keys() {
        let kind = key.split(':').next().unwrap_or_default().to_owned();
        *kinds.entry(kind).or_default() += 1;
    }
    cl.app.shutdown().await;
    post.sort();
    alert.sort();
    Figures {
        throughput: posts as f64 / elapsed.as_secs_f64(),
        post,
        alert,
        keys_per_1000: snapshot.len() as f64 * 1000.0 / total as f64,
        bytes_per_1000: bytes as f64 * 1000.0 / total as f64,
        kinds,
    }
}

fn row(name: &str, f: &Figures) {
    println!(
        "  {name:<5} {:>7.0}/s  post p50 {:>9} p99 {:>9}  post-to-alert p50 {:>9} p99 {:>9}  per 1,000: {:>6.0} keys {:>6.1} MB",
        f.throughput,
        ms(percentile(&f.post, 0.5)),
        ms(percentile(&f.post, 0.99)),
        ms(percentile(&f.alert, 0.5)),
        ms(percentile(&f.alert, 0.99)),
        f.keys_per_1000,
        f.bytes_per_1000 / 1e6,
    );
}

/// How much faster the host was (above 1: faster): for a rate host/Spin, for a latency
/// Spin/host.
fn ratios(host: &Figures, spin: &Figures) {
    let lat = |a: &[Duration], b: &[Duration], p: f64| {
        percentile(b, p).as_secs_f64() / percentile(a, p).as_secs_f64()
    };
    println!(
        "  host/Spin: throughput {:.2}x, post p50 {:.2}x p99 {:.2}x, post-to-alert p50 {:.2}x p99 {:.2}x (above 1: the host is faster)",
        host.throughput / spin.throughput,
        lat(&host.post, &spin.post, 0.5),
        lat(&host.post, &spin.post, 0.99),
        lat(&host.alert, &spin.alert, 0.5),
        lat(&host.alert, &spin.alert, 0.99),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let posts = arg("--posts", 1000);
    let concurrency = arg("--concurrency", 16).max(1);
    let store = text_arg("--store");
    let stores = match store.as_deref() {
        None | Some("both") => vec!["default", "redis"],
        Some(s @ ("default" | "redis")) => vec![s],
        Some(other) => panic!("--store takes default, redis or both, not {other:?}"),
    };
    assert!(
        Runtime::Spin.available(),
        "the load bench compares with real Spin: install it (../shared/tools/spin/install)"
    );
    spin_test_host::build_components(&closeloop_e2e::manifest()).expect("components build");
    closeloop_e2e::build_host_process(true).expect("the host's CLI builds");
    println!("load: {posts} detractor answers by {concurrency} connections, alerts to Slack");
    for store in stores {
        let spin = load(Runtime::Spin, store, posts, concurrency).await;
        let host = load(Runtime::HostProcess, store, posts, concurrency).await;
        println!("{store} store:");
        row("Spin", &spin);
        row("host", &host);
        ratios(&host, &spin);
        let kinds: Vec<String> = spin.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "  keys by kind on Spin after {} answers: {}",
            posts + concurrency,
            kinds.join(", ")
        );
    }
}
