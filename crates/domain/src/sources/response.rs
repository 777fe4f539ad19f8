//! What every adapter turns a platform's payload into ([`SourceResponse`]), and how a
//! connection's [`Mapping`] turns that into closeloop's canonical feedback.
//!
//! Adapters only read their platform's shapes; the choice of which answer is the score, the
//! comment or the customer's email lives here once, with an automatic default by question
//! type, so a connection works without any mapping and a mapping fixes the odd survey.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Timestamp;
use crate::feedback::{CustomerInput, FeedbackInput, MAX_MAP_ENTRIES, ScoreInput, SourcedFeedback};
use crate::problem::FieldError;
use crate::score::ScoreKind;

/// The type of question an answer answers, as far as closeloop cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    Nps,
    Csat,
    Ces,
    Rating,
    /// A numeric scale of unknown meaning (an opinion or linear scale).
    Scale,
    LongText,
    Text,
    Email,
    Phone,
    Other,
}

/// One answer of a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The question's stable id (and, where the platform has one, its `ref`, also matched).
    pub id: String,
    pub alt_id: Option<String>,
    pub label: Option<String>,
    pub kind: AnswerKind,
    /// The lowest and highest value of a scale, when the platform says.
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub value: Value,
}

impl Answer {
    pub fn new(id: impl Into<String>, kind: AnswerKind, value: Value) -> Self {
        Answer {
            id: id.into(),
            alt_id: None,
            label: None,
            kind,
            min: None,
            max: None,
            value,
        }
    }

    pub fn label(mut self, label: Option<&str>) -> Self {
        self.label = label.map(str::to_owned);
        self
    }

    pub fn scale(mut self, min: Option<i64>, max: Option<i64>) -> Self {
        self.min = min;
        self.max = max;
        self
    }

    fn matches(&self, name: &str) -> bool {
        self.id.eq_ignore_ascii_case(name)
            || self
                .alt_id
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(name))
            || self
                .label
                .as_deref()
                .is_some_and(|l| l.trim().eq_ignore_ascii_case(name))
    }

    fn text(&self) -> Option<String> {
        value_text(&self.value)
    }
}

/// A value as text: strings as they are, numbers printed, the first of a list.
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items.iter().find_map(value_text),
        _ => None,
    }
}

/// A value as a whole number: numbers and numeric strings ("7", "7.0").
pub fn value_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
        }
        Value::Array(items) if items.len() == 1 => value_number(&items[0]),
        _ => None,
    }
}

/// The respondent as the platform itself knows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A platform's response, in closeloop's terms but not yet mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceResponse {
    /// The platform's id of this delivery's event: the idempotency key of the delivery.
    pub event_id: String,
    /// The platform's id of the response: every event about it updates one feedback.
    pub response_id: String,
    pub submitted_at: Option<Timestamp>,
    /// Orders the events of one response: the highest is the latest state.
    pub sequence: i64,
    pub answers: Vec<Answer>,
    /// Hidden fields, person properties, contact attributes: name to value.
    pub fields: Map<String, Value>,
    pub person: Person,
    /// Where it came from within the platform (form or survey id, event type).
    pub metadata: Map<String, Value>,
}

impl SourceResponse {
    pub fn new(event_id: impl Into<String>, response_id: impl Into<String>) -> Self {
        SourceResponse {
            event_id: event_id.into(),
            response_id: response_id.into(),
            submitted_at: None,
            sequence: 0,
            answers: Vec::new(),
            fields: Map::new(),
            person: Person::default(),
            metadata: Map::new(),
        }
    }

    fn find(&self, name: &str) -> Option<Value> {
        self.answers
            .iter()
            .find(|a| a.matches(name))
            .map(|a| a.value.clone())
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            })
    }

    fn find_text(&self, name: &str) -> Option<String> {
        self.find(name).as_ref().and_then(value_text)
    }
}

/// Which answer is the score, and on what scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreMapping {
    /// The question's id, ref or title.
    pub question: String,
    pub kind: ScoreKind,
    /// The top of the scale; the kind's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i64>,
}

