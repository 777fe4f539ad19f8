//! triage: turns stored feedback into a case, then hands the alert to dispatch; serves the
//! triage configuration API and the preview.
//!
//! Internal routes (internal token): `POST /v1/internal/triage/feedback/{id}` triages one piece
//! of feedback; `POST /v1/internal/triage/tick` triages everything still pending. The case, its
//! first events and the alert notice are written before the pending mark is removed and before
//! dispatch is called, and all of them have derived ids, so running twice changes nothing.
//!
//! Feedback triaged again (it changed) updates its case's triage and alerts no one a second
//! time; a new answer from a customer with an open case joins that case (contact frequency).
//!
//! Public routes (role admin: a personal admin key or the bootstrap `admin_token`): `POST /v1/triage/preview` triages a sample without storing
//! anything; `GET`/`PUT /v1/admin/triage/{rules,topics,calendars}` read and replace the
//! configuration, each its own record.

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::case::{Case, CaseEvent, EventKind};
use closeloop_edge::domain::envelope::{Pending, Ref};
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::triage::config::{
    self, CALENDARS_KEY, CustomTopics, PreviewInput, RULES_KEY, TOPICS_KEY, TeamCalendars,
};
use closeloop_edge::domain::triage::routing::{self, RuleSet};
use closeloop_edge::domain::triage::topics::{self, TopicRule};
use closeloop_edge::domain::triage::{TriageConfig, TriagePolicy, Triaged, triage_with};
use closeloop_edge::domain::{Timestamp, ids, keys};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, config as vars, projection, stage, timeline};
use serde_json::{Value, json};
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "triage";
/// How often a re-triage re-reads a case that an agent changed meanwhile before leaving it to
/// tick.
const RETRIAGE_ATTEMPTS: usize = 3;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, config::MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    match segments.as_slice() {
        ["v1", "internal", "triage", "feedback", id] => {
            log.route("/v1/internal/triage/feedback/:id");
            internal(req)?;
            triage_route(log, id)
        }
        ["v1", "internal", "triage", "tick"] => {
            log.route("/v1/internal/triage/tick");
            internal(req)?;
            tick(log)
        }
        ["v1", "triage", "preview"] => {
            log.route("/v1/triage/preview");
            admin(req, &[Method::Post])?;
            preview(req)
        }
        ["v1", "admin", "triage", what] => {
            log.route("/v1/admin/triage/:what");
            admin(req, &[Method::Get, Method::Put])?;
            configure(req, what)
        }
        _ => Err(http::not_found(&req.path)),
    }
}

fn internal(req: &Incoming) -> Result<(), Problem> {
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_bearer(&stage::internal_token()?)
}

/// The admin role, through a personal key or the bootstrap `admin_token` (see
/// `closeloop_edge::access`).
fn admin(req: &Incoming, methods: &[Method]) -> Result<(), Problem> {
    if !methods.contains(&req.method) {
        let names: Vec<String> = methods
            .iter()
            .map(|m| format!("{m:?}").to_uppercase())
            .collect();
        return Err(http::method_not_allowed(&names.join(", ")));
    }
    authenticate(req, &Kv::open()?)?.require(Role::Admin, "the triage configuration API")
}

fn policy() -> TriagePolicy {
    TriagePolicy {
        default_team: vars::optional("default_team").unwrap_or_else(|| "customer-success".into()),
    }
}

fn load_config(kv: &Kv) -> Result<TriageConfig, Problem> {
    Ok(config::compile(
        kv.get::<CustomTopics>(TOPICS_KEY)?,
        kv.get::<RuleSet>(RULES_KEY)?,
        kv.get::<TeamCalendars>(CALENDARS_KEY)?,
    ))
}

fn triage_route(log: &mut RequestLog, id: &str) -> Result<Handled, Problem> {
    log.field("feedback_id", id);
    let kv = Kv::open()?;
    let outcome = triage_one(&kv, &load_config(&kv)?, id, clock::now())?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no feedback {id}")))?;
    log.field("case_id", outcome.case_id.clone());
    log.field("outcome", outcome.kind);
    let body = json!({
        "case_id": outcome.case_id,
        "alert": outcome.notice.is_some(),
        "outcome": outcome.kind,
    });
    Ok(Handled::then(Reply::json(200, &body), move || {
        if let Some(notice) = outcome.notice {
            stage::notify_dispatch(COMPONENT, &notice);
        }
        projection::catch_up_logged(COMPONENT);
    }))
}

fn tick(log: &mut RequestLog) -> Result<Handled, Problem> {
    let kv = Kv::open()?;
    let config = load_config(&kv)?;
    let now = clock::now();
    let pending = kv.keys_with_prefix(keys::PENDING_TRIAGE)?;
    let mut triaged = 0;
    for key in &pending {
        let id = &key[keys::PENDING_TRIAGE.len()..];
        match triage_one(&kv, &config, id, now) {
            Ok(Some(outcome)) => {
                triaged += 1;
                if let Some(notice) = outcome.notice {
                    stage::notify_dispatch(COMPONENT, &notice);
                }
            }
            Ok(None) => kv.delete(key)?,
            // A case changed under us: left pending for the next tick.
            Err(p) if p.kind == ProblemKind::Conflict => {}
            Err(p) => return Err(p),
        }
    }
    log.field("triaged", triaged);
    Ok(Reply::json(200, &json!({"pending": pending.len(), "triaged": triaged})).into())
}

