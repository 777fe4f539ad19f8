//! Triage speed: natively, inside the triage component, and the sentiment model against the
//! Python vaderSentiment package on the same machine in the same run.
//!
//! Run: `cargo run --release -p closeloop-bench --bin triage -- [--n 20000] [--requests 400]`.
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
use closeloop_domain::triage::{TriageConfig, TriagePolicy, routing, triage_with};
use closeloop_e2e::{Closeloop, feedback};
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
    let policy = TriagePolicy {
        default_team: "customer-success".into(),
    };
    let inputs: Vec<Feedback> = (0..n)
        .map(|i| sample_feedback(i, &texts[i % texts.len()]))
        .collect();
    let now = "2026-11-27T16:31:00Z".parse().unwrap();
    let started = Instant::now();
    for f in &inputs {
        std::hint::black_box(triage_with(f, &policy, &config, now));
    }
    let native = n as f64 / started.elapsed().as_secs_f64();
    println!("triage, native: {native:>10.0} triages/s ({n} feedback, 4 routing rules)");

    // 3. Inside the triage component: POST /v1/triage/preview on the test host, one at a time,
    // so each request is one instance running one triage (HTTP and instantiation included).
    let cl = Closeloop::start().await;
    let rules = json!({"rules": []});
    let body = |i: usize| json!({"feedback": feedback(&format!("bench-{i}"), (i % 11) as i64, &texts[i % texts.len()]), "rules": rules});
    for i in 0..20 {
        assert_eq!(
            cl.admin("POST", "/v1/triage/preview", Some(body(i)))
                .await
                .status,
            200
        );
    }
    let started = Instant::now();
    for i in 0..requests {
        let r = cl.admin("POST", "/v1/triage/preview", Some(body(i))).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let component = requests as f64 / started.elapsed().as_secs_f64();
    println!(
        "triage, inside the component (preview over HTTP, sequential): {component:>8.0} triages/s ({requests} requests); native is {:.0}x",
        native / component
    );
}
