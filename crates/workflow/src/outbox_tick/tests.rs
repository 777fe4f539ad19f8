//! Dispatch's side of the loop against the fold, races included: hand-overs and ticks racing
//! each other, crashed first attempts, dead letters, escalations, digests, the write budget.

use std::sync::{Arc, Mutex};

use closeloop_domain::delivery::{AttemptError, ConfiguredChannels, MAX_ATTEMPTS};
use closeloop_domain::envelope;
use closeloop_domain::metrics::DayAggregate;
use closeloop_domain::projection::index::{ChunkRef, IndexEntry};
use serde_json::json;

use super::*;
use crate::fold::records::{self, CaseFile, DigestQueue};
use crate::fold::tests::{App, FIRST_ATTEMPT_LEASE_SECS, arrival, feedback, t0};
use crate::fold::{Context, Handover};
use crate::testing::{Schedule, spawn};

type Answer = Box<dyn Fn(&Delivery) -> Result<(), AttemptError> + Send + Sync>;
type Hook = Box<dyn FnOnce() + Send>;

/// Providers that record what they are sent and answer as told.
struct Providers {
    sent: Mutex<Vec<Delivery>>,
    answer: Answer,
    /// Runs inside the first send, before it answers (a race partner).
    during_first_send: Mutex<Option<Hook>>,
}

impl Providers {
    fn answering(
        answer: impl Fn(&Delivery) -> Result<(), AttemptError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            sent: Mutex::default(),
            answer: Box::new(answer),
            during_first_send: Mutex::default(),
        })
    }

    fn ok() -> Arc<Self> {
        Self::answering(|_| Ok(()))
    }

    fn sent(&self) -> Vec<Delivery> {
        self.sent.lock().unwrap().clone()
    }

    fn sent_of(&self, kind: NoticeKind) -> Vec<Delivery> {
        self.sent().into_iter().filter(|d| d.kind == kind).collect()
    }

    /// How often each delivery was sent, at most.
    fn most_sends_of_one(&self) -> usize {
        let sent = self.sent();
        sent.iter()
            .map(|d| sent.iter().filter(|e| e.id == d.id).count())
            .max()
            .unwrap_or(0)
    }
}

impl Courier for Providers {
    fn send(&self, delivery: &Delivery) -> Result<(), Failure> {
        let hook = self.during_first_send.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.sent.lock().unwrap().push(delivery.clone());
        // What a real courier renders: the kept message, or one naming the attempt.
        let rendered = (delivery.rendered.clone())
            .unwrap_or_else(|| json!({"rendered_at_attempt": delivery.attempts + 1}));
        (self.answer)(delivery).map_err(|error| Failure {
            error,
            rendered: Some(rendered),
        })
    }
}

fn app_with(change: impl FnOnce(&mut Context)) -> App {
    App::with(change)
}

fn outbox<'a>(app: &'a App, p: &'a Providers) -> Outbox<'a> {
    Outbox {
        store: app.store.as_ref(),
        env: &app.env,
        fold: app.fold.as_ref(),
        courier: p,
    }
}

/// Posts a detractor and returns its case and the fold's hand-over.
fn post(app: &App, external_id: &str, comment: &str) -> (String, Handover) {
    let done = app.submit(arrival(feedback(external_id, 2, comment)));
    let Verdict::Accepted {
        case_id: Some(case_id),
        ..
    } = done.verdict
    else {
        panic!("{:?}", done.verdict)
    };
    (case_id, done.folded.expect("the poster folded"))
}

/// A tick on its own thread, as a racing scheduler would call it.
fn tick_thread(app: &App, p: &Arc<Providers>, name: &str) -> std::thread::JoinHandle<Report> {
    let (store, env, fold, p) = (
        app.store.clone(),
        app.env.clone(),
        app.fold.clone(),
        p.clone(),
    );
    spawn(name, move || {
        Outbox {
            store: store.as_ref(),
            env: &env,
            fold: fold.as_ref(),
            courier: p.as_ref(),
        }
        .tick()
        .unwrap()
    })
}

