//! Console: the inbox, a case page and the dashboard, and the API routes behind them, with a
//! large store (100,000 cases by default) against a small one (1,000), in the same run.
//!
//! Each store is seeded natively, not over HTTP: feedback spread over the last 90 days across
//! teams, sources, score kinds and comments, each triaged by the domain's `triage`, moved
//! along a real path of `Case::apply` (acknowledged, resolved, confirmed or reopened, closed
//! unconfirmed or without contact; recent and some older cases left open, many overdue), with
//! its timeline events and first alert, and the projections (metrics days, export id lists,
//! the case index) folded by `projection::project` in batches over a `MemorySource`; all is
//! written in bulk to a SQLite store in Spin's layout with the projector up to date. Then the
//! app runs on that file and every route is timed (warm-ups, then repetitions: p50, p90, max)
//! and each answer is checked (status, 50 cases in the inbox, the dashboard's volume equal to
//! the seeded count, nothing left to fold); a failed check exits non-zero. The last column is
//! the large store's p50 over the small one's: the point is that it stays near 1.
//!
//! Run: `cargo run --release -p closeloop-bench --bin console -- --cases 100000 [--small 1000]
//! [--reps 20] [--warmup 3]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use closeloop_bench::{arg, percentile};
use closeloop_domain::case::{Action, Case, CaseEvent, CustomerAnswer, RootCause};
use closeloop_domain::envelope::{self, Ref};
use closeloop_domain::feedback::{self, Customer, Feedback, ValidFeedback};
use closeloop_domain::projection::keys as projection_keys;
use closeloop_domain::projection::memory::MemorySource;
use closeloop_domain::score::{Score, ScoreKind};
use closeloop_domain::triage::{TriagePolicy, triage};
use closeloop_domain::{ids, keys};
use closeloop_e2e::client::{Response, request};
use closeloop_e2e::{ADMIN_TOKEN, AGENT_TOKEN, Closeloop, Options, Runtime};
use closeloop_workflow::fold::records::{CaseFile, case_file, case_file_page};
use serde_json::json;
use spin_test_host::KvHandle;

type Timestamp = DateTime<Utc>;

/// How many feedback ids one fold takes (and one bulk write holds).
const BATCH: usize = 5_000;
/// How many cases the inbox API is asked for.
const INBOX: usize = 50;
/// How many cases the console's inbox shows (`closeloop_console::client::INBOX_LIMIT`).
const CONSOLE_INBOX: usize = 200;

const TEAMS: [&str; 5] = [
    "front-desk",
    "billing",
    "customer-success",
    "csm",
    "support",
];
const SOURCES: [&str; 6] = [
    "typeform",
    "delighted",
    "tally",
    "formbricks",
    "hotel-survey",
    "qualtrics",
];
const COMMENTS: [Option<&str>; 14] = [
    Some("The room by the lift was noisy all night"),
    Some("Felt rushed, the dentist did not explain anything"),
    Some("Implementation took far too long and nobody called back"),
    Some("Lovely staff, spotless room, we will be back!"),
    Some("I was charged twice and still waiting for my refund"),
    Some("The app keeps crashing at checkout, so frustrating"),
    Some("Delivery arrived two days late and the box was damaged"),
    Some("Great value, but breakfast was cold"),
    Some("We are switching to another provider next month"),
    Some("Thanks to Dana at the front desk, she was wonderful"),
    Some("Waited forty minutes on the phone for support"),
    Some("The invoice was wrong again, please fix billing"),
    None,
    None,
];

/// A deterministic pseudo-random number for case `i` and purpose `salt` (splitmix64).
fn mix(i: usize, salt: u64) -> u64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What the bench knows of a seeded store, to check the app's answers against.
struct Seeded {
    path: PathBuf,
    keys: usize,
    bytes: u64,
    took: Duration,
    /// Feedback received on each day.
    per_day: BTreeMap<chrono::NaiveDate, usize>,
    /// Open cases (what the inbox lists).
    open: usize,
    /// Timeline length per case id, for the case pages checked.
    events: BTreeMap<String, usize>,
    /// The largest day aggregate written, in bytes (Spin hosts take values below 400 KB).
    largest_day: usize,
}

