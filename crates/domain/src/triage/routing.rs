//! Routing rules: ordered JSON rules that decide who owns a case, who is told, and how.
//!
//! ```json
//! {"rules": [
//!   {"name": "threats to legal", "stop": true,
//!    "when": [{"field": "signals", "op": "contains", "value": "legal-threat"}],
//!    "then": {"team": "legal", "watchers": ["counsel@example.com"], "channels": ["slack"]}},
//!   {"name": "enterprise detractors to their CSM",
//!    "when": [{"field": "customer.tier", "op": "eq", "value": "enterprise"},
//!             {"field": "class", "op": "eq", "value": "detractor"}],
//!    "then": {"team": "customer-success", "round_robin": ["ana", "ben"]}},
//!   {"name": "quiet passives", "when": [{"field": "priority", "op": "in", "value": ["P3", "P4"]}],
//!    "then": {"delivery": "digest"}}
//! ]}
//! ```
//!
//! Rules run in order. Every rule whose conditions all hold (an `{"any": [...]}` condition holds
//! when one of its conditions does) applies its `then`: `team`, `owner`, `round_robin` and
//! `delivery` replace what earlier rules set, `channels` and `watchers` add to it, and
//! `stop: true` ends the evaluation. Conditions read any triage field or customer attribute
//! ([`FIELDS`], `customer.<attribute>`).
//!
//! Two rules are built in and run before the configured ones: the contact-frequency rule
//! (`"join_open_case": true`: a new answer from a customer who has an open case joins that
//! case instead of opening a second one and alerting again) and the promoter path (a promoter
//! is thanked). Review and referral asks go to
//! every customer when enabled, never chosen by the score: asking only happy customers for
//! reviews ("review gating") misleads readers and breaks review sites' terms, so a rule that
//! adds an ask under a score, class or sentiment condition is refused.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DeliveryMode;
use crate::problem::FieldError;

/// At most this many rules.
pub const MAX_RULES: usize = 100;
/// At most this many conditions in one rule (counting those inside `any`).
pub const MAX_CONDITIONS: usize = 20;
/// Names, teams, owners, channels and watchers are at most this many characters.
pub const MAX_NAME_CHARS: usize = 64;
/// At most this many entries in one list of a rule (`in` values, channels, watchers, owners).
pub const MAX_LIST: usize = 50;

/// Follow-ups a case may ask dispatch to send the customer.
pub const FOLLOW_UPS: [&str; 3] = ["thank-you", "review-ask", "referral-ask"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// A number in a range.
    Number(f64, f64),
    /// A list of strings drawn from a set (None: any string, e.g. topics checked separately).
    List(Option<&'static [&'static str]>),
    Bool,
    Text,
    /// A customer attribute: any JSON the platform sent (string, number, bool or list).
    Attribute,
}

const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4"];
const CLASSES: &[&str] = &["detractor", "passive", "promoter"];
const KINDS: &[&str] = &["nps", "csat", "ces", "rating"];
const POLARITIES: &[&str] = &["positive", "neutral", "negative"];
const SIGNALS: &[&str] = &[
    "complaint",
    "praise",
    "question",
    "feature-request",
    "churn-threat",
    "refund-request",
    "legal-threat",
    "safety-threat",
];
const EMOTIONS: &[&str] = &["anger", "frustration", "disappointment", "joy", "gratitude"];

/// The fields a condition may read, besides `customer.<attribute>`.
pub const FIELDS: &[&str] = &[
    "priority",
    "class",
    "score.kind",
    "score.value",
    "score.normalized",
    "sentiment.score",
    "sentiment.polarity",
    "topics",
    "signals",
    "emotions",
    "churn_risk",
    "high_value",
    "source",
    "has_comment",
];

fn kind_of(field: &str) -> Option<Kind> {
    Some(match field {
        "priority" => Kind::Enum(PRIORITIES),
        "class" => Kind::Enum(CLASSES),
        "score.kind" => Kind::Enum(KINDS),
        "score.value" => Kind::Number(0.0, 10.0),
        "score.normalized" => Kind::Number(0.0, 1.0),
        "sentiment.score" => Kind::Number(-1.0, 1.0),
        "sentiment.polarity" => Kind::Enum(POLARITIES),
        "topics" => Kind::List(None),
        "signals" => Kind::List(Some(SIGNALS)),
        "emotions" => Kind::List(Some(EMOTIONS)),
        "churn_risk" => Kind::Number(0.0, 1.0),
        "high_value" | "has_comment" => Kind::Bool,
        "source" => Kind::Text,
        f if f.starts_with("customer.") && f.len() > "customer.".len() => Kind::Attribute,
        _ => return None,
    })
}

