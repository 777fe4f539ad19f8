//! closeloop's canonical feedback: the one shape every source is normalised into.
//!
//! [`FeedbackInput`] is the strict wire form of `POST /v1/feedback` (unknown fields are
//! refused); [`FeedbackInput::validate`] turns it into a [`Feedback`], reporting every invalid
//! field at once, so a `Feedback` is valid wherever it is seen.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::problem::FieldError;
use crate::score::{Score, ScoreKind};

/// The largest request body `POST /v1/feedback` accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 5_000;
/// The longest `source` name.
pub const MAX_SOURCE_CHARS: usize = 64;
/// The longest external id.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;
/// The most entries in `metadata` or `customer.attributes`.
pub const MAX_MAP_ENTRIES: usize = 50;
/// The longest customer id, name or phone.
pub const MAX_CUSTOMER_FIELD_CHARS: usize = 200;
/// How far in the future a `submitted_at` may lie (clock skew between platforms).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The wire form of a piece of feedback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    pub source: Option<String>,
    pub external_id: Option<String>,
    pub submitted_at: Option<String>,
    pub customer: Option<CustomerInput>,
    pub score: Option<ScoreInput>,
    pub comment: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreInput {
    pub kind: Option<String>,
    pub value: Option<Value>,
    pub scale: Option<Value>,
}

/// A customer, as far as the source knows them: nobody at all for an anonymous answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl Customer {
    /// How the customer is named in an alert: their name, else their id; never the email or
    /// phone, which alerts to shared channels must not spread.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or(if self.is_anonymous() {
                "an anonymous customer"
            } else {
                "a customer"
            })
    }

    /// Whether nobody can be followed up with: no id, email or phone (a name alone, or
    /// attributes, identify no one).
    pub fn is_anonymous(&self) -> bool {
        self.id.is_none() && self.email.is_none() && self.phone.is_none()
    }

    /// A string attribute such as `tier`, compared case-insensitively by callers.
    pub fn attribute_str(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }
}

/// A validated piece of feedback, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub id: String,
    pub source: String,
    pub external_id: String,
    pub submitted_at: Timestamp,
    pub received_at: Timestamp,
    pub customer: Customer,
    pub score: Option<Score>,
    pub comment: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// A validated input, before it is given an id.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFeedback {
    pub source: String,
    pub external_id: String,
    pub submitted_at: Timestamp,
    pub customer: Customer,
    pub score: Score,
    pub comment: Option<String>,
    pub metadata: Map<String, Value>,
}

impl ValidFeedback {
    /// The feedback id: derived from (source, external id) so that a redelivery, even one
    /// racing the first, lands on the same key.
    pub fn id(&self) -> String {
        derived_id(self.submitted_at, &self.source, &self.external_id)
    }

    pub fn into_feedback(self, received_at: Timestamp) -> Feedback {
        Feedback {
            id: self.id(),
            source: self.source,
            external_id: self.external_id,
            submitted_at: self.submitted_at,
            received_at,
            customer: self.customer,
            score: Some(self.score),
            comment: self.comment,
            metadata: self.metadata,
        }
    }
}

/// The id of feedback `external_id` from `source`, submitted at `submitted_at`: the same for
/// every copy, whether it is posted canonically or comes from a platform's webhook.
pub fn derived_id(submitted_at: Timestamp, source: &str, external_id: &str) -> String {
    crate::ids::derived(submitted_at, &[source, external_id]).to_string()
}

/// The idempotency digest of (source, external id): the key a repeat is recognised by.
pub fn dedup_digest(source: &str, external_id: &str) -> String {
    crate::ids::digest(&[source, external_id])
}

/// Feedback from a source connection, validated like canonical feedback except that the
/// score may be missing (a response that skipped the score question but left a comment).
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedFeedback {
    pub source: String,
    pub external_id: String,
    pub submitted_at: Timestamp,
    pub customer: Customer,
    pub score: Option<Score>,
    pub comment: Option<String>,
    pub metadata: Map<String, Value>,
}

impl SourcedFeedback {
    /// The feedback as stored under `id` (kept from the first event of the response).
    pub fn into_feedback(self, id: String, received_at: Timestamp) -> Feedback {
        Feedback {
            id,
            source: self.source,
            external_id: self.external_id,
            submitted_at: self.submitted_at,
            received_at,
            customer: self.customer,
            score: self.score,
            comment: self.comment,
            metadata: self.metadata,
        }
    }
}