impl Seeded {
    fn volume_since(&self, from: chrono::NaiveDate) -> usize {
        self.per_day.range(from..).map(|(_, n)| n).sum()
    }
}

/// Feedback `i` of `n`, received within the last 90 days (today included) before `now`.
fn feedback_for(i: usize, n: usize, now: Timestamp) -> Feedback {
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let span = (now - midnight).num_seconds().max(1) as u64 + 89 * 86_400;
    let received = now - chrono::Duration::seconds((mix(i, 1) % span) as i64);
    let h = mix(i, 2);
    let score = match h % 10 {
        0..=6 => Score {
            kind: ScoreKind::Nps,
            value: (h >> 8) as i64 % 11,
            scale: 10,
        },
        7 | 8 => Score {
            kind: ScoreKind::Csat,
            value: 1 + (h >> 8) as i64 % 5,
            scale: 5,
        },
        _ => Score {
            kind: ScoreKind::Ces,
            value: 1 + (h >> 8) as i64 % 7,
            scale: 7,
        },
    };
    let customer = (h >> 20) as usize % (n / 3 + 1);
    let mut attributes = serde_json::Map::new();
    let tier = if (h >> 40).is_multiple_of(20) {
        "enterprise"
    } else {
        "standard"
    };
    attributes.insert("tier".into(), json!(tier));
    ValidFeedback {
        source: SOURCES[(h >> 4) as usize % SOURCES.len()].into(),
        external_id: format!("response-{i:07}"),
        submitted_at: received - chrono::Duration::seconds(30),
        customer: Customer {
            id: Some(format!("customer-{customer}")),
            email: Some(format!("customer{customer}@example.com")),
            name: Some(format!("Customer {customer}")),
            phone: None,
            attributes,
        },
        score,
        comment: COMMENTS[(h >> 12) as usize % COMMENTS.len()].map(str::to_owned),
        metadata: Default::default(),
    }
    .into_feedback(received)
}

