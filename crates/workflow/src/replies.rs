//! A reply's way in (`POST /v1/inbound/{postmark,resend,twilio}`), after the provider's
//! webhook is authenticated and read (`closeloop_domain::reply`): which case it answers, and
//! whether there is anything to record, decided from reads before any ticket is taken, so a
//! reply that is not one, or a redelivery, writes nothing. The fold records it
//! (`crate::fold::replies`).
//!
//! - Email ([`email_case`], then [`email_reply`]): the case is the one the signed reply token
//!   in the recipients names; a token-shaped address that does not verify is a forgery (403,
//!   which also stops Postmark's retries); an email to no reply address is not a reply (200,
//!   ignored). The sender's address is never looked at.
//! - SMS ([`sms`]): the case is the one the sender's number's [`SmsRoute`] leads to, its most
//!   recent follow-up within the reply window; a number with none is ignored. A STOP-type
//!   message first puts the number on the do-not-contact list (`crate::admin`), case or not.
//!
//! Redeliveries are answered from the reply's record ([`recorded`]); the fold checks again,
//! so two copies racing each other are still recorded once.

use closeloop_domain::Timestamp;
use closeloop_domain::contact::ContactKind;
use closeloop_domain::link::LinkKey;
use closeloop_domain::problem::{Problem, ProblemKind};
use closeloop_domain::reply::token::{self, Found};
use closeloop_domain::reply::twilio::InboundSms;
use closeloop_domain::reply::{
    self, CustomerReply, InboundEmail, Provider, REPLY_WINDOW_DAYS, ReplyContent, ReplyRecord,
    SmsRoute, text,
};

use crate::admin;
use crate::fold::Command;
use crate::store::{Store, get_record};

/// Who the do-not-contact list names as having listed a number that texted STOP.
pub const OPT_OUT_BY: &str = "customer (SMS opt-out)";

/// What to do with an inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Fold this `CustomerReply`.
    Submit(Command),
    /// It was recorded before, on this case.
    Duplicate { case_id: String },
    /// Nothing to record, and why (answered 200: the provider must not retry).
    Ignored(String),
}

/// Which case an inbound email answers, or what else to do with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Matched {
    Case(String),
    Other(Intake),
}

/// The record of reply `message_id` from `provider`, if it was recorded.
pub fn recorded(
    store: &dyn Store,
    provider: Provider,
    message_id: &str,
) -> Result<Option<ReplyRecord>, Problem> {
    Ok(get_record(store, &reply::record_key(provider, message_id))?)
}

/// The case an inbound email answers: the first recipient carrying a reply token `key`
/// signed. A redelivery is a duplicate; an email to no reply address is ignored; a forged
/// token is refused (403). Without a key, nothing can be matched: the generic
/// not-configured 500, naming no variable to the provider (the edge logs it).
pub fn email_case(
    store: &dyn Store,
    key: Option<&LinkKey>,
    provider: Provider,
    email: &InboundEmail,
) -> Result<Matched, Problem> {
    let key = key.ok_or_else(Problem::not_configured)?;
    let case_id = match token::find(key, email.recipients.iter().map(String::as_str)) {
        Found::Case(case_id) => case_id,
        Found::Forged => {
            return Err(Problem::new(
                ProblemKind::Forbidden,
                "the email was sent to a reply address closeloop did not sign (its token is \
                 altered or forged); nothing was recorded",
            ));
        }
        Found::Unaddressed => {
            return Ok(Matched::Other(Intake::Ignored(
                "the email was not sent to a follow-up's reply address".into(),
            )));
        }
    };
    if let Some(seen) = recorded(store, provider, &email.message_id)? {
        return Ok(Matched::Other(Intake::Duplicate {
            case_id: seen.case_id,
        }));
    }
    Ok(Matched::Case(case_id))
}

/// The command recording `words` (the email's text, history cut off) on `case_id`.
pub fn email_reply(provider: Provider, message_id: &str, case_id: &str, words: &str) -> Intake {
    let words = text::clip(words);
    if words.is_empty() {
        return Intake::Ignored("the reply has no text".into());
    }
    submit(
        case_id,
        provider,
        message_id,
        ReplyContent::Words { text: words },
    )
}

fn submit(case_id: &str, provider: Provider, message_id: &str, content: ReplyContent) -> Intake {
    Intake::Submit(Command::CustomerReply {
        reply: Box::new(CustomerReply {
            case_id: case_id.to_owned(),
            provider,
            message_id: message_id.to_owned(),
            content,
        }),
    })
}

/// What to do with an inbound SMS (Twilio): a STOP-type message lists the number as
/// do-not-contact at once (a direct write, kept once); then the message goes to the case of
/// the number's most recent follow-up, if there is one within the reply window.
pub fn sms(store: &dyn Store, sms: &InboundSms, now: Timestamp) -> Result<Intake, Problem> {
    if sms.opt_out.is_some() {
        admin::do_not_contact(
            store,
            (ContactKind::Phone, sms.from.clone()),
            true,
            OPT_OUT_BY,
            now,
        )?;
    }
    if let Some(seen) = recorded(store, Provider::Twilio, &sms.message_sid)? {
        return Ok(Intake::Duplicate {
            case_id: seen.case_id,
        });
    }
    let route: Option<SmsRoute> = get_record(store, &reply::sms_route_key(&sms.from))?;
    let Some(case_id) = route.as_ref().and_then(|r| r.case(now)) else {
        let why = match &sms.opt_out {
            Some(word) => format!(
                "{word}: the number is on the do-not-contact list; no follow-up in the last \
                 {REPLY_WINDOW_DAYS} days to note it on"
            ),
            None => {
                format!("no follow-up went to this number in the last {REPLY_WINDOW_DAYS} days")
            }
        };
        return Ok(Intake::Ignored(why));
    };
    let content = match &sms.opt_out {
        Some(word) => ReplyContent::OptOut {
            keyword: word.clone(),
        },
        None => {
            let words = text::clip(&sms.body);
            if words.is_empty() {
                return Ok(Intake::Ignored("the message has no text".into()));
            }
            ReplyContent::Words { text: words }
        }
    };
    Ok(submit(case_id, Provider::Twilio, &sms.message_sid, content))
}

#[cfg(test)]
mod tests;