fn race_ticks(app: &App, p: &Arc<Providers>, n: usize) -> Vec<Report> {
    let threads: Vec<_> = (0..n)
        .map(|i| tick_thread(app, p, &format!("tick-{i}")))
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn scheduled(app: &App) -> Vec<String> {
    let far = t0() + chrono::Duration::days(3650);
    outbox::due(app.store.as_ref(), far, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

fn file(app: &App, case_id: &str) -> CaseFile {
    app.record(&records::case_file(case_id)).unwrap()
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

#[test]
fn one_detractor_to_its_delivered_alert_on_one_channel_costs_three_writes() {
    let app = app_with(|c| {
        c.channels = ConfiguredChannels {
            slack: true,
            ..ConfiguredChannels::default()
        }
    });
    let p = Providers::ok();
    let (_, handover) = post(&app, "budget-1", "noisy");
    assert_eq!(handover.deliveries.len(), 1);
    assert_eq!(app.store.writes(), 2, "the ticket and the fold");
    let report = outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(app.store.writes(), 3, "and the first attempt's outcome");
}

#[test]
fn a_tick_that_finds_nothing_due_writes_nothing() {
    let app = App::new();
    let p = Providers::ok();
    let tick = |app: &App| {
        let writes = app.store.writes();
        let report = outbox(app, &p).tick().unwrap();
        (report, app.store.writes() - writes)
    };
    assert_eq!(tick(&app), (Report::default(), 0), "an empty app");

    let (_, handover) = post(&app, "quiet-1", "noisy");
    outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    // The first tick drops the delivered alerts from the schedule: ticket and fold.
    let (report, writes) = tick(&app);
    assert_eq!((report.delivered, writes), (0, 2), "{report:?}");
    assert!(scheduled(&app).is_empty());
    let (report, writes) = tick(&app);
    assert_eq!((report, writes), (Report::default(), 0));
    app.env.advance(chrono::Duration::hours(30));
    assert_eq!(tick(&app).1, 0, "nor later");
}

#[test]
fn a_retry_costs_two_writes_and_its_reconcile_two_more() {
    let app = app_with(|c| {
        c.channels = ConfiguredChannels {
            slack: true,
            ..ConfiguredChannels::default()
        }
    });
    let failing = Providers::answering(|_| {
        Err(AttemptError::Status {
            status: 500,
            retry_after_secs: None,
        })
    });
    let (_, handover) = post(&app, "retry-1", "noisy");
    outbox(&app, &failing)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    // Seen not due: put back at its next attempt (ticket and fold).
    let writes = app.store.writes();
    let report = outbox(&app, &failing).tick().unwrap();
    assert_eq!((report.not_due, app.store.writes() - writes), (1, 2));

    app.env.advance(chrono::Duration::minutes(5));
    let writes = app.store.writes();
    let report = outbox(&app, &Providers::ok()).tick().unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(
        app.store.writes() - writes,
        4,
        "the lease, the outcome, the reconcile's ticket and fold"
    );
}

#[test]
fn every_retry_sends_the_message_the_first_attempt_rendered() {
    let app = app_with(|c| {
        c.channels = ConfiguredChannels {
            slack: true,
            ..ConfiguredChannels::default()
        }
    });
    let timeout = || Providers::answering(|_| Err(AttemptError::Timeout));
    let (_, handover) = post(&app, "render-once-1", "noisy");
    let first = timeout();
    outbox(&app, &first)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    assert_eq!(first.sent()[0].rendered, None, "nothing kept yet");
    let kept = json!({"rendered_at_attempt": 1});
    for minutes in [5, 30] {
        app.env.advance(chrono::Duration::minutes(minutes));
        let again = timeout();
        assert_eq!(outbox(&app, &again).tick().unwrap().retrying, 1);
        assert_eq!(again.sent()[0].rendered.as_ref(), Some(&kept));
    }
    app.env.advance(chrono::Duration::hours(2));
    let ok = Providers::ok();
    assert_eq!(outbox(&app, &ok).tick().unwrap().delivered, 1);
    assert_eq!(ok.sent()[0].rendered.as_ref(), Some(&kept));
    let key = keys::delivery(&handover.deliveries[0]);
    let stored: Delivery = envelope::decode(&app.store.get(&key).unwrap().unwrap()).unwrap();
    assert_eq!(
        (stored.attempts, stored.rendered),
        (4, None),
        "dropped once final"
    );
}

#[test]
fn a_tick_racing_a_first_attempt_leaves_it_to_the_lease_holder() {
    let app = App::new();
    let (case_id, handover) = post(&app, "race-first", "noisy");
    let p = Providers::ok();
    // The tick runs while the first attempt is at the provider.
    let (store, env, fold, inner) = (
        app.store.clone(),
        app.env.clone(),
        app.fold.clone(),
        p.clone(),
    );
    let seen = Arc::new(Mutex::new(None));
    let report = seen.clone();
    *p.during_first_send.lock().unwrap() = Some(Box::new(move || {
        let r = Outbox {
            store: store.as_ref(),
            env: &env,
            fold: fold.as_ref(),
            courier: inner.as_ref(),
        }
        .tick()
        .unwrap();
        *report.lock().unwrap() = Some(r);
    }));
    let first = outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    assert_eq!(first.delivered, 2);
    let during = seen.lock().unwrap().clone().unwrap();
    assert_eq!((during.delivered, during.leased), (0, 2), "{during:?}");
    assert_eq!(p.sent().len(), 2, "each sent once");

    // Put back at the lease's end, when tick finds them delivered and drops them.
    app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS - 1));
    let writes = app.store.writes();
    outbox(&app, &p).tick().unwrap();
    assert_eq!(
        app.store.writes(),
        writes,
        "nothing due before the lease ends"
    );
    app.env.advance(secs(1));
    let report = outbox(&app, &p).tick().unwrap();
    assert_eq!(report.delivered, 0);
    assert!(scheduled(&app).is_empty());
    assert_eq!(p.sent().len(), 2);
    assert_eq!(file(&app, &case_id).alerted_at, Some(t0()));
}

#[test]
fn first_attempts_and_ticks_raced_for_real_send_each_delivery_once() {
    for round in 0..10 {
        let app = App::new();
        let p = Providers::ok();
        let (_, handover) = post(&app, &format!("race-{round}"), "noisy");
        let first = {
            let (store, env, fold, p) = (
                app.store.clone(),
                app.env.clone(),
                app.fold.clone(),
                p.clone(),
            );
            spawn("first", move || {
                Outbox {
                    store: store.as_ref(),
                    env: &env,
                    fold: fold.as_ref(),
                    courier: p.as_ref(),
                }
                .hand_over(&handover.token, &handover.deliveries)
                .unwrap()
            })
        };
        race_ticks(&app, &p, 3);
        first.join().unwrap();
        app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS));
        race_ticks(&app, &p, 2);
        assert_eq!(p.sent().len(), 2, "round {round}");
        assert_eq!(p.most_sends_of_one(), 1, "round {round}");
    }
}

