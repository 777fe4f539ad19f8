//! From a delivery to the provider request: what to say, where, with which credentials; and
//! the [`Courier`] dispatch's outbox sends through.
//!
//! Endpoints are resolved at send time (from the directory or the variables), so a delivery
//! record never holds a URL, key, address or phone number; the request built here lives only
//! for the call.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use closeloop_domain::alert_action::{self, QuickAction};
use closeloop_domain::case::{Case, CaseState};
use closeloop_domain::delivery::{self, AttemptError, Channel, Delivery, Failure, Target};
use closeloop_domain::dispatch::directory::{Endpoint, Team, Templates};
use closeloop_domain::dispatch::providers::{self, EmailProvider, Provider, ProviderRequest};
use closeloop_domain::dispatch::render::{self, Alert};
use closeloop_domain::dispatch::signing::WebhookSecret;
use closeloop_domain::dispatch::store::{self, GoneEndpoint};
use closeloop_domain::dispatch::{escalation, incident};
use closeloop_domain::envelope::Record;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::link::{self, LinkKey};
use closeloop_domain::message::{self, MessageContext};
use closeloop_domain::notice::{Notice, NoticeKind};
use closeloop_domain::reply::token;
use closeloop_domain::{Timestamp, keys};
use closeloop_workflow::attempt::Outcome;
use closeloop_workflow::outbox_tick;
use closeloop_workflow::store::{StoreError, decode};
use serde_json::{Value, json};
use spin_sdk::http::Method;

use crate::kv::Kv;
use crate::outbound::{self, OutboundError};
use crate::providers::{email_provider, twilio};
use crate::{clock, config, log};

const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com";

/// Records by key (`None`: known to be absent).
pub type Records = HashMap<String, Option<Vec<u8>>>;

/// The records a courier reads to send, each read once (the deliveries of one hand-over share
/// their notice, case, feedback and team, and on Redis every read is a round trip), starting
/// from those the fold handed over.
struct Reads<'a> {
    kv: &'a Kv,
    seen: RefCell<HashMap<String, Option<Vec<u8>>>>,
    /// The variables rendering and sending use, read at the first delivery.
    settings: OnceCell<Settings>,
}

/// The variables every delivery's rendering and sending read, read once per courier.
struct Settings {
    base_url: String,
    /// The Slack app is set up: Slack's buttons act in place.
    slack_actions: bool,
    link_key: Option<LinkKey>,
    link_ttl_hours: i64,
    reply_to_address: Option<String>,
    timeout: Duration,
}

impl Reads<'_> {
    fn settings(&self) -> &Settings {
        self.settings.get_or_init(|| {
            let link = config::number("link_ttl_hours", link::DEFAULT_TTL_HOURS as u64);
            Settings {
                base_url: config::public_base_url(),
                slack_actions: config::optional("slack_signing_secret").is_some(),
                link_key: config::link_key(),
                link_ttl_hours: link as i64,
                reply_to_address: config::optional("reply_to_address"),
                timeout: Duration::from_millis(config::number(
                    "delivery_timeout_ms",
                    delivery::DEFAULT_TIMEOUT_MS,
                )),
            }
        })
    }
}

impl Reads<'_> {
    fn get<T: Record>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let cached = self.seen.borrow().get(key).cloned();
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let bytes = self.kv.store().get(key)?;
                self.seen.borrow_mut().insert(key.to_owned(), bytes.clone());
                bytes
            }
        };
        bytes.map(|b| decode(key, &b)).transpose()
    }
}

/// The directory team a case belongs to, if it is in the directory.
fn team_of(kv: &Reads<'_>, case: &Case) -> Result<Option<Team>, StoreError> {
    kv.get::<Team>(&store::case_team(case))
}