/// Whether a condition reads the score or how the customer feels: asks must not depend on it.
fn reads_score(field: &str) -> bool {
    field.starts_with("score.")
        || field.starts_with("sentiment.")
        || matches!(field, "class" | "priority" | "churn_risk" | "emotions")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    NotContains,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

const OPS: &str = "eq, ne, in, not_in, contains, not_contains, gt, gte, lt, lte, exists";

fn op(s: &str) -> Option<Op> {
    Some(match s {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "in" => Op::In,
        "not_in" => Op::NotIn,
        "contains" => Op::Contains,
        "not_contains" => Op::NotContains,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "exists" => Op::Exists,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    Any { any: Vec<Condition> },
    Test { field: String, op: Op, value: Value },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub round_robin: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryMode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    #[serde(default)]
    pub when: Vec<Condition>,
    pub then: Actions,
    #[serde(default)]
    pub stop: bool,
}

/// The configured rules and the two settings of the built-in rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Contact frequency: a new answer from a customer with an open case joins that case
    /// (off unless configured, so every answer opens its own case by default).
    #[serde(default)]
    pub join_open_case: bool,
    /// Ask every customer for a review (never chosen by the score).
    #[serde(default)]
    pub review_ask: bool,
    /// Ask every customer for a referral (never chosen by the score).
    #[serde(default)]
    pub referral_ask: bool,
}

/// A rule that can never match, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub pointer: String,
    pub detail: String,
}

struct Checker<'a> {
    errors: Vec<FieldError>,
    warnings: Vec<Warning>,
    topics: &'a dyn Fn(&str) -> bool,
}