#[test]
fn a_first_attempt_never_made_is_made_by_tick_once_its_lease_runs_out() {
    let app = App::new();
    let p = Providers::ok();
    // The poster died before handing over.
    let (case_id, _) = post(&app, "crashed", "noisy");
    let report = outbox(&app, &p).tick().unwrap();
    assert_eq!((report.leased, report.delivered), (2, 0));
    app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS / 2));
    let writes = app.store.writes();
    assert_eq!(outbox(&app, &p).tick().unwrap(), Report::default());
    assert_eq!(app.store.writes(), writes);
    app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS / 2));
    let report = outbox(&app, &p).tick().unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(p.sent().len(), 2);
    assert!(scheduled(&app).is_empty());
    let at = t0() + secs(FIRST_ATTEMPT_LEASE_SECS);
    assert_eq!(file(&app, &case_id).alerted_at, Some(at));
}

#[test]
fn two_ticks_racing_send_each_delivery_once_and_settle_it_once() {
    let app = App::new();
    let p = Providers::ok();
    let (case_id, _) = post(&app, "two-ticks", "noisy");
    app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS));
    // Both read the whole schedule and the deliveries (index root and chunk, digest
    // targets, slots, due slot, deliveries) before either attempts.
    let mut order = vec!["tick-0"; 6];
    order.extend(["tick-1"; 6]);
    order.push("tick-0");
    let schedule = Schedule::install(&app.store, &order);
    let reports = race_ticks(&app, &p, 2);
    assert!(schedule.remaining().is_empty(), "{:?}", schedule.trace());
    app.store.clear_hook();
    let delivered: usize = reports.iter().map(|r| r.delivered).sum();
    assert_eq!(delivered, 2, "{reports:?}");
    assert_eq!(p.sent().len(), 2);
    assert_eq!(p.most_sends_of_one(), 1);
    let alerted = file(&app, &case_id).alerted_at;
    assert_eq!(alerted, Some(t0() + secs(FIRST_ATTEMPT_LEASE_SECS)));

    // Whatever either put back is dropped by a later tick, which changes nothing else.
    app.env.advance(secs(RETRY_LEASE));
    outbox(&app, &p).tick().unwrap();
    assert!(scheduled(&app).is_empty());
    assert_eq!(file(&app, &case_id).alerted_at, alerted);
    let writes = app.store.writes();
    outbox(&app, &p).tick().unwrap();
    assert_eq!(app.store.writes(), writes);
}