/// The endpoint a directory target has on `channel`.
fn directory_endpoint(
    kv: &Reads<'_>,
    target: &Target,
    channel: Channel,
) -> Result<Endpoint, AttemptError> {
    let team = store::target_team(target)
        .map(|key| kv.get::<Team>(&key))
        .transpose()
        .map_err(|e| AttemptError::Connection(e.to_string()))?
        .flatten()
        .ok_or(AttemptError::NotConfigured)?;
    let endpoints = match target {
        Target::Team { .. } => &team.endpoints,
        Target::Member { member, .. } => {
            &team
                .member(member)
                .ok_or(AttemptError::NotConfigured)?
                .endpoints
        }
        _ => return Err(AttemptError::NotConfigured),
    };
    endpoints
        .iter()
        .find(|e| e.channel() == channel)
        .cloned()
        .ok_or(AttemptError::NotConfigured)
}

/// Where a delivery goes, with the secret that reaches it.
enum Destination {
    Url(String),
    SignedWebhook {
        url: String,
        secret: Option<WebhookSecret>,
    },
    Email(String),
    Phone(String),
    PagerDuty(String),
}

fn destination(
    kv: &Reads<'_>,
    delivery: &Delivery,
    feedback: Option<&Feedback>,
) -> Result<Destination, AttemptError> {
    let var = |name: &str| config::optional(name).ok_or(AttemptError::NotConfigured);
    let secret = |s: Option<String>| {
        s.map(|s| WebhookSecret::parse(&s).map_err(|_| AttemptError::NotConfigured))
            .transpose()
    };
    Ok(match (&delivery.to, delivery.channel) {
        (Target::Configured, Channel::Slack) => Destination::Url(var("slack_webhook_url")?),
        (Target::Configured, Channel::Teams) => Destination::Url(var("teams_webhook_url")?),
        (Target::Configured, Channel::Webhook) => Destination::SignedWebhook {
            url: var("alert_webhook_url")?,
            secret: secret(config::optional("alert_webhook_secret"))?,
        },
        (Target::Configured, Channel::CustomerWebhook) => Destination::SignedWebhook {
            url: var("customer_webhook_url")?,
            secret: secret(config::optional("customer_webhook_secret"))?,
        },
        (Target::Configured, Channel::PagerDuty) => {
            Destination::PagerDuty(var("pagerduty_routing_key")?)
        }
        (Target::Operations, Channel::Slack) => Destination::Url(var("ops_slack_webhook_url")?),
        (Target::Customer, Channel::Email) => Destination::Email(
            feedback
                .and_then(|f| f.customer.email.clone())
                .ok_or(AttemptError::NotConfigured)?,
        ),
        (Target::Customer, Channel::Sms) => Destination::Phone(
            feedback
                .and_then(|f| f.customer.phone.clone())
                .ok_or(AttemptError::NotConfigured)?,
        ),
        (target @ (Target::Team { .. } | Target::Member { .. }), channel) => {
            match directory_endpoint(kv, target, channel)? {
                Endpoint::Slack { webhook_url } | Endpoint::Teams { webhook_url } => {
                    Destination::Url(webhook_url.expose().to_owned())
                }
                Endpoint::Email { address } => Destination::Email(address),
                Endpoint::Sms { phone } => Destination::Phone(phone),
                Endpoint::Webhook { url, secret } => Destination::SignedWebhook {
                    url,
                    secret: Some(
                        WebhookSecret::parse(secret.expose())
                            .map_err(|_| AttemptError::NotConfigured)?,
                    ),
                },
                Endpoint::PagerDuty { routing_key } => {
                    Destination::PagerDuty(routing_key.expose().to_owned())
                }
            }
        }
        _ => return Err(AttemptError::NotConfigured),
    })
}

/// Everything a message is rendered from, loaded from the store.
struct Loaded {
    notice: Notice,
    case: Option<Case>,
    feedback: Option<Feedback>,
}

fn load_error(e: StoreError) -> AttemptError {
    AttemptError::Connection(e.to_string())
}