impl Checker<'_> {
    fn error(&mut self, pointer: String, detail: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, detail));
    }

    fn never(&mut self, pointer: String, detail: impl Into<String>) {
        self.warnings.push(Warning {
            pointer,
            detail: detail.into(),
        });
    }

    fn name(&mut self, v: &Value, at: String, what: &str) -> Option<String> {
        match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= MAX_NAME_CHARS => {
                Some(s.to_owned())
            }
            _ => {
                self.error(
                    at,
                    format!("{what} is a non-empty string of at most {MAX_NAME_CHARS} characters"),
                );
                None
            }
        }
    }

    fn names(&mut self, v: &Value, at: String, what: &str) -> Vec<String> {
        let Some(items) = v.as_array() else {
            self.error(at, format!("{what} is a list of strings"));
            return Vec::new();
        };
        if items.len() > MAX_LIST {
            self.error(at.clone(), format!("at most {MAX_LIST} {what}"));
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.name(item, format!("{at}/{i}"), what))
            .collect()
    }

    /// A value that `kind` can take, or the reason it cannot.
    fn value_fits(&mut self, kind: Kind, v: &Value, at: &str, field: &str) -> bool {
        match (kind, v) {
            (Kind::Enum(allowed), Value::String(s))
            | (Kind::List(Some(allowed)), Value::String(s)) => {
                if allowed.contains(&s.as_str()) {
                    true
                } else {
                    self.error(
                        at.to_owned(),
                        format!("{field} is one of {}; {s:?} is not", allowed.join(", ")),
                    );
                    false
                }
            }
            (Kind::List(None), Value::String(s)) => {
                if !(self.topics)(s) {
                    self.never(
                        at.to_owned(),
                        format!("no topic {s:?} exists, so this never holds; add the topic first"),
                    );
                }
                true
            }
            (Kind::Number(..), Value::Number(_)) | (Kind::Bool, Value::Bool(_)) => true,
            (
                Kind::Text | Kind::Attribute,
                Value::String(_) | Value::Number(_) | Value::Bool(_),
            ) => true,
            _ => {
                let want = match kind {
                    Kind::Enum(_) | Kind::List(_) | Kind::Text => "a string",
                    Kind::Attribute => "a string, number or true/false",
                    Kind::Number(..) => "a number",
                    Kind::Bool => "true or false",
                };
                self.error(at.to_owned(), format!("{field} compares with {want}"));
                false
            }
        }
    }

    fn condition(
        &mut self,
        c: &Value,
        at: String,
        count: &mut usize,
        read: &mut Vec<String>,
    ) -> Option<Condition> {
        *count += 1;
        let Some(obj) = c.as_object() else {
            self.error(
                at,
                "a condition is an object {\"field\", \"op\", \"value\"} or {\"any\": [...]}",
            );
            return None;
        };
        if let Some(any) = obj.get("any") {
            if obj.len() != 1 {
                self.error(at.clone(), "an \"any\" condition has no other keys");
            }
            let Some(items) = any.as_array().filter(|a| !a.is_empty()) else {
                self.error(
                    format!("{at}/any"),
                    "\"any\" is a non-empty list of conditions",
                );
                return None;
            };
            let parts: Vec<Condition> = items
                .iter()
                .enumerate()
                .filter_map(|(i, c)| self.condition(c, format!("{at}/any/{i}"), count, read))
                .collect();
            return (parts.len() == items.len()).then_some(Condition::Any { any: parts });
        }
        for key in obj.keys() {
            if !matches!(key.as_str(), "field" | "op" | "value") {
                self.error(
                    format!("{at}/{key}"),
                    "unknown key; a condition has field, op and value",
                );
            }
        }
        let field = match obj.get("field").and_then(Value::as_str) {
            Some(f) => f.to_owned(),
            None => {
                self.error(
                    format!("{at}/field"),
                    "missing: which triage field or customer.<attribute> to test",
                );
                return None;
            }
        };
        let Some(kind) = kind_of(&field) else {
            self.error(
                format!("{at}/field"),
                format!(
                    "unknown field {field:?}; use one of {} or customer.<attribute>",
                    FIELDS.join(", ")
                ),
            );
            return None;
        };
        read.push(field.clone());
        let Some(op_name) = obj.get("op").and_then(Value::as_str) else {
            self.error(format!("{at}/op"), format!("missing: one of {OPS}"));
            return None;
        };
        let Some(op) = op(op_name) else {
            self.error(
                format!("{at}/op"),
                format!("unknown op {op_name:?}; use one of {OPS}"),
            );
            return None;
        };
        let value = obj.get("value").cloned().unwrap_or(Value::Null);
        let vat = format!("{at}/value");
        let ok = match (&op, kind) {
            (Op::Exists, _) => {
                if !value.is_boolean() {
                    self.error(vat, "exists compares with true or false");
                    false
                } else {
                    true
                }
            }
            (Op::Contains | Op::NotContains, Kind::List(_) | Kind::Attribute) => {
                self.value_fits(kind, &value, &vat, &field)
            }
            (Op::Contains | Op::NotContains, _) => {
                self.error(
                    format!("{at}/op"),
                    format!("{field} is not a list; use eq, ne, in or not_in"),
                );
                false
            }
            (_, Kind::List(_)) => {
                self.error(
                    format!("{at}/op"),
                    format!("{field} is a list; use contains or not_contains"),
                );
                false
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Kind::Number(lo, hi)) => {
                let fits = self.value_fits(kind, &value, &vat, &field);
                if fits {
                    let v = value.as_f64().unwrap_or(0.0);
                    let impossible = match op {
                        Op::Gt => v >= hi,
                        Op::Gte => v > hi,
                        Op::Lt => v <= lo,
                        _ => v < lo,
                    };
                    if impossible {
                        self.never(
                            vat,
                            format!("{field} lies between {lo} and {hi}, so this never holds"),
                        );
                    }
                }
                fits
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Kind::Attribute) => {
                if value.is_number() {
                    true
                } else {
                    self.error(vat, "gt, gte, lt and lte compare with a number");
                    false
                }
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, _) => {
                self.error(
                    format!("{at}/op"),
                    format!("{field} is not a number; use eq, ne, in or not_in"),
                );
                false
            }
            (Op::In | Op::NotIn, _) => match value.as_array() {
                Some(items) => {
                    if items.is_empty() && op == Op::In {
                        self.never(vat.clone(), "an empty list never holds");
                    }
                    if items.len() > MAX_LIST {
                        self.error(vat.clone(), format!("at most {MAX_LIST} values"));
                    }
                    let mut all = true;
                    for (i, item) in items.iter().enumerate() {
                        all &= self.value_fits(kind, item, &format!("{vat}/{i}"), &field);
                    }
                    all
                }
                None => {
                    self.error(vat, "in and not_in compare with a list of values");
                    false
                }
            },
            (Op::Eq | Op::Ne, _) => {
                let fits = self.value_fits(kind, &value, &vat, &field);
                if fits
                    && let (Kind::Number(lo, hi), Some(v)) = (kind, value.as_f64())
                    && op == Op::Eq
                    && !(lo..=hi).contains(&v)
                {
                    self.never(
                        vat,
                        format!("{field} lies between {lo} and {hi}, so this never holds"),
                    );
                }
                fits
            }
        };
        ok.then_some(Condition::Test { field, op, value })
    }
}