/// Where the customer is found: each a question id, ref or title, or a hidden field or
/// property name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Fields copied into the customer's attributes (`tier`, `arr` raise priority); when
    /// absent, every hidden field and property is copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<String>>,
}

/// A connection's field mapping; everything left out is found automatically by question type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreMapping>,
    /// The comment question's id, ref or title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub customer: CustomerMapping,
}

/// The most names listed in a mapping's `customer.attributes`.
pub const MAX_MAPPED_ATTRIBUTES: usize = MAX_MAP_ENTRIES;
/// The longest name in a mapping.
pub const MAX_MAPPING_NAME_CHARS: usize = 200;

impl Mapping {
    /// Checks the names and scales of an admin's mapping.
    pub fn check(&self, errors: &mut Vec<FieldError>) {
        let mut name = |pointer: &str, n: &str| {
            if n.trim().is_empty() || n.chars().count() > MAX_MAPPING_NAME_CHARS {
                errors.push(FieldError::new(
                    pointer,
                    format!("must be 1 to {MAX_MAPPING_NAME_CHARS} characters"),
                ));
            }
        };
        if let Some(s) = &self.score {
            name("/mapping/score/question", &s.question);
        }
        if let Some(c) = &self.comment {
            name("/mapping/comment", c);
        }
        let c = &self.customer;
        for (p, v) in [
            ("/mapping/customer/id", &c.id),
            ("/mapping/customer/email", &c.email),
            ("/mapping/customer/name", &c.name),
            ("/mapping/customer/phone", &c.phone),
        ] {
            if let Some(v) = v {
                name(p, v);
            }
        }
        if let Some(attrs) = &c.attributes {
            for a in attrs {
                name("/mapping/customer/attributes", a);
            }
            if attrs.len() > MAX_MAPPED_ATTRIBUTES {
                errors.push(FieldError::new(
                    "/mapping/customer/attributes",
                    format!("lists more than {MAX_MAPPED_ATTRIBUTES} names"),
                ));
            }
        }
        if let Some(s) = &self.score
            && let Some(scale) = s.scale
            && !s.kind.accepts_scale(scale)
        {
            errors.push(FieldError::new(
                "/mapping/score/scale",
                format!(
                    "a {} score is asked on a scale of {}",
                    s.kind.as_str(),
                    s.kind.scale_description()
                ),
            ));
        }
    }
}

/// The score under automatic mapping: an NPS question first, then a 0-10 scale (the NPS
/// question on every platform that has one, even beside a star rating; a scale whose range the
/// platform does not send, as Tally's, when its title asks whether they would recommend), then
/// CSAT, CES or rating (in that order, whatever order the answers came in), else a 1-N scale
/// (read as a rating).
fn auto_score(answers: &[Answer]) -> Option<(&Answer, ScoreKind, Option<i64>)> {
    let by_kind = |kind: AnswerKind| answers.iter().find(|a| a.kind == kind);
    if let Some(a) = by_kind(AnswerKind::Nps) {
        return Some((a, ScoreKind::Nps, Some(10)));
    }
    let recommend = |a: &Answer| {
        a.label.as_deref().is_some_and(|l| {
            let l = l.to_lowercase();
            l.contains("recommend") || l.contains("nps")
        })
    };
    let zero_to_ten = answers.iter().find(|a| {
        a.kind == AnswerKind::Scale
            && ((a.min, a.max) == (Some(0), Some(10)) || (a.max.is_none() && recommend(a)))
    });
    if let Some(a) = zero_to_ten {
        return Some((a, ScoreKind::Nps, Some(10)));
    }
    for (kind, score_kind) in [
        (AnswerKind::Csat, ScoreKind::Csat),
        (AnswerKind::Ces, ScoreKind::Ces),
        (AnswerKind::Rating, ScoreKind::Rating),
    ] {
        if let Some(a) = by_kind(kind) {
            let scale = if kind == AnswerKind::Ces {
                Some(7)
            } else {
                a.max
            };
            return Some((a, score_kind, scale));
        }
    }
    answers.iter().find_map(|a| match (a.kind, a.max) {
        (AnswerKind::Scale, Some(max)) if (3..=10).contains(&max) => {
            Some((a, ScoreKind::Rating, Some(max)))
        }
        _ => None,
    })
}