impl FeedbackInput {
    /// Checks every field; `now` bounds `submitted_at`.
    pub fn validate(self, now: Timestamp) -> Result<ValidFeedback, Vec<FieldError>> {
        let s = self.check(now, true)?;
        Ok(ValidFeedback {
            source: s.source,
            external_id: s.external_id,
            submitted_at: s.submitted_at,
            customer: s.customer,
            score: s.score.expect("a required score was checked"),
            comment: s.comment,
            metadata: s.metadata,
        })
    }

    /// Checks every field like [`FeedbackInput::validate`], but a missing score is allowed:
    /// the source adapters decide whether unscored feedback is worth keeping.
    pub fn validate_sourced(self, now: Timestamp) -> Result<SourcedFeedback, Vec<FieldError>> {
        self.check(now, false)
    }

    fn check(
        self,
        now: Timestamp,
        score_required: bool,
    ) -> Result<SourcedFeedback, Vec<FieldError>> {
        let mut errors = Vec::new();
        let source =
            required_text(&mut errors, "/source", self.source, MAX_SOURCE_CHARS).filter(|s| {
                let ok = s
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                if !ok {
                    errors.push(FieldError::new(
                        "/source",
                        "use lowercase letters, digits, '-', '_' or '.' (e.g. \"typeform\")",
                    ));
                }
                ok
            });
        let external_id = required_text(
            &mut errors,
            "/external_id",
            self.external_id,
            MAX_EXTERNAL_ID_CHARS,
        );
        let submitted_at = match self.submitted_at {
            None => {
                errors.push(FieldError::new("/submitted_at", "is required"));
                None
            }
            Some(s) => match chrono::DateTime::parse_from_rfc3339(&s) {
                Err(_) => {
                    errors.push(FieldError::new(
                        "/submitted_at",
                        "must be an RFC 3339 time such as 2026-11-23T09:30:00Z",
                    ));
                    None
                }
                Ok(t) => {
                    let t = t.with_timezone(&chrono::Utc);
                    if t > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
                        errors.push(FieldError::new(
                            "/submitted_at",
                            "lies in the future; check the sender's clock",
                        ));
                        None
                    } else {
                        Some(t)
                    }
                }
            },
        };
        // No customer (or one without id, email or phone) is an anonymous answer.
        let customer = match self.customer {
            None => Some(Customer::default()),
            Some(c) => validate_customer(&mut errors, c),
        };
        let score = match self.score {
            None if score_required => {
                errors.push(FieldError::new("/score", "is required"));
                None
            }
            None => Some(None),
            Some(s) => validate_score(&mut errors, s).map(Some),
        };
        let comment = match self.comment.map(|c| c.trim().to_owned()) {
            Some(c) if c.chars().count() > MAX_COMMENT_CHARS => {
                errors.push(FieldError::new(
                    "/comment",
                    format!("is longer than {MAX_COMMENT_CHARS} characters"),
                ));
                None
            }
            Some(c) if c.is_empty() => None,
            other => other,
        };
        let metadata = self.metadata.unwrap_or_default();
        if metadata.len() > MAX_MAP_ENTRIES {
            errors.push(FieldError::new(
                "/metadata",
                format!("has more than {MAX_MAP_ENTRIES} entries"),
            ));
        }
        match (source, external_id, submitted_at, customer, score) {
            (Some(source), Some(external_id), Some(submitted_at), Some(customer), Some(score))
                if errors.is_empty() =>
            {
                Ok(SourcedFeedback {
                    source,
                    external_id,
                    submitted_at,
                    customer,
                    score,
                    comment,
                    metadata,
                })
            }
            _ => Err(errors),
        }
    }
}

fn required_text(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    match value.map(|v| v.trim().to_owned()) {
        None => {
            errors.push(FieldError::new(pointer, "is required"));
            None
        }
        Some(v) if v.is_empty() => {
            errors.push(FieldError::new(pointer, "must not be empty"));
            None
        }
        Some(v) if v.chars().count() > max => {
            errors.push(FieldError::new(
                pointer,
                format!("is longer than {max} characters"),
            ));
            None
        }
        Some(v) if v.chars().any(char::is_control) => {
            errors.push(FieldError::new(
                pointer,
                "must not contain control characters",
            ));
            None
        }
        Some(v) => Some(v),
    }
}

fn optional_text(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: Option<String>,
    max: usize,
) -> Option<String> {
    match value {
        Some(v) if v.trim().is_empty() => None,
        Some(v) => required_text(errors, pointer, Some(v), max),
        None => None,
    }
}