/// Contradictions between a rule's top-level conditions on one field: two different `eq`s, or
/// a lower bound at or above an upper bound.
fn contradictions(when: &[Condition]) -> Option<String> {
    let tests: Vec<(&String, &Op, &Value)> = when
        .iter()
        .filter_map(|c| match c {
            Condition::Test { field, op, value } => Some((field, op, value)),
            Condition::Any { .. } => None,
        })
        .collect();
    for (i, (f1, o1, v1)) in tests.iter().enumerate() {
        for (f2, o2, v2) in &tests[i + 1..] {
            if f1 != f2 {
                continue;
            }
            if **o1 == Op::Eq && **o2 == Op::Eq && !same(v1, v2) {
                return Some(format!("{f1} cannot equal both {v1} and {v2}"));
            }
            let (lo, hi) = match (o1, o2) {
                (Op::Gt | Op::Gte, Op::Lt | Op::Lte) => (v1, v2),
                (Op::Lt | Op::Lte, Op::Gt | Op::Gte) => (v2, v1),
                _ => continue,
            };
            if let (Some(lo), Some(hi)) = (lo.as_f64(), hi.as_f64())
                && lo >= hi
            {
                return Some(format!("{f1} cannot be above {lo} and below {hi}"));
            }
        }
    }
    None
}

