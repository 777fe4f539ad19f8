//! Replies: the customer answering a follow-up in their own words, by replying to its email or
//! its SMS, instead of (or as well as) following the confirmation link.
//!
//! A reply lands on exactly one case, the one the follow-up was about, and never on another:
//!
//! - **Email.** Every customer follow-up email carries `Reply-To: <local>+<token>@<domain>`
//!   ([`token`]): the token names the case and is signed with `link_signing_key`, so an inbound
//!   email is matched by the signed address it was sent to, never by its sender. Postmark
//!   ([`postmark`]) and Resend ([`resend`]) post the inbound email to closeloop; the address is
//!   read from the recipients (Postmark's `MailboxHash`, `OriginalRecipient`, `ToFull`, ...;
//!   Resend's `to`, `cc`, `bcc`).
//! - **SMS.** An SMS reply carries no address, only the customer's number (Twilio's `From`,
//!   vouched for by Twilio's `X-Twilio-Signature`, [`twilio`]). When a follow-up is queued for a
//!   customer with a phone number, the fold remembers it under a digest of the number
//!   ([`SmsRoute`], holding the case's id, not the number); an SMS from that
//!   number within [`REPLY_WINDOW_DAYS`] lands on the case of the number's **most recent**
//!   follow-up. A number that was never sent a follow-up (or not recently) matches nothing.
//!   STOP-type texts ([`twilio::OPT_OUT_KEYWORDS`]) put the number on the do-not-contact list.
//!
//! A reply becomes a `customer-replied` event quoting the customer (erased with the rest of
//! their words: `crate::privacy::quotes_customer`) and an alert to the case's owner
//! (`crate::notice::NoticeKind::CustomerReplied`); it changes no state. The provider's message
//! id ([`CustomerReply::record_key`]) makes a redelivery a duplicate: recorded once.
//!
//! The quoted history under a reply is cut off ([`text`]); what is left is kept up to
//! [`MAX_REPLY_CHARS`].

pub mod postmark;
pub mod resend;
pub mod text;
pub mod token;
pub mod twilio;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::{Case, CaseEvent, EventKind};
use crate::envelope::Record;
use crate::problem::{Problem, ProblemKind};

/// The longest reply kept, in characters (a longer one is cut, ending with `…`).
pub const MAX_REPLY_CHARS: usize = crate::case::MAX_TEXT_CHARS;
/// The longest provider message id accepted (it is hashed into a key, but bounded).
pub const MAX_MESSAGE_ID_CHARS: usize = 200;
/// The largest inbound email body read from Postmark: it posts a whole email, attachments
/// included (base64), so a reply with a photo is far larger than a survey webhook. Larger ones
/// are refused with 413 (the provider retries, then gives up). Resend's webhook (metadata
/// only) and Twilio's (form fields) keep the webhook limit ([`Provider::max_body_bytes`]).
pub const MAX_INBOUND_BYTES: usize = 10 * 1024 * 1024;
/// How long after a follow-up an SMS from the customer's number still lands on its case.
pub const REPLY_WINDOW_DAYS: i64 = 30;

/// Who delivered a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Postmark,
    Resend,
    Twilio,
}

impl Provider {
    const ALL: [Provider; 3] = [Self::Postmark, Self::Resend, Self::Twilio];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postmark => "postmark",
            Self::Resend => "resend",
            Self::Twilio => "twilio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The largest webhook body taken from this provider: [`MAX_INBOUND_BYTES`] for Postmark's
    /// whole emails, the survey webhooks' limit for the others.
    pub fn max_body_bytes(self) -> usize {
        match self {
            Self::Postmark => MAX_INBOUND_BYTES,
            Self::Resend | Self::Twilio => crate::sources::MAX_WEBHOOK_BYTES,
        }
    }

    /// How the customer replied, in words.
    pub fn medium(self) -> &'static str {
        match self {
            Self::Postmark | Self::Resend => "email",
            Self::Twilio => "SMS",
        }
    }
}

/// What the customer sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReplyContent {
    /// Their words, quoted history cut off and clipped ([`text::clip`]).
    Words { text: String },
    /// An opt-out keyword by SMS (STOP, ...): the number is on the do-not-contact list.
    OptOut { keyword: String },
}

/// A reply matched to its case: what the fold records (`closeloop_workflow::fold::replies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerReply {
    pub case_id: String,
    pub provider: Provider,
    /// The provider's id of the inbound message (Postmark `MessageID`, Resend `email_id`,
    /// Twilio `MessageSid`): the same on every redelivery.
    pub message_id: String,
    pub content: ReplyContent,
}

impl CustomerReply {
    /// The key that remembers this reply was recorded ([`ReplyRecord`]).
    pub fn record_key(&self) -> String {
        record_key(self.provider, &self.message_id)
    }