fn load(kv: &Reads<'_>, delivery: &Delivery) -> Result<Loaded, AttemptError> {
    let missing =
        |what: &str| AttemptError::Connection(format!("{what} of the delivery is missing"));
    let notice = kv
        .get::<Notice>(&keys::notice(&delivery.notice_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the notice"))?;
    if !notice.kind.is_about_a_case() {
        return Ok(Loaded {
            notice,
            case: None,
            feedback: None,
        });
    }
    let case = kv
        .get::<Case>(&keys::case(&delivery.case_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the case"))?;
    let feedback = kv
        .get::<Feedback>(&keys::feedback(&case.feedback_id))
        .map_err(load_error)?
        .ok_or_else(|| missing("the feedback"))?;
    Ok(Loaded {
        notice,
        case: Some(case),
        feedback: Some(feedback),
    })
}

/// Why a message is no longer wanted, if it is not.
fn obsolete(delivery: &Delivery, loaded: &Loaded) -> Option<AttemptError> {
    let case = loaded.case.as_ref()?;
    if delivery.channel == Channel::PagerDuty && !incident::still_wanted(&loaded.notice, case) {
        // A trigger once the case was taken up or done with would open an incident nothing
        // resolves; an update of an earlier episode would touch the reopened case's incident.
        return Some(AttemptError::Obsolete(format!(
            "PagerDuty no longer needs it: the case is {}{}",
            case.state.as_str(),
            if case.reopen_count > 0 {
                format!(" (reopened {} time(s))", case.reopen_count)
            } else {
                String::new()
            }
        )));
    }
    match loaded.notice.kind {
        kind if kind.is_customer_message() && case.state != CaseState::ResolvedAwaitingCustomer => {
            Some(AttemptError::Obsolete(format!(
                "the case is {}",
                case.state.as_str()
            )))
        }
        NoticeKind::Escalation if !escalation::still_wanted(case) => Some(AttemptError::Obsolete(
            "the case was acknowledged".to_owned(),
        )),
        _ => None,
    }
}

fn alert(kv: &Reads<'_>, loaded: &Loaded, base_url: &str, templates: &Templates) -> Alert {
    match (&loaded.case, &loaded.feedback) {
        (Some(case), Some(feedback)) => {
            let ctx = MessageContext {
                notice: &loaded.notice,
                case,
                feedback,
                base_url,
            };
            render::case_alert(&ctx, loaded.notice.level, templates)
        }
        _ if loaded.notice.kind == NoticeKind::Digest => {
            let items = loaded
                .notice
                .cases
                .iter()
                .map(|id| {
                    let case = kv.get::<Case>(&keys::case(id)).ok().flatten();
                    let headline = case
                        .map(|c| {
                            let who = kv
                                .get::<Feedback>(&keys::feedback(&c.feedback_id))
                                .ok()
                                .flatten()
                                .map(|f| f.customer.display_name().to_owned())
                                .unwrap_or_else(|| "a customer".into());
                            format!(
                                "{} from {who} ({})",
                                c.triage.priority.as_str(),
                                c.state.as_str()
                            )
                        })
                        .unwrap_or_else(|| format!("case {id}"));
                    render::DigestItem {
                        headline,
                        url: message::case_page_url(base_url, id),
                    }
                })
                .collect();
            render::digest(items, loaded.notice.created_at)
        }
        _ => render::operations(
            loaded
                .notice
                .about
                .as_deref()
                .unwrap_or("a delivery was given up"),
            loaded
                .notice
                .cases
                .first()
                .map(|id| message::case_page_url(base_url, id)),
            loaded.notice.created_at,
        ),
    }
}

/// The message for `delivery` on its channel, rendered from the records as they are now: a
/// JSON body (Slack, Teams, webhooks, PagerDuty), an email's parts, or an SMS text.
fn render(
    kv: &Reads<'_>,
    delivery: &Delivery,
    loaded: &Loaded,
    dest: &Destination,
) -> Result<Value, AttemptError> {
    if loaded.notice.kind.is_incident_update() {
        // PagerDuty's acknowledge or resolve: the trigger's dedup key (and, in the request,
        // the routing key of the endpoint it paged; request() refuses any other destination).
        return Ok(render::pagerduty_update(
            loaded.notice.kind,
            &delivery.case_id,
        ));
    }
    let settings = kv.settings();
    let base_url = &settings.base_url;
    let templates = match &loaded.case {
        Some(case) => team_of(kv, case)
            .map_err(load_error)?
            .map(|t| t.templates)
            .unwrap_or_default(),
        None => Templates::default(),
    };
    let follow_up = loaded.notice.kind.is_customer_message();
    let ctx = match (&loaded.case, &loaded.feedback) {
        (Some(case), Some(feedback)) => Some(MessageContext {
            notice: &loaded.notice,
            case,
            feedback,
            base_url,
        }),
        _ => None,
    };
    let mut a = alert(kv, loaded, base_url, &templates);
    a.slack_actions = settings.slack_actions;
    // A person's own email or Teams: "Acknowledge" acts in one click, as them.
    if let (Target::Member { team, member }, Some(case), Some(key)) =
        (&delivery.to, &loaded.case, &settings.link_key)
        && matches!(delivery.channel, Channel::Email | Channel::Teams)
        && a.ack_url.is_some()
    {
        let who = (team.as_str(), member.as_str());
        let (ack, now, ttl) = (
            QuickAction::Acknowledge,
            clock::now(),
            settings.link_ttl_hours,
        );
        a.ack_url = Some(alert_action::one_click_link(
            key, base_url, case, who, ack, now, ttl,
        ));
    }
    let email = |email: render::Email| serde_json::to_value(email).expect("an email serializes");
    Ok(match (delivery.channel, dest) {
        (Channel::Slack, _) => render::slack(&a),
        (Channel::Teams, _) => render::teams(&a),
        (Channel::Webhook | Channel::CustomerWebhook, _) => match &ctx {
            Some(ctx) if follow_up => message::reply_by_gateway(
                message::customer_follow_up(ctx),
                reply_to(settings, ctx.case),
            ),
            Some(ctx) => message::webhook_alert(ctx),
            None => render::webhook(&a, &loaded.notice.id),
        },
        (Channel::Email, _) => email(match &ctx {
            Some(ctx) if follow_up => {
                message::reply_by_email(message::customer_email(ctx), reply_to(settings, ctx.case))
            }
            _ => render::email(&a),
        }),
        (Channel::Sms, _) => Value::String(match &ctx {
            Some(ctx) if follow_up => message::customer_sms(ctx),
            _ => render::sms_text(&a),
        }),
        (Channel::PagerDuty, Destination::PagerDuty(_)) => render::pagerduty(&a),
        _ => return Err(AttemptError::NotConfigured),
    })
}

/// The provider request that sends `message` to `dest`, and which provider reads the answer.
/// A webhook's signature is made now (its timestamp is the attempt's); the body is `message`.
fn request(
    delivery: &Delivery,
    dest: Destination,
    message: &Value,
    now: Timestamp,
) -> Result<(Provider, ProviderRequest), AttemptError> {
    let kept = |what| AttemptError::Connection(format!("the kept message is not {what}"));
    Ok(match (delivery.channel, dest) {
        (Channel::Slack, Destination::Url(url)) => {
            (Provider::Slack, providers::slack(&url, message))
        }
        (Channel::Teams, Destination::Url(url)) => {
            (Provider::Teams, providers::teams(&url, message))
        }
        (
            Channel::Webhook | Channel::CustomerWebhook,
            Destination::SignedWebhook { url, secret },
        ) => (
            Provider::Webhook,
            providers::webhook(
                &url,
                secret.as_ref(),
                &delivery.id,
                now.timestamp(),
                message,
            ),
        ),
        (Channel::Email, Destination::Email(to)) => {
            let provider = email_provider().ok_or(AttemptError::NotConfigured)?;
            let email: render::Email =
                serde_json::from_value(message.clone()).map_err(|_| kept("an email"))?;
            let which = match provider {
                EmailProvider::Postmark { .. } => Provider::Postmark,
                EmailProvider::Resend { .. } => Provider::Resend,
            };
            (
                which,
                providers::email(&provider, &to, &email, delivery.kind.as_str(), &delivery.id),
            )
        }
        (Channel::Sms, Destination::Phone(to)) => {
            let twilio = twilio().ok_or(AttemptError::NotConfigured)?;
            let text = message.as_str().ok_or_else(|| kept("a text"))?;
            (Provider::Twilio, providers::sms(&twilio, &to, text))
        }
        (Channel::PagerDuty, Destination::PagerDuty(key)) => {
            let url =
                config::optional("pagerduty_events_url").unwrap_or_else(|| PAGERDUTY_EVENTS.into());
            (
                Provider::PagerDuty,
                providers::pagerduty(&url, &key, message),
            )
        }
        _ => return Err(AttemptError::NotConfigured),
    })
}

/// The signed reply address of `case` (`reply_to_address` with the case's reply token), for a
/// customer follow-up; `None` when replies by email are not set up. A `reply_to_address` that
/// cannot take a token is logged, and the follow-up goes without one.
fn reply_to(settings: &Settings, case: &Case) -> Option<String> {
    let template = settings.reply_to_address.as_deref()?;
    let token = token::sign(settings.link_key.as_ref()?, &case.id)?;
    token::address(template, &token)
        .map_err(|why| {
            log::error(
                "reply_to_address is not usable; follow-ups go without Reply-To",
                &why,
            )
        })
        .ok()
}

/// The most provider calls a courier keeps in flight at once.
const MAX_IN_FLIGHT: usize = 16;

/// A provider call on its way, with the message it carries.
struct Sending {
    provider: Provider,
    call: outbound::InFlight,
    message: Value,
    /// A webhook's disabled mark, written if it answers 410 Gone.
    gone_key: Option<String>,
    delivery_id: String,
}

/// Sends one delivery, without waiting for the answer: the message a failed first attempt
/// kept, else one rendered now.
fn start(kv: &Reads<'_>, delivery: &Delivery) -> Result<Sending, Failure> {
    let loaded = load(kv, delivery)?;
    if let Some(obsolete) = obsolete(delivery, &loaded) {
        return Err(obsolete.into());
    }
    let dest = destination(kv, delivery, loaded.feedback.as_ref())?;
    // A webhook that answered 410 Gone is disabled: nothing more goes there.
    let gone_key = match &dest {
        Destination::SignedWebhook { url, .. } => Some(store::webhook_gone(url)),
        _ => None,
    };
    if let Some(key) = &gone_key
        && let Some(gone) = kv.get::<GoneEndpoint>(key).map_err(load_error)?
    {
        return Err(AttemptError::Obsolete(gone.reason()).into());
    }
    let message = match &delivery.rendered {
        Some(kept) => kept.clone(),
        None => render(kv, delivery, &loaded, &dest)?,
    };
    let failed = |error| Failure {
        error,
        rendered: Some(message.clone()),
    };
    let (provider, request) = request(delivery, dest, &message, clock::now()).map_err(failed)?;
    let timeout = kv.settings().timeout;
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let call = outbound::start(Method::Post, &request.url, &headers, &request.body, timeout)
        .map_err(|e| failed(attempt_error(e)))?;
    Ok(Sending {
        provider,
        call,
        message,
        gone_key,
        delivery_id: delivery.id.clone(),
    })
}

/// The provider's answer, as the attempt's result (a failure carries the message sent). A
/// webhook answering 410 Gone is disabled (Standard Webhooks: "the sender should disable the
/// endpoint"): the delivery is dead-lettered, and the later ones are cancelled.
fn answer(kv: &Reads<'_>, sending: Sending) -> Result<(), Failure> {
    let now = clock::now();
    let result = (sending.call.answer(outbound::MAX_RESPONSE_BYTES))
        .map_err(attempt_error)
        .and_then(|response| {
            providers::classify(
                sending.provider,
                response.status,
                response
                    .header("retry-after")
                    .and_then(|v| delivery::parse_retry_after(v, now)),
                &response.body,
            )
        });
    if let (Err(AttemptError::Status { status: 410, .. }), Some(key)) = (&result, &sending.gone_key)
    {
        let gone = GoneEndpoint {
            since: now,
            delivery_id: sending.delivery_id.clone(),
        };
        match kv.kv.put(key, &gone) {
            Ok(()) => {
                let bytes = closeloop_domain::envelope::encode(&gone);
                kv.seen.borrow_mut().insert(key.clone(), Some(bytes));
            }
            Err(e) => log::error("a gone webhook could not be disabled", &e.to_string()),
        }
    }
    result.map_err(|error| Failure {
        error,
        rendered: Some(sending.message),
    })
}

fn attempt_error(e: OutboundError) -> AttemptError {
    match e {
        OutboundError::Timeout => AttemptError::Timeout,
        e => AttemptError::Connection(e.to_string()),
    }
}

/// Dispatch's providers, for the outbox: renders, sends, and logs every attempt.
pub struct Courier<'a> {
    reads: Reads<'a>,
    component: &'static str,
}

impl<'a> Courier<'a> {
    /// A courier that takes `known` records as read.
    pub fn new(kv: &'a Kv, component: &'static str, known: Records) -> Self {
        Self {
            reads: Reads {
                kv,
                seen: RefCell::new(known),
                settings: OnceCell::new(),
            },
            component,
        }
    }
}

impl outbox_tick::Courier for Courier<'_> {
    fn send(&self, delivery: &Delivery) -> Result<(), Failure> {
        start(&self.reads, delivery).and_then(|sending| answer(&self.reads, sending))
    }

    /// Up to [`MAX_IN_FLIGHT`] provider calls at once (a fold's hand-over carries the alerts
    /// of every answer it folded, and none should wait for another's provider), each answer
    /// told as soon as it is there, with those that came with it.
    fn send_all(&self, deliveries: &[&Delivery], answered: &mut outbox_tick::Answered<'_>) {
        let mut next = 0;
        let mut flying: Vec<(usize, Sending)> = Vec::new();
        loop {
            let mut done = Vec::new();
            while flying.len() < MAX_IN_FLIGHT && next < deliveries.len() {
                match start(&self.reads, deliveries[next]) {
                    Ok(sending) => flying.push((next, sending)),
                    Err(e) => done.push((next, Err(e))),
                }
                next += 1;
            }
            if !flying.is_empty() {
                let pollables: Vec<_> = flying.iter().map(|(_, s)| s.call.ready()).collect();
                let mut ready = wasi::io::poll::poll(&pollables.iter().collect::<Vec<_>>());
                drop(pollables);
                // Highest first, so that each removal leaves the others' places alone.
                ready.sort_unstable_by(|a, b| b.cmp(a));
                for at in ready {
                    let (i, sending) = flying.swap_remove(at as usize);
                    done.push((i, answer(&self.reads, sending)));
                }
            }
            if !done.is_empty() {
                answered(done);
            }
            if flying.is_empty() && next == deliveries.len() {
                return;
            }
        }
    }

    fn attempted(&self, id: &str, outcome: &Result<Outcome, StoreError>) {
        let fields = match outcome {
            Ok(Outcome::Recorded(d)) => json!({"delivery_id": d.id,
                "channel": d.channel.as_str(), "to": d.to.key(), "attempt": d.attempts,
                "status": d.status, "error": d.last_error}),
            Ok(other) => json!({"delivery_id": id, "outcome": format!("{other:?}")}),
            Err(e) => json!({"delivery_id": id, "error": e.to_string()}),
        };
        log::event(self.component, "delivery attempt", fields);
    }
}
