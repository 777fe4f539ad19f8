//! The workflows, run from a component: the fold's configuration from variables, submitting a
//! command to the log, answering a feedback command's verdict, handing the deliveries a fold
//! leased to this request to dispatch, and dispatch's outbox (hand-overs attempted, tick) over
//! Spin's store and providers.

use closeloop_domain::contact::QuietHours;
use closeloop_domain::delivery;
use closeloop_domain::followup::{self, FollowUpPolicy};
use closeloop_domain::link;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::triage::TriagePolicy;
use closeloop_workflow::fold::{Closeloop, Command, Context, Handover, Verdict};
use closeloop_workflow::log::{self, LogError, Submitted};
use closeloop_workflow::outbox_tick::{Outbox, Report};
use serde_json::json;

use crate::channels::{Courier, Records};
use crate::env::SpinEnv;
use crate::http::Reply;
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{config, log as logs, providers, stage};

/// How cases are triaged: the team that owns what no routing rule assigns.
pub fn policy() -> TriagePolicy {
    TriagePolicy {
        default_team: config::optional("default_team").unwrap_or_else(|| "customer-success".into()),
    }
}

/// The fold's configuration, from the variables (every component that submits commands maps
/// the same ones). A wrong optional value is logged and its default used.
pub fn context() -> Context {
    let days =
        |name: &str, default: u32| config::number(name, default.into()).min(u32::MAX.into()) as u32;
    let follow_up = FollowUpPolicy::new(
        days("reminder_after_days", followup::DEFAULT_REMINDER_AFTER_DAYS),
        days(
            "close_unconfirmed_after_days",
            followup::DEFAULT_CLOSE_AFTER_DAYS,
        ),
    )
    .unwrap_or_else(|why| {
        logs::error("the follow-up days are wrong; using the defaults", &why);
        FollowUpPolicy::default()
    });
    let customer_quiet_hours = config::optional("customer_quiet_hours").and_then(|text| {
        let parsed = QuietHours::parse(&text);
        if parsed.is_none() {
            logs::error("customer_quiet_hours is not HH:MM-HH:MM; ignored", &text);
        }
        parsed
    });
    Context {
        policy: policy(),
        channels: providers::configured(),
        follow_up,
        customer_quiet_hours,
        link_key: config::link_key(),
        link_ttl_hours: config::number("link_ttl_hours", link::DEFAULT_TTL_HOURS as u64) as i64,
        public_base_url: config::public_base_url(),
        delivery_timeout: std::time::Duration::from_millis(config::number(
            "delivery_timeout_ms",
            delivery::DEFAULT_TIMEOUT_MS,
        )),
    }
}

/// A folded command.
pub type Done = Submitted<Verdict, Handover>;

/// Submits `command` and waits for its verdict (see `closeloop_workflow::log`).
pub fn submit(kv: &Kv, command: Command) -> Result<Done, Problem> {
    let fold = Closeloop { ctx: context() };
    log::submit(kv.store(), &SpinEnv, &fold, command).map_err(|e| {
        logs::error("a command could not be folded", &e.to_string());
        Problem::from(e)
    })
}

/// The answer to a feedback command (canonical or a platform's event): 202 for new feedback,
/// 200 for an update or a duplicate, the problem of a refusal.
pub fn feedback_answer(log: &mut RequestLog, verdict: &Verdict) -> Reply {
    let (status, word, id) = match verdict {
        Verdict::Accepted { feedback_id, .. } => (202, "accepted", feedback_id),
        Verdict::Updated { feedback_id } => (200, "updated", feedback_id),
        Verdict::Duplicate { feedback_id } => (200, "duplicate", feedback_id),
        other => {
            let problem = other.problem().unwrap_or_else(|| {
                logs::error("a feedback command got another command's verdict", "");
                Problem::new(ProblemKind::Internal, "the feedback could not be taken")
            });
            return Reply::problem(&problem);
        }
    };
    log.field("feedback_id", id.clone());
    log.field("outcome", word);
    Reply::json(status, &json!({"feedback_id": id, "status": word}))
}

/// After the response: hands the deliveries this request's fold leased to it over to dispatch
/// (logged; tick attempts them once the lease runs out if the hand-over fails).
pub fn hand_over(component: &'static str, done: &Done) {
    let Some(handover) = &done.folded else { return };
    if handover.deliveries.is_empty() {
        return;
    }
    // Records are JSON envelopes, hence text; one that is not is left for dispatch to read.
    let records: std::collections::BTreeMap<&str, Option<&str>> = handover
        .records
        .iter()
        .filter_map(
            |(key, value)| match value.as_deref().map(std::str::from_utf8) {
                None => Some((key.as_str(), None)),
                Some(Ok(text)) => Some((key.as_str(), Some(text))),
                Some(Err(_)) => None,
            },
        )
        .collect();
    let body = json!({"token": handover.token, "deliveries": handover.deliveries,
        "records": records});
    stage::hand_over_logged(
        component,
        "dispatch_url",
        "http://dispatch.spin.internal",
        "/v1/internal/dispatch/deliveries",
        &body,
    );
}

/// Runs `work` on dispatch's outbox: Spin's store and clock, the fold, the providers (which
/// take `known` records as read).
fn on_outbox<T>(
    kv: &Kv,
    component: &'static str,
    known: Records,
    work: impl FnOnce(&Outbox) -> T,
) -> T {
    let fold = Closeloop { ctx: context() };
    let courier = Courier::new(kv, component, known);
    work(&Outbox {
        store: kv.store(),
        env: &SpinEnv,
        fold: &fold,
        courier: &courier,
    })
}

fn failed(what: &str, error: LogError) -> Problem {
    logs::error(what, &error.to_string());
    Problem::from(error)
}

/// Dispatch's tick (see `closeloop_workflow::outbox_tick`).
pub fn tick(kv: &Kv, component: &'static str) -> Result<Report, Problem> {
    on_outbox(kv, component, Records::new(), |o| o.tick())
        .map_err(|e| failed("the outbox tick failed", e))
}

/// Attempts the deliveries a fold leased to `token`, rendered from the records it handed over
/// with them (as [`hand_over`] sends them: text; after the response: logged).
pub fn attempt_handed_over(
    kv: &Kv,
    component: &'static str,
    token: &str,
    deliveries: &[String],
    records: std::collections::BTreeMap<String, Option<String>>,
) {
    let known: Records = (records.into_iter())
        .map(|(key, value)| (key, value.map(String::into_bytes)))
        .collect();
    match on_outbox(kv, component, known, |o| o.hand_over(token, deliveries)) {
        Ok(report) => logs::event(component, "hand-over attempted", json!(report)),
        Err(e) => {
            failed("a hand-over could not be settled; tick will", e);
        }
    }
}