/// The comment under automatic mapping: free text the customer wrote, the longest answer of a
/// long-text question, else of a short-text one; never a list of choices, a URL, or a consent
/// or button value (platforms that send no question types send those as text too).
fn auto_comment(answers: &[Answer]) -> Option<String> {
    const NOT_WRITTEN: [&str; 8] = [
        "accepted",
        "dismissed",
        "clicked",
        "yes",
        "no",
        "true",
        "false",
        "on",
    ];
    let written = |a: &&Answer| match &a.value {
        Value::String(s) => {
            let t = s.trim();
            !t.is_empty()
                && !t.starts_with("http://")
                && !t.starts_with("https://")
                && !NOT_WRITTEN.contains(&t.to_lowercase().as_str())
        }
        _ => false,
    };
    let longest = |kind: AnswerKind| {
        answers
            .iter()
            .filter(|a| a.kind == kind)
            .filter(written)
            .max_by_key(|a| a.text().map_or(0, |t| t.chars().count()))
            .and_then(Answer::text)
    };
    longest(AnswerKind::LongText).or_else(|| longest(AnswerKind::Text))
}

/// Why a response could not become feedback (answered 422 with the reason).
pub fn unusable(pointer: &str, detail: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError::new(pointer, detail)]
}

/// Maps `response` to canonical feedback from `source`. A response without the score but with
/// a comment is kept unscored; without either it is refused with the reason.
pub fn to_feedback(
    response: &SourceResponse,
    mapping: &Mapping,
    source: &str,
    now: Timestamp,
) -> Result<SourcedFeedback, Vec<FieldError>> {
    let score = match &mapping.score {
        Some(m) => response
            .answers
            .iter()
            .find(|a| a.matches(&m.question))
            .map(|a| {
                (
                    a,
                    m.kind,
                    m.scale.or(a.max).filter(|s| m.kind.accepts_scale(*s)),
                )
            }),
        None => auto_score(&response.answers),
    };
    let score_input = match score {
        None => None,
        Some((answer, kind, scale)) => match value_number(&answer.value) {
            Some(value) => Some(ScoreInput {
                kind: Some(kind.as_str().to_owned()),
                value: Some(json!(value)),
                scale: scale.map(|s| json!(s)),
            }),
            // A skipped question (null or empty answer) is no score.
            None if answer.value.is_null() || value_text(&answer.value).is_none() => None,
            None => {
                return Err(unusable(
                    "/score/value",
                    format!(
                        "the answer to score question `{}` is not a number: {}",
                        answer.id, answer.value
                    ),
                ));
            }
        },
    };
    let comment = match &mapping.comment {
        Some(q) => response.find_text(q),
        None => auto_comment(&response.answers),
    };
    if score_input.is_none() && comment.is_none() {
        let which = match &mapping.score {
            Some(m) => format!("the score question `{}`", m.question),
            None => "a score question (NPS, CSAT, CES, rating or scale)".to_owned(),
        };
        return Err(unusable(
            "/score",
            format!(
                "the response has no answer to {which} and no comment, so there is nothing to \
                 act on; map the score question in the connection if it has another id"
            ),
        ));
    }
    let c = &mapping.customer;
    let pick = |mapped: &Option<String>,
                defaults: &[&str],
                native: &Option<String>,
                kind: Option<AnswerKind>| {
        match mapped {
            Some(name) => response.find_text(name),
            None => native
                .clone()
                .or_else(|| {
                    kind.and_then(|k| {
                        response
                            .answers
                            .iter()
                            .find(|a| a.kind == k)
                            .and_then(Answer::text)
                    })
                })
                .or_else(|| defaults.iter().find_map(|d| response.find_text(d))),
        }
    };
    let email = pick(
        &c.email,
        &["email", "e-mail"],
        &response.person.email,
        Some(AnswerKind::Email),
    );
    let id = pick(
        &c.id,
        &["customer_id", "user_id", "contact_id"],
        &response.person.id,
        None,
    );
    let name = pick(&c.name, &["name", "full_name"], &response.person.name, None);
    let phone = pick(
        &c.phone,
        &["phone"],
        &response.person.phone,
        Some(AnswerKind::Phone),
    );
    let attributes: Map<String, Value> = match &c.attributes {
        Some(names) => names
            .iter()
            .filter_map(|n| response.find(n).map(|v| (n.clone(), v)))
            .collect(),
        None => response
            .fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .take(MAX_MAP_ENTRIES)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let input = FeedbackInput {
        source: Some(source.to_owned()),
        external_id: Some(response.response_id.clone()),
        submitted_at: Some(response.submitted_at.unwrap_or(now).to_rfc3339()),
        customer: Some(CustomerInput {
            id,
            email,
            name,
            phone,
            attributes: Some(attributes),
        }),
        score: score_input,
        comment,
        metadata: Some(response.metadata.clone()),
    };
    input.validate_sourced(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
    }

    fn response(answers: Vec<Answer>) -> SourceResponse {
        let mut r = SourceResponse::new("ev-1", "resp-1");
        r.person.email = Some("ann@example.com".into());
        r.answers = answers;
        r
    }

    #[test]
    fn automatic_mapping_by_question_type() {
        let r = response(vec![
            Answer::new("q-text", AnswerKind::Text, json!("short")),
            Answer::new("q-long", AnswerKind::LongText, json!("The lift was noisy")),
            Answer::new("q-scale", AnswerKind::Scale, json!(3)).scale(Some(0), Some(10)),
        ]);
        let f = to_feedback(&r, &Mapping::default(), "typeform", now()).unwrap();
        let score = f.score.unwrap();
        assert_eq!(
            (score.kind, score.value, score.scale),
            (ScoreKind::Nps, 3, 10)
        );
        assert_eq!(f.comment.as_deref(), Some("The lift was noisy"));
        assert_eq!(f.customer.email.as_deref(), Some("ann@example.com"));
    }

    #[test]
    fn a_recommend_scale_without_its_range_is_the_score_beside_a_star_rating() {
        // Tally sends a linear scale's value without its range.
        let answers = [
            Answer::new("stars", AnswerKind::Rating, json!(4)).scale(None, Some(5)),
            Answer::new("likely", AnswerKind::Scale, json!(3))
                .label(Some("How likely are you to recommend us to a friend?")),
        ];
        let (a, kind, scale) = auto_score(&answers).unwrap();
        assert_eq!(
            (a.id.as_str(), kind, scale),
            ("likely", ScoreKind::Nps, Some(10))
        );
    }

    #[test]
    fn a_zero_to_ten_scale_is_the_score_beside_a_star_rating() {
        let r = response(vec![
            Answer::new("stars", AnswerKind::Rating, json!(4)).scale(Some(1), Some(5)),
            Answer::new("likely", AnswerKind::Scale, json!(3)).scale(Some(0), Some(10)),
        ]);
        let f = to_feedback(&r, &Mapping::default(), "tally", now()).unwrap();
        let s = f.score.unwrap();
        assert_eq!((s.kind, s.value, s.scale), (ScoreKind::Nps, 3, 10));
    }

    #[test]
    fn the_comment_is_the_longest_written_answer_never_a_choice_consent_or_url() {
        let r = response(vec![
            Answer::new("consent", AnswerKind::LongText, json!("accepted")),
            Answer::new(
                "site",
                AnswerKind::LongText,
                json!("https://example.com/booking/1"),
            ),
            Answer::new("services", AnswerKind::Text, json!(["Cleaning", "Parking"])),
            Answer::new("short", AnswerKind::LongText, json!("Too loud")),
            Answer::new(
                "why",
                AnswerKind::LongText,
                json!("The room by the lift was loud"),
            ),
            Answer::new(
                "name",
                AnswerKind::Text,
                json!("A much longer short-text answer"),
            ),
        ]);
        let f = to_feedback(&r, &Mapping::default(), "formbricks", now()).unwrap();
        assert_eq!(f.comment.as_deref(), Some("The room by the lift was loud"));
        let only_choices = response(vec![
            Answer::new("n", AnswerKind::Nps, json!(2)),
            Answer::new("consent", AnswerKind::LongText, json!("accepted")),
            Answer::new("services", AnswerKind::Text, json!(["Cleaning"])),
        ]);
        let f = to_feedback(&only_choices, &Mapping::default(), "jotform", now()).unwrap();
        assert_eq!(f.comment, None);
    }

    #[test]
    fn an_explicit_mapping_wins() {
        let r = response(vec![
            Answer::new("nps", AnswerKind::Nps, json!(9)),
            Answer::new("stars", AnswerKind::Rating, json!("2")).scale(Some(1), Some(5)),
            Answer::new("why", AnswerKind::Text, json!("slow")),
        ]);
        let mapping = Mapping {
            score: Some(ScoreMapping {
                question: "STARS".into(),
                kind: ScoreKind::Csat,
                scale: None,
            }),
            comment: Some("why".into()),
            customer: CustomerMapping::default(),
        };
        let f = to_feedback(&r, &mapping, "tally", now()).unwrap();
        let s = f.score.unwrap();
        assert_eq!((s.kind, s.value, s.scale), (ScoreKind::Csat, 2, 5));
        assert_eq!(f.comment.as_deref(), Some("slow"));
    }

    #[test]
    fn without_the_score_a_comment_is_kept_unscored_else_refused() {
        let r = response(vec![Answer::new("c", AnswerKind::LongText, json!("hello"))]);
        let f = to_feedback(&r, &Mapping::default(), "s", now()).unwrap();
        assert_eq!(f.score, None);
        let r = response(vec![Answer::new("x", AnswerKind::Other, json!("a"))]);
        let e = to_feedback(&r, &Mapping::default(), "s", now()).unwrap_err();
        assert_eq!(e[0].pointer, "/score");
        assert!(e[0].detail.contains("no comment"), "{e:?}");
    }

    #[test]
    fn an_off_scale_score_is_refused_with_the_field() {
        let r = response(vec![Answer::new("n", AnswerKind::Nps, json!(12))]);
        let e = to_feedback(&r, &Mapping::default(), "s", now()).unwrap_err();
        assert_eq!(e[0].pointer, "/score/value");
        let r = response(vec![Answer::new("n", AnswerKind::Nps, json!("lots"))]);
        assert!(to_feedback(&r, &Mapping::default(), "s", now()).is_err());
    }

    #[test]
    fn hidden_fields_become_attributes_and_find_the_customer() {
        let mut r = response(vec![Answer::new("n", AnswerKind::Nps, json!(2))]);
        r.person.email = None;
        r.fields.insert("customer_id".into(), json!("c-9"));
        r.fields.insert("tier".into(), json!("enterprise"));
        let f = to_feedback(&r, &Mapping::default(), "s", now()).unwrap();
        assert_eq!(f.customer.id.as_deref(), Some("c-9"));
        assert_eq!(f.customer.attribute_str("tier"), Some("enterprise"));
    }

    #[test]
    fn mapping_checks_names_and_scales() {
        let mut errors = Vec::new();
        let m = Mapping {
            score: Some(ScoreMapping {
                question: "".into(),
                kind: ScoreKind::Nps,
                scale: Some(5),
            }),
            comment: None,
            customer: CustomerMapping {
                attributes: Some(vec!["a".into(); MAX_MAPPED_ATTRIBUTES + 1]),
                ..Default::default()
            },
        };
        m.check(&mut errors);
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/mapping/score/question",
                "/mapping/customer/attributes",
                "/mapping/score/scale"
            ]
        );
        let mut errors = Vec::new();
        Mapping {
            customer: CustomerMapping {
                attributes: Some(vec!["a".into(); MAX_MAPPED_ATTRIBUTES]),
                ..Default::default()
            },
            ..Default::default()
        }
        .check(&mut errors);
        assert!(errors.is_empty());
    }
}
