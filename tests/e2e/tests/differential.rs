//! The differential test: one scripted session run on real Spin 4.0.2 and on the test host, both
//! as `up` processes on the same store kind, compared answer by answer and record by record.
//!
//! The session covers the founding scenarios, the whole loop (confirmed and reopened), sixteen
//! connections posting one answer, two agents acting on one case at once, tick racing a
//! hand-over, and a crash: `kill -9` of the runtime while answers pour in, a restart, the
//! platform's redeliveries and tick. Answers are compared with times and time-bearing tokens
//! normalised, and racing answers as multisets; the store as records per kind (deliveries per
//! status). The log and the outbox schedule are left out: how many waiters wrote a log entry
//! and which second a retry lands in depend on timing, not on behaviour.
//!
//! Each runtime must also hold the exactly-once invariants on its own (one feedback, one case,
//! one alert per channel, nothing stuck): two runtimes equally wrong would otherwise agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use closeloop_e2e::client::try_request;
use closeloop_e2e::mock::Received;
use closeloop_e2e::{Closeloop, Options, Runtime};
use futures::future::join_all;
use serde_json::{Value, json};
use spin_test_host::RedisServer;

/// Connections posting one answer at once, as a platform's retries and redeliveries do.
const DUPLICATE_CONNECTIONS: usize = 16;
/// Answers posted while the runtime is killed, by this many connections.
const CRASH_ANSWERS: usize = 40;
const CRASH_CONNECTIONS: usize = 8;
/// When the runtime is killed: once this many crash answers were accepted.
const KILL_AFTER_ACCEPTED: usize = 12;
/// The lease of a first attempt handed over with two deliveries (Slack and the webhook):
/// 10 s, plus the provider timeout per delivery, plus a second for the clocks.
const FIRST_ATTEMPT_LEASE: Duration =
    Duration::from_millis(10_000 + 2 * closeloop_e2e::DELIVERY_TIMEOUT_MS + 1_000);
/// How long tick is given, after the restart, to make every delivery a dead process leased
/// (its lease: a margin of 10 s plus the provider timeout per handed-over call).
const RECOVER_WITHIN: Duration = Duration::from_secs(60);

/// What a session saw: its answers, in order, and the store afterwards.
#[derive(Debug, Default, PartialEq)]
struct Transcript {
    answers: Vec<(String, Value)>,
    store: BTreeMap<String, usize>,
    received: BTreeMap<String, usize>,
}

impl Transcript {
    fn answer(&mut self, step: &str, status: u16, body: Value) {
        self.answers.push((
            step.to_owned(),
            json!({"status": status, "body": normalise(&body)}),
        ));
    }

    fn response(&mut self, step: &str, r: &closeloop_e2e::client::Response) {
        let body = serde_json::from_slice(&r.body).unwrap_or_else(|_| json!(r.text()));
        self.answer(step, r.status, body);
    }

    /// Racing answers, compared as a multiset of (status, body).
    fn racing(&mut self, step: &str, rs: &[closeloop_e2e::client::Response]) {
        let mut seen: Vec<Value> = rs
            .iter()
            .map(|r| {
                let body = serde_json::from_slice(&r.body).unwrap_or_else(|_| json!(r.text()));
                json!({"status": r.status, "body": normalise(&body)})
            })
            .collect();
        seen.sort_by_key(Value::to_string);
        self.answers.push((step.to_owned(), Value::Array(seen)));
    }
}

/// Times, and the values derived from the clock, replaced by placeholders.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if clock_bound(k) && !v.is_null() {
                        json!("<clock>")
                    } else if k == "timeline" {
                        attempts_in_either_order(normalise(v))
                    } else {
                        normalise(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => json!("<time>"),
        Value::String(s) if s.contains("/v1/confirm/") => json!("<confirmation link>"),
        other => other.clone(),
    }
}

