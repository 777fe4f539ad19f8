//! `POST /v1/inbound/{postmark,resend,twilio}`: the customer's reply to a follow-up, by email
//! (Postmark's or Resend's inbound webhook) or by SMS (Twilio's incoming message webhook).
//!
//! Each webhook is authenticated as its provider documents before a byte of it is read as
//! data (`closeloop_domain::reply::{postmark, resend, twilio}`): a refusal is 401 and stores
//! nothing. The reply is matched to its case from reads (`closeloop_workflow::replies`: the
//! signed reply address for email, the number's latest follow-up for SMS) and folded; the
//! owner's alert is handed to dispatch after the answer. A provider whose secret variable is
//! empty is not set up: 404, saying which variable to set.
//!
//! Answers: 200 `{"status": "recorded" | "duplicate" | "ignored"}` for email (ignored: not a
//! reply to a follow-up, with the reason), 403 for a forged reply address (Postmark stops
//! retrying on 403); Twilio always gets empty TwiML on success, so nothing is texted back.
//! Resend's email is fetched from its API only once it is known to answer a follow-up; 503
//! while that API is down, so Resend retries.

use closeloop_domain::Timestamp;
use closeloop_domain::link::LinkKey;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::reply::{Provider, postmark, resend, twilio};
use closeloop_domain::sources::Delivery;
use closeloop_workflow::fold::Verdict;
use closeloop_workflow::replies::{self as intake, Intake, Matched};
use serde_json::json;
use spin_sdk::http::Method;

use crate::http::{self, Handled, Incoming, Reply};
use crate::kv::Kv;
use crate::log::RequestLog;
use crate::{clock, config, outbound, workflow};

const RESEND_API: &str = "https://api.resend.com";

/// The provider `name` names and its webhook's route pattern, if closeloop takes replies from
/// it.
pub fn route(name: &str) -> Option<(Provider, &'static str)> {
    let provider = Provider::parse(name)?;
    let pattern = match provider {
        Provider::Postmark => "/v1/inbound/postmark",
        Provider::Resend => "/v1/inbound/resend",
        Provider::Twilio => "/v1/inbound/twilio",
    };
    Some((provider, pattern))
}

/// Serves `POST /v1/inbound/{provider}` ([`route`]); `component` hands the owner's alert over.
/// Only Postmark's whole emails may be large: the others keep the webhook limit (413).
pub fn receive(
    component: &'static str,
    provider: Provider,
    req: &Incoming,
    log: &mut RequestLog,
) -> Result<Handled, Problem> {
    if req.method != Method::Post {
        return Err(http::method_not_allowed("POST"));
    }
    req.require_body_at_most(provider.max_body_bytes())?;
    let now = clock::now();
    let (kv, intake) = match provider {
        Provider::Postmark => from_postmark(req, log)?,
        Provider::Resend => from_resend(req, log, now)?,
        Provider::Twilio => from_twilio(req, log, now)?,
    };
    answer(component, log, &kv, intake, provider)
}

/// A provider's secret: without it, its replies are not taken (404 naming the variable).
fn setting(name: &str, provider: &str) -> Result<String, Problem> {
    config::optional(name).ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            format!("replies by {provider} are not set up: set the {name} variable"),
        )
    })
}

/// The key reply addresses are signed with; without it no email reply can be matched, which
/// the operator is told here (the provider only gets a generic 500).
fn email_key() -> Option<LinkKey> {
    let key = config::link_key();
    if key.is_none() {
        crate::log::error(
            "an email reply cannot be matched to its case",
            "link_signing_key is not set or too short",
        );
    }
    key
}

fn from_postmark(req: &Incoming, log: &mut RequestLog) -> Result<(Kv, Intake), Problem> {
    let password = setting("postmark_inbound_password", "Postmark")?;
    postmark::check_basic_auth(req.header("authorization"), &password)?;
    req.require_content_type("application/json")?;
    let email = postmark::parse(&req.body)?;
    log.field("message_id", email.message_id.clone());
    let kv = Kv::open()?;
    let key = email_key();
    let intake = match intake::email_case(kv.store(), key.as_ref(), Provider::Postmark, &email)? {
        Matched::Other(intake) => intake,
        Matched::Case(case_id) => {
            let words = email.text.as_deref().unwrap_or_default();
            intake::email_reply(Provider::Postmark, &email.message_id, &case_id, words)
        }
    };
    Ok((kv, intake))
}

