//! Survey platforms' own webhooks through `/v1/sources/...`, and the admin API that connects
//! them. Payloads are the documented fixtures in `tests/e2e/fixtures/sources` (sources in
//! `SOURCES.md`), signed here from the platforms' documentation with the HMAC crates directly,
//! not with the app's code; SurveyMonkey's and Qualtrics' APIs are mocked on loopback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use closeloop_e2e::client::{Response, request};
use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const SECRET: &str = "typeform-secret-for-tests-0123";
const TOKEN: &str = "url-token-for-tests-0123456789";
const FORMBRICKS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const JOTFORM_TYPE: &str = "multipart/form-data; boundary=----WebKitFormBoundaryclose1oop";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sources")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn unix(cl: &Closeloop) -> i64 {
    cl.now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Creates a connection and returns its id.
async fn connect(cl: &Closeloop, body: Value) -> String {
    let r = cl.admin("POST", "/v1/admin/connections", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

async fn post(cl: &Closeloop, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Response {
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request("POST", &cl.url(path), &h, body).await
}

fn typeform_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        (
            "typeform-signature",
            format!("sha256={}", B64.encode(hmac256(secret.as_bytes(), body))),
        ),
    ]
}

fn only_feedback(cl: &Closeloop) -> Value {
    let all = cl.records("feedback:");
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

on_host_and_spin!(typeform_signed_payload_becomes_feedback_a_case_and_one_alert);
async fn typeform_signed_payload_becomes_feedback_a_case_and_one_alert(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(
        &cl,
        json!({"platform": "typeform", "signing_secret": SECRET}),
    )
    .await;
    let path = format!("/v1/sources/{id}");
    let body = fixture("typeform.json");

    // Forged: wrong secret, signature over other bytes, no signature. 401, nothing stored.
    let before = cl.store_snapshot();
    let mut other = body.clone();
    other.push(b'\n');
    for headers in [
        typeform_headers("not-the-secret-0123456789", &body),
        typeform_headers(SECRET, &other),
        vec![("content-type", "application/json".into())],
    ] {
        let r = post(&cl, &path, &headers, body.clone()).await;
        r.problem(401);
    }
    assert_eq!(
        cl.store_snapshot(),
        before,
        "a refused delivery stores nothing"
    );

    let r = post(&cl, &path, &typeform_headers(SECRET, &body), body.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    let f = only_feedback(&cl);
    assert_eq!(f["source"], "typeform");
    assert_eq!(f["external_id"], "a3a12ec67a1365927098a606107fac15");
    assert_eq!(f["score"], json!({"kind": "nps", "value": 3, "scale": 10}));
    assert_eq!(f["comment"], "The room by the lift was noisy all night");
    assert_eq!(f["customer"]["email"], "alex@example.com");
    assert_eq!(f["customer"]["id"], "guest-42");
    assert_eq!(f["submitted_at"], "2026-11-23T09:30:00Z");
    cl.slack.wait_for_delivered(1).await;

    // Typeform redelivers the same event: one feedback, one case, one alert, and the
    // redelivery is answered without writing anything.
    cl.settle().await;
    let before = cl.store_snapshot();
    let again = post(&cl, &path, &typeform_headers(SECRET, &body), body.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(cl.store_snapshot(), before, "a redelivery changes nothing");
    cl.settle().await;
    cl.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cl.records("feedback:").len(), 1);
    assert_eq!(cl.records("case:").len(), 1);
    assert_eq!(cl.slack.received().len(), 1, "one alert");
    // The secret never reaches a log.
    assert!(!cl.app.component_log("ingest").contains(SECRET));
}

on_host_and_spin!(delighted_created_then_updated_is_one_feedback_one_alert);
async fn delighted_created_then_updated_is_one_feedback_one_alert(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(&cl, json!({"platform": "delighted", "url_token": TOKEN})).await;
    let path = format!("/v1/sources/{id}/{TOKEN}");
    let json_ct = vec![("content-type", "application/json".to_owned())];

    // Delighted does not sign: without the URL token, or with a wrong one, 401.
    let created = fixture("delighted-created.json");
    let before = cl.store_snapshot();
    for wrong in [
        format!("/v1/sources/{id}"),
        format!("/v1/sources/{id}/url-token-for-tests-012345678X"),
    ] {
        post(&cl, &wrong, &json_ct, created.clone())
            .await
            .problem(401);
    }
    // Delighted posts JSON: another content type, or none, is 415; JSON that names no event
    // is 422 (it is JSON, only not a Delighted event).
    let text = vec![("content-type", "text/plain".to_owned())];
    post(&cl, &path, &text, created.clone()).await.problem(415);
    post(&cl, &path, &[], created.clone()).await.problem(415);
    let r = post(&cl, &path, &json_ct, b"{\"event_data\": {}}".to_vec()).await;
    assert_eq!(r.problem(422)["title"], "The request is invalid");
    // Bytes that are not UTF-8 are no JSON at all.
    let r = post(
        &cl,
        &path,
        &json_ct,
        b"{\"event_type\": \"\xff\xfe\"}".to_vec(),
    )
    .await;
    r.problem(400);
    assert_eq!(cl.store_snapshot(), before);

    let r = post(&cl, &path, &json_ct, created.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let feedback_id = r.json()["feedback_id"].clone();
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    assert_eq!(only_feedback(&cl)["comment"], Value::Null);

    // The comment arrives in the updated event: same feedback, re-triaged, no second alert.
    let r = post(&cl, &path, &json_ct, fixture("delighted-updated.json")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "updated");
    assert_eq!(r.json()["feedback_id"], feedback_id);
    // And a redelivery of the first event changes nothing.
    let r = post(&cl, &path, &json_ct, created).await;
    assert_eq!(r.json()["status"], "duplicate", "{}", r.text());
    cl.settle().await;
    cl.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let f = only_feedback(&cl);
    assert_eq!(f["comment"], "Implementation took far too long");
    assert_eq!(f["score"]["value"], 2);
    assert_eq!(f["customer"]["attributes"]["tier"], "enterprise");
    assert_eq!(cl.records("case:").len(), 1);
    assert_eq!(cl.slack.received().len(), 1, "one alert");
}

on_host_and_spin!(a_later_event_that_raises_the_priority_alerts_once);
async fn a_later_event_that_raises_the_priority_alerts_once(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(&cl, json!({"platform": "asknicely", "url_token": TOKEN})).await;
    let path = format!("/v1/sources/{id}/{TOKEN}");
    let json_ct = vec![("content-type", "application/json".to_owned())];
    // A promoter first (P4, no alert), then the customer changes the score to 3 (P1).
    let mut first: Value = serde_json::from_slice(&fixture("asknicely-first.json")).unwrap();
    first["question"]["score"] = json!("10");
    first["person"]["tier"] = json!("standard");
    let r = post(&cl, &path, &json_ct, first.to_string().into_bytes()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    assert_eq!(cl.records("case:")[0]["triage"]["priority"], "P4");
    let t = crate::metrics(&cl, "").await["totals"].clone();
    assert_eq!(
        (
            t["volume"].as_i64(),
            t["nps"]["promoters"].as_i64(),
            t["nps"]["detractors"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let r = post(&cl, &path, &json_ct, fixture("asknicely-update.json")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    cl.tick().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cases = cl.records("case:");
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["triage"]["priority"], "P1");
    assert_eq!(cl.slack.received().len(), 1, "one alert");
    assert_eq!(
        only_feedback(&cl)["comment"],
        "The class was cancelled twice without notice"
    );
    // The metrics follow the re-triage: the same one answer, now a detractor, alerted once.
    let m = crate::metrics(&cl, "group_by=source").await;
    let t = &m["totals"];
    assert_eq!(t["volume"], 1);
    assert_eq!(t["nps"]["promoters"], 0);
    assert_eq!(t["nps"]["detractors"], 1);
    assert_eq!(t["nps"]["score"], -100.0);
    assert_eq!(t["alert_latency_seconds"]["count"], 1);
    assert_eq!(m["groups"]["source"].as_object().unwrap().len(), 1);
}

fn formbricks_headers(
    cl: &Closeloop,
    msg: &str,
    ts: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let key = B64
        .decode(FORMBRICKS_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let signed = [format!("{msg}.{ts}.").as_bytes(), body].concat();
    let _ = cl;
    vec![
        ("content-type", "application/json".into()),
        ("webhook-id", msg.into()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            format!("v1,{}", B64.encode(hmac256(&key, &signed))),
        ),
    ]
}

/// A Formbricks connection whose fixtures' `nps-question` is the NPS score (Formbricks sends
/// answers without their question types).
async fn connect_formbricks(cl: &Closeloop) -> String {
    connect(
        cl,
        json!({"platform": "formbricks", "signing_secret": FORMBRICKS_SECRET,
               "mapping": {"score": {"question": "nps-question", "kind": "nps"}}}),
    )
    .await
}

on_host_and_spin!(formbricks_standard_webhooks_with_timestamps_and_several_events);
async fn formbricks_standard_webhooks_with_timestamps_and_several_events(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect_formbricks(&cl).await;
    let path = format!("/v1/sources/{id}");
    let created = fixture("formbricks-created.json");
    let finished = fixture("formbricks-finished.json");
    let now = unix(&cl);

    let before = cl.store_snapshot();
    let stale = formbricks_headers(&cl, "msg_1", now - 301, &created);
    post(&cl, &path, &stale, created.clone()).await.problem(401);
    let other_bytes = formbricks_headers(&cl, "msg_1", now, &finished);
    post(&cl, &path, &other_bytes, created.clone())
        .await
        .problem(401);
    assert_eq!(cl.store_snapshot(), before);

    let r = post(
        &cl,
        &path,
        &formbricks_headers(&cl, "msg_1", now - 300, &created),
        created.clone(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = post(
        &cl,
        &path,
        &formbricks_headers(&cl, "msg_2", now, &finished),
        finished.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A retry of msg_1 (same webhook-id, new timestamp and signature) is a duplicate.
    let r = post(
        &cl,
        &path,
        &formbricks_headers(&cl, "msg_1", now, &created),
        created,
    )
    .await;
    assert_eq!(r.json()["status"], "duplicate");
    cl.settle().await;
    cl.slack.wait_for_delivered(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let f = only_feedback(&cl);
    assert_eq!(f["score"]["value"], 4);
    assert_eq!(f["comment"], "Implementation took far too long");
    assert_eq!(f["customer"]["email"], "priya@example.com");
    assert_eq!(cl.slack.received().len(), 1);
}

on_host_and_spin!(an_anonymous_formbricks_link_survey_answer_is_kept);
/// A link survey's answer has `contact: null`: it is kept as an anonymous answer (scored,
/// alerted, its case marked anonymous), not refused.
async fn an_anonymous_formbricks_link_survey_answer_is_kept(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect_formbricks(&cl).await;
    let body = fixture("formbricks-anonymous.json");
    let headers = formbricks_headers(&cl, "msg_anon", unix(&cl), &body);
    let r = post(&cl, &format!("/v1/sources/{id}"), &headers, body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.slack.wait_for_delivered(1).await;
    let f = only_feedback(&cl);
    assert_eq!(f["score"]["value"], 3, "{f}");
    assert_eq!(f["comment"], "The checkout kept timing out");
    for field in ["id", "email", "phone"] {
        assert!(f["customer"][field].is_null(), "{f}");
    }
    let case = &cl.records("case:")[0];
    assert_eq!(case["anonymous"], true, "{case}");
}

on_host_and_spin!(without_a_mapping_the_nps_scale_and_the_written_answer_are_picked);
/// A day-one connection with no mapping: on Tally the 0-10 scale is the NPS question even
/// beside a star rating, and the comment is the written answer, not a long choice; on
/// Formbricks a consent answer ("accepted") is never the comment.
async fn without_a_mapping_the_nps_scale_and_the_written_answer_are_picked(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let tally = connect(&cl, json!({"platform": "tally", "signing_secret": SECRET})).await;
    let body = fixture("tally-two-scales.json");
    let h = vec![
        ("content-type", "application/json".to_owned()),
        (
            "tally-signature",
            B64.encode(hmac256(SECRET.as_bytes(), &body)),
        ),
    ];
    let r = post(&cl, &format!("/v1/sources/{tally}"), &h, body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let f = only_feedback(&cl);
    assert_eq!(
        f["score"],
        json!({"kind": "nps", "value": 3, "scale": 10}),
        "{f}"
    );
    assert_eq!(
        f["comment"], "Check-in took forty minutes and nobody apologised",
        "{f}"
    );
    assert_eq!(f["customer"]["email"], "noor@example.com");

    let formbricks = connect_formbricks(&cl).await;
    let body = fixture("formbricks-consent.json");
    let headers = formbricks_headers(&cl, "msg_consent", unix(&cl), &body);
    let r = post(&cl, &format!("/v1/sources/{formbricks}"), &headers, body).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Jotform: a checkbox question's ticked options are a list, never the comment.
    let jotform = connect(&cl, json!({"platform": "jotform", "url_token": TOKEN})).await;
    let h = vec![("content-type", JOTFORM_TYPE.to_owned())];
    let body = fixture("jotform-checkbox.multipart");
    let r = post(&cl, &format!("/v1/sources/{jotform}/{TOKEN}"), &h, body).await;
    assert_eq!(r.status, 202, "{}", r.text());

    let comments: Vec<Value> = (cl.records("feedback:").iter())
        .map(|f| f["comment"].clone())
        .collect();
    for written in [
        "Support never called me back",
        "The installer left the old unit in our hallway",
    ] {
        assert!(comments.contains(&json!(written)), "{comments:?}");
    }
}

on_host_and_spin!(tally_google_forms_and_jotform_payloads);
async fn tally_google_forms_and_jotform_payloads(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    // Tally: base64 HMAC of the body in Tally-Signature.
    let tally = connect(
        &cl,
        json!({"platform": "tally", "signing_secret": SECRET,
        "mapping": {"customer": {"id": "patient_id"}}}),
    )
    .await;
    let body = fixture("tally.json");
    let sig = B64.encode(hmac256(SECRET.as_bytes(), &body));
    let h = vec![
        ("content-type", "application/json".to_owned()),
        ("tally-signature", sig),
    ];
    let r = post(&cl, &format!("/v1/sources/{tally}"), &h, body).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Google Forms (our Apps Script): hex HMAC of "{ts}.{body}".
    let google = connect(
        &cl,
        json!({"platform": "google-forms", "signing_secret": SECRET}),
    )
    .await;
    let body = fixture("google-forms.json");
    let ts = unix(&cl);
    let sig = hex::encode(hmac256(
        SECRET.as_bytes(),
        &[format!("{ts}.").as_bytes(), &body].concat(),
    ));
    let h = vec![
        ("content-type", "application/json".to_owned()),
        ("x-closeloop-timestamp", ts.to_string()),
        ("x-closeloop-signature", format!("v1={sig}")),
    ];
    let r = post(&cl, &format!("/v1/sources/{google}"), &h, body).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Jotform: multipart/form-data, URL token.
    let jotform = connect(&cl, json!({"platform": "jotform", "url_token": TOKEN})).await;
    let h = vec![("content-type", JOTFORM_TYPE.to_owned())];
    let r = post(
        &cl,
        &format!("/v1/sources/{jotform}/{TOKEN}"),
        &h,
        fixture("jotform.multipart"),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());

    cl.settle().await;
    let by_source: HashMap<String, Value> = cl
        .records("feedback:")
        .into_iter()
        .map(|f| (f["source"].as_str().unwrap().to_owned(), f))
        .collect();
    let t = &by_source["tally"];
    assert_eq!(
        t["score"],
        json!({"kind": "rating", "value": 2, "scale": 5})
    );
    assert_eq!(t["comment"], "I felt rushed");
    assert_eq!(t["customer"]["id"], "patient-311");
    let g = &by_source["google-forms"];
    assert_eq!(g["score"], json!({"kind": "nps", "value": 2, "scale": 10}));
    assert_eq!(g["customer"]["email"], "pat@example.com");
    let j = &by_source["jotform"];
    assert_eq!(j["score"], json!({"kind": "nps", "value": 2, "scale": 10}));
    assert_eq!(j["comment"], "Delivery arrived broken");
    assert_eq!(j["customer"]["name"], "Casey Nguyen");
}

/// Path to (status, body).
type Routes = Arc<Mutex<HashMap<String, (u16, Vec<u8>)>>>;
/// Each request's path and headers.
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// A platform API on loopback: answers each path with a fixed status and body, and records
/// the requests it got.
struct MockApi {
    port: u16,
    routes: Routes,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockApi {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Routes = Arc::default();
        let seen: Seen = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, s) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (r, s) = (r.clone(), s.clone());
                        async move {
                            let path = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect();
                            let _ = req.into_body().collect().await;
                            s.lock().unwrap().push((path.clone(), headers));
                            let (status, body) = r
                                .lock()
                                .unwrap()
                                .get(&path)
                                .cloned()
                                .unwrap_or((404, b"{}".to_vec()));
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MockApi {
            port,
            routes,
            seen,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn answer(&self, path: &str, status: u16, body: Vec<u8>) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, body));
    }

    fn seen(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn surveymonkey_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    let mut m =
        Hmac::<sha1::Sha1>::new_from_slice(format!("sm-client-id&{SECRET}").as_bytes()).unwrap();
    m.update(body);
    vec![
        ("content-type", "application/json".into()),
        ("sm-apikey", "sm-client-id".into()),
        ("sm-signature", B64.encode(m.finalize().into_bytes())),
    ]
}

on_host_and_spin!(surveymonkey_events_fetch_the_response_and_retry_while_the_api_is_down);
async fn surveymonkey_events_fetch_the_response_and_retry_while_the_api_is_down(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let api = MockApi::start().await;
    let id = connect(
        &cl,
        json!({"platform": "surveymonkey", "signing_secret": SECRET, "api_key": "sm-client-id",
               "api": {"base_url": api.url(), "token": "sm-access-token-0123456789"}}),
    )
    .await;
    let path = format!("/v1/sources/{id}");
    let event = fixture("surveymonkey-event.json");
    let details_path = "/v3/surveys/405875918/responses/118349561982/details?simple=true";

    // Wrong signature: 401, and the API is never asked.
    let mut forged = surveymonkey_headers(&event);
    forged[2].1 = B64.encode([0u8; 20]);
    post(&cl, &path, &forged, event.clone()).await.problem(401);
    assert!(api.seen().is_empty());

    // The API fails: 503 so SurveyMonkey retries; nothing stored.
    let before = cl.store_snapshot();
    api.answer(details_path, 500, b"{}".to_vec());
    let r = post(&cl, &path, &surveymonkey_headers(&event), event.clone()).await;
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:closeloop:problem:upstream-unavailable");
    assert_eq!(cl.store_snapshot(), before);

    // The retry finds the API back.
    api.answer(details_path, 200, fixture("surveymonkey-details.json"));
    let r = post(&cl, &path, &surveymonkey_headers(&event), event.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let (seen_path, headers) = api.seen().last().cloned().unwrap();
    assert_eq!(seen_path, details_path);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == "Bearer sm-access-token-0123456789")
    );
    cl.settle().await;
    let f = only_feedback(&cl);
    assert_eq!(f["score"], json!({"kind": "nps", "value": 4, "scale": 10}));
    assert_eq!(f["comment"], "Support never called me back");
    assert_eq!(f["customer"]["email"], "jordan@example.com");
    assert_eq!(f["submitted_at"], "2026-11-23T09:29:20Z");

    // A redelivered event is a duplicate without asking the API again.
    let asked = api.seen().len();
    let r = post(&cl, &path, &surveymonkey_headers(&event), event).await;
    assert_eq!(r.json()["status"], "duplicate");
    assert_eq!(api.seen().len(), asked);
}

on_host_and_spin!(qualtrics_form_encoded_events_fetch_with_the_api_token);
async fn qualtrics_form_encoded_events_fetch_with_the_api_token(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let api = MockApi::start().await;
    let id = connect(
        &cl,
        json!({"platform": "qualtrics", "url_token": TOKEN,
               "api": {"base_url": api.url(), "token": "qualtrics-token-0123456789"}}),
    )
    .await;
    api.answer(
        "/API/v3/surveys/SV_3HxHEUytuz2vUHk/responses/R_1jU4Ds8IJh5yPTh",
        200,
        fixture("qualtrics-response.json"),
    );
    let form = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let r = post(
        &cl,
        &format!("/v1/sources/{id}/{TOKEN}"),
        &form,
        fixture("qualtrics-event.txt"),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let (_, headers) = api.seen().last().cloned().unwrap();
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-api-token" && v == "qualtrics-token-0123456789")
    );
    cl.settle().await;
    let f = only_feedback(&cl);
    assert_eq!(f["score"], json!({"kind": "nps", "value": 1, "scale": 10}));
    assert_eq!(f["comment"], "Breakfast was cold and nobody apologised");
    assert_eq!(f["customer"]["id"], "guest-1207");
    // A response the API no longer has is refused (422), never a 5xx or a 404.
    let gone =
        b"Topic=x.surveyengine.completedResponse.SV_1&SurveyID=SV_1&ResponseID=R_gone".to_vec();
    let r = post(&cl, &format!("/v1/sources/{id}/{TOKEN}"), &form, gone).await;
    r.problem(422);
}

on_host_and_spin!(vendor_drift_never_answers_a_5xx);
async fn vendor_drift_never_answers_a_5xx(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(
        &cl,
        json!({"platform": "typeform", "signing_secret": SECRET,
               "mapping": {"score": {"question": "nps_recommend", "kind": "nps"}}}),
    )
    .await;
    let path = format!("/v1/sources/{id}");
    let base: Value = serde_json::from_slice(&fixture("typeform.json")).unwrap();
    let send = |v: Value| {
        let body = v.to_string().into_bytes();
        let headers = typeform_headers(SECRET, &body);
        let cl = &cl;
        let path = path.clone();
        async move { post(cl, &path, &headers, body).await }
    };

    // No answer to the mapped score and no comment: 422 with the reason; nothing stored.
    let mut empty = base.clone();
    empty["form_response"]["token"] = json!("resp-empty");
    empty["form_response"]["answers"] = json!([]);
    let before = cl.store_snapshot();
    let p = send(empty).await.problem(422);
    assert!(
        p["detail"].as_str().unwrap().contains("nps_recommend"),
        "{p}"
    );
    assert_eq!(cl.store_snapshot(), before);

    // Without the score but with a comment: stored unscored.
    let mut unscored = base.clone();
    unscored["form_response"]["token"] = json!("resp-unscored");
    unscored["event_id"] = json!("ev-unscored");
    unscored["form_response"]["answers"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    let r = send(unscored).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Extra fields, reordered answers, missing optional parts.
    let mut drift = base.clone();
    drift["brand_new_field"] = json!({"nested": [1, 2]});
    drift["form_response"]["answers"]
        .as_array_mut()
        .unwrap()
        .reverse();
    drift["form_response"]
        .as_object_mut()
        .unwrap()
        .remove("hidden");
    drift["form_response"]
        .as_object_mut()
        .unwrap()
        .remove("definition");
    let r = send(drift).await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Not JSON at all, or the wrong shape: 4xx.
    for body in [
        json!("just a string"),
        json!({"form_response": 7}),
        json!([1, 2]),
    ] {
        let r = send(body).await;
        assert!((400..500).contains(&r.status), "{} {}", r.status, r.text());
    }
    let r = post(
        &cl,
        &path,
        &typeform_headers(SECRET, b"{\"half"),
        b"{\"half".to_vec(),
    )
    .await;
    r.problem(400);

    cl.settle().await;
    let feedback = cl.records("feedback:");
    assert_eq!(feedback.len(), 2);
    assert!(
        feedback
            .iter()
            .any(|f| f["score"].is_null() && f["comment"].is_string())
    );
}

on_host_and_spin!(admin_api_creates_lists_rotates_remaps_and_deletes_without_showing_secrets);
async fn admin_api_creates_lists_rotates_remaps_and_deletes_without_showing_secrets(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    // The admin token is required.
    let r = request("GET", &cl.url("/v1/admin/connections"), &[], Vec::new()).await;
    r.problem(401);
    let p = cl
        .admin(
            "POST",
            "/v1/admin/connections",
            Some(json!({"platform": "typeform"})),
        )
        .await
        .problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/signing_secret");
    let p = cl
        .admin(
            "POST",
            "/v1/admin/connections",
            Some(json!({"platform": "hotjar"})),
        )
        .await
        .problem(422);
    assert!(p["detail"].as_str().unwrap().contains("typeform"), "{p}");

    let r = cl
        .admin(
            "POST",
            "/v1/admin/connections",
            Some(json!({"platform": "typeform", "name": "Stay survey",
            "source": "typeform-stays", "signing_secret": SECRET})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains(SECRET), "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json()["webhook_url"],
        format!("http://closeloop.test/v1/sources/{id}")
    );
    let fingerprint = r.json()["signing_secret"].clone();

    let list = cl.admin("GET", "/v1/admin/connections", None).await;
    assert_eq!(list.json()["connections"].as_array().unwrap().len(), 1);
    assert!(!list.text().contains(SECRET));

    // It works at once: the stored connection verifies the first webhook.
    let body = fixture("typeform.json");
    let r = post(
        &cl,
        &format!("/v1/sources/{id}"),
        &typeform_headers(SECRET, &body),
        body.clone(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Rotation: the old secret stops working, the new one works.
    let new_secret = "rotated-typeform-secret-98765";
    let r = cl
        .admin(
            "POST",
            &format!("/v1/admin/connections/{id}/rotate"),
            Some(json!({"signing_secret": new_secret})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains(new_secret));
    assert_ne!(r.json()["signing_secret"], fingerprint);
    let mut second: Value = serde_json::from_slice(&body).unwrap();
    second["event_id"] = json!("ev-2");
    second["form_response"]["token"] = json!("resp-2");
    let second = second.to_string().into_bytes();
    post(
        &cl,
        &format!("/v1/sources/{id}"),
        &typeform_headers(SECRET, &second),
        second.clone(),
    )
    .await
    .problem(401);
    let r = post(
        &cl,
        &format!("/v1/sources/{id}"),
        &typeform_headers(new_secret, &second),
        second,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());

    // Re-mapping.
    let r = cl
        .admin("PUT", &format!("/v1/admin/connections/{id}/mapping"),
            Some(json!({"mapping": {"score": {"question": "readable_ref_rating", "kind": "csat", "scale": 5}}})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["mapping"]["score"]["kind"], "csat");
    let r = cl
        .admin(
            "PUT",
            &format!("/v1/admin/connections/{id}/mapping"),
            Some(json!({"mapping": {"score": {"question": "q", "kind": "nps", "scale": 5}}})),
        )
        .await;
    r.problem(422);

    // Delete: the webhook URL answers 404 from then on (a permanent answer, on purpose).
    let r = cl
        .admin("DELETE", &format!("/v1/admin/connections/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    cl.admin("GET", &format!("/v1/admin/connections/{id}"), None)
        .await
        .problem(404);
    post(
        &cl,
        &format!("/v1/sources/{id}"),
        &typeform_headers(new_secret, &body),
        body,
    )
    .await
    .problem(404);
    for component in ["ingest", "triage"] {
        let log = cl.app.component_log(component);
        assert!(
            !log.contains(SECRET) && !log.contains(new_secret),
            "{component} logged a secret"
        );
    }
}

on_host_and_spin!(racing_events_of_one_response_end_in_the_complete_feedback);
async fn racing_events_of_one_response_end_in_the_complete_feedback(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(&cl, json!({"platform": "delighted", "url_token": TOKEN})).await;
    let path = format!("/v1/sources/{id}/{TOKEN}");
    let json_ct = vec![("content-type", "application/json".to_owned())];
    let created: Value = serde_json::from_slice(&fixture("delighted-created.json")).unwrap();
    let updated: Value = serde_json::from_slice(&fixture("delighted-updated.json")).unwrap();
    // Eight responses, each with its created and updated events (and a redelivery of each)
    // posted all at once.
    let mut posts = Vec::new();
    for n in 0..8 {
        for (event, v) in [("c", &created), ("u", &updated)] {
            let mut v = v.clone();
            v["event_data"]["id"] = json!(format!("race-{n}"));
            v["event_id"] = json!(format!("race-{n}-{event}"));
            for _ in 0..2 {
                posts.push(post(&cl, &path, &json_ct, v.to_string().into_bytes()));
            }
        }
    }
    for r in futures::future::join_all(posts).await {
        assert!(matches!(r.status, 200 | 202), "{} {}", r.status, r.text());
    }
    cl.settle().await;
    cl.tick().await;
    cl.settle().await;
    let feedback = cl.records("feedback:");
    assert_eq!(feedback.len(), 8);
    for f in &feedback {
        assert_eq!(f["comment"], "Implementation took far too long", "{f}");
        assert_eq!(f["score"]["value"], 2);
    }
    assert_eq!(cl.records("case:").len(), 8);
    let responses = cl.records("source-response:");
    assert_eq!(responses.len(), 8, "one record per response");
    for r in &responses {
        assert_eq!(
            r["events"].as_array().unwrap().len(),
            2,
            "each event once: {r}"
        );
    }
    cl.slack.wait_for_delivered(8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cl.slack.received().len(), 8, "one alert per response");
}

on_host_and_spin!(webhook_and_admin_bodies_at_and_past_their_limits);
async fn webhook_and_admin_bodies_at_and_past_their_limits(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(
        &cl,
        json!({"platform": "typeform", "signing_secret": SECRET}),
    )
    .await;
    let path = format!("/v1/sources/{id}");
    // closeloop_domain::sources::MAX_WEBHOOK_BYTES
    const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
    let at_limit = vec![b' '; MAX_WEBHOOK_BYTES];
    let r = post(&cl, &path, &typeform_headers(SECRET, &at_limit), at_limit).await;
    r.problem(400);
    let past = vec![b' '; MAX_WEBHOOK_BYTES + 1];
    let r = post(&cl, &path, &typeform_headers(SECRET, &past), past).await;
    r.problem(413);
    // closeloop_domain::sources::connection::MAX_ADMIN_BODY_BYTES
    const MAX_ADMIN_BODY_BYTES: usize = 32 * 1024;
    let pad = |n: usize| {
        let base = json!({"platform": "tally", "signing_secret": SECRET, "name": ""}).to_string();
        let name = "n".repeat(n - base.len());
        json!({"platform": "tally", "signing_secret": SECRET, "name": name}).to_string()
    };
    let auth = format!("Bearer {}", closeloop_e2e::ADMIN_TOKEN);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = request(
        "POST",
        &cl.url("/v1/admin/connections"),
        &h,
        pad(MAX_ADMIN_BODY_BYTES).into_bytes(),
    )
    .await;
    assert_eq!(
        r.problem(422)["errors"][0]["pointer"],
        "/name",
        "at the limit it is read"
    );
    let r = request(
        "POST",
        &cl.url("/v1/admin/connections"),
        &h,
        pad(MAX_ADMIN_BODY_BYTES + 1).into_bytes(),
    )
    .await;
    r.problem(413);
}

on_host_and_spin!(a_platforms_url_check_answers_200_and_stores_nothing);
/// SurveyMonkey creates a webhook only once its URL answers `HEAD` with 200; Qualtrics expects
/// `GET` to answer. Neither is an event: nothing is stored.
async fn a_platforms_url_check_answers_200_and_stores_nothing(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let id = connect(
        &cl,
        json!({"platform": "surveymonkey", "signing_secret": SECRET, "api_key": "sm-client-id",
               "api": {"base_url": "http://127.0.0.1:9", "token": "sm-access-token-0123456789"}}),
    )
    .await;
    let before = cl.store_snapshot();
    let path = format!("/v1/sources/{id}");
    let head = request("HEAD", &cl.url(&path), &[], Vec::new()).await;
    assert_eq!(head.status, 200, "{}", head.text());
    assert!(head.body.is_empty());
    let get = cl.get(&path, &[]).await;
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.json()["platform"], "surveymonkey");
    assert_eq!(cl.store_snapshot(), before, "a check stores nothing");

    // An unknown connection is 404 (the platform then knows the URL is wrong); other methods
    // are refused.
    let unknown = request(
        "HEAD",
        &cl.url("/v1/sources/no-such-connection"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(unknown.status, 404);
    cl.get("/v1/sources/no-such-connection", &[])
        .await
        .problem(404);
    request("PUT", &cl.url(&path), &[], Vec::new())
        .await
        .problem(405);
}

on_host_and_spin!(vendor_signatures_are_required_once_the_connection_has_the_key);
/// Qualtrics signs `MSG` with the subscription's shared key (`HMAC`, hex HMAC-SHA512) and
/// Delighted the body (`X-Delighted-Webhook-Signature: sha256=<hex>`): with the key on the
/// connection, a missing or wrong signature is 401 and stores nothing.
async fn vendor_signatures_are_required_once_the_connection_has_the_key(rt: Runtime) {
    const KEY: &str = "vendor-shared-key-0123456789";
    let cl = Closeloop::start(rt).await;
    let api = MockApi::start().await;
    api.answer(
        "/API/v3/surveys/SV_3HxHEUytuz2vUHk/responses/R_1jU4Ds8IJh5yPTh",
        200,
        fixture("qualtrics-response.json"),
    );
    let qualtrics = connect(
        &cl,
        json!({"platform": "qualtrics", "url_token": TOKEN, "signing_secret": KEY,
               "api": {"base_url": api.url(), "token": "qualtrics-token-0123456789"}}),
    )
    .await;
    let delighted = connect(
        &cl,
        json!({"platform": "delighted", "url_token": TOKEN, "signing_secret": KEY}),
    )
    .await;
    let form = vec![(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let event = fixture("qualtrics-event.txt");
    let msg = form_urlencoded::parse(&event)
        .find(|(k, _)| k == "MSG")
        .unwrap()
        .1
        .into_owned();
    let with_hmac = |key: &str| {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(msg.as_bytes());
        let mut body = event.clone();
        body.extend(format!("&HMAC={}", hex::encode(mac.finalize().into_bytes())).bytes());
        body
    };
    let q_path = format!("/v1/sources/{qualtrics}/{TOKEN}");
    let created = fixture("delighted-created.json");
    let d_path = format!("/v1/sources/{delighted}/{TOKEN}");
    let signed = |key: &str| {
        vec![
            ("content-type", "application/json".to_owned()),
            (
                "x-delighted-webhook-signature",
                format!("sha256={}", hex::encode(hmac256(key.as_bytes(), &created))),
            ),
        ]
    };
    let before = cl.store_snapshot();
    for body in [event.clone(), with_hmac("a-wrong-key-0123456789")] {
        post(&cl, &q_path, &form, body).await.problem(401);
    }
    let unsigned = vec![("content-type", "application/json".to_owned())];
    for headers in [unsigned, signed("a-wrong-key-0123456789")] {
        post(&cl, &d_path, &headers, created.clone())
            .await
            .problem(401);
    }
    assert_eq!(
        cl.store_snapshot(),
        before,
        "refused deliveries store nothing"
    );

    let r = post(&cl, &q_path, &form, with_hmac(KEY)).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = post(&cl, &d_path, &signed(KEY), created.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    cl.settle().await;
    assert_eq!(cl.records("feedback:").len(), 2);
}