/// The case of `f`, triaged for one of the teams and moved along a path chosen by `i`, with
/// its timeline. Actions dated after `now` are not taken, so recent cases are still open.
fn case_for(i: usize, f: &Feedback, now: Timestamp) -> (Case, Vec<CaseEvent>) {
    let h = mix(i, 3);
    let policy = TriagePolicy {
        default_team: TEAMS[h as usize % TEAMS.len()].into(),
    };
    let mut case = Case::open(&f.id, f.received_at, triage(f, &policy, f.received_at));
    let mut events = vec![case.opened_event()];
    let by = format!("agent-{}", (h >> 8) % 12);
    let minutes = chrono::Duration::minutes;
    let acknowledged = f.received_at + minutes(5 + (h >> 16) as i64 % 240);
    let resolved = acknowledged + minutes(60 + (h >> 24) as i64 % (48 * 60));
    let answered = resolved + minutes(120 + (h >> 32) as i64 % (36 * 60));
    let acknowledge = Action::Acknowledge {
        by: by.clone(),
        note: None,
    };
    let resolve = |summary: &str| Action::Resolve {
        by: by.clone(),
        summary: summary.into(),
        root_cause: RootCause::ALL[(h >> 40) as usize % RootCause::ALL.len()],
    };
    let answer = |resolved: bool, at: Timestamp| {
        Action::CustomerAnswer(CustomerAnswer {
            resolved,
            score: f.score.and_then(|s| s.answered_again(s.scale)),
            comment: None,
            answered_at: at,
        })
    };
    let path: Vec<(Action, Timestamp)> = match (h >> 48) % 100 {
        // Left new: overdue unless very recent.
        0..4 => vec![],
        4..8 => vec![(acknowledge, acknowledged)],
        8..10 => vec![
            (acknowledge, acknowledged),
            (
                Action::LogOutreach {
                    by: by.clone(),
                    channel: closeloop_domain::case::OutreachChannel::Phone,
                    outcome: closeloop_domain::case::OutreachOutcome::LeftMessage,
                    note: None,
                },
                acknowledged + minutes(30),
            ),
        ],
        // The customer said it was not solved: reopened.
        10..14 => vec![
            (acknowledge, acknowledged),
            (resolve("fixed"), resolved),
            (answer(false, answered), answered),
        ],
        // Reopened, then solved for good.
        14..16 => vec![
            (acknowledge, acknowledged),
            (resolve("fixed"), resolved),
            (answer(false, answered), answered),
            (resolve("really fixed"), answered + minutes(240)),
            (
                answer(true, answered + minutes(1440)),
                answered + minutes(1440),
            ),
        ],
        16..30 => vec![
            (acknowledge, acknowledged),
            (resolve("fixed"), resolved),
            (
                Action::ExpireUnconfirmed { after_days: 7 },
                resolved + chrono::Duration::days(7),
            ),
        ],
        30..34 => vec![(
            Action::CloseWithoutContact {
                by: by.clone(),
                reason: "a duplicate of another response".into(),
            },
            acknowledged,
        )],
        _ => vec![
            (acknowledge, acknowledged),
            (resolve("fixed"), resolved),
            (answer(true, answered), answered),
        ],
    };
    for (n, (action, at)) in path.into_iter().enumerate() {
        if at > now {
            break;
        }
        let event_id = ids::derived(at, &["bench", &case.id, &n.to_string()]).to_string();
        let (next, event) = case.apply(action, event_id, at).expect("a valid path");
        case = next;
        events.push(event);
    }
    (case, events)
}

/// Seeds `n` cases into `kv`, projections included, as the app would have written them.
fn seed(kv: &KvHandle, path: &Path, n: usize, now: Timestamp) -> Seeded {
    let started = Instant::now();
    let mut mem = MemorySource::default();
    let mut seeded = Seeded {
        path: path.to_owned(),
        keys: 0,
        bytes: 0,
        took: Duration::ZERO,
        per_day: BTreeMap::new(),
        open: 0,
        events: BTreeMap::new(),
        largest_day: 0,
    };
    let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
    for start in (0..n).step_by(BATCH) {
        let mut ids = Vec::with_capacity(BATCH);
        for i in start..(start + BATCH).min(n) {
            let f = feedback_for(i, n, now);
            let (case, events) = case_for(i, &f, now);
            *seeded
                .per_day
                .entry(f.received_at.date_naive())
                .or_default() += 1;
            seeded.open += usize::from(case.state.is_open());
            seeded.events.insert(case.id.clone(), events.len());
            writes.push((
                keys::feedback_ref(&feedback::dedup_digest(&f.source, &f.external_id)),
                envelope::encode(&Ref { id: f.id.clone() }),
            ));
            writes.push((keys::feedback(&f.id), envelope::encode(&f)));
            // The case's file, as the fold writes it: its latest events, older ones paged.
            let mut file = CaseFile::new(&case.id);
            for e in &events {
                if let Some((n, page)) = file.record(e.clone()) {
                    writes.push((case_file_page(&case.id, n), envelope::encode(&page)));
                }
            }
            if case.triage.alert {
                let at = f.received_at + chrono::Duration::seconds(5 + (mix(i, 4) % 55) as i64);
                file.alerted_at = Some(at);
                mem.alerted.insert(case.id.clone(), at);
            }
            writes.push((case_file(&case.id), envelope::encode(&file)));
            writes.push((keys::case(&case.id), envelope::encode(&case)));
            ids.push(f.id.clone());
            mem.feedback.insert(f.id.clone(), f);
            mem.cases.insert(case.id.clone(), case);
        }
        mem.fold(&ids);
        // What later folds need of this batch is in the days and the index: the records
        // themselves are written and dropped, so memory stays flat.
        for (id, p) in std::mem::take(&mut mem.projected) {
            writes.push((projection_keys::projected(&id), envelope::encode(&p)));
        }
        mem.feedback.clear();
        mem.cases.clear();
        mem.alerted.clear();
        seeded.keys += writes.len();
        kv.set_many(&writes);
        writes.clear();
    }
    for day in mem.days.values() {
        let value = envelope::encode(day);
        seeded.largest_day = seeded.largest_day.max(value.len());
        writes.push((projection_keys::day(day.date), value));
    }
    for ((date, chunk), ids) in &mem.day_ids {
        writes.push((
            projection_keys::day_ids(*date, *chunk),
            envelope::encode(ids),
        ));
    }
    for (id, chunk) in &mem.chunks {
        writes.push((projection_keys::index_chunk(*id), envelope::encode(chunk)));
    }
    writes.push((
        projection_keys::INDEX_ROOT.to_owned(),
        envelope::encode(&mem.root),
    ));
    seeded.keys += writes.len();
    kv.set_many(&writes);
    assert_eq!(mem.root.len(), n, "every case is in the index");
    seeded.took = started.elapsed();
    seeded.bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    seeded
}