struct Outcome {
    case_id: String,
    /// `opened`, `retriaged` or `joined`.
    kind: &'static str,
    /// The alert notice dispatch must still take, if any.
    notice: Option<String>,
}

/// Triages one piece of feedback; `None` if it does not exist.
fn triage_one(
    kv: &Kv,
    config: &TriageConfig,
    feedback_id: &str,
    now: Timestamp,
) -> Result<Option<Outcome>, Problem> {
    let Some(feedback) = kv.get::<Feedback>(&keys::feedback(feedback_id))? else {
        return Ok(None);
    };
    let Triaged {
        mut triage,
        round_robin,
    } = triage_with(&feedback, &policy(), config, now);
    let fresh = Case::open(&feedback.id, feedback.received_at, triage.clone());
    let identity = config::customer_identity(&feedback.customer);
    let outcome = if let Some(existing) = kv.get::<Case>(&keys::case(&fresh.id))? {
        // Triaged before: by an earlier run that stopped before clearing the pending mark, or
        // because the feedback changed (a later event of the same response). Update the
        // triage, keep the state, history and owner; the alert notice id is derived from the
        // case, so no second alert (a first one if the new priority alerts and the old did not).
        let case = retriage(kv, existing, triage, now)?;
        let notice = alert_notice(kv, &case, now)?;
        Outcome {
            case_id: case.id,
            kind: "retriaged",
            notice,
        }
    } else if let Some(open) = open_case_of(kv, config, identity.as_deref())? {
        // Contact frequency: the customer already has an open case; the answer joins it.
        timeline::append(
            kv,
            &received_event(&feedback, &open.id, " (joined the customer's open case)"),
        )?;
        Outcome {
            case_id: open.id,
            kind: "joined",
            notice: None,
        }
    } else {
        if !round_robin.is_empty() {
            // One turn per case: a run that stops before the case is written takes another
            // turn when retried, which skips an owner once and loses nothing.
            let turn = kv.increment(&config::round_robin_key(&triage.team))?;
            if let Some(owner) = routing::take_turn(&round_robin, turn) {
                triage.assign(owner);
            }
        }
        let case = Case::open(&feedback.id, feedback.received_at, triage);
        timeline::append(kv, &received_event(&feedback, &case.id, ""))?;
        let opened = case.opened_event();
        timeline::append(kv, &opened)?;
        kv.put(&keys::case(&case.id), &case)?;
        if let Some(identity) = &identity {
            kv.put(
                &config::open_case_key(identity),
                &Ref {
                    id: case.id.clone(),
                },
            )?;
        }
        let notice = alert_notice(kv, &case, now)?;
        Outcome {
            case_id: case.id,
            kind: "opened",
            notice,
        }
    };
    projection::record_change(kv, &feedback.id, now)?;
    kv.delete(&keys::pending_triage(feedback_id))?;
    Ok(Some(outcome))
}

/// The customer's open case, when the contact-frequency rule is on.
fn open_case_of(
    kv: &Kv,
    config: &TriageConfig,
    identity: Option<&str>,
) -> Result<Option<Case>, Problem> {
    let Some(identity) = identity.filter(|_| config.rules.join_open_case) else {
        return Ok(None);
    };
    let Some(r) = kv.get::<Ref>(&config::open_case_key(identity))? else {
        return Ok(None);
    };
    Ok(kv
        .get::<Case>(&keys::case(&r.id))?
        .filter(|c| c.state.is_open()))
}

/// Writes the case's new triage with an event, unless nothing but the reasons and the triage
/// time changed. The change claims the case's version like any agent action, so it never
/// overwrites an agent's: when someone moved the case on meanwhile it is re-read and tried
/// again, and after [`RETRIAGE_ATTEMPTS`] the pending mark stays for tick. The owner a case
/// already has is kept.
fn retriage(
    kv: &Kv,
    mut case: Case,
    mut triage: closeloop_edge::domain::triage::Triage,
    now: Timestamp,
) -> Result<Case, Problem> {
    for _ in 0..RETRIAGE_ATTEMPTS {
        triage.routing.owner = case.triage.routing.owner.clone();
        let unchanged = {
            let mut a = case.triage.clone();
            a.triaged_at = triage.triaged_at;
            a.reasons.clone_from(&triage.reasons);
            a == triage
        };
        if unchanged {
            return Ok(case);
        }
        if kv.claim(&keys::case_claim(&case.id, case.version))? {
            let mut next = case.clone();
            next.version += 1;
            let detail = format!(
                "triaged again after the feedback changed: {} (was {}): {}",
                triage.priority.as_str(),
                case.triage.priority.as_str(),
                triage.reasons.join("; ")
            );
            next.triage = triage;
            let event = CaseEvent {
                id: ids::derived(now, &["retriaged", &next.id, &next.version.to_string()])
                    .to_string(),
                case_id: next.id.clone(),
                at: now,
                actor: COMPONENT.into(),
                kind: EventKind::Retriaged,
                from: Some(next.state),
                to: Some(next.state),
                detail,
            };
            timeline::append(kv, &event)?;
            kv.put(&keys::case(&next.id), &next)?;
            return Ok(next);
        }
        case = kv.get::<Case>(&keys::case(&case.id))?.ok_or_else(|| {
            Problem::new(ProblemKind::Internal, "a case disappeared during re-triage")
        })?;
    }
    Err(Problem::new(
        ProblemKind::Conflict,
        "the case kept changing during re-triage; tick will retry",
    ))
}

