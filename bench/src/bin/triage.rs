//! Triage speed: natively, inside the triage component, and the sentiment model against the
//! Python vaderSentiment package on the same machine in the same run.
//!
//! Run: `cargo run --release -p closeloop-bench --bin triage -- [--n 20000] [--requests 400]
//! [--connections 8]` (over HTTP on real Spin, when installed, and on the test host).
//! The comparison needs `python3` with vaderSentiment (`pip install vaderSentiment`); without
//! it the bench says so and prints the rest. Comments come from the shared development set
//! when `../shared/data/sentiment` is there, otherwise from built-in samples.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use closeloop_bench::arg;
use closeloop_domain::feedback::{Customer, Feedback};
use closeloop_domain::score::{Score, ScoreKind};
use closeloop_domain::triage::sentiment;
use closeloop_domain::triage::{TriageConfig, TriagePolicy, config, routing, triage_with};
use closeloop_e2e::client::KeptAlive;
use closeloop_e2e::{ADMIN_TOKEN, Closeloop, Runtime, feedback};
use serde_json::json;

const SAMPLES: &[&str] = &[
    "The room by the lift was noisy all night",
    "Felt rushed, the dentist did not explain anything",
    "Implementation took far too long and nobody called back",
    "Lovely staff, spotless room, we will be back!",
    "I was charged twice and still waiting for my refund",
    "The app keeps crashing at checkout, so frustrating",
    "Delivery arrived two days late and the box was damaged",
    "Great value, but breakfast was cold",
    "We are switching to another provider next month",
    "Thanks to Dana at the front desk, she was wonderful",
];

fn comments() -> (Vec<String>, &'static str) {
    let dev = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/sentiment/amazon-review-snippets.dev.tsv");
    match std::fs::read_to_string(&dev) {
        Ok(text) => (
            text.lines()
                .filter_map(|l| l.splitn(3, '\t').nth(2))
                .map(|t| t.replace(['\n', '\r'], " "))
                .collect(),
            "the shared development set",
        ),
        Err(_) => (
            SAMPLES.iter().map(|s| s.to_string()).collect(),
            "built-in samples",
        ),
    }
}

fn sample_feedback(i: usize, comment: &str) -> Feedback {
    let at = "2026-11-27T16:30:00Z".parse().unwrap();
    Feedback {
        id: format!("f{i}"),
        source: "bench".into(),
        external_id: i.to_string(),
        submitted_at: at,
        received_at: at,
        customer: Customer {
            id: Some(format!("c{i}")),
            email: None,
            name: None,
            phone: None,
            attributes:
                json!({"tier": if i.is_multiple_of(5) { "enterprise" } else { "standard" }})
                    .as_object()
                    .cloned()
                    .unwrap(),
        },
        score: Some(Score {
            kind: ScoreKind::Nps,
            value: (i % 11) as i64,
            scale: 10,
        }),
        comment: Some(comment.to_owned()),
        metadata: Default::default(),
    }
}

fn bench_rules() -> TriageConfig {
    let doc = json!({"rules": [
        {"name": "threats", "when": [{"any": [
            {"field": "signals", "op": "contains", "value": "legal-threat"},
            {"field": "signals", "op": "contains", "value": "safety-threat"}]}],
         "then": {"team": "legal"}, "stop": true},
        {"name": "enterprise", "when": [{"field": "customer.tier", "op": "eq", "value": "enterprise"}],
         "then": {"team": "csm", "round_robin": ["ana", "ben"]}},
        {"name": "billing", "when": [{"field": "topics", "op": "contains", "value": "billing"}],
         "then": {"team": "billing", "channels": ["slack"]}},
        {"name": "quiet", "when": [{"field": "priority", "op": "in", "value": ["P3", "P4"]}],
         "then": {"delivery": "digest"}}
    ]});
    let (rules, _) = routing::parse(&doc, &|_| true).expect("bench rules are valid");
    TriageConfig {
        rules,
        ..Default::default()
    }
}