fn validate_customer(errors: &mut Vec<FieldError>, c: CustomerInput) -> Option<Customer> {
    let before = errors.len();
    let id = optional_text(errors, "/customer/id", c.id, MAX_CUSTOMER_FIELD_CHARS);
    let name = optional_text(errors, "/customer/name", c.name, MAX_CUSTOMER_FIELD_CHARS);
    let email = optional_text(errors, "/customer/email", c.email, 254).filter(|e| {
        let ok = looks_like_email(e);
        if !ok {
            errors.push(FieldError::new(
                "/customer/email",
                "is not an email address",
            ));
        }
        ok
    });
    let phone = optional_text(errors, "/customer/phone", c.phone, 32).filter(|p| {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        let ok = (7..=15).contains(&digits)
            && p.chars()
                .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch));
        if !ok {
            errors.push(FieldError::new(
                "/customer/phone",
                "is not a phone number (use E.164, e.g. +447700900123)",
            ));
        }
        ok
    });
    let attributes = c.attributes.unwrap_or_default();
    if attributes.len() > MAX_MAP_ENTRIES {
        errors.push(FieldError::new(
            "/customer/attributes",
            format!("has more than {MAX_MAP_ENTRIES} entries"),
        ));
    }
    (errors.len() == before).then_some(Customer {
        id,
        email,
        name,
        phone,
        attributes,
    })
}

fn looks_like_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ',')
                && !domain.contains('@')
        }
        None => false,
    }
}

fn whole_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    }
}