/// A timeline with each run of consecutive delivery attempts sorted: an answer's alerts are
/// sent at once, and which provider answers first is timing, not behaviour.
fn attempts_in_either_order(timeline: Value) -> Value {
    let Value::Array(mut events) = timeline else {
        return timeline;
    };
    let attempt = |e: &Value| {
        ["delivered", "delivery-failed", "dead-lettered"]
            .contains(&e["kind"].as_str().unwrap_or(""))
    };
    let mut start = 0;
    while start < events.len() {
        let end = (start..events.len())
            .find(|&i| !attempt(&events[i]))
            .unwrap_or(events.len());
        events[start..end].sort_by_key(Value::to_string);
        start = end + 1;
    }
    Value::Array(events)
}

/// Fields whose values depend on when the session ran, not on what the app did: elapsed times,
/// due times, and the days the metrics group by.
fn clock_bound(key: &str) -> bool {
    ["_at", "_ms", "_seconds", "_minutes", "_hours", "_due"]
        .iter()
        .any(|suffix| key.ends_with(suffix))
        || ["at", "until", "day", "date", "since"].contains(&key)
}

/// Identifiers are UUIDv7: their first 48 bits are the time they were made (the feedback's
/// arrival, say), the rest derived from what makes them unique, often an id that holds a time
/// itself. So each distinct id is named by the order it first appears in (`<id 7>`): two
/// transcripts agree when they use the same ids in the same places.
fn label_ids(v: &Value, seen: &mut Vec<String>) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), label_ids(v, seen)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| label_ids(v, seen)).collect()),
        Value::String(s) => json!(label_ids_in(s, seen)),
        other => other.clone(),
    }
}

