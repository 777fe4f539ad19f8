//! The customer's reply to a follow-up, by email or SMS (`closeloop_domain::reply`), recorded
//! on its case's timeline; and where an SMS reply will go.
//!
//! [`receive`] (`CustomerReply`): the reply becomes an event quoting the customer (or, for a
//! STOP, one saying the number is on the do-not-contact list), and the owner's
//! `customer-replied` alert; the case's state does not change. The provider's message id is
//! remembered ([`ReplyRecord`]) in the same write, so a redelivery, even one racing the first
//! copy, is recorded once: the fold is the only writer, and the second copy finds the record.
//!
//! [`remember_sms_route`]: whenever a customer message (the follow-up or its reminder) is
//! queued for a customer with a phone number while SMS (Twilio) is set up, the number's [`SmsRoute`] is rewritten to this
//! case, so an SMS from that number goes to the case of its most recent follow-up. The route
//! holds the case's id, not the number, under a digest of the number.

use closeloop_domain::case::Case;
use closeloop_domain::feedback::Feedback;
use closeloop_domain::keys;
use closeloop_domain::notice::Notice;
use closeloop_domain::reply::{self, CustomerReply, ReplyContent, ReplyRecord, SmsRoute};

use super::change::{self, not_found};
use super::notices::{self, record};
use super::{Folder, Verdict};
use crate::store::StoreError;

/// `CustomerReply`: records the reply on its case, once per provider message.
pub fn receive(f: &mut Folder<'_, '_>, reply: &CustomerReply) -> Result<Verdict, StoreError> {
    let record_key = reply.record_key();
    if let Some(seen) = f.tx.get::<ReplyRecord>(&record_key)? {
        return Ok(Verdict::Replied {
            case_id: seen.case_id,
            event_id: seen.event_id,
            duplicate: true,
        });
    }
    let Some((case, mut file)) = change::load(f, &reply.case_id)? else {
        return Ok(not_found(&reply.case_id));
    };
    let event = reply.event(&case, f.now);
    let event_id = event.id.clone();
    record(f, &mut file, event);
    if let ReplyContent::Words { .. } = reply.content {
        file.replies += 1;
        let notice = Notice::customer_replied(&case, file.replies, f.now);
        let feedback: Option<Feedback> = f.tx.get(&keys::feedback(&case.feedback_id))?;
        notices::queue(f, &notice, Some(&case), feedback.as_ref(), Some(&mut file))?;
    }
    change::save(f, &file);
    let seen = ReplyRecord {
        case_id: case.id.clone(),
        event_id: event_id.clone(),
        at: f.now,
    };
    f.tx.put(record_key, &seen);
    Ok(Verdict::Replied {
        case_id: case.id,
        event_id,
        duplicate: false,
    })
}

/// Points the SMS route of the customer's phone number at `case`: its latest follow-up. No
/// phone, no route.
pub fn remember_sms_route(f: &mut Folder<'_, '_>, case: &Case, feedback: Option<&Feedback>) {
    let Some(phone) = feedback.and_then(|fb| fb.customer.phone.as_deref()) else {
        return;
    };
    let route = SmsRoute {
        case_id: Some(case.id.clone()),
        at: f.now,
    };
    f.tx.put(reply::sms_route_key(phone), &route);
}

/// Clears the SMS routes of `phones` (an erasure): an SMS from them then goes nowhere. The
/// fold never deletes, so a route is overwritten with no case.
pub fn forget_sms_routes(f: &mut Folder<'_, '_>, phones: &[&str]) -> Result<(), StoreError> {
    let keys: Vec<String> = phones.iter().map(|p| reply::sms_route_key(p)).collect();
    f.tx.prefetch(&keys)?;
    for key in keys {
        if f.tx.get::<SmsRoute>(&key)?.is_some() {
            let cleared = SmsRoute {
                case_id: None,
                at: f.now,
            };
            f.tx.put(key, &cleared);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