const RETRY_LEASE: i64 = crate::attempt::RETRY_LEASE_SECS;

#[test]
fn a_dead_letter_tells_operations_once_however_often_it_is_seen() {
    let app = app_with(|c| c.channels.ops = true);
    // The webhook is gone for good; Slack fails until the attempts run out.
    let p = Providers::answering(|d| match (d.kind, d.channel.as_str()) {
        (NoticeKind::DeliveryFailed, _) => Ok(()),
        (_, "webhook") => Err(AttemptError::Status {
            status: 410,
            retry_after_secs: None,
        }),
        _ => Err(AttemptError::Timeout),
    });
    let (case_id, handover) = post(&app, "dead", "noisy");
    let report = outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    // The webhook's dead letter is told at once, by the request that attempted it.
    assert_eq!(
        (report.dead_lettered, report.operations),
        (1, 1),
        "{report:?}"
    );
    let told = p.sent_of(NoticeKind::DeliveryFailed);
    assert_eq!(told.len(), 1);
    let notice: Notice = app.record(&keys::notice(&told[0].notice_id)).unwrap();
    let about = notice.about.unwrap();
    assert!(
        about.contains("case-opened via webhook to configured"),
        "{about}"
    );
    assert!(
        about.contains(&case_id) && about.contains("HTTP 410"),
        "{about}"
    );

    for _ in 1..MAX_ATTEMPTS {
        app.env.advance(chrono::Duration::hours(2));
        race_ticks(&app, &p, 2);
    }
    let slack: Vec<Delivery> = p
        .sent_of(NoticeKind::CaseOpened)
        .into_iter()
        .filter(|d| d.channel.as_str() == "slack")
        .collect();
    assert_eq!(
        slack.len(),
        MAX_ATTEMPTS as usize,
        "attempted until it runs out"
    );
    // Seen again and again (the schedule, racing ticks): told once each.
    app.env.advance(chrono::Duration::hours(2));
    race_ticks(&app, &p, 3);
    let told = p.sent_of(NoticeKind::DeliveryFailed);
    assert_eq!(told.len(), 2, "{told:?}");
    let notices: Vec<Notice> = app.records("notice:");
    let failed = notices
        .iter()
        .filter(|n| n.kind == NoticeKind::DeliveryFailed)
        .count();
    assert_eq!(failed, 2);
    assert!(scheduled(&app).is_empty());
}