/// One timed route: its name, and the latencies of its repetitions.
struct Timing {
    route: String,
    times: Vec<Duration>,
}

impl Timing {
    fn p(&self, q: f64) -> Duration {
        percentile(&self.times, q)
    }
}

/// The checks of one store, printed and counted; a failure makes the bench exit non-zero.
#[derive(Default)]
struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, store: &str, what: &str, ok: bool, detail: impl std::fmt::Display) {
        if !ok {
            self.failed += 1;
            println!("  CHECK FAILED [{store}] {what}: {detail}");
        }
    }
}

/// Signs in to the console through its form, as a browser does; the session cookie.
async fn sign_in(cl: &Closeloop, key: &str) -> Option<String> {
    let r = cl.console_sign_in(key).await;
    (r.status == 303)
        .then(|| r.cookie("closeloop_session"))
        .flatten()
}

/// Times `reps` GETs of `path` after `warmup` untimed ones; every answer must be a 200.
/// Returns the timing and the first answer, for the caller's checks.
async fn time_route(
    cl: &Closeloop,
    route: &str,
    path: &str,
    headers: &[(&str, &str)],
    (warmup, reps): (usize, usize),
    checks: &mut Checks,
    store: &str,
) -> (Timing, Response) {
    let url = cl.url(path);
    let mut first = None;
    let mut times = Vec::with_capacity(reps);
    for n in 0..warmup + reps {
        let started = Instant::now();
        let r = request("GET", &url, headers, Vec::new()).await;
        let took = started.elapsed();
        if r.status != 200 {
            checks.check(
                store,
                &format!("{route} answers 200"),
                false,
                format!(
                    "{} {}",
                    r.status,
                    r.text().chars().take(300).collect::<String>()
                ),
            );
        }
        if n >= warmup {
            times.push(took);
        }
        first.get_or_insert(r);
    }
    times.sort();
    (
        Timing {
            route: route.to_owned(),
            times,
        },
        first.expect("at least one request"),
    )
}

/// The number in `<div class="kpi-value">` of the dashboard's KPI `id`.
fn kpi(html: &str, id: &str) -> Option<i64> {
    let at = html.find(&format!("id=\"kpi-{id}\""))?;
    let rest = &html[at..];
    let value = rest.find("class=\"kpi-value\">")? + "class=\"kpi-value\">".len();
    rest[value..].split('<').next()?.trim().parse().ok()
}