fn label_ids_in(s: &str, seen: &mut Vec<String>) -> String {
    const LEN: usize = 36;
    let is_uuid = |c: &[u8]| {
        c.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + LEN <= bytes.len() && is_uuid(&bytes[i..i + LEN]) {
            let id = &s[i..i + LEN];
            let n = seen.iter().position(|x| x == id).unwrap_or_else(|| {
                seen.push(id.to_owned());
                seen.len() - 1
            });
            out.push_str(&format!("<id {n}>"));
            i += LEN;
        } else {
            let c = s[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn feedback(source: &str, external_id: &str, score: Value, comment: &str, tier: &str) -> Value {
    json!({
        "source": source,
        "external_id": external_id,
        "submitted_at": "2026-11-30T09:00:00Z",
        "customer": {
            "id": format!("customer-{external_id}"),
            "email": format!("{external_id}@example.com"),
            "name": "Alex Guest",
            "attributes": {"tier": tier}
        },
        "score": score,
        "comment": comment,
    })
}

fn nps(value: i64) -> Value {
    json!({"kind": "nps", "value": value})
}

fn case_of(cl: &Closeloop, feedback_id: &Value) -> String {
    let cases = cl.records("case:");
    let case = cases
        .iter()
        .find(|c| c["feedback_id"] == *feedback_id)
        .unwrap_or_else(|| panic!("no case for {feedback_id}: {cases:?}"));
    case["id"].as_str().expect("a case id").to_owned()
}

/// The link in the latest customer message about `case_id`, as a path on the app.
async fn confirmation_path(cl: &Closeloop, case_id: &str, messages: usize) -> String {
    let sent = cl.customer.wait_for_delivered(messages).await;
    let message = sent
        .iter()
        .rev()
        .map(|m| m.json())
        .find(|m| m["case_id"] == case_id)
        .expect("a message to the customer about the case");
    let link = message["link"].as_str().expect("a link");
    link[link.find("/v1/confirm/").expect("a confirmation link")..].to_owned()
}

async fn answer_form(cl: &Closeloop, path: &str, form: &str) -> closeloop_e2e::client::Response {
    cl.post_raw(
        path,
        "application/x-www-form-urlencoded",
        form.as_bytes().to_vec(),
    )
    .await
}

/// The session up to the crash: every step's answer.
async fn scripted(cl: &Closeloop, t: &mut Transcript) {
    // The B2B scenario's rule: enterprise customers go to the customer-success managers.
    let rules = json!({"rules": [{
        "name": "enterprise to the CSMs",
        "when": [{"field": "customer.tier", "op": "eq", "value": "enterprise"}],
        "then": {"team": "customer-success", "round_robin": ["csm-ana"]}
    }]});
    let r = cl.admin("PUT", "/v1/admin/triage/rules", Some(rules)).await;
    t.response("rules", &r);

    // The founding scenarios: a hotel detractor, a dental patient who felt rushed, a B2B
    // account that found its implementation too slow.
    let founding = [
        (
            "hotel",
            feedback(
                "hotel-survey",
                "stay-1",
                nps(3),
                "The room by the lift was noisy all night",
                "standard",
            ),
        ),
        (
            "dental",
            feedback(
                "dental-survey",
                "visit-1",
                json!({"kind": "csat", "value": 2, "scale": 5}),
                "I felt rushed and nobody explained the treatment",
                "standard",
            ),
        ),
        (
            "b2b",
            feedback(
                "b2b-survey",
                "account-1",
                nps(4),
                "Implementation took far too long",
                "enterprise",
            ),
        ),
    ];
    let mut cases = BTreeMap::new();
    for (name, body) in &founding {
        let r = cl.post_feedback(body).await;
        t.response(&format!("post {name}"), &r);
        assert_eq!(r.status, 202, "{}", r.text());
        cl.settle().await;
        cases.insert(*name, case_of(cl, &r.json()["feedback_id"]));
    }
    cl.slack.wait_for_delivered(3).await;
    cl.settle().await;
    for name in cases.keys() {
        let r = cl
            .agent("GET", &format!("/v1/cases/{}", cases[name]), None)
            .await;
        t.response(&format!("case {name}"), &r);
    }
    let r = cl.agent("GET", "/v1/cases", None).await;
    t.response("inbox", &r);

    // The whole loop: the hotel's case confirmed by the guest, the dental one reopened.
    let hotel = &cases["hotel"];
    let steps = [
        (
            "notes",
            json!({"by": "Dana", "text": "The lift pinged all night"}),
        ),
        (
            "acknowledge",
            json!({"by": "Dana", "note": "calling the guest"}),
        ),
        (
            "resolve",
            json!({"by": "Dana", "resolution": "Moved to a quiet room", "root_cause": "facilities"}),
        ),
    ];
    for (action, body) in &steps {
        let r = cl
            .agent(
                "POST",
                &format!("/v1/cases/{hotel}/{action}"),
                Some(body.clone()),
            )
            .await;
        t.response(&format!("hotel {action}"), &r);
    }
    let link = confirmation_path(cl, hotel, 1).await;
    let page = cl.get(&link, &[]).await;
    t.answer("hotel confirmation page", page.status, json!(null));
    let r = answer_form(cl, &link, "resolved=yes&score=9&comment=Much+better").await;
    t.answer("hotel confirms", r.status, json!(null));

    let dental = &cases["dental"];
    for (action, body) in &steps[1..] {
        let r = cl
            .agent(
                "POST",
                &format!("/v1/cases/{dental}/{action}"),
                Some(body.clone()),
            )
            .await;
        t.response(&format!("dental {action}"), &r);
    }
    let link = confirmation_path(cl, dental, 2).await;
    let r = answer_form(cl, &link, "resolved=no&comment=Still+rushed").await;
    t.answer("dental reopens", r.status, json!(null));
    cl.wait_for_state(dental, "reopened").await;
    cl.slack.wait_for_delivered(4).await;
    cl.settle().await;

    // Sixteen connections posting the same answer at once.
    let duplicate = feedback(
        "hotel-survey",
        "stay-2",
        nps(1),
        "Rude staff at check-in",
        "standard",
    );
    let posts = (0..DUPLICATE_CONNECTIONS).map(|_| cl.post_feedback(&duplicate));
    t.racing("sixteen duplicates", &join_all(posts).await);

    // Two agents acknowledging the B2B case at once: one wins, the other gets 409.
    let b2b = &cases["b2b"];
    let acknowledge = format!("/v1/cases/{b2b}/acknowledge");
    let ack = |who: &str| {
        cl.agent(
            "POST",
            &acknowledge,
            Some(json!({"by": who, "note": format!("{who} has it")})),
        )
    };
    let (a, b) = tokio::join!(ack("agent-kim"), ack("agent-lee"));
    // Which of the two wins is timing: the statuses are compared, and the winner's name is
    // replaced where it shows.
    let mut statuses = [a.status, b.status];
    statuses.sort();
    t.answer("two agents at once", 200, json!(statuses));
    let (winner, loser) = match a.status {
        200 => ("agent-kim", "agent-lee"),
        _ => ("agent-lee", "agent-kim"),
    };

    // Tick racing a hand-over.
    let racing = feedback("hotel-survey", "stay-3", nps(0), "Never again", "standard");
    let (post, ticks) = tokio::join!(
        cl.post_feedback(&racing),
        join_all((0..3).map(|_| tick_status(cl)))
    );
    // The fold that leased the first attempts answered before this: their lease ends before
    // `answered_at` plus a lease.
    let answered_at = tokio::time::Instant::now();
    t.response("post racing tick", &post);
    t.answer("ticks racing a post", 200, json!(ticks));

    cl.settle().await;
    cl.slack.wait_for_delivered(6).await;
    cl.webhook.wait_for_delivered(6).await;
    cl.settle().await;
    for (name, id) in [("b2b", b2b), ("dental", dental), ("hotel", hotel)] {
        let mut r = cl.agent("GET", &format!("/v1/cases/{id}"), None).await;
        r.body = r
            .text()
            .replace(winner, "<the winner>")
            .replace(loser, "<the other>")
            .into_bytes();
        t.response(&format!("case {name} after the loop"), &r);
    }
    // Tick folds what the deliveries' attempts recorded (the alert latency among it), so the
    // metrics count every alert. A tick that saw the raced alert's deliveries under their
    // first-attempt lease looks again once it ends: the last tick runs after that. How many
    // commands the log took depends on timing (how many duplicates ingest answered from the
    // store, how many ticks found something), so it is not compared.
    tokio::time::sleep_until(answered_at + FIRST_ATTEMPT_LEASE).await;
    cl.tick().await;
    cl.settle().await;
    let mut r = cl.agent("GET", "/v1/metrics", None).await;
    let mut metrics = r.json();
    for timing in ["head", "folded"] {
        metrics["projection"][timing] = json!("<timing>");
    }
    r.body = metrics.to_string().into_bytes();
    t.response("metrics", &r);
}

async fn tick_status(cl: &Closeloop) -> u16 {
    let auth = format!("Bearer {}", closeloop_e2e::TICK_TOKEN);
    let r = try_request(
        "POST",
        &cl.url("/v1/tick"),
        &[("authorization", &auth)],
        Vec::new(),
    )
    .await
    .expect("tick answers");
    r.status
}

/// The store's records per kind (the key's first segment), deliveries per status; the log and
/// the outbox schedule are left out (see the module doc).
fn census(cl: &Closeloop) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (key, value) in cl.store_snapshot() {
        let kind = key.split(':').next().unwrap_or_default();
        if ["log", "outbox"].contains(&kind) {
            continue;
        }
        let name = if kind == "delivery" {
            let d: Value = serde_json::from_slice(&value).unwrap_or_default();
            format!("delivery {}", d["data"]["status"].as_str().unwrap_or("?"))
        } else {
            kind.to_owned()
        };
        *counts.entry(name).or_default() += 1;
    }
    counts
}

fn received(cl: &Closeloop) -> BTreeMap<String, usize> {
    [
        ("slack", cl.slack.received().len()),
        ("webhook", cl.webhook.received().len()),
        ("customer", cl.customer.received().len()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The crash: answers pouring in over several connections, the runtime killed once some were
/// accepted, restarted; the platform redelivers what got no answer, and tick runs until no
/// delivery is left to make. Returns what each runtime must hold, checked by the caller.
async fn crash(cl: &mut Closeloop) -> Value {
    let url = cl.url("/v1/feedback");
    let bodies: Vec<Value> = (0..CRASH_ANSWERS)
        .map(|i| {
            feedback(
                "hotel-survey",
                &format!("crash-{i}"),
                nps(2),
                &format!("crash-{i}: the shower was cold"),
                "standard",
            )
        })
        .collect();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..CRASH_CONNECTIONS)
        .map(|w| {
            let (url, accepted) = (url.clone(), accepted.clone());
            let mine: Vec<(usize, Value)> = bodies
                .iter()
                .cloned()
                .enumerate()
                .filter(|(i, _)| i % CRASH_CONNECTIONS == w)
                .collect();
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for (i, body) in mine {
                    let r = try_request(
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        body.to_string().into_bytes(),
                    )
                    .await;
                    if r.as_ref().is_ok_and(|r| r.status == 202) {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        answered.push(i);
                    }
                }
                answered
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < KILL_AFTER_ACCEPTED {
        assert!(
            Instant::now() < deadline,
            "answers are accepted before the crash"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cl.kill();
    // What the dead process had not recorded: only these Slack alerts may go out again. (Each
    // hand-over keeps up to 16 provider calls in flight, so this is not bounded by the
    // connections.)
    let unrecorded_at_kill: std::collections::BTreeSet<String> = cl
        .records("delivery:")
        .iter()
        .filter(|d| d["channel"] == "slack" && d["status"] == "pending" && d["attempts"] == 0)
        .filter_map(|d| d["case_id"].as_str().map(str::to_owned))
        .collect();
    let mut answered = std::collections::BTreeSet::new();
    for w in join_all(workers).await {
        answered.extend(w.expect("a posting worker"));
    }
    cl.restart().await;

    // The platform redelivers every answer that got no 202 (a 200 "duplicate" for those the
    // dead process had taken).
    let mut taken_by_the_dead = 0;
    for (i, body) in bodies.iter().enumerate() {
        if !answered.contains(&i) {
            let r = cl.post_feedback(body).await;
            assert!([200, 202].contains(&r.status), "{}", r.text());
            taken_by_the_dead += usize::from(r.status == 200);
        }
    }
    let restarted = Instant::now();
    // Deliveries the dead process had leased wait for their lease to run out: no settling
    // until tick has made them.
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        cl.tick().await;
        let pending = cl
            .records("delivery:")
            .iter()
            .filter(|d| d["status"] == "pending")
            .count();
        if (pending == 0 && cl.log_behind() == 0) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A delivery whose provider call was answered just before the kill, and not recorded, is
    // made again by tick: across a crash an alert is sent at least once. The webhook's
    // idempotency key lets its receiver keep one; Slack's incoming webhooks have none, so a
    // repeat is counted, and only a call in flight at the kill can be repeated.
    let about = |sent: &[Received], i: usize| -> Vec<Received> {
        let tag = format!("crash-{i}:");
        sent.iter()
            .filter(|m| String::from_utf8_lossy(&m.body).contains(&tag))
            .cloned()
            .collect()
    };
    let (slack, webhook) = (cl.slack.delivered(), cl.webhook.delivered());
    let feedback = cl.records("feedback:");
    let cases = cl.records("case:");
    let mut slack_repeats = 0;
    let mut repeated_though_recorded = Vec::new();
    let per_answer: Vec<Value> = (0..CRASH_ANSWERS)
        .map(|i| {
            let external_id = format!("crash-{i}");
            let f: Vec<_> = feedback
                .iter()
                .filter(|f| f["external_id"] == external_id.as_str())
                .collect();
            let c = f.first().map_or(0, |f| {
                cases.iter().filter(|c| c["feedback_id"] == f["id"]).count()
            });
            let to_slack = about(&slack, i).len();
            slack_repeats += to_slack.saturating_sub(1);
            let case_id = f.first().and_then(|f| {
                cases
                    .iter()
                    .find(|c| c["feedback_id"] == f["id"])
                    .and_then(|c| c["id"].as_str())
            });
            if to_slack > 1 && !case_id.is_some_and(|c| unrecorded_at_kill.contains(c)) {
                repeated_though_recorded.push(external_id.clone());
            }
            let keys: std::collections::BTreeSet<_> = about(&webhook, i)
                .iter()
                .filter_map(|m| m.header("idempotency-key").map(str::to_owned))
                .collect();
            json!({
                "feedback": f.len(),
                "cases": c,
                "alerted on slack": to_slack >= 1,
                "webhook alerts (by idempotency key)": keys.len(),
            })
        })
        .collect();
    assert!(
        repeated_though_recorded.is_empty(),
        "Slack alerts repeated though the dead process had recorded them: {repeated_though_recorded:?}"
    );
    assert!(
        slack_repeats <= unrecorded_at_kill.len(),
        "{slack_repeats} Slack alerts repeated: more than the {} the dead process had not recorded",
        unrecorded_at_kill.len()
    );
    let stuck = cl
        .records("delivery:")
        .iter()
        .filter(|d| d["status"] == "pending")
        .count();
    eprintln!(
        "{:?}: killed with {} of {CRASH_ANSWERS} answers accepted; {} redelivered, of which {taken_by_the_dead} the dead process had taken; every alert made {:.1} s after the restart; {slack_repeats} Slack alerts repeated",
        cl.runtime(),
        answered.len(),
        CRASH_ANSWERS - answered.len(),
        restarted.elapsed().as_secs_f64()
    );
    json!({"per_answer": per_answer, "deliveries_pending": stuck})
}

/// What every runtime must show after the crash: one of everything per answer, nothing stuck.
fn exactly_once() -> Value {
    let one = json!({
        "feedback": 1,
        "cases": 1,
        "alerted on slack": true,
        "webhook alerts (by idempotency key)": 1,
    });
    json!({"per_answer": vec![one; CRASH_ANSWERS], "deliveries_pending": 0})
}

async fn run(rt: Runtime, runtime_config: Option<&Path>) -> (Transcript, Value) {
    let mut cl = Closeloop::start_with(rt, |o: Options| match runtime_config {
        Some(rc) => o.runtime_config(rc),
        None => o,
    })
    .await;
    let mut t = Transcript::default();
    scripted(&cl, &mut t).await;
    t.store = census(&cl);
    t.received = received(&cl);
    let crashed = crash(&mut cl).await;
    cl.app.shutdown().await;
    (t, crashed)
}

/// Where `a` and `b` differ, as `path: a != b` lines.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(l, r, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differences(l, r, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Runs the session on both runtimes at once, and compares.
async fn differential(runtime_configs: [Option<PathBuf>; 2]) {
    if !Runtime::Spin.available() {
        return;
    }
    let [host_rc, spin_rc] = &runtime_configs;
    let ((host, host_crash), (spin, spin_crash)) = tokio::join!(
        run(Runtime::HostProcess, host_rc.as_deref()),
        run(Runtime::Spin, spin_rc.as_deref())
    );
    for (name, crashed) in [("host", &host_crash), ("spin", &spin_crash)] {
        assert_eq!(crashed, &exactly_once(), "after the crash on {name}");
    }
    let (mut host_ids, mut spin_ids) = (Vec::new(), Vec::new());
    for ((step, h), (_, s)) in host.answers.iter().zip(&spin.answers) {
        let (h, s) = (label_ids(h, &mut host_ids), label_ids(s, &mut spin_ids));
        let mut found = Vec::new();
        differences(&h, &s, "", &mut found);
        assert!(
            found.is_empty(),
            "{step}: the answers differ (host, then Spin):\n{}",
            found.join("\n")
        );
    }
    assert_eq!(host.answers.len(), spin.answers.len());
    assert_eq!(
        host.store, spin.store,
        "records per kind (left: host, right: Spin)"
    );
    assert_eq!(host.received, spin.received, "what the receivers got");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_and_spin_behave_alike_on_the_default_store() {
    differential([None, None]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_and_spin_behave_alike_on_redis() {
    let (Some(host_redis), Some(spin_redis)) = (RedisServer::start(), RedisServer::start()) else {
        return;
    };
    differential([
        Some(host_redis.runtime_config_file()),
        Some(spin_redis.runtime_config_file()),
    ])
    .await;
}
