//! followup: the agent API, the admin API, the customer's confirmation pages, and `POST /v1/tick`.
//!
//! - Agent API (a personal key, or the shared `agent_token`): `GET /v1/cases` (filtered, most
//!   urgent first), `GET /v1/cases/{id}` (with feedback and timeline), and `POST
//!   /v1/cases/{id}/{assign,acknowledge,outreach,notes,resolve,close,watchers}`. Assigning
//!   needs a team lead.
//! - Admin API ([`admin`], an admin key or `admin_token`): keys, the do-not-contact list, and a
//!   customer's data (export, erasure).
//! - Customer (signed link): `GET /v1/confirm/{token}` asks "is it resolved?", `POST` answers.
//! - `POST /v1/tick` (`Authorization: Bearer <tick_token>`): sends the one reminder, closes
//!   unanswered cases as unconfirmed, then re-drives triage and dispatch.
//!
//! A change of state claims `(case, version)` in the store before writing, so of two agents
//! acting at once exactly one wins; notes are events of their own and never conflict.

mod admin;
mod confirm;

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::{Principal, Role};
use closeloop_edge::domain::api::{
    self, AcknowledgeInput, AssignInput, CaseFilter, CaseSummary, CaseView, CloseInput, NoteInput,
    OutreachInput, ResolveInput, WatchInput,
};
use closeloop_edge::domain::case::{Action, Case, CaseState, EventKind};
use closeloop_edge::domain::contact::{self, QuietHours};
use closeloop_edge::domain::envelope::Pending;
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::followup::{self, FollowUpPolicy, FollowUpStep};
use closeloop_edge::domain::link::{LinkClaims, LinkKey};
use closeloop_edge::domain::notice::Notice;
use closeloop_edge::domain::problem::{Problem, ProblemKind};
use closeloop_edge::domain::{Timestamp, keys, link};
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::{self, RequestLog};
use closeloop_edge::{clock, config, projection, stage, timeline};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "followup";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, api::MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    let segments = req.segments();
    match (&req.method, segments.as_slice()) {
        (_, ["v1", "confirm", token]) => {
            log.route("/v1/confirm/:token");
            confirm::handle(req, token)
        }
        (Method::Post, ["v1", "tick"]) => {
            log.route("/v1/tick");
            req.require_bearer(&config::required("tick_token")?)?;
            Ok(tick().into())
        }
        (_, ["v1", "tick"]) => Err(http::method_not_allowed("POST")),
        (_, ["v1", "cases", rest @ ..]) => {
            let kv = Kv::open()?;
            let principal = authenticate(req, &kv)?;
            log.field("role", principal.role.as_str());
            principal.require(Role::Agent, "the agent API")?;
            agent(req, &kv, &principal, rest, log)
        }
        (_, ["v1", "admin", rest @ ..]) => {
            let kv = Kv::open()?;
            let principal = authenticate(req, &kv)?;
            log.field("role", principal.role.as_str());
            principal.require(Role::Admin, "the admin API")?;
            admin::handle(req, &kv, &principal, rest, log)
        }
        _ => Err(http::not_found(&req.path)),
    }
}