/// Texts per second of Python's vaderSentiment over `texts`, or why it could not run.
fn python_vader(texts: &[String]) -> Result<f64, String> {
    let script = r#"
import sys, time
try:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
except ImportError:
    print("missing"); sys.exit(0)
texts = sys.stdin.read().split("\n")
a = SentimentIntensityAnalyzer()
for t in texts[:200]: a.polarity_scores(t)
start = time.perf_counter()
for t in texts: a.polarity_scores(t)
print(len(texts) / (time.perf_counter() - start))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "python3 could not start ({e}); install Python 3 and `pip install vaderSentiment`"
            )
        })?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(texts.join("\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text == "missing" {
        return Err(
            "the Python vaderSentiment package is not installed: `pip install vaderSentiment`"
                .into(),
        );
    }
    text.parse().map_err(|_| {
        format!(
            "python3 said: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::main]
async fn main() {
    let n = arg("--n", 20_000);
    let requests = arg("--requests", 400);
    let (texts, from) = comments();
    println!(
        "triage bench: comments from {from} ({} distinct)",
        texts.len()
    );
    let policy = TriagePolicy {
        default_team: "customer-success".into(),
    };
    let now = "2026-11-27T16:31:00Z".parse().unwrap();

    // 0. What a fresh instance pays per request: the default configuration compiled and one
    // triage, first in this process (nothing built yet), then the same warm.
    let first = sample_feedback(0, &texts[0]);
    let started = Instant::now();
    std::hint::black_box(triage_with(
        &first,
        &policy,
        &config::compile(None, None, None),
        now,
    ));
    let fresh = started.elapsed();
    let warm_rounds = 1_000;
    let started = Instant::now();
    for i in 0..warm_rounds {
        let f = sample_feedback(i, &texts[i % texts.len()]);
        std::hint::black_box(triage_with(
            &f,
            &policy,
            &config::compile(None, None, None),
            now,
        ));
    }
    let warm = started.elapsed() / warm_rounds as u32;
    println!(
        "first triage in a fresh process (default config compiled + triaged): {:>8.1} µs; warm: {:>6.1} µs ({:.0}x)",
        fresh.as_secs_f64() * 1e6,
        warm.as_secs_f64() * 1e6,
        fresh.as_secs_f64() / warm.as_secs_f64()
    );

    // 1. Sentiment alone: Rust vs Python vaderSentiment, the same texts.
    let rounds: Vec<String> = texts
        .iter()
        .cycle()
        .take(n.max(texts.len()))
        .cloned()
        .collect();
    for t in rounds.iter().take(200) {
        std::hint::black_box(sentiment::score(t));
    }
    let started = Instant::now();
    for t in &rounds {
        std::hint::black_box(sentiment::score(t));
    }
    let rust_rate = rounds.len() as f64 / started.elapsed().as_secs_f64();
    println!(
        "sentiment, native Rust: {:>10.0} comments/s ({} comments)",
        rust_rate,
        rounds.len()
    );
    match python_vader(&rounds) {
        Ok(py_rate) => {
            println!("sentiment, Python vaderSentiment: {py_rate:>10.0} comments/s");
            println!(
                "ratio: closeloop's model is {:.1}x the speed of vaderSentiment",
                rust_rate / py_rate
            );
        }
        Err(why) => println!("sentiment, Python vaderSentiment: not measured: {why}"),
    }

    // 2. The whole triage, natively.
    let config = bench_rules();
    let inputs: Vec<Feedback> = (0..n)
        .map(|i| sample_feedback(i, &texts[i % texts.len()]))
        .collect();
    let started = Instant::now();
    for f in &inputs {
        std::hint::black_box(triage_with(f, &policy, &config, now));
    }
    let native = n as f64 / started.elapsed().as_secs_f64();
    println!("triage, native: {native:>10.0} triages/s ({n} feedback, 4 routing rules)");

    // 3. Inside the triage component over HTTP, on real Spin and on the test host (each an `up`
    // process on its default store), over kept-alive connections: each request is one fresh
    // instance (HTTP and instantiation included) running one triage, `POST /v1/triage/preview`;
    // beside it, the same component answering a route it does not have (404: instantiation and
    // HTTP, no triage), so the figures can be read on a busy machine.
    let connections = arg("--connections", 8);
    spin_test_host::build_components(&closeloop_e2e::manifest()).expect("components build");
    closeloop_e2e::build_host_process(true).expect("the host's CLI builds");
    let preview: Vec<Vec<u8>> = (0..requests)
        .map(|i| {
            let f = feedback(
                &format!("bench-{i}"),
                (i % 11) as i64,
                &texts[i % texts.len()],
            );
            json!({"feedback": f, "rules": {"rules": []}})
                .to_string()
                .into_bytes()
        })
        .collect();
    let mut at_most_connections = Vec::new();
    for rt in [Runtime::Spin, Runtime::HostProcess] {
        if !rt.available() {
            continue;
        }
        let app = Closeloop::start(rt).await;
        let rows = over_http(&app, &preview, connections).await;
        println!("triage over HTTP on {rt:?} ({requests} requests per figure):");
        for &(concurrency, triage, trivial) in &rows {
            println!(
                "  {concurrency:>2} at a time: preview {triage:>7.0} triages/s, trivial 404 {trivial:>7.0} requests/s; triage is {:.0}% of trivial, native is {:.0}x",
                100.0 * triage / trivial,
                native / triage
            );
        }
        at_most_connections.push(rows[rows.len() - 1].1);
        app.app.shutdown().await;
    }
    if let [spin, host] = at_most_connections[..] {
        println!(
            "host/Spin at {connections} at a time: {:.2}x (above 1: the host is faster)",
            host / spin
        );
    }
}

/// (concurrency, triages/s, trivial 404s/s) at one request at a time and at `connections`.
async fn over_http(
    app: &Closeloop,
    preview: &[Vec<u8>],
    connections: usize,
) -> Vec<(usize, f64, f64)> {
    let base = app.app.base_url();
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let preview_url = format!("{base}/v1/triage/preview");
    // Routed to the triage component, which answers 404 before reading anything.
    let trivial_url = format!("{base}/v1/admin/triage/bench/trivial");
    let requests = preview.len();
    // Each connection kept alive, as wrk and an admin's browser do.
    let call = |client: &KeptAlive, url: &str, body: &[u8]| {
        let (client, url, body, auth) =
            (client.clone(), url.to_owned(), body.to_vec(), auth.clone());
        async move {
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ];
            client.request("POST", &url, &headers, body).await
        }
    };
    let warm = KeptAlive::new();
    for body in preview.iter().take(20) {
        let r = call(&warm, &preview_url, body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Requests per second of `requests` calls to `url`, `concurrency` at a time.
    let rate = |url: &str, status: u16, concurrency: usize| {
        let url = url.to_owned();
        async move {
            let started = Instant::now();
            let per_task = requests.div_ceil(concurrency);
            let tasks = preview.chunks(per_task).map(|bodies| {
                let (url, client) = (url.clone(), KeptAlive::new());
                async move {
                    for body in bodies {
                        let r = call(&client, &url, body).await;
                        assert_eq!(r.status, status, "{}", r.text());
                    }
                }
            });
            futures::future::join_all(tasks).await;
            requests as f64 / started.elapsed().as_secs_f64()
        }
    };
    let mut rows = Vec::new();
    for concurrency in [1, connections] {
        let triage = rate(&preview_url, 200, concurrency).await;
        let trivial = rate(&trivial_url, 404, concurrency).await;
        rows.push((concurrency, triage, trivial));
    }
    rows
}
