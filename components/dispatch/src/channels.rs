//! From a delivery to the provider request: what to say, where, with which credentials.
//!
//! Endpoints are resolved at send time (from the directory or the variables), so a delivery
//! record never holds a URL, key, address or phone number; the request built here lives only
//! for the call.

use closeloop_edge::config;
use closeloop_edge::domain::case::{Case, CaseState};
use closeloop_edge::domain::delivery::{
    AttemptError, Channel, ConfiguredChannels, Delivery, Target,
};
use closeloop_edge::domain::dispatch::directory::{Endpoint, Team, Templates};
use closeloop_edge::domain::dispatch::providers::{
    self, EmailProvider, Provider, ProviderRequest, Twilio,
};
use closeloop_edge::domain::dispatch::render::{self, Alert};
use closeloop_edge::domain::dispatch::signing::WebhookSecret;
use closeloop_edge::domain::dispatch::{escalation, store};
use closeloop_edge::domain::feedback::Feedback;
use closeloop_edge::domain::message::{self, MessageContext};
use closeloop_edge::domain::notice::{Notice, NoticeKind};
use closeloop_edge::domain::{Timestamp, keys};
use closeloop_edge::kv::{Kv, KvError};

const POSTMARK_API: &str = "https://api.postmarkapp.com";
const RESEND_API: &str = "https://api.resend.com";
const TWILIO_API: &str = "https://api.twilio.com";
const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com";

/// Which channels the variables configure.
pub fn configured() -> ConfiguredChannels {
    let on = |name: &str| config::optional(name).is_some();
    ConfiguredChannels {
        slack: on("slack_webhook_url"),
        webhook: on("alert_webhook_url"),
        customer_webhook: on("customer_webhook_url"),
        teams: on("teams_webhook_url"),
        pagerduty: on("pagerduty_routing_key"),
        email: email_provider().is_some(),
        sms: twilio().is_some(),
        ops: on("ops_slack_webhook_url"),
    }
}

/// The email provider named by `email_provider`, if it is fully configured.
pub fn email_provider() -> Option<EmailProvider> {
    let from = config::optional("email_from")?;
    match config::optional("email_provider")?.as_str() {
        "postmark" => Some(EmailProvider::Postmark {
            api_url: config::optional("postmark_api_url").unwrap_or_else(|| POSTMARK_API.into()),
            server_token: config::optional("postmark_server_token")?,
            from,
        }),
        "resend" => Some(EmailProvider::Resend {
            api_url: config::optional("resend_api_url").unwrap_or_else(|| RESEND_API.into()),
            api_key: config::optional("resend_api_key")?,
            from,
        }),
        _ => None,
    }
}

pub fn twilio() -> Option<Twilio> {
    Some(Twilio {
        api_url: config::optional("twilio_api_url").unwrap_or_else(|| TWILIO_API.into()),
        account_sid: config::optional("twilio_account_sid")?,
        auth_token: config::optional("twilio_auth_token")?,
        from: config::optional("twilio_from")?,
    })
}

/// The directory team a case belongs to, if it is in the directory.
pub fn team_of(kv: &Kv, case: &Case) -> Result<Option<Team>, KvError> {
    let id = if case.triage.routing.team.is_empty() {
        &case.triage.team
    } else {
        &case.triage.routing.team
    };
    kv.get::<Team>(&store::team(id))
}

fn team_id(target: &Target) -> Option<&str> {
    match target {
        Target::Team { team } | Target::Member { team, .. } => Some(team),
        _ => None,
    }
}

/// The endpoint a directory target has on `channel`.
fn directory_endpoint(
    kv: &Kv,
    target: &Target,
    channel: Channel,
) -> Result<Endpoint, AttemptError> {
    let team = team_id(target)
        .map(|t| kv.get::<Team>(&store::team(t)))
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
    kv: &Kv,
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
            secret: None,
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
pub struct Loaded {
    pub notice: Notice,
    pub case: Option<Case>,
    pub feedback: Option<Feedback>,
}

fn load_error(e: KvError) -> AttemptError {
    AttemptError::Connection(e.to_string())
}

pub fn load(kv: &Kv, delivery: &Delivery) -> Result<Loaded, AttemptError> {
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
pub fn obsolete(loaded: &Loaded) -> Option<AttemptError> {
    let case = loaded.case.as_ref()?;
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

fn alert(kv: &Kv, loaded: &Loaded, base_url: &str, templates: &Templates) -> Alert {
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
                        url: format!("{base_url}/v1/cases/{id}"),
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
                .map(|id| format!("{base_url}/v1/cases/{id}")),
            loaded.notice.created_at,
        ),
    }
}

/// The provider request for `delivery`, and which provider reads the answer.
pub fn request(
    kv: &Kv,
    delivery: &Delivery,
    loaded: &Loaded,
    now: Timestamp,
) -> Result<(Provider, ProviderRequest), AttemptError> {
    let base_url = config::public_base_url();
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
            base_url: &base_url,
        }),
        _ => None,
    };
    let a = alert(kv, loaded, &base_url, &templates);
    let dest = destination(kv, delivery, loaded.feedback.as_ref())?;
    Ok(match (delivery.channel, dest) {
        (Channel::Slack, Destination::Url(url)) => {
            (Provider::Slack, providers::slack(&url, &render::slack(&a)))
        }
        (Channel::Teams, Destination::Url(url)) => {
            (Provider::Teams, providers::teams(&url, &render::teams(&a)))
        }
        (
            Channel::Webhook | Channel::CustomerWebhook,
            Destination::SignedWebhook { url, secret },
        ) => {
            let body = match &ctx {
                Some(ctx) if follow_up => message::customer_follow_up(ctx),
                Some(ctx) => message::webhook_alert(ctx),
                None => render::webhook(&a, &loaded.notice.id),
            };
            (
                Provider::Webhook,
                providers::webhook(&url, secret.as_ref(), &delivery.id, now.timestamp(), &body),
            )
        }
        (Channel::Email, Destination::Email(to)) => {
            let provider = email_provider().ok_or(AttemptError::NotConfigured)?;
            let email = match &ctx {
                Some(ctx) if follow_up => message::customer_email(ctx),
                _ => render::email(&a),
            };
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
            let text = match &ctx {
                Some(ctx) if follow_up => message::customer_sms(ctx),
                _ => render::sms_text(&a),
            };
            (Provider::Twilio, providers::sms(&twilio, &to, &text))
        }
        (Channel::PagerDuty, Destination::PagerDuty(key)) => {
            let url =
                config::optional("pagerduty_events_url").unwrap_or_else(|| PAGERDUTY_EVENTS.into());
            (
                Provider::PagerDuty,
                providers::pagerduty(&url, &render::pagerduty(&a, &key)),
            )
        }
        _ => return Err(AttemptError::NotConfigured),
    })
}