/// Parses and checks a rule set from JSON. `topic_known` says whether a topic id exists. On
/// success returns the rules and the rules that can never match; otherwise every problem,
/// each located by a JSON pointer.
pub fn parse(
    doc: &Value,
    topic_known: &dyn Fn(&str) -> bool,
) -> Result<(RuleSet, Vec<Warning>), Vec<FieldError>> {
    let mut ck = Checker {
        errors: Vec::new(),
        warnings: Vec::new(),
        topics: topic_known,
    };
    let Some(top) = doc.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "the body is an object {\"rules\": [...]}",
        )]);
    };
    for key in top.keys() {
        if !matches!(
            key.as_str(),
            "rules" | "join_open_case" | "review_ask" | "referral_ask"
        ) {
            ck.error(
                format!("/{key}"),
                "unknown key; use rules, join_open_case, review_ask, referral_ask",
            );
        }
    }
    let flag = |ck: &mut Checker, key: &str, default: bool| match top.get(key) {
        None => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            ck.error(format!("/{key}"), "true or false");
            default
        }
    };
    let join_open_case = flag(&mut ck, "join_open_case", false);
    let review_ask = flag(&mut ck, "review_ask", false);
    let referral_ask = flag(&mut ck, "referral_ask", false);
    let empty = Vec::new();
    let items = match top.get("rules") {
        Some(Value::Array(items)) => items,
        None => &empty,
        Some(_) => {
            ck.error("/rules".into(), "rules is a list");
            &empty
        }
    };
    if items.len() > MAX_RULES {
        ck.error("/rules".into(), format!("at most {MAX_RULES} rules"));
    }
    let mut rules = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut unreachable_after: Option<String> = None;
    for (i, item) in items.iter().enumerate() {
        let at = format!("/rules/{i}");
        let Some(obj) = item.as_object() else {
            ck.error(
                at,
                "a rule is an object {\"name\", \"when\", \"then\", \"stop\"}",
            );
            continue;
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "name" | "when" | "then" | "stop") {
                ck.error(
                    format!("{at}/{key}"),
                    "unknown key; a rule has name, when, then and stop",
                );
            }
        }
        let name = match obj.get("name") {
            Some(v) => ck.name(v, format!("{at}/name"), "a rule name"),
            None => {
                ck.error(
                    format!("{at}/name"),
                    "missing: every rule has a name, shown in the reasons",
                );
                None
            }
        };
        if let Some(n) = &name {
            if names.contains(n) {
                ck.error(
                    format!("{at}/name"),
                    format!("another rule is already named {n:?}"),
                );
            }
            names.push(n.clone());
        }
        let mut count = 0;
        let mut read = Vec::new();
        let when: Vec<Condition> = match obj.get("when") {
            None => Vec::new(),
            Some(Value::Array(cs)) => cs
                .iter()
                .enumerate()
                .filter_map(|(j, c)| {
                    ck.condition(c, format!("{at}/when/{j}"), &mut count, &mut read)
                })
                .collect(),
            Some(_) => {
                ck.error(
                    format!("{at}/when"),
                    "when is a list of conditions, all of which must hold",
                );
                Vec::new()
            }
        };
        if count > MAX_CONDITIONS {
            ck.error(
                format!("{at}/when"),
                format!("at most {MAX_CONDITIONS} conditions per rule"),
            );
        }
        let then = obj.get("then").and_then(Value::as_object);
        let mut actions = Actions::default();
        match then {
            None => ck.error(format!("{at}/then"), "missing: what the rule does (team, owner, round_robin, channels, watchers, delivery, follow_ups)"),
            Some(t) => {
                let tat = format!("{at}/then");
                if t.is_empty() {
                    ck.error(tat.clone(), "a rule does at least one thing");
                }
                for (key, v) in t {
                    let kat = format!("{tat}/{key}");
                    match key.as_str() {
                        "team" => actions.team = ck.name(v, kat, "a team"),
                        "owner" => actions.owner = ck.name(v, kat, "an owner"),
                        "round_robin" => {
                            actions.round_robin = ck.names(v, kat.clone(), "owners");
                            if actions.round_robin.is_empty() {
                                ck.error(kat, "round_robin lists at least one owner");
                            }
                        }
                        "channels" => actions.channels = ck.names(v, kat, "channels"),
                        "watchers" => actions.watchers = ck.names(v, kat, "watchers"),
                        "delivery" => match serde_json::from_value::<DeliveryMode>(v.clone()) {
                            Ok(d) => actions.delivery = Some(d),
                            Err(_) => ck.error(kat, "delivery is one of immediate, digest, suppress"),
                        },
                        "follow_ups" => {
                            actions.follow_ups = ck.names(v, kat.clone(), "follow-ups");
                            for (j, f) in actions.follow_ups.iter().enumerate() {
                                if !FOLLOW_UPS.contains(&f.as_str()) {
                                    ck.error(format!("{kat}/{j}"), format!("a follow-up is one of {}", FOLLOW_UPS.join(", ")));
                                } else if f.ends_with("-ask") && let Some(field) = read.iter().find(|f| reads_score(f)) {
                                    ck.error(format!("{kat}/{j}"), format!(
                                        "a {f} must not depend on {field}: asking only satisfied customers is review gating; set review_ask or referral_ask to ask everyone"
                                    ));
                                }
                            }
                        }
                        _ => ck.error(kat, "unknown action; use team, owner, round_robin, channels, watchers, delivery, follow_ups"),
                    }
                }
                if actions.owner.is_some() && !actions.round_robin.is_empty() {
                    ck.error(tat, "give owner or round_robin, not both");
                }
            }
        }
        let stop = match obj.get("stop") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                ck.error(format!("{at}/stop"), "true or false");
                false
            }
        };
        if let Some(earlier) = &unreachable_after {
            ck.never(
                at.clone(),
                format!("never reached: rule {earlier:?} before it matches everything and stops"),
            );
        } else if let Some(why) = contradictions(&when) {
            ck.never(format!("{at}/when"), format!("never matches: {why}"));
        }
        if stop && when.is_empty() && unreachable_after.is_none() {
            unreachable_after = name.clone();
        }
        if let Some(name) = name {
            rules.push(Rule {
                name,
                when,
                then: actions,
                stop,
            });
        }
    }
    if ck.errors.is_empty() {
        Ok((
            RuleSet {
                rules,
                join_open_case,
                review_ask,
                referral_ask,
            },
            ck.warnings,
        ))
    } else {
        Err(ck.errors)
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    a.as_f64()
        .zip(
            b.as_f64()
                .or_else(|| b.as_str().and_then(|s| s.parse().ok())),
        )
        .or_else(|| {
            a.as_str()
                .and_then(|s| s.trim().parse().ok())
                .zip(b.as_f64())
        })
        .and_then(|(x, y)| x.partial_cmp(&y))
}