fn validate_score(errors: &mut Vec<FieldError>, s: ScoreInput) -> Option<Score> {
    let kinds = ScoreKind::ALL.map(ScoreKind::as_str).join(", ");
    let kind = match s.kind.as_deref() {
        None => {
            errors.push(FieldError::new(
                "/score/kind",
                format!("is required (one of {kinds})"),
            ));
            return None;
        }
        Some(k) => match ScoreKind::parse(k) {
            Some(kind) => kind,
            None => {
                errors.push(FieldError::new(
                    "/score/kind",
                    format!("`{k}` is not a score kind; use one of {kinds}"),
                ));
                return None;
            }
        },
    };
    let scale = match &s.scale {
        None | Some(Value::Null) => kind.default_scale(),
        Some(v) => match whole_number(v).filter(|&n| kind.accepts_scale(n)) {
            Some(n) => n,
            None => {
                errors.push(FieldError::new(
                    "/score/scale",
                    format!(
                        "a {} score is asked on a scale of {}",
                        kind.as_str(),
                        kind.scale_description()
                    ),
                ));
                return None;
            }
        },
    };
    let range = format!("a whole number from {} to {scale}", kind.min());
    let value = match &s.value {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                "/score/value",
                format!("is required ({range})"),
            ));
            return None;
        }
        Some(v) => match whole_number(v).filter(|n| (kind.min()..=scale).contains(n)) {
            Some(n) => n,
            None => {
                errors.push(FieldError::new("/score/value", format!("must be {range}")));
                return None;
            }
        },
    };
    Some(Score { kind, value, scale })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
    }

    fn input(v: Value) -> FeedbackInput {
        serde_json::from_value(v).unwrap()
    }

    fn valid() -> Value {
        json!({
            "source": "typeform",
            "external_id": "resp-1",
            "submitted_at": "2026-11-23T11:59:00Z",
            "customer": {"id": "c-1", "email": "ann@example.com", "name": "Ann",
                         "attributes": {"tier": "enterprise", "arr": 120000}},
            "score": {"kind": "nps", "value": 3},
            "comment": "  The room by the lift was noisy. ",
        })
    }

    fn pointers(v: Value) -> Vec<String> {
        input(v)
            .validate(now())
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn accepts_a_complete_input() {
        let f = input(valid()).validate(now()).unwrap();
        assert_eq!(f.score.scale, 10);
        assert_eq!(
            f.comment.as_deref(),
            Some("The room by the lift was noisy.")
        );
        assert_eq!(f.customer.attribute_str("tier"), Some("enterprise"));
        let fb = f.clone().into_feedback(now());
        assert_eq!(fb.id, f.id());
    }

    #[test]
    fn the_id_depends_only_on_source_and_external_id() {
        let a = input(valid()).validate(now()).unwrap();
        let mut other = valid();
        other["comment"] = json!("different");
        let b = input(other).validate(now()).unwrap();
        assert_eq!(a.id(), b.id());
        let mut third = valid();
        third["external_id"] = json!("resp-2");
        assert_ne!(a.id(), input(third).validate(now()).unwrap().id());
    }

    #[test]
    fn reports_every_missing_field() {
        assert_eq!(
            pointers(json!({})),
            ["/source", "/external_id", "/submitted_at", "/score"]
        );
    }

    #[test]
    fn score_limits() {
        for (score, pointer) in [
            (json!({"kind": "nps", "value": 11}), "/score/value"),
            (json!({"kind": "nps", "value": -1}), "/score/value"),
            (json!({"kind": "nps", "value": 3.5}), "/score/value"),
            (json!({"kind": "nps", "value": "3"}), "/score/value"),
            (json!({"kind": "nps"}), "/score/value"),
            (json!({"kind": "stars", "value": 3}), "/score/kind"),
            (
                json!({"kind": "csat", "value": 3, "scale": 6}),
                "/score/scale",
            ),
            (
                json!({"kind": "csat", "value": 0, "scale": 5}),
                "/score/value",
            ),
        ] {
            let mut v = valid();
            v["score"] = score.clone();
            assert_eq!(pointers(v), [pointer], "{score}");
        }
        for score in [
            json!({"kind": "nps", "value": 0}),
            json!({"kind": "nps", "value": 10}),
            json!({"kind": "csat", "value": 7, "scale": 7}),
            json!({"kind": "ces", "value": 1}),
            json!({"kind": "rating", "value": 3.0, "scale": 3}),
        ] {
            let mut v = valid();
            v["score"] = score.clone();
            assert!(input(v).validate(now()).is_ok(), "{score}");
        }
    }

    #[test]
    fn comment_at_and_past_the_limit() {
        let mut v = valid();
        v["comment"] = json!("a".repeat(MAX_COMMENT_CHARS));
        assert!(input(v.clone()).validate(now()).is_ok());
        v["comment"] = json!("a".repeat(MAX_COMMENT_CHARS + 1));
        assert_eq!(pointers(v), ["/comment"]);
    }

    #[test]
    fn metadata_at_and_past_the_limit() {
        let map = |n: usize| {
            (0..n)
                .map(|i| (format!("k{i}"), json!(i)))
                .collect::<Map<_, _>>()
        };
        let mut v = valid();
        v["metadata"] = Value::Object(map(MAX_MAP_ENTRIES));
        assert!(input(v.clone()).validate(now()).is_ok());
        v["metadata"] = Value::Object(map(MAX_MAP_ENTRIES + 1));
        assert_eq!(pointers(v), ["/metadata"]);
    }

    #[test]
    fn customer_rules() {
        let mut v = valid();
        v["customer"] = json!({"email": "not-an-email"});
        assert_eq!(pointers(v.clone()), ["/customer/email"]);
        v["customer"] = json!({"phone": "12"});
        assert_eq!(pointers(v.clone()), ["/customer/phone"]);
        v["customer"] = json!({"phone": "+44 7700 900123"});
        assert!(input(v).validate(now()).is_ok());
    }

    #[test]
    fn an_answer_without_id_email_or_phone_is_anonymous() {
        for customer in [
            json!(null),
            json!({}),
            json!({"name": "Ann", "attributes": {"tier": "vip"}}),
        ] {
            let mut v = valid();
            v["customer"] = customer.clone();
            let f = input(v).validate(now()).unwrap();
            assert!(f.customer.is_anonymous(), "{customer}");
        }
        let mut v = valid();
        v.as_object_mut().unwrap().remove("customer");
        let f = input(v).validate(now()).unwrap();
        assert!(f.customer.is_anonymous());
        assert_eq!(f.customer.display_name(), "an anonymous customer");
        for known in [
            json!({"id": "c-1"}),
            json!({"email": "a@example.com"}),
            json!({"phone": "+447700900123"}),
        ] {
            let mut v = valid();
            v["customer"] = known.clone();
            assert!(
                !input(v).validate(now()).unwrap().customer.is_anonymous(),
                "{known}"
            );
        }
    }

    #[test]
    fn submitted_at_rules() {
        let mut v = valid();
        v["submitted_at"] = json!("yesterday");
        assert_eq!(pointers(v.clone()), ["/submitted_at"]);
        v["submitted_at"] = json!("2026-11-23T12:06:00Z");
        assert_eq!(pointers(v.clone()), ["/submitted_at"]);
        v["submitted_at"] = json!("2026-11-23T12:04:00+00:00");
        assert!(input(v).validate(now()).is_ok());
    }

    #[test]
    fn source_must_be_a_slug() {
        let mut v = valid();
        v["source"] = json!("Type Form");
        assert_eq!(pointers(v), ["/source"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = valid();
        v["scoer"] = json!(1);
        assert!(serde_json::from_value::<FeedbackInput>(v).is_err());
    }
}