/// The case's alert notice, written once (its id is derived from the case): `Some` while
/// dispatch still has to take it, so a repeat hands over only what is still pending.
fn alert_notice(kv: &Kv, case: &Case, now: Timestamp) -> Result<Option<String>, Problem> {
    if !case.triage.alert {
        return Ok(None);
    }
    let notice = Notice::case_opened(case, now);
    let key = keys::notice(&notice.id);
    if !kv.exists(&key)? {
        kv.put(&key, &notice)?;
        kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
    }
    Ok(kv
        .exists(&keys::pending_notice(&notice.id))?
        .then_some(notice.id))
}

fn received_event_id(feedback: &Feedback) -> String {
    ids::derived(feedback.received_at, &["received", &feedback.id]).to_string()
}

fn received_event(feedback: &Feedback, case_id: &str, note: &str) -> CaseEvent {
    let score = feedback
        .score
        .map(|s| s.label())
        .unwrap_or_else(|| "no score".into());
    CaseEvent {
        id: received_event_id(feedback),
        case_id: case_id.to_owned(),
        at: feedback.received_at,
        actor: feedback.source.clone(),
        kind: EventKind::FeedbackReceived,
        from: None,
        to: None,
        detail: format!(
            "{score} from {} via {}{note}",
            feedback.customer.display_name(),
            feedback.source
        ),
    }
}

/// `POST /v1/triage/preview`: the triage a sample would get, with the stored configuration or
/// the rules given; nothing is stored and no round-robin turn is taken.
fn preview(req: &Incoming) -> Result<Handled, Problem> {
    let input: PreviewInput = req.json()?;
    let now = clock::now();
    let valid = input
        .feedback
        .validate(now)
        .map_err(|e| Problem::invalid(config::under("/feedback", e)))?;
    let feedback = valid.into_feedback(now);
    let kv = Kv::open()?;
    let mut config = load_config(&kv)?;
    let mut warnings = Vec::new();
    if let Some(rules) = &input.rules {
        let (rules, w) = routing::parse(rules, &|t| config.taxonomy.knows(t))
            .map_err(|e| Problem::invalid(config::under("/rules", e)))?;
        config.rules = rules;
        warnings = w;
    }
    let Triaged {
        triage,
        round_robin,
    } = triage_with(&feedback, &policy(), &config, now);
    let body = json!({
        "triage": triage,
        "round_robin": round_robin,
        "warnings": warnings,
        "stored": false,
    });
    Ok(Reply::json(200, &body).into())
}

/// `GET`/`PUT /v1/admin/triage/{rules,topics,calendars}`.
fn configure(req: &Incoming, what: &str) -> Result<Handled, Problem> {
    let kv = Kv::open()?;
    let put = req.method == Method::Put;
    let doc: Value = if put { req.json()? } else { Value::Null };
    let body = match what {
        "rules" if put => {
            let config = load_config(&kv)?;
            let (rules, warnings) = config::rules_input(&doc, &config.taxonomy)?;
            kv.put(RULES_KEY, &rules)?;
            json!({"rules": rules.rules.len(), "warnings": warnings})
        }
        "rules" => json!(kv.get::<RuleSet>(RULES_KEY)?.unwrap_or_default()),
        "topics" if put => {
            let custom = config::topics_input(&doc)?;
            kv.put(TOPICS_KEY, &custom)?;
            json!({"topics": custom.topics.len()})
        }
        "topics" => {
            let custom = kv.get::<CustomTopics>(TOPICS_KEY)?.unwrap_or_default();
            let defaults: Vec<TopicRule> = topics::default_topics();
            json!({"default": defaults, "custom": custom.topics})
        }
        "calendars" if put => {
            let calendars = config::calendars_input(&doc)?;
            kv.put(CALENDARS_KEY, &calendars)?;
            json!({"teams": calendars.teams.len()})
        }
        "calendars" => json!(kv.get::<TeamCalendars>(CALENDARS_KEY)?.unwrap_or_default()),
        _ => return Err(http::not_found(&req.path)),
    };
    Ok(Reply::json(200, &body).into())
}
