//! triage: the triage configuration API and its preview.
//!
//! Triage itself happens in the fold (`closeloop_workflow::fold`): new feedback is triaged as
//! it is stored, changed feedback triaged again, in the same write. This component serves what
//! admins set and try, for the admin role (a personal admin key or the bootstrap
//! `admin_token`):
//!
//! - `POST /v1/triage/preview`: the triage a sample would get, with the stored configuration
//!   or the rules given; nothing is stored and no round-robin turn is taken.
//! - `GET`/`PUT /v1/admin/triage/{rules,topics,calendars}`: read and replace the
//!   configuration, each its own record, which the next fold reads.

use closeloop_edge::access::authenticate;
use closeloop_edge::domain::access::Role;
use closeloop_edge::domain::problem::Problem;
use closeloop_edge::domain::triage::config::{
    self, CALENDARS_KEY, CustomTopics, PreviewInput, RULES_KEY, TOPICS_KEY, TeamCalendars,
};
use closeloop_edge::domain::triage::routing::{self, RuleSet};
use closeloop_edge::domain::triage::topics::{self, TopicRule};
use closeloop_edge::domain::triage::{TriageConfig, Triaged, triage_with};
use closeloop_edge::flow::store::decode;
use closeloop_edge::http::{self, Handled, Incoming, Reply};
use closeloop_edge::kv::Kv;
use closeloop_edge::log::RequestLog;
use closeloop_edge::{clock, workflow};
use serde_json::{Value, json};
use spin_sdk::http::{IncomingRequest, Method, ResponseOutparam};
use spin_sdk::http_component;

const COMPONENT: &str = "triage";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    http::serve(COMPONENT, req, out, config::MAX_BODY_BYTES, route);
}

fn route(req: &Incoming, log: &mut RequestLog) -> Result<Handled, Problem> {
    match req.segments().as_slice() {
        ["v1", "triage", "preview"] => {
            log.route("/v1/triage/preview");
            let kv = admin(req, &[Method::Post])?;
            preview(req, &kv)
        }
        ["v1", "admin", "triage", what] => {
            log.route("/v1/admin/triage/:what");
            let kv = admin(req, &[Method::Get, Method::Put])?;
            configure(req, &kv, what)
        }
        _ => Err(http::not_found(&req.path)),
    }
}

/// The admin role, through a personal key or the bootstrap `admin_token` (see
/// `closeloop_edge::access`); the store, opened.
fn admin(req: &Incoming, methods: &[Method]) -> Result<Kv, Problem> {
    if !methods.contains(&req.method) {
        let names: Vec<String> = methods
            .iter()
            .map(|m| format!("{m:?}").to_uppercase())
            .collect();
        return Err(http::method_not_allowed(&names.join(", ")));
    }
    let kv = Kv::open()?;
    authenticate(req, &kv)?.require(Role::Admin, "the triage configuration API")?;
    Ok(kv)
}

/// The stored configuration, in one read.
fn load_config(kv: &Kv) -> Result<TriageConfig, Problem> {
    let keys = [TOPICS_KEY, RULES_KEY, CALENDARS_KEY].map(str::to_owned);
    let [topics, rules, calendars]: [Option<Vec<u8>>; 3] = (kv.store().get_many(&keys)?)
        .try_into()
        .expect("one value per key");
    Ok(config::compile(
        topics.map(|b| decode(TOPICS_KEY, &b)).transpose()?,
        rules.map(|b| decode(RULES_KEY, &b)).transpose()?,
        calendars.map(|b| decode(CALENDARS_KEY, &b)).transpose()?,
    ))
}

/// `POST /v1/triage/preview`.
fn preview(req: &Incoming, kv: &Kv) -> Result<Handled, Problem> {
    let input: PreviewInput = req.json()?;
    let now = clock::now();
    let valid = input
        .feedback
        .validate(now)
        .map_err(|e| Problem::invalid(config::under("/feedback", e)))?;
    let feedback = valid.into_feedback(now);
    let mut config = load_config(kv)?;
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
    } = triage_with(&feedback, &workflow::policy(), &config, now);
    let body = json!({
        "triage": triage,
        "round_robin": round_robin,
        "warnings": warnings,
        "stored": false,
    });
    Ok(Reply::json(200, &body).into())
}

/// `GET`/`PUT /v1/admin/triage/{rules,topics,calendars}`.
fn configure(req: &Incoming, kv: &Kv, what: &str) -> Result<Handled, Problem> {
    let put = req.method == Method::Put;
    let doc: Value = if put { req.json()? } else { Value::Null };
    let body = match what {
        "rules" if put => {
            let (rules, warnings) = config::rules_input(&doc, &load_config(kv)?.taxonomy)?;
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
