//! Customer contact rules: who must never get a message, and when nobody should.
//!
//! The do-not-contact list is kept as digests of normalised contacts (customer id, email,
//! phone), so it holds no personal data, survives an erasure, and still matches. Quiet hours
//! are a daily window in UTC (`customer_quiet_hours = "21:00-08:00"`); a customer message that
//! falls inside is not dropped but held: its notice carries `not_before`, the end of the window,
//! and dispatch sends it then.

use chrono::{Duration, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::feedback::Customer;
use crate::problem::FieldError;

/// The longest contact value accepted on the do-not-contact API.
pub const MAX_CONTACT_CHARS: usize = 320;

/// What a do-not-contact entry matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    CustomerId,
    Email,
    Phone,
}

impl ContactKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::CustomerId => "customer-id",
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

/// The digest an entry is stored under: emails compare case-insensitively, phones without
/// spaces, dashes or brackets.
pub fn dnc_digest(kind: ContactKind, value: &str) -> String {
    let value = value.trim();
    let normalised = match kind {
        ContactKind::CustomerId => value.to_owned(),
        ContactKind::Email => value.to_lowercase(),
        ContactKind::Phone => normalise_phone(value),
    };
    crate::ids::digest(&["do-not-contact", kind.as_str(), &normalised])
}

/// A phone number as the list compares it: without spaces, dashes, brackets or dots
/// (`+44 7700-900123` is `+447700900123`, as Twilio writes it).
pub fn normalise_phone(phone: &str) -> String {
    phone
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect()
}

/// The digests a customer would be listed under.
pub fn customer_digests(customer: &Customer) -> Vec<String> {
    [
        (ContactKind::CustomerId, &customer.id),
        (ContactKind::Email, &customer.email),
        (ContactKind::Phone, &customer.phone),
    ]
    .into_iter()
    .filter_map(|(kind, value)| value.as_deref().map(|v| dnc_digest(kind, v)))
    .collect()
}

/// A do-not-contact entry (stored under its digest; holds no contact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub added_at: Timestamp,
    pub added_by: String,
}

/// `PUT`/`DELETE /v1/admin/do-not-contact`: exactly one of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl ContactInput {
    pub fn validate(self) -> Result<(ContactKind, String), Vec<FieldError>> {
        let given: Vec<(ContactKind, &str, String)> = [
            (ContactKind::CustomerId, "/customer_id", self.customer_id),
            (ContactKind::Email, "/email", self.email),
            (ContactKind::Phone, "/phone", self.phone),
        ]
        .into_iter()
        .filter_map(|(k, p, v)| v.map(|v| (k, p, v.trim().to_owned())))
        .collect();
        match given.as_slice() {
            [(kind, pointer, value)] => {
                if value.is_empty() || value.chars().count() > MAX_CONTACT_CHARS {
                    Err(vec![FieldError::new(
                        *pointer,
                        format!("must be 1 to {MAX_CONTACT_CHARS} characters"),
                    )])
                } else {
                    Ok((*kind, value.clone()))
                }
            }
            _ => Err(vec![FieldError::new(
                "",
                "give exactly one of customer_id, email, phone",
            )]),
        }
    }
}

/// A daily window, in UTC, in which customers get no messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `HH:MM-HH:MM` (a window may cross midnight). Equal ends are refused: they would
    /// mean "never" or "always".
    pub fn parse(text: &str) -> Option<Self> {
        let (a, b) = text.trim().split_once('-')?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
        let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
        (start != end).then_some(Self { start, end })
    }

    fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When a message wanted at `now` may be sent: `None` if now, else the window's end.
    pub fn hold_until(&self, now: Timestamp) -> Option<Timestamp> {
        let t = now.time().with_nanosecond(0)?;
        if !self.contains(t) {
            return None;
        }
        let mut end = now.date_naive().and_time(self.end).and_utc();
        if end <= now {
            end += Duration::days(1);
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: u32, m: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_hold_messages_until_the_window_ends() {
        let night = QuietHours::parse("21:00-08:00").unwrap();
        assert_eq!(night.hold_until(at(12, 0)), None);
        assert_eq!(night.hold_until(at(20, 59)), None);
        assert_eq!(
            night.hold_until(at(21, 0)),
            Some(at(8, 0) + Duration::days(1))
        );
        assert_eq!(night.hold_until(at(3, 0)), Some(at(8, 0)));
        assert_eq!(night.hold_until(at(8, 0)), None, "the end is not quiet");
        let lunch = QuietHours::parse("12:00-13:30").unwrap();
        assert_eq!(lunch.hold_until(at(12, 10)), Some(at(13, 30)));
        assert_eq!(lunch.hold_until(at(11, 59)), None);
        for bad in ["", "21-8", "25:00-08:00", "08:00-08:00", "21:00"] {
            assert_eq!(QuietHours::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn do_not_contact_matches_normalised_contacts() {
        let customer = Customer {
            id: Some("guest-42".into()),
            email: Some("Alex@Example.com".into()),
            name: Some("Alex".into()),
            phone: Some("+44 7700-900123".into()),
            attributes: Default::default(),
        };
        let digests = customer_digests(&customer);
        assert!(digests.contains(&dnc_digest(ContactKind::Email, " alex@example.com")));
        assert!(digests.contains(&dnc_digest(ContactKind::Phone, "+447700900123")));
        assert!(digests.contains(&dnc_digest(ContactKind::CustomerId, "guest-42")));
        assert!(!digests.contains(&dnc_digest(ContactKind::CustomerId, "alex@example.com")));
        assert!(!digests.iter().any(|d| d.contains("alex")));
    }

    #[test]
    fn contact_input_takes_exactly_one_value_within_the_limit() {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<ContactInput>(v)
                .unwrap()
                .validate()
        };
        assert_eq!(
            parse(json!({"email": "a@b.c"})).unwrap(),
            (ContactKind::Email, "a@b.c".into())
        );
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"email": "a@b.c", "phone": "+1"})).is_err());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_CONTACT_CHARS)})).is_ok());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_CONTACT_CHARS + 1)})).is_err());
    }
}
