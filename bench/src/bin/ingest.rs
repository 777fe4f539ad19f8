//! Ingest: verify-and-parse throughput per survey platform, natively, on the documented
//! fixtures (`tests/e2e/fixtures/sources`) signed as each platform signs.
//!
//! Per platform it times signature check + parse + mapping to canonical feedback (for
//! SurveyMonkey and Qualtrics, the webhook plus the fetched response; the fetch itself is
//! network and not measured), and prints deliveries per second, microseconds per delivery and
//! the ratio to the fastest platform. Run: `cargo run --release -p closeloop-bench --bin ingest
//! -- --iterations 20000`.

use std::path::PathBuf;
use std::time::Instant;

use closeloop_domain::Timestamp;
use closeloop_domain::sources::connection::ConnectionInput;
use closeloop_domain::sources::{
    self, Connection, Delivery, Parsed, Platform, formbricks, google_forms, response, surveymonkey,
    tally, typeform,
};
use serde_json::json;

const SECRET: &str = "bench-signing-secret-0123456789";
const FORMBRICKS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "bench-url-token-0123456789";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/e2e/fixtures/sources")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn connection(platform: Platform, now: Timestamp) -> Connection {
    let mut input = json!({"platform": platform.as_str()});
    match platform {
        Platform::Formbricks => {
            input["signing_secret"] = json!(FORMBRICKS_SECRET);
            input["mapping"] = json!({"score": {"question": "nps-question", "kind": "nps"}});
        }
        p if p.signs() => input["signing_secret"] = json!(SECRET),
        _ => input["url_token"] = json!(TOKEN),
    }
    if platform == Platform::Surveymonkey {
        input["api_key"] = json!("bench-client");
    }
    if platform.fetches() {
        input["api"] =
            json!({"base_url": "https://api.example.test", "token": "bench-api-token-0123"});
    }
    serde_json::from_value::<ConnectionInput>(input)
        .unwrap()
        .validate("bench".into(), now)
        .unwrap()
}

type Headers = Vec<(String, Vec<u8>)>;

fn h(pairs: Vec<(&str, String)>) -> Headers {
    pairs
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.into_bytes()))
        .collect()
}

/// The body, headers and (for fetched platforms) API answer of one delivery.
fn delivery(platform: Platform, now: Timestamp) -> (Vec<u8>, Headers, Option<Vec<u8>>) {
    let ts = now.timestamp();
    let json_ct = ("content-type", "application/json".to_owned());
    match platform {
        Platform::Typeform => {
            let b = fixture("typeform.json");
            let sig = typeform::sign(SECRET, &b);
            (b, h(vec![json_ct, (typeform::SIGNATURE_HEADER, sig)]), None)
        }
        Platform::Tally => {
            let b = fixture("tally.json");
            let sig = tally::sign(SECRET, &b);
            (b, h(vec![json_ct, (tally::SIGNATURE_HEADER, sig)]), None)
        }
        Platform::Formbricks => {
            let b = fixture("formbricks-finished.json");
            let sig = formbricks::sign(FORMBRICKS_SECRET, "msg_1", ts, &b);
            let headers = vec![
                json_ct,
                (formbricks::ID_HEADER, "msg_1".to_owned()),
                (formbricks::TIMESTAMP_HEADER, ts.to_string()),
                (formbricks::SIGNATURE_HEADER, sig),
            ];
            (b, h(headers), None)
        }
        Platform::GoogleForms => {
            let b = fixture("google-forms.json");
            let sig = google_forms::sign(SECRET, ts, &b);
            let headers = vec![
                json_ct,
                (google_forms::TIMESTAMP_HEADER, ts.to_string()),
                (google_forms::SIGNATURE_HEADER, sig),
            ];
            (b, h(headers), None)
        }
        Platform::Surveymonkey => {
            let b = fixture("surveymonkey-event.json");
            let sig = surveymonkey::sign("bench-client", SECRET, &b);
            let headers = vec![
                json_ct,
                (surveymonkey::API_KEY_HEADER, "bench-client".to_owned()),
                (surveymonkey::SIGNATURE_HEADER, sig),
            ];
            (b, h(headers), Some(fixture("surveymonkey-details.json")))
        }
        Platform::Qualtrics => (
            fixture("qualtrics-event.txt"),
            h(vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )]),
            Some(fixture("qualtrics-response.json")),
        ),
        Platform::Jotform => (
            fixture("jotform.multipart"),
            h(vec![(
                "content-type",
                "multipart/form-data; boundary=----WebKitFormBoundaryclose1oop".to_owned(),
            )]),
            None,
        ),
        Platform::Delighted => (fixture("delighted-updated.json"), h(vec![json_ct]), None),
        Platform::Asknicely => (fixture("asknicely-update.json"), h(vec![json_ct]), None),
    }
}

/// Verifies, parses and maps one delivery; panics if the fixture stopped being valid.
fn run(
    c: &Connection,
    body: &[u8],
    headers: &[(String, Vec<u8>)],
    fetched: Option<&[u8]>,
    now: Timestamp,
) {
    let d = Delivery {
        headers,
        body,
        url_token: Some(TOKEN),
    };
    sources::verify(c, &d, now).expect("the fixture verifies");
    let r = match sources::parse(c, &d).expect("the fixture parses") {
        Parsed::Response(r) => r,
        Parsed::Fetch(f) => sources::parse_fetched(c, &f, fetched.expect("an API answer"))
            .expect("the API answer parses"),
        Parsed::Ignored { reason } => panic!("ignored: {reason}"),
    };
    let f = response::to_feedback(&r, &c.mapping, &c.source, now).expect("the fixture maps");
    std::hint::black_box(f);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: u32 = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--iterations takes a number"))
        .unwrap_or(20_000);
    let now = chrono::Utc::now();
    println!("ingest: verify + parse + map, {iterations} deliveries per platform");
    let mut results = Vec::new();
    for platform in Platform::ALL {
        let c = connection(platform, now);
        let (body, headers, fetched) = delivery(platform, now);
        for _ in 0..iterations / 20 + 1 {
            run(&c, &body, &headers, fetched.as_deref(), now);
        }
        let started = Instant::now();
        for _ in 0..iterations {
            run(&c, &body, &headers, fetched.as_deref(), now);
        }
        let per = started.elapsed().as_secs_f64() / f64::from(iterations);
        results.push((
            platform,
            body.len() + fetched.as_ref().map_or(0, Vec::len),
            per,
        ));
    }
    let fastest = results.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
    println!(
        "{:<14} {:>8} {:>14} {:>12} {:>10}",
        "platform", "bytes", "deliveries/s", "us/delivery", "x fastest"
    );
    for (platform, bytes, per) in results {
        println!(
            "{:<14} {:>8} {:>14.0} {:>12.1} {:>10.2}",
            platform.as_str(),
            bytes,
            1.0 / per,
            per * 1e6,
            per / fastest
        );
    }
}