/// Seeds a store of `n` cases, starts the app on it, times every route and checks the answers.
async fn run(n: usize, plan: (usize, usize), checks: &mut Checks) -> (Seeded, Vec<Timing>) {
    let cl = Closeloop::start_with(Runtime::Host, Options::on_sqlite).await;
    let path = cl.store_file().expect("a store file");
    let now: Timestamp = cl.now().into();
    let seeded = {
        let kv = cl.app.kv("default");
        tokio::task::spawn_blocking(move || seed(&kv, &path, n, now))
            .await
            .expect("seeding")
    };
    let store = format!("{n} cases");
    println!(
        "seeded {n} cases in {:.1} s: {} keys, {:.0} MB ({} open); largest day aggregate {:.0} KB",
        seeded.took.as_secs_f64(),
        seeded.keys,
        seeded.bytes as f64 / 1e6,
        seeded.open,
        seeded.largest_day as f64 / 1e3
    );
    let today = now.date_naive();
    let last30 = seeded.volume_since(today - chrono::Duration::days(29));
    let from90 = today - chrono::Duration::days(89);
    let agent = format!("Bearer {AGENT_TOKEN}");
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let api = [("authorization", agent.as_str())];
    let mut timings = Vec::new();

    // The inbox API; its most urgent case is the one whose page is timed.
    let (t, r) = time_route(
        &cl,
        "GET /v1/cases?limit=50",
        &format!("/v1/cases?limit={INBOX}"),
        &api,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let inbox = r.json();
    let listed = inbox["cases"].as_array().map_or(0, Vec::len);
    checks.check(
        &store,
        "every day aggregate fits a Spin value (400 KB)",
        seeded.largest_day < 400_000,
        seeded.largest_day,
    );
    checks.check(
        &store,
        "the inbox lists 50 cases",
        listed == INBOX.min(seeded.open),
        listed,
    );
    checks.check(
        &store,
        "the inbox's total is the open cases seeded",
        inbox["total"].as_u64() == Some(seeded.open as u64),
        format!("{} for {}", inbox["total"], seeded.open),
    );
    checks.check(
        &store,
        "the inbox has nothing left to fold",
        inbox["projection"]["behind"] == 0,
        &inbox["projection"],
    );
    let case_id = inbox["cases"][0]["id"].as_str().unwrap_or("").to_owned();

    let (t, r) = time_route(
        &cl,
        "GET /v1/cases/{id}",
        &format!("/v1/cases/{case_id}"),
        &api,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let view = r.json();
    let timeline = view["timeline"].as_array().map_or(0, Vec::len);
    checks.check(
        &store,
        "the case page shows the case and its whole timeline",
        view["case"]["id"] == case_id.as_str() && Some(&timeline) == seeded.events.get(&case_id),
        format!("{timeline} events for {case_id}"),
    );

    let (t, r) = time_route(
        &cl,
        "GET /v1/metrics",
        "/v1/metrics",
        &api,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let m = r.json();
    checks.check(
        &store,
        "the metrics' volume (30 days) is the feedback seeded in them",
        m["totals"]["volume"].as_u64() == Some(last30 as u64),
        format!("{} for {last30}", m["totals"]["volume"]),
    );
    checks.check(
        &store,
        "the metrics have nothing left to fold",
        m["projection"]["behind"] == 0,
        &m["projection"],
    );

    let (t, r) = time_route(
        &cl,
        "GET /v1/metrics?from=-90d&group_by=team",
        &format!("/v1/metrics?from={from90}&group_by=team"),
        &api,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let m = r.json();
    let by_team: u64 = m["groups"]["team"]
        .as_object()
        .map_or(0, |g| g.values().filter_map(|s| s["volume"].as_u64()).sum());
    checks.check(
        &store,
        "90 days' volume, in total and by team, is every case seeded",
        m["totals"]["volume"].as_u64() == Some(n as u64) && by_team == n as u64,
        format!("{} and {by_team} by team for {n}", m["totals"]["volume"]),
    );

    let (t, r) = time_route(
        &cl,
        "GET /v1/exports/cases.csv?limit=1000",
        "/v1/exports/cases.csv?limit=1000",
        &[("authorization", admin.as_str())],
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let rows = r.text().lines().count().saturating_sub(1);
    checks.check(
        &store,
        "the export's page holds 1,000 rows (or the 30 days' feedback)",
        rows == last30.min(1000),
        format!("{rows} rows for {}", last30.min(1000)),
    );

    let Some(session) = sign_in(&cl, AGENT_TOKEN).await else {
        checks.check(&store, "signing in to the console", false, "no session");
        return (seeded, timings);
    };
    let browser = [("cookie", session.as_str())];
    let (t, r) = time_route(
        &cl,
        "GET /console",
        "/console",
        &browser,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let shown = r.text().matches("href=\"/console/cases/").count();
    checks.check(
        &store,
        "the console's inbox shows its open cases",
        shown >= seeded.open.min(CONSOLE_INBOX) && r.text().contains(&case_id),
        format!("{shown} case links"),
    );

    let (t, r) = time_route(
        &cl,
        "GET /console/cases/{id}",
        &format!("/console/cases/{case_id}"),
        &browser,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    checks.check(
        &store,
        "the console's case page shows the case",
        r.text().contains(&case_id),
        r.status,
    );

    let (t, r) = time_route(
        &cl,
        "GET /console/dashboard",
        "/console/dashboard",
        &browser,
        plan,
        checks,
        &store,
    )
    .await;
    timings.push(t);
    let volume = kpi(&r.text(), "volume");
    checks.check(
        &store,
        "the dashboard's volume (30 days) is the feedback seeded in them",
        volume == Some(last30 as i64),
        format!("{volume:?} for {last30}"),
    );

    cl.app.shutdown().await;
    (seeded, timings)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let large = arg("--cases", 100_000).max(1);
    let small = arg("--small", 1_000).max(1);
    let reps = arg("--reps", 20).max(1);
    let warmup = arg("--warmup", 3);
    println!(
        "console: the inbox, a case page and the dashboard with {large} cases against {small}; \
         {warmup} warm-ups, then {reps} timed requests per route"
    );
    let mut checks = Checks::default();
    let (small_seeded, small_t) = run(small, (warmup, reps), &mut checks).await;
    let (large_seeded, large_t) = run(large, (warmup, reps), &mut checks).await;

    println!();
    println!(
        "{:<40} {:>21} {:>27} {:>9}",
        "route",
        format!("{small} cases (ms)"),
        format!("{large} cases (ms)"),
        "ratio"
    );
    println!(
        "{:<40} {:>7}{:>7}{:>7} {:>9}{:>9}{:>9} {:>9}",
        "", "p50", "p90", "max", "p50", "p90", "max", "p50"
    );
    for (s, l) in small_t.iter().zip(&large_t) {
        println!(
            "{:<40} {:>7}{:>7}{:>7} {:>9}{:>9}{:>9} {:>8.1}x",
            s.route,
            ms(s.p(0.5)),
            ms(s.p(0.9)),
            ms(s.p(1.0)),
            ms(l.p(0.5)),
            ms(l.p(0.9)),
            ms(l.p(1.0)),
            l.p(0.5).as_secs_f64() / s.p(0.5).as_secs_f64()
        );
    }
    println!(
        "seeding: {small} cases in {:.1} s, {large} cases in {:.1} s ({:.0} cases/s); store {} and {} keys",
        small_seeded.took.as_secs_f64(),
        large_seeded.took.as_secs_f64(),
        large as f64 / large_seeded.took.as_secs_f64(),
        small_seeded.keys,
        large_seeded.keys
    );
    for s in [&small_seeded, &large_seeded] {
        let _ = std::fs::remove_file(&s.path);
        let _ = std::fs::remove_file(s.path.with_extension("db-journal"));
    }
    if checks.failed > 0 {
        println!("{} checks failed", checks.failed);
        std::process::exit(1);
    }
    println!("every check passed");
}