/// Reads a dotted `field` from the facts document (`customer.tier` is the attribute `tier`).
fn lookup<'a>(facts: &'a Value, field: &str) -> Option<&'a Value> {
    if let Some(attr) = field.strip_prefix("customer.") {
        return facts
            .get("customer")
            .and_then(|c| c.get(attr))
            .filter(|v| !v.is_null());
    }
    field
        .split('.')
        .try_fold(facts, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

fn holds(c: &Condition, facts: &Value) -> bool {
    match c {
        Condition::Any { any } => any.iter().any(|c| holds(c, facts)),
        Condition::Test { field, op, value } => {
            let actual = lookup(facts, field);
            match op {
                Op::Exists => actual.is_some() == value.as_bool().unwrap_or(true),
                Op::Eq => actual.is_some_and(|a| same(a, value)),
                Op::Ne => !actual.is_some_and(|a| same(a, value)),
                Op::In => actual.is_some_and(|a| {
                    value
                        .as_array()
                        .is_some_and(|vs| vs.iter().any(|v| same(a, v)))
                }),
                Op::NotIn => !actual.is_some_and(|a| {
                    value
                        .as_array()
                        .is_some_and(|vs| vs.iter().any(|v| same(a, v)))
                }),
                Op::Contains => actual
                    .and_then(Value::as_array)
                    .is_some_and(|xs| xs.iter().any(|x| same(x, value))),
                Op::NotContains => !actual
                    .and_then(Value::as_array)
                    .is_some_and(|xs| xs.iter().any(|x| same(x, value))),
                Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                    let Some(ord) = actual.and_then(|a| order(a, value)) else {
                        return false;
                    };
                    match op {
                        Op::Gt => ord.is_gt(),
                        Op::Gte => ord.is_ge(),
                        Op::Lt => ord.is_lt(),
                        _ => ord.is_le(),
                    }
                }
            }
        }
    }
}

/// What the rules decided, before an owner is drawn from a round-robin list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub team: String,
    pub owner: Option<String>,
    /// Owners to take turns among, when a rule asked for round-robin.
    pub round_robin: Vec<String>,
    pub channels: Vec<String>,
    pub watchers: Vec<String>,
    pub delivery: DeliveryMode,
    pub follow_ups: Vec<String>,
    pub matched_rules: Vec<String>,
    pub reasons: Vec<String>,
}

fn add_all(into: &mut Vec<String>, items: &[String]) {
    for i in items {
        if !into.contains(i) {
            into.push(i.clone());
        }
    }
}