    /// The event that records the reply on `case` at `now`: the customer's words, quoted, or
    /// the opt-out.
    pub fn event(&self, case: &Case, now: Timestamp) -> CaseEvent {
        let id = crate::ids::derived(now, &["reply", self.provider.as_str(), &self.message_id]);
        let (kind, detail) = match &self.content {
            ReplyContent::Words { text } => (
                EventKind::CustomerReplied,
                format!(
                    "the customer replied by {}: \"{text}\"",
                    self.provider.medium()
                ),
            ),
            ReplyContent::OptOut { keyword } => (
                EventKind::ContactSuppressed,
                format!(
                    "the customer texted {keyword}: their phone number is on the do-not-contact \
                     list, and no more messages go to it"
                ),
            ),
        };
        case.remark(kind, "customer", &detail, id.to_string(), now)
    }
}

/// The key that remembers the reply `message_id` from `provider` was recorded.
pub fn record_key(provider: Provider, message_id: &str) -> String {
    crate::keys::reply(&crate::ids::digest(&[
        "reply",
        provider.as_str(),
        message_id,
    ]))
}

/// A recorded reply: on which case, as which event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRecord {
    pub case_id: String,
    pub event_id: String,
    pub at: Timestamp,
}

impl Record for ReplyRecord {
    const SCHEMA: &'static str = "reply/1";
}

/// The most recent follow-up to a phone number (stored under [`sms_route_key`]): where an SMS
/// from that number goes. It holds the case's id, never the number. The route is in
/// closeloop's own store, which an attacker cannot write, so the id is not signed: no key is
/// needed to follow it, and a rotated `link_signing_key` breaks no route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRoute {
    /// The case; `None` once the customer was erased. A route written before the id was
    /// stored (it held a signed `token`) reads as `None`: an SMS from that number is ignored
    /// until its next follow-up.
    #[serde(default)]
    pub case_id: Option<String>,
    /// When the follow-up was queued.
    pub at: Timestamp,
}

impl Record for SmsRoute {
    const SCHEMA: &'static str = "sms-route/1";
}

impl SmsRoute {
    /// The case an SMS at `now` goes to, if the follow-up is at most [`REPLY_WINDOW_DAYS`] old.
    pub fn case(&self, now: Timestamp) -> Option<&str> {
        if now - self.at > chrono::Duration::days(REPLY_WINDOW_DAYS) {
            return None;
        }
        self.case_id.as_deref()
    }
}

/// The key of the SMS route of `phone` (normalised as the do-not-contact list normalises it).
pub fn sms_route_key(phone: &str) -> String {
    let phone = crate::contact::normalise_phone(phone);
    crate::keys::sms_route(&crate::ids::digest(&["sms-route", &phone]))
}

/// Why an inbound webhook was refused: answered 401, nothing stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundAuthError {
    #[error(
        "send the credentials of Postmark's inbound webhook URL as HTTP basic auth: \
         https://<any user>:<postmark_inbound_password>@<host>/v1/inbound/postmark"
    )]
    MissingBasicAuth,
    #[error(
        "the basic-auth password is not postmark_inbound_password; put that password in \
         Postmark's inbound webhook URL"
    )]
    WrongPassword,
    /// A signature, timestamp or header check shared with the survey sources (Resend's Svix
    /// signature; a missing `X-Twilio-Signature`).
    #[error(transparent)]
    Verify(#[from] crate::sources::verify::AuthError),
    #[error(
        "the X-Twilio-Signature does not match this URL and these parameters; check \
         twilio_auth_token, and that Twilio calls public_base_url followed by \
         /v1/inbound/twilio"
    )]
    TwilioSignature,
}

impl From<InboundAuthError> for Problem {
    fn from(e: InboundAuthError) -> Self {
        Problem::new(ProblemKind::Unauthorized, e.to_string())
    }
}

/// An inbound email, as a provider posts it, before it is matched to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    pub message_id: String,
    /// Every address (or plus-address hash) the email was sent to, the one it was delivered
    /// to first: where the reply token is looked for ([`token::find`]).
    pub recipients: Vec<String>,
    /// The reply's text, quoted history cut off (Resend's comes from a second request).
    pub text: Option<String>,
}

/// Refuses a message id that is missing, blank or longer than [`MAX_MESSAGE_ID_CHARS`].
fn message_id(id: Option<String>, field: &str, provider: &str) -> Result<String, Problem> {
    let id = id.map(|s| s.trim().to_owned()).unwrap_or_default();
    if id.is_empty() {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            format!(
                "the {provider} message has no {field}: it is what makes a redelivery a duplicate"
            ),
        ));
    }
    if id.chars().count() > MAX_MESSAGE_ID_CHARS {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            format!("the {field} is longer than {MAX_MESSAGE_ID_CHARS} characters"),
        ));
    }
    Ok(id)
}
