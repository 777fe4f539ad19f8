//! A customer's right to their data: export everything held about them, or erase it.
//!
//! Erasure keeps what the measures need and nothing that identifies anyone: feedback keeps its
//! source, times and score; cases keep their triage, states and times; events keep their kind,
//! actor and time. Gone are the customer's id, name, email, phone, attributes, comments and
//! metadata, any text quoting the customer, and every remaining mention of their identifiers in
//! notes or resolutions. Notices and deliveries hold only ids and links, never personal data.

use serde::{Deserialize, Serialize};

use crate::case::{Case, CaseEvent, EventKind};
use crate::feedback::{Customer, Feedback};
use crate::problem::FieldError;

/// What replaces erased text.
pub const ERASED: &str = "[erased]";
/// The longest identifier accepted in an erasure or export request.
pub const MAX_SELECTOR_CHARS: usize = 320;

/// `POST /v1/admin/customers/{export,erase}`: the customer, by id or email (or both).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSelectorInput {
    pub customer_id: Option<String>,
    pub email: Option<String>,
}

/// Which customer a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSelector {
    pub id: Option<String>,
    pub email: Option<String>,
}

impl CustomerSelectorInput {
    pub fn validate(self) -> Result<CustomerSelector, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut field = |pointer: &str, v: Option<String>| {
            let v = v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())?;
            if v.chars().count() > MAX_SELECTOR_CHARS {
                errors.push(FieldError::new(
                    pointer,
                    format!("is longer than {MAX_SELECTOR_CHARS} characters"),
                ));
                return None;
            }
            Some(v)
        };
        let id = field("/customer_id", self.customer_id);
        let email = field("/email", self.email);
        if id.is_none() && email.is_none() && errors.is_empty() {
            errors.push(FieldError::new("", "give the customer_id or the email"));
        }
        if errors.is_empty() {
            Ok(CustomerSelector { id, email })
        } else {
            Err(errors)
        }
    }
}

impl CustomerSelector {
    /// Whether `customer` is this customer (emails compare case-insensitively).
    pub fn matches(&self, customer: &Customer) -> bool {
        let id = matches!((&self.id, &customer.id), (Some(a), Some(b)) if a == b);
        let email = matches!((&self.email, &customer.email),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        id || email
    }
}

/// The strings that identify a customer, to be removed from free text.
pub fn identifiers(customer: &Customer) -> Vec<String> {
    [
        &customer.id,
        &customer.name,
        &customer.email,
        &customer.phone,
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .cloned()
    .collect()
}

/// `text` with every identifier replaced, case-insensitively.
pub fn scrub(text: &str, identifiers: &[String]) -> String {
    let mut out = text.to_owned();
    for needle in identifiers {
        let lower_needle = needle.to_lowercase();
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = find_ci(rest, &lower_needle) {
            result.push_str(&rest[..at]);
            result.push_str(ERASED);
            rest = &rest[at + lower_needle.len()..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Case-insensitive find of an already lowercased needle, on char boundaries.
fn find_ci(haystack: &str, lower_needle: &str) -> Option<usize> {
    if lower_needle.is_empty() {
        return None;
    }
    haystack.char_indices().map(|(i, _)| i).find(|&i| {
        haystack
            .get(i..i + lower_needle.len())
            .is_some_and(|s| s.to_lowercase() == lower_needle)
    })
}

/// Erases the customer from their feedback; the score, source and times stay for the counts.
pub fn erase_feedback(feedback: &mut Feedback) {
    feedback.customer = Customer {
        id: None,
        email: None,
        name: None,
        phone: None,
        attributes: Default::default(),
    };
    feedback.comment = None;
    feedback.metadata = Default::default();
}

/// Erases the customer's words and identifiers from a case.
pub fn erase_case(case: &mut Case, identifiers: &[String]) {
    if let Some(answer) = &mut case.customer_answer {
        answer.comment = None;
    }
    if let Some(resolution) = &mut case.resolution {
        resolution.summary = scrub(&resolution.summary, identifiers);
    }
    if let Some(reason) = &mut case.close_reason {
        *reason = scrub(reason, identifiers);
    }
}

/// Erases the customer from an event: events that quote the customer lose their text, the
/// rest lose any mention of the customer's identifiers.
pub fn erase_event(event: &mut CaseEvent, identifiers: &[String]) {
    event.detail = match event.kind {
        EventKind::FeedbackReceived
        | EventKind::CustomerConfirmed
        | EventKind::Reopened
        | EventKind::CustomerFeedback => ERASED.to_owned(),
        _ => scrub(&event.detail, identifiers),
    };
    event.actor = scrub(&event.actor, identifiers);
}

/// The anonymous record an erasure leaves: when, by whom, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub id: String,
    pub at: crate::Timestamp,
    pub by: String,
    pub feedback: usize,
    pub cases: usize,
    pub events: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alex() -> Customer {
        Customer {
            id: Some("guest-42".into()),
            email: Some("alex@example.com".into()),
            name: Some("Alex Guest".into()),
            phone: Some("+447700900123".into()),
            attributes: Default::default(),
        }
    }

    #[test]
    fn selects_by_id_or_email() {
        let by_email = CustomerSelector {
            id: None,
            email: Some("ALEX@example.com".into()),
        };
        assert!(by_email.matches(&alex()));
        let by_id = CustomerSelector {
            id: Some("guest-4".into()),
            email: None,
        };
        assert!(!by_id.matches(&alex()));
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<CustomerSelectorInput>(v)
                .unwrap()
                .validate()
        };
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"email": "  "})).is_err());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_SELECTOR_CHARS)})).is_ok());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_SELECTOR_CHARS + 1)})).is_err());
    }

    #[test]
    fn scrubs_every_identifier_case_insensitively() {
        let ids = identifiers(&alex());
        let text = "Called alex guest (ALEX@example.com, +447700900123), ref guest-42. Ünïcode ok";
        let out = scrub(text, &ids);
        for id in &ids {
            assert!(!out.to_lowercase().contains(&id.to_lowercase()), "{out}");
        }
        assert!(out.starts_with("Called [erased] ("), "{out}");
        assert!(out.ends_with("Ünïcode ok"));
        assert_eq!(scrub("nothing here", &ids), "nothing here");
    }
}