fn agent(
    req: &Incoming,
    kv: &Kv,
    principal: &Principal,
    rest: &[&str],
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    let now = clock::now();
    if let [id, ..] = rest {
        log.field("case_id", *id);
    }
    let act = |action: Action| -> Result<Handled, Problem> {
        let id = rest[0];
        let (case, notice) = transition(kv, id, principal.attribute(action), now)?;
        Ok(Handled::then(Reply::json(200, &case), move || {
            if let Some(notice) = notice {
                stage::notify_dispatch(COMPONENT, &notice.id);
            }
            projection::catch_up_logged(COMPONENT);
        }))
    };
    match (&req.method, rest) {
        (Method::Get, []) => {
            log.route("/v1/cases");
            list_cases(kv, req, now).map(Handled::from)
        }
        (Method::Get, [id]) => {
            log.route("/v1/cases/:id");
            view_case(kv, id).map(Handled::from)
        }
        (Method::Post, [_, "assign"]) => {
            log.route("/v1/cases/:id/assign");
            principal.require(Role::TeamLead, "assigning a case")?;
            act(req
                .json::<AssignInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [_, "acknowledge"]) => {
            log.route("/v1/cases/:id/acknowledge");
            act(req
                .json::<AcknowledgeInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [_, "outreach"]) => {
            log.route("/v1/cases/:id/outreach");
            act(req
                .json::<OutreachInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [_, "resolve"]) => {
            log.route("/v1/cases/:id/resolve");
            act(req
                .json::<ResolveInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [_, "close"]) => {
            log.route("/v1/cases/:id/close");
            act(req
                .json::<CloseInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [_, "watchers"]) => {
            log.route("/v1/cases/:id/watchers");
            act(req
                .json::<WatchInput>()?
                .into_action()
                .map_err(Problem::invalid)?)
        }
        (Method::Post, [id, "notes"]) => {
            log.route("/v1/cases/:id/notes");
            let (by, text, kind) = req
                .json::<NoteInput>()?
                .validate()
                .map_err(Problem::invalid)?;
            let case = load_case(kv, id)?;
            let event = case.remark(kind, &principal.actor(by), &text, clock::new_id(now), now);
            timeline::append(kv, &event)?;
            Ok(Reply::json(201, &event).into())
        }
        (_, [] | [_]) => Err(http::method_not_allowed("GET")),
        (
            _,
            [
                _,
                "assign" | "acknowledge" | "outreach" | "notes" | "resolve" | "close" | "watchers",
            ],
        ) => Err(http::method_not_allowed("POST")),
        _ => Err(http::not_found(&req.path)),
    }
}

/// Lists cases from the case index (most urgent first), reading only the cases shown.
fn list_cases(kv: &Kv, req: &Incoming, now: Timestamp) -> Result<Reply, Problem> {
    let filter = CaseFilter::from_query(&req.query).map_err(Problem::invalid)?;
    let progress = projection::catch_up(kv, projection::READ_WAIT)?;
    let root = projection::index_root(kv)?;
    let chunks: Vec<u64> = if filter.open_only() {
        root.open_chunks().collect()
    } else {
        root.chunks.iter().map(|c| c.id).collect()
    };
    let (mut total, mut recovered, mut page) = (0, 0, Vec::new());
    // Every open case: counted from the root, and only the chunks shown are read.
    let counted = filter.all_open();
    if counted {
        (total, recovered) = root.open_counts();
    }
    for id in chunks {
        if counted && page.len() >= filter.limit {
            break;
        }
        for entry in projection::index_chunk(kv, id)?.entries {
            if !filter.matches(&entry, now) {
                continue;
            }
            if !counted {
                total += 1;
                recovered += usize::from(entry.recovered);
            }
            if page.len() < filter.limit {
                page.push(entry);
            }
        }
    }
    let mut summaries = Vec::with_capacity(page.len());
    for entry in &page {
        let Some(case) = kv.get::<Case>(&keys::case(entry.case_id()))? else {
            continue;
        };
        let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
        summaries.push(CaseSummary::new(&case, feedback.as_ref(), now));
    }
    Ok(Reply::json(
        200,
        &json!({"cases": summaries, "total": total, "recovered_detractors": recovered,
                "projection": progress.to_json()}),
    ))
}

fn view_case(kv: &Kv, id: &str) -> Result<Reply, Problem> {
    let case = load_case(kv, id)?;
    let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
    let timeline = timeline::read(kv, &case.id)?;
    Ok(Reply::json(
        200,
        &CaseView {
            case,
            feedback,
            timeline,
        },
    ))
}

fn load_case(kv: &Kv, id: &str) -> Result<Case, Problem> {
    kv.get::<Case>(&keys::case(id))?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("there is no case {id}")))
}

/// Applies `action` to a case, writing first whatever the change promises (the notice it
/// needs), then the event, then the case.
fn transition(
    kv: &Kv,
    id: &str,
    action: Action,
    now: Timestamp,
) -> Result<(Case, Option<Notice>), Problem> {
    let case = load_case(kv, id)?;
    let (next, event) = case
        .apply(action, clock::new_id(now), now)
        .map_err(|e| Problem::new(ProblemKind::InvalidTransition, e.to_string()))?;
    if !kv.claim(&keys::case_claim(&case.id, case.version))? {
        return Err(Problem::new(
            ProblemKind::Conflict,
            "someone else changed this case at the same moment; reload it and try again",
        ));
    }
    let notice = match next.state {
        _ if next.state == case.state => None,
        CaseState::ResolvedAwaitingCustomer => customer_notice(
            kv,
            &next,
            Notice::customer_follow_up(&next, confirmation_link(&next, now)?, now),
            now,
        )?,
        CaseState::Reopened => Some(Notice::case_reopened(&next, now)),
        CaseState::ClosedConfirmed | CaseState::ClosedUnconfirmed
            if !closeloop_edge::domain::message::watchers(&next).is_empty() =>
        {
            Some(Notice::case_closed(&next, now))
        }
        _ => None,
    };
    if let Some(notice) = &notice {
        queue(kv, notice, now)?;
    }
    timeline::append(kv, &event)?;
    kv.put(&keys::case(&case.id), &next)?;
    projection::record_change(kv, &next.feedback_id, now)?;
    Ok((next, notice))
}

fn queue(kv: &Kv, notice: &Notice, now: Timestamp) -> Result<(), Problem> {
    kv.put(&keys::notice(&notice.id), notice)?;
    kv.put(&keys::pending_notice(&notice.id), &Pending { since: now })?;
    Ok(())
}

/// Applies the contact rules to a customer message: `None` (and an event saying why) for a
/// customer on the do-not-contact list; held until the end of the quiet hours inside them.
fn customer_notice(
    kv: &Kv,
    case: &Case,
    notice: Notice,
    now: Timestamp,
) -> Result<Option<Notice>, Problem> {
    let feedback = kv.get::<Feedback>(&keys::feedback(&case.feedback_id))?;
    let mut listed = false;
    if let Some(feedback) = &feedback {
        for digest in contact::customer_digests(&feedback.customer) {
            listed |= kv.exists(&keys::do_not_contact(&digest))?;
        }
    }
    let (notice, detail) = if listed {
        (
            None,
            format!(
                "no {} sent: the customer is on the do-not-contact list",
                notice.kind.as_str()
            ),
        )
    } else {
        match quiet_hours().and_then(|q| q.hold_until(now)) {
            Some(until) => (
                Some(notice.clone().hold_until(Some(until))),
                format!(
                    "{} held until {} (customer quiet hours)",
                    notice.kind.as_str(),
                    until.to_rfc3339()
                ),
            ),
            None => return Ok(Some(notice)),
        }
    };
    let event = case.remark(
        EventKind::ContactSuppressed,
        "closeloop",
        &detail,
        clock::new_id(now),
        now,
    );
    timeline::append(kv, &event)?;
    Ok(notice)
}

/// The configured quiet hours; unset means none, an unreadable value is logged and ignored.
fn quiet_hours() -> Option<QuietHours> {
    let text = config::optional("customer_quiet_hours")?;
    let parsed = QuietHours::parse(&text);
    if parsed.is_none() {
        eprintln!(
            "{{\"level\":\"error\",\"msg\":\"customer_quiet_hours is not HH:MM-HH:MM; ignored\"}}"
        );
    }
    parsed
}

fn link_key() -> Result<LinkKey, Problem> {
    LinkKey::new(&config::required("link_signing_key")?).ok_or_else(|| {
        eprintln!(
            "{{\"level\":\"error\",\"msg\":\"link_signing_key is shorter than {} bytes\"}}",
            link::MIN_KEY_BYTES
        );
        Problem::new(
            ProblemKind::Internal,
            "closeloop is not fully configured; the operator has been told",
        )
    })
}

fn confirmation_link(case: &Case, now: Timestamp) -> Result<String, Problem> {
    let ttl_hours = config::number("link_ttl_hours", link::DEFAULT_TTL_HOURS as u64) as i64;
    let claims = LinkClaims::new(&case.id, case.round, now, ttl_hours, clock::new_id(now));
    let token = link_key()?.sign(&claims);
    Ok(format!("{}/v1/confirm/{token}", config::public_base_url()))
}

/// Re-drives every stage and reports what each did; 503 if a stage could not be reached, so
/// that a scheduler notices.
fn tick() -> Reply {
    let mut status = 200;
    let mut report = serde_json::Map::new();
    // First the customer follow-ups, whose notices the dispatch tick below then delivers.
    match follow_up_sweep(clock::now()) {
        Ok(summary) => {
            report.insert("followup".into(), summary);
        }
        Err(problem) => {
            status = 503;
            report.insert("followup".into(), json!({"error": problem.detail}));
        }
    }
    for (name, variable, default) in [
        ("triage", "triage_url", "http://triage.spin.internal"),
        ("dispatch", "dispatch_url", "http://dispatch.spin.internal"),
    ] {
        let path = format!("/v1/internal/{name}/tick");
        let result = match stage::hand_over(variable, default, &path) {
            Ok((200, body)) => serde_json::from_slice(&body).unwrap_or(json!({})),
            Ok((code, _)) => {
                status = 503;
                json!({"error": format!("{name} answered HTTP {code}")})
            }
            Err(e) => {
                status = 503;
                json!({"error": format!("{name} could not be reached: {e}")})
            }
        };
        report.insert(name.to_owned(), result);
    }
    // Last, the metrics and the case index take in everything the stages above changed.
    match Kv::open().and_then(|kv| projection::catch_up(&kv, projection::READ_WAIT)) {
        Ok(progress) => {
            report.insert("projection".into(), progress.to_json());
        }
        Err(error) => {
            status = 503;
            log::event(
                COMPONENT,
                "projection catch-up failed",
                json!({"error": error.to_string()}),
            );
            report.insert(
                "projection".into(),
                json!({"error": "the projections could not be brought up to date; see the log"}),
            );
        }
    }
    Reply::json(status, &report)
}

/// The cases waiting for their customer's answer, found through the case index rather than
/// by reading every case.
fn awaiting_customer(kv: &Kv) -> Result<Vec<Case>, Problem> {
    let mut cases = Vec::new();
    for id in projection::cases_in_state(kv, CaseState::ResolvedAwaitingCustomer)? {
        if let Some(case) = kv.get::<Case>(&keys::case(&id))? {
            cases.push(case);
        }
    }
    Ok(cases)
}

/// The reminder and close days from `reminder_after_days` and `close_unconfirmed_after_days`;
/// a wrong configuration is logged and the defaults apply.
fn follow_up_policy() -> FollowUpPolicy {
    let days =
        |name: &str, default: u32| config::number(name, default.into()).min(u32::MAX.into()) as u32;
    FollowUpPolicy::new(
        days("reminder_after_days", followup::DEFAULT_REMINDER_AFTER_DAYS),
        days(
            "close_unconfirmed_after_days",
            followup::DEFAULT_CLOSE_AFTER_DAYS,
        ),
    )
    .unwrap_or_else(|why| {
        eprintln!(
            "{}",
            json!({"level": "error", "msg": format!("{why}; using the defaults")})
        );
        FollowUpPolicy::default()
    })
}

/// Sends each awaiting case its one reminder, and closes as unconfirmed those whose customer
/// never answered. Both are claimed, so ticks racing each other act once.
fn follow_up_sweep(now: Timestamp) -> Result<serde_json::Value, Problem> {
    let kv = Kv::open()?;
    let policy = follow_up_policy();
    let (mut reminded, mut closed, mut conflicts) = (0, 0, 0);
    for case in awaiting_customer(&kv)? {
        match policy.due(&case, now) {
            FollowUpStep::Nothing => {}
            FollowUpStep::Remind => {
                if !kv.claim(&keys::reminder_claim(&case.id, case.round))? {
                    continue;
                }
                let reminder =
                    Notice::customer_reminder(&case, confirmation_link(&case, now)?, now);
                let event = case.remark(
                    EventKind::ReminderQueued,
                    "closeloop",
                    &format!(
                        "no answer after {} days: one reminder queued",
                        policy.reminder_after_days
                    ),
                    clock::new_id(now),
                    now,
                );
                timeline::append(&kv, &event)?;
                if let Some(reminder) = customer_notice(&kv, &case, reminder, now)? {
                    queue(&kv, &reminder, now)?;
                }
                reminded += 1;
            }
            FollowUpStep::CloseUnconfirmed => {
                let action = Action::ExpireUnconfirmed {
                    after_days: policy.close_after_days,
                };
                match transition(&kv, &case.id, action, now) {
                    Ok(_) => closed += 1,
                    Err(p) if p.status() == 409 => conflicts += 1,
                    Err(p) => return Err(p),
                }
            }
        }
    }
    if reminded + closed > 0 {
        log::event(
            COMPONENT,
            "follow-up sweep",
            json!({"reminded": reminded, "closed_unconfirmed": closed}),
        );
    }
    Ok(json!({"reminded": reminded, "closed_unconfirmed": closed, "conflicts": conflicts}))
}