/// The front desk: Dana takes alerts; Lee and Max only escalations, in that order.
fn front_desk(app: &App, extra: serde_json::Value) {
    let email = |who: &str| json!([{"channel": "email", "address": format!("{who}@hotel.test")}]);
    let mut team = json!({
        "id": "front-desk",
        "members": [
            {"id": "dana", "name": "Dana", "endpoints": email("dana")},
            {"id": "lee", "name": "Lee", "alerts": false, "endpoints": email("lee")},
            {"id": "max", "name": "Max", "alerts": false, "endpoints": email("max")}
        ],
        "escalation": ["lee", "max"]
    });
    if let (Some(t), Some(extra)) = (team.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if k == "dana" {
                t["members"][0]
                    .as_object_mut()
                    .unwrap()
                    .extend(v.as_object().unwrap().clone());
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    let team: Team = serde_json::from_value(team).unwrap();
    app.store
        .seed(&dispatch_store::team("front-desk"), envelope::encode(&team));
}

fn sent_to(p: &Providers, member: &str) -> Vec<Delivery> {
    p.sent()
        .into_iter()
        .filter(|d| d.to.key().ends_with(&format!(".{member}")))
        .collect()
}

#[test]
fn escalation_goes_up_once_per_level_under_racing_ticks() {
    let app = App::new();
    front_desk(&app, json!({}));
    let p = Providers::ok();
    let (case_id, handover) = post(&app, "esc", "nobody answered");
    outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    assert_eq!(sent_to(&p, "dana").len(), 1);
    let case: Case = app.record(&keys::case(&case_id)).unwrap();
    let due = case.triage.first_response_due;
    app.env.advance(due - t0() - secs(1));
    assert_eq!(outbox(&app, &p).tick().unwrap().escalations, 0);

    app.env.advance(secs(1));
    let escalated: usize = race_ticks(&app, &p, 4).iter().map(|r| r.escalations).sum();
    assert_eq!(escalated, 1);
    assert_eq!(sent_to(&p, "lee").len(), 1);
    let (interval, _) = case.triage.priority.targets();
    app.env.advance(interval);
    let escalated: usize = race_ticks(&app, &p, 4).iter().map(|r| r.escalations).sum();
    assert_eq!(escalated, 1);
    assert_eq!(sent_to(&p, "max").len(), 1);
    assert_eq!(p.most_sends_of_one(), 1);

    // The chain has two levels: nothing more, and once settled a tick writes nothing.
    app.env.advance(chrono::Duration::days(1));
    assert_eq!(outbox(&app, &p).tick().unwrap().escalations, 0);
    let writes = app.store.writes();
    outbox(&app, &p).tick().unwrap();
    assert_eq!(app.store.writes(), writes);
    assert_eq!(sent_to(&p, "lee").len() + sent_to(&p, "max").len(), 2);
    let file = file(&app, &case_id);
    let said: Vec<&str> = file.events.iter().map(|e| e.detail.as_str()).collect();
    assert!(
        said.iter()
            .any(|d| d.ends_with("escalated to lee (team lead)")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|d| d.ends_with("escalated to max (manager)"))
    );
    assert_eq!(file.notices.len(), 3, "the alert and two escalations");
}

#[test]
fn a_team_without_a_chain_is_not_escalated() {
    let app = App::new();
    front_desk(&app, json!({"escalation": []}));
    let p = Providers::ok();
    post(&app, "no-chain", "noisy");
    app.env.advance(chrono::Duration::days(2));
    outbox(&app, &p).tick().unwrap();
    assert!(
        escalations_due(app.store.as_ref(), app.env.now())
            .unwrap()
            .is_empty()
    );
    let writes = app.store.writes();
    assert_eq!(outbox(&app, &p).tick().unwrap().escalations, 0);
    assert_eq!(
        app.store.writes(),
        writes,
        "nothing to write, nothing written"
    );
}

#[test]
fn a_tick_considers_at_most_max_escalation_scan_overdue_cases() {
    for (overdue, considered) in [
        (MAX_ESCALATION_SCAN, MAX_ESCALATION_SCAN),
        (MAX_ESCALATION_SCAN + 1, MAX_ESCALATION_SCAN),
    ] {
        let app = App::new();
        front_desk(&app, json!({}));
        let (case_id, _) = post(&app, "template", "noisy");
        let template: Case = app.record(&keys::case(&case_id)).unwrap();
        let fb = feedback("template", 2, "noisy");
        let mut entries: Vec<IndexEntry> = (0..overdue)
            .map(|i| {
                let mut case = template.clone();
                case.id = format!("case-{i:04}");
                app.store
                    .seed(&keys::case(&case.id), envelope::encode(&case));
                IndexEntry::of(&case, &fb)
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let chunks: Vec<IndexChunk> = entries
            .chunks(400)
            .map(|c| IndexChunk {
                entries: c.to_vec(),
            })
            .collect();
        let root = IndexRoot {
            chunks: chunks
                .iter()
                .enumerate()
                .map(|(i, c)| ChunkRef {
                    id: i as u64,
                    first: c.entries[0].key.clone(),
                    len: c.entries.len(),
                    open: c.entries.len(),
                    open_recovered: 0,
                    awaiting: 0,
                })
                .collect(),
            next_chunk: chunks.len() as u64,
        };
        for (i, c) in chunks.iter().enumerate() {
            app.store
                .seed(&projection_keys::index_chunk(i as u64), envelope::encode(c));
        }
        app.store
            .seed(projection_keys::INDEX_ROOT, envelope::encode(&root));
        let later = template.triage.first_response_due + secs(1);
        let due = escalations_due(app.store.as_ref(), later).unwrap();
        assert_eq!(due.len(), considered);
        assert_eq!(due[0], "case-0000");
    }
}

/// Sam gets one alert an hour; the rest goes to the daily digest.
fn sams_desk(app: &App) {
    front_desk(
        app,
        json!({"dana": {"max_alerts_per_hour": 1}, "escalation": []}),
    );
}

#[test]
fn a_digest_goes_once_per_recipient_and_local_day() {
    let app = App::new();
    sams_desk(&app);
    let p = Providers::ok();
    let (_, first) = post(&app, "d-1", "noisy");
    let (over, second) = post(&app, "d-2", "cold room");
    assert!(
        second.deliveries.is_empty(),
        "over the limit: to the digest"
    );
    outbox(&app, &p)
        .hand_over(&first.token, &first.deliveries)
        .unwrap();
    assert_eq!(sent_to(&p, "dana").len(), 1);

    // t0 is 09:30 UTC, past Dana's digest hour: the racing ticks send one digest.
    let digests: usize = race_ticks(&app, &p, 4).iter().map(|r| r.digests).sum();
    assert_eq!(digests, 1);
    let sent = p.sent_of(NoticeKind::Digest);
    assert_eq!(sent.len(), 1);
    let notice: Notice = app.record(&keys::notice(&sent[0].notice_id)).unwrap();
    assert_eq!(notice.cases, vec![over.clone()]);
    assert!(file(&app, &over).deliveries.contains(&sent[0].id));
    let dana = closeloop_domain::delivery::Target::Member {
        team: "front-desk".into(),
        member: "dana".into(),
    };
    let queue: DigestQueue = app.record(&records::digest_queue(&dana)).unwrap();
    assert!(queue.entries.is_empty(), "emptied");
    let targets: DigestTargets = app.record(DIGEST_TARGETS).unwrap();
    assert!(targets.targets.is_empty());

    // Another alert over the limit the same day waits for tomorrow's digest.
    app.env.advance(chrono::Duration::minutes(10));
    let (_, third) = post(&app, "d-3", "no towels");
    assert!(third.deliveries.is_empty(), "to the digest");
    assert!(!digests_due(app.store.as_ref(), app.env.now()).unwrap());
    assert_eq!(outbox(&app, &p).tick().unwrap().digests, 0);
    app.env.advance(chrono::Duration::hours(23));
    assert!(
        !digests_due(app.store.as_ref(), app.env.now()).unwrap(),
        "08:40"
    );
    app.env.advance(chrono::Duration::minutes(20));
    assert!(
        digests_due(app.store.as_ref(), app.env.now()).unwrap(),
        "09:00"
    );
    assert_eq!(outbox(&app, &p).tick().unwrap().digests, 1);
    assert_eq!(p.sent_of(NoticeKind::Digest).len(), 2);
    assert_eq!(p.most_sends_of_one(), 1);
}

#[test]
fn the_alert_latency_metric_follows_the_reconcile() {
    let app = App::new();
    let p = Providers::ok();
    let (_, handover) = post(&app, "latency", "noisy");
    app.env.advance(secs(7));
    outbox(&app, &p)
        .hand_over(&handover.token, &handover.deliveries)
        .unwrap();
    let day = |app: &App| -> DayAggregate {
        app.record(&projection_keys::day(t0().date_naive()))
            .unwrap()
    };
    assert_eq!(
        day(&app).cells["all"].count("alerts"),
        0,
        "not reconciled yet"
    );
    app.env.advance(chrono::Duration::minutes(1));
    outbox(&app, &p).tick().unwrap();
    let cell = day(&app).cells["all"].clone();
    assert_eq!(cell.count("alerts"), 1, "two channels, one first alert");
    let bucket = closeloop_domain::metrics::cell::bucket(7);
    assert_eq!(
        cell.hists["alert_latency"].get(&bucket),
        Some(&1),
        "{cell:?}"
    );
}

#[test]
fn a_tick_takes_at_most_max_due_per_tick_deliveries() {
    let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("gone-{i}")).collect() };
    for (n, ticks) in [(MAX_DUE_PER_TICK, 1), (MAX_DUE_PER_TICK + 1, 2)] {
        let app = App::new();
        let second = t0().timestamp();
        let slot = outbox::Slot {
            due: [(second, ids(n))].into(),
        };
        app.store
            .seed(&outbox::slot(second), envelope::encode(&slot));
        app.store.seed(
            outbox::SLOTS_KEY,
            envelope::encode(&outbox::Slots {
                seconds: vec![second],
            }),
        );
        let p = Providers::ok();
        for t in 1..=ticks {
            let report = outbox(&app, &p).tick().unwrap();
            assert_eq!(report.more, t < ticks, "{n}: tick {t}");
        }
        assert!(scheduled(&app).is_empty(), "{n}");
        let writes = app.store.writes();
        outbox(&app, &p).tick().unwrap();
        assert_eq!(app.store.writes(), writes);
    }
}

#[test]
fn seconds_that_share_a_slot_key_are_due_at_their_own_time() {
    let app = App::new();
    let p = Providers::ok();
    let (_, handover) = post(&app, "ring", "noisy");
    let [a, b] = [&handover.deliveries[0], &handover.deliveries[1]];
    assert_eq!(outbox::slot(0), outbox::slot(outbox::SLOT_RING));
    assert_ne!(outbox::slot(0), outbox::slot(outbox::SLOT_RING - 1));
    // Put b at the same key, one ring later, by hand: only a is due now.
    let later = t0().timestamp() + outbox::SLOT_RING;
    let key = outbox::slot(later);
    let mut slot: outbox::Slot = app.record(&key).unwrap();
    slot.due.clear();
    slot.due.insert(t0().timestamp(), vec![a.clone()]);
    slot.due.insert(later, vec![b.clone()]);
    app.store.seed(&key, envelope::encode(&slot));
    app.store.seed(
        outbox::SLOTS_KEY,
        envelope::encode(&outbox::Slots {
            seconds: vec![t0().timestamp(), later],
        }),
    );
    let due = outbox::due(app.store.as_ref(), t0() + secs(outbox::SLOT_RING - 1), 10).unwrap();
    assert_eq!(due.iter().map(|s| &s.id).collect::<Vec<_>>(), [a]);
    app.env.advance(secs(FIRST_ATTEMPT_LEASE_SECS));
    let report = outbox(&app, &p).tick().unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(scheduled(&app), vec![b.clone()]);
}

#[test]
fn commands_and_verdicts_keep_their_wire_form() {
    let command = Command::Reconcile {
        deliveries: vec![Seen {
            id: "d".into(),
            at: Some(5),
        }],
    };
    let wire = serde_json::to_value(&command).unwrap();
    assert_eq!(
        wire,
        json!({"command": "reconcile", "deliveries": [{"id": "d", "at": 5}]})
    );
    assert_eq!(
        serde_json::to_value(Command::Digests).unwrap(),
        json!({"command": "digests"})
    );
}