fn from_resend(
    req: &Incoming,
    log: &mut RequestLog,
    now: Timestamp,
) -> Result<(Kv, Intake), Problem> {
    let secret = setting("resend_webhook_secret", "Resend")?;
    let delivery = Delivery {
        headers: req.headers(),
        body: &req.body,
        url_token: None,
    };
    resend::verify(&secret, &delivery, now)?;
    let kv = Kv::open()?;
    let email = match resend::parse_event(&req.body)? {
        resend::Event::Received(email) => email,
        resend::Event::Other(kind) => {
            let why = format!("the event {kind:?} is not an inbound email");
            return Ok((kv, Intake::Ignored(why)));
        }
    };
    log.field("message_id", email.message_id.clone());
    let key = email_key();
    let case_id = match intake::email_case(kv.store(), key.as_ref(), Provider::Resend, &email)? {
        Matched::Other(intake) => return Ok((kv, intake)),
        Matched::Case(case_id) => case_id,
    };
    // Only a reply to a follow-up is fetched: its text is not in the webhook.
    let api_key = config::required("resend_api_key")?;
    let api = config::optional("resend_api_url").unwrap_or_else(|| RESEND_API.into());
    let headers = [
        ("authorization", format!("Bearer {api_key}")),
        ("accept", "application/json".to_owned()),
    ];
    let url = resend::fetch_url(&api, &email.message_id);
    let fetched = outbound::get(
        &url,
        &headers,
        resend::FETCH_TIMEOUT,
        resend::MAX_FETCHED_BYTES + 1,
    );
    let words = resend::read_answer(fetched).map_err(|failure| {
        log.field("fetch_error", failure.why);
        failure.problem
    })?;
    let intake = intake::email_reply(Provider::Resend, &email.message_id, &case_id, &words);
    Ok((kv, intake))
}

/// The URLs Twilio may have signed: closeloop's public URL with this path and query, and the
/// URL Spin saw (they differ behind a proxy).
fn twilio_urls(req: &Incoming) -> Vec<String> {
    let path = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut urls = vec![format!("{}{path}", config::public_base_url())];
    if let Some(seen) = req.header("spin-full-url")
        && !urls.iter().any(|u| u == seen)
    {
        urls.push(seen.to_owned());
    }
    urls
}

fn from_twilio(
    req: &Incoming,
    log: &mut RequestLog,
    now: Timestamp,
) -> Result<(Kv, Intake), Problem> {
    let auth_token = setting("twilio_auth_token", "Twilio")?;
    req.require_content_type("application/x-www-form-urlencoded")?;
    let params = twilio::params(&req.body);
    let signature = req.header(twilio::SIGNATURE_HEADER);
    twilio::verify(&auth_token, signature, &twilio_urls(req), &params)?;
    let sms = twilio::parse(&params)?;
    log.field("message_id", sms.message_sid.clone());
    if sms.opt_out.is_some() {
        log.field("opt_out", true);
    }
    let kv = Kv::open()?;
    let intake = intake::sms(kv.store(), &sms, now)?;
    Ok((kv, intake))
}

/// The answer a provider expects: JSON for the email providers, empty TwiML for Twilio.
fn ok(provider: Provider, status: &str, reason: Option<&str>) -> Reply {
    match provider {
        Provider::Twilio => Reply::new(
            200,
            twilio::TWIML_CONTENT_TYPE,
            twilio::TWIML_EMPTY.as_bytes().to_vec(),
        ),
        Provider::Postmark | Provider::Resend => {
            let mut body = json!({ "status": status });
            if let Some(reason) = reason {
                body["reason"] = json!(reason);
            }
            Reply::json(200, &body)
        }
    }
}

/// Folds what the intake says to, and answers.
fn answer(
    component: &'static str,
    log: &mut RequestLog,
    kv: &Kv,
    intake: Intake,
    provider: Provider,
) -> Result<Handled, Problem> {
    let command = match intake {
        Intake::Ignored(reason) => {
            log.field("outcome", "ignored");
            log.field("reason", reason.clone());
            return Ok(ok(provider, "ignored", Some(&reason)).into());
        }
        Intake::Duplicate { case_id } => {
            log.field("case_id", case_id);
            log.field("outcome", "duplicate");
            return Ok(ok(provider, "duplicate", None).into());
        }
        Intake::Submit(command) => command,
    };
    let done = workflow::submit(kv, command)?;
    let (case_id, duplicate) = match &done.verdict {
        Verdict::Replied {
            case_id, duplicate, ..
        } => (case_id.clone(), *duplicate),
        refused => {
            return Err(refused.problem().unwrap_or_else(|| {
                Problem::new(ProblemKind::Internal, "the reply could not be recorded")
            }));
        }
    };
    let status = if duplicate { "duplicate" } else { "recorded" };
    log.field("case_id", case_id);
    log.field("outcome", status);
    let reply = ok(provider, status, None);
    Ok(Handled::then(reply, move || {
        workflow::hand_over(component, &done)
    }))
}