/// Runs the rules on `facts` (see [`facts`]), starting from `team` and `delivery`.
pub fn evaluate(rules: &RuleSet, facts: &Value, team: &str, delivery: DeliveryMode) -> Outcome {
    let mut out = Outcome {
        team: team.to_owned(),
        owner: None,
        round_robin: Vec::new(),
        channels: Vec::new(),
        watchers: Vec::new(),
        delivery,
        follow_ups: Vec::new(),
        matched_rules: Vec::new(),
        reasons: Vec::new(),
    };
    if lookup(facts, "class").and_then(Value::as_str) == Some("promoter") {
        out.follow_ups.push("thank-you".into());
        out.reasons
            .push("promoter path: the customer is thanked".into());
    }
    if rules.review_ask {
        out.follow_ups.push("review-ask".into());
    }
    if rules.referral_ask {
        out.follow_ups.push("referral-ask".into());
    }
    for rule in &rules.rules {
        if !rule.when.iter().all(|c| holds(c, facts)) {
            continue;
        }
        let t = &rule.then;
        let mut did = Vec::new();
        if let Some(team) = &t.team {
            out.team = team.clone();
            did.push(format!("team {team}"));
        }
        if let Some(owner) = &t.owner {
            out.owner = Some(owner.clone());
            out.round_robin.clear();
            did.push(format!("owner {owner}"));
        }
        if !t.round_robin.is_empty() {
            out.round_robin = t.round_robin.clone();
            out.owner = None;
            did.push(format!("round-robin among {}", t.round_robin.join(", ")));
        }
        add_all(&mut out.channels, &t.channels);
        if !t.channels.is_empty() {
            did.push(format!("channels {}", t.channels.join(", ")));
        }
        add_all(&mut out.watchers, &t.watchers);
        if !t.watchers.is_empty() {
            did.push(format!("watchers {}", t.watchers.join(", ")));
        }
        if let Some(d) = t.delivery {
            out.delivery = d;
            did.push(format!(
                "delivery {}",
                serde_json::to_value(d)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
        add_all(&mut out.follow_ups, &t.follow_ups);
        if !t.follow_ups.is_empty() {
            did.push(format!("follow-ups {}", t.follow_ups.join(", ")));
        }
        out.matched_rules.push(rule.name.clone());
        out.reasons
            .push(format!("rule {:?} matched: {}", rule.name, did.join(", ")));
        if rule.stop {
            out.reasons
                .push(format!("rule {:?} stops the evaluation", rule.name));
            break;
        }
    }
    out
}

/// The owner whose turn it is: `turn` is a counter that grows by one per case (1-based).
pub fn take_turn(owners: &[String], turn: u64) -> Option<String> {
    if owners.is_empty() {
        return None;
    }
    let i = (turn.saturating_sub(1) % owners.len() as u64) as usize;
    Some(owners[i].clone())
}

/// The document conditions read: every triage field, and the customer's attributes.
pub fn facts(fields: Map<String, Value>, customer: &Map<String, Value>) -> Value {
    let mut doc = fields;
    doc.insert("customer".into(), Value::Object(customer.clone()));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topics(id: &str) -> bool {
        id == "billing"
    }

    fn errors(doc: Value) -> Vec<(String, String)> {
        parse(&doc, &topics)
            .expect_err("invalid")
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect()
    }

    fn warnings(doc: Value) -> Vec<(String, String)> {
        parse(&doc, &topics)
            .expect("valid")
            .1
            .into_iter()
            .map(|w| (w.pointer, w.detail))
            .collect()
    }

    #[test]
    fn invalid_rules_name_the_json_path_and_the_problem() {
        let e = errors(json!({"rules": [
            {"name": "a", "when": [{"field": "mood", "op": "eq", "value": "x"}], "then": {"team": "t"}},
            {"name": "b", "when": [{"field": "priority", "op": "eq", "value": "P9"}], "then": {"delivery": "loud"}},
            {"name": "c", "when": [{"any": [{"field": "signals", "op": "eq", "value": "praise"}]}], "then": {}},
            {"when": [{"field": "churn_risk", "op": "gte", "value": "high"}], "then": {"team": ""}},
            {"name": "a", "then": {"owner": "x", "round_robin": ["y"], "colour": "red"}, "stop": "yes"}
        ], "extra": 1}));
        let pointers: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/extra",
                "/rules/0/when/0/field",
                "/rules/1/when/0/value",
                "/rules/1/then/delivery",
                "/rules/2/when/0/any/0/op",
                "/rules/2/then",
                "/rules/3/name",
                "/rules/3/when/0/value",
                "/rules/3/then/team",
                "/rules/4/name",
                "/rules/4/then/colour",
                "/rules/4/then",
                "/rules/4/stop",
            ],
            "{e:#?}"
        );
        assert!(e[1].1.contains("unknown field \"mood\""), "{}", e[1].1);
        assert!(e[2].1.contains("P1, P2, P3, P4"), "{}", e[2].1);
        assert!(
            e[4].1.contains("signals is a list; use contains"),
            "{}",
            e[4].1
        );
        assert!(e[9].1.contains("already named"), "{}", e[9].1);
    }

    #[test]
    fn rules_that_can_never_match_are_reported() {
        let w = warnings(json!({"rules": [
            {"name": "impossible score", "when": [{"field": "sentiment.score", "op": "gt", "value": 1}], "then": {"team": "t"}},
            {"name": "unknown topic", "when": [{"field": "topics", "op": "contains", "value": "parking"}], "then": {"team": "t"}},
            {"name": "contradiction", "when": [
                {"field": "class", "op": "eq", "value": "promoter"}, {"field": "class", "op": "eq", "value": "detractor"}
            ], "then": {"team": "t"}},
            {"name": "empty range", "when": [
                {"field": "churn_risk", "op": "gte", "value": 0.8}, {"field": "churn_risk", "op": "lt", "value": 0.5}
            ], "then": {"team": "t"}},
            {"name": "empty in", "when": [{"field": "priority", "op": "in", "value": []}], "then": {"team": "t"}},
            {"name": "catch all", "then": {"team": "t"}, "stop": true},
            {"name": "after the catch all", "when": [{"field": "topics", "op": "contains", "value": "billing"}], "then": {"team": "u"}}
        ]}));
        let pointers: Vec<&str> = w.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            vec![
                "/rules/0/when/0/value",
                "/rules/1/when/0/value",
                "/rules/2/when",
                "/rules/3/when",
                "/rules/4/when/0/value",
                "/rules/6",
            ],
            "{w:#?}"
        );
        assert!(w[5].1.contains("catch all"), "{}", w[5].1);
    }

    #[test]
    fn review_and_referral_asks_cannot_be_gated_on_the_score() {
        let e = errors(json!({"rules": [
            {"name": "ask happy ones", "when": [{"field": "class", "op": "eq", "value": "promoter"}],
             "then": {"follow_ups": ["review-ask"]}}
        ]}));
        assert_eq!(e[0].0, "/rules/0/then/follow_ups/0");
        assert!(e[0].1.contains("review gating"), "{}", e[0].1);
        // A thank-you may follow the score; an ask may follow anything else.
        assert!(parse(&json!({"rules": [
            {"name": "thank", "when": [{"field": "class", "op": "eq", "value": "promoter"}], "then": {"follow_ups": ["thank-you"]}},
            {"name": "ask hotel guests", "when": [{"field": "source", "op": "eq", "value": "hotel"}], "then": {"follow_ups": ["referral-ask"]}}
        ]}), &topics).is_ok());
    }

    #[test]
    fn limits_at_and_past() {
        let rule = |i: usize| json!({"name": format!("r{i}"), "then": {"team": "t"}});
        let at: Vec<Value> = (0..MAX_RULES).map(rule).collect();
        assert!(parse(&json!({"rules": at}), &topics).is_ok());
        let past: Vec<Value> = (0..=MAX_RULES).map(rule).collect();
        assert_eq!(errors(json!({"rules": past}))[0].0, "/rules");
        let cond = json!({"field": "source", "op": "eq", "value": "x"});
        let at = json!({"rules": [{"name": "n", "when": vec![cond.clone(); MAX_CONDITIONS], "then": {"team": "t"}}]});
        assert!(parse(&at, &topics).is_ok());
        let past = json!({"rules": [{"name": "n", "when": vec![cond; MAX_CONDITIONS + 1], "then": {"team": "t"}}]});
        assert_eq!(errors(past)[0].0, "/rules/0/when");
        let name_at = "n".repeat(MAX_NAME_CHARS);
        assert!(
            parse(
                &json!({"rules": [{"name": name_at, "then": {"team": "t"}}]}),
                &topics
            )
            .is_ok()
        );
        let name_past = "n".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            errors(json!({"rules": [{"name": name_past, "then": {"team": "t"}}]}))[0].0,
            "/rules/0/name"
        );
    }

    #[test]
    fn conditions_on_customer_attributes_and_any() {
        let (rules, _) = parse(
            &json!({"rules": [
                {"name": "vip or big", "when": [{"any": [
                    {"field": "customer.tier", "op": "eq", "value": "VIP"},
                    {"field": "customer.arr", "op": "gt", "value": 100000}
                ]}], "then": {"owner": "dana"}}
            ]}),
            &topics,
        )
        .unwrap();
        let run = |attrs: Value| {
            let f = facts(Map::new(), attrs.as_object().unwrap());
            evaluate(&rules, &f, "cs", DeliveryMode::Immediate).owner
        };
        assert_eq!(run(json!({"tier": "vip"})), Some("dana".into()));
        assert_eq!(run(json!({"arr": "250000"})), Some("dana".into()));
        assert_eq!(run(json!({"arr": 5})), None);
        assert_eq!(run(json!({})), None);
    }
}
