//! The alert and customer channels the variables configure.
//!
//! Their URLs, keys and tokens are secrets that stay in variables; the fold only needs to
//! know which channels are on ([`configured`]), dispatch needs the provider settings to send.

use closeloop_domain::delivery::ConfiguredChannels;
use closeloop_domain::dispatch::providers::{EmailProvider, Twilio};

use crate::config;

const POSTMARK_API: &str = "https://api.postmarkapp.com";
const RESEND_API: &str = "https://api.resend.com";
const TWILIO_API: &str = "https://api.twilio.com";

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

/// Twilio, if it is fully configured.
pub fn twilio() -> Option<Twilio> {
    Some(Twilio {
        api_url: config::optional("twilio_api_url").unwrap_or_else(|| TWILIO_API.into()),
        account_sid: config::optional("twilio_account_sid")?,
        auth_token: config::optional("twilio_auth_token")?,
        from: config::optional("twilio_from")?,
    })
}
