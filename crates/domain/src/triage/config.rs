//! A team's triage configuration as the admin API takes it and the store keeps it: custom
//! topics, routing rules and team calendars, each its own record so that changing one never
//! rewrites another (one writer per key).
//!
//! Inputs are checked here, with a JSON pointer per problem, and stored only when valid; what
//! is read back is therefore trusted and compiled into a [`TriageConfig`] per triage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TriageConfig;
use super::calendar::Calendar;
use super::routing::{self, RuleSet, Warning};
use super::topics::{self, Taxonomy, TopicRule};
use crate::envelope::Record;
use crate::feedback::{Customer, FeedbackInput};
use crate::problem::{FieldError, Problem};

/// Largest admin or preview body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub const TOPICS_KEY: &str = "triage-topics:custom";
pub const RULES_KEY: &str = "triage-rules:current";
pub const CALENDARS_KEY: &str = "triage-calendars:current";
pub const ROUND_ROBIN_PREFIX: &str = "counter:round-robin:";
pub const OPEN_CASE_PREFIX: &str = "open-case:";

/// The round-robin counter of a team's owners.
pub fn round_robin_key(team: &str) -> String {
    format!("{ROUND_ROBIN_PREFIX}{}", crate::ids::digest(&[team]))
}

/// Who the customer is, for the contact-frequency rule: their id, else email, else phone.
pub fn customer_identity(customer: &Customer) -> Option<String> {
    customer
        .id
        .as_deref()
        .map(|id| format!("id:{id}"))
        .or_else(|| {
            customer
                .email
                .as_deref()
                .map(|e| format!("email:{}", e.to_lowercase()))
        })
        .or_else(|| customer.phone.as_deref().map(|p| format!("phone:{p}")))
}

/// The customer's open case, for the contact-frequency rule.
pub fn open_case_key(identity: &str) -> String {
    format!("{OPEN_CASE_PREFIX}{}", crate::ids::digest(&[identity]))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomTopics {
    pub topics: Vec<TopicRule>,
}
impl Record for CustomTopics {
    const SCHEMA: &'static str = "triage-topics/1";
}

impl Record for RuleSet {
    const SCHEMA: &'static str = "triage-rules/1";
}

/// Every team's business hours, one record: the admin API replaces it whole, so there is no
/// read-modify-write to race.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamCalendars {
    pub teams: BTreeMap<String, Calendar>,
}
impl Record for TeamCalendars {
    const SCHEMA: &'static str = "triage-calendars/1";
}

/// At most this many team calendars.
pub const MAX_CALENDARS: usize = 100;

/// Compiles stored records into the configuration a triage runs with. Records were checked
/// when stored; a calendar that no longer checks (a time zone renamed) is skipped and the team
/// works around the clock, which errs on the side of earlier due times.
pub fn compile(
    topics: Option<CustomTopics>,
    rules: Option<RuleSet>,
    calendars: Option<TeamCalendars>,
) -> TriageConfig {
    let defaults = TriageConfig::default();
    TriageConfig {
        taxonomy: Taxonomy::new(&topics.unwrap_or_default().topics),
        rules: rules.unwrap_or(defaults.rules),
        calendars: calendars
            .unwrap_or_default()
            .teams
            .into_iter()
            .filter_map(|(team, c)| c.check("").ok().map(|h| (team, h)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn strict<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<T, Problem> {
    serde_json::from_value(doc.clone())
        .map_err(|e| Problem::invalid(vec![FieldError::new("", format!("{e}"))]))
}

/// Checks a `PUT /v1/admin/triage/topics` body.
pub fn topics_input(doc: &Value) -> Result<CustomTopics, Problem> {
    let custom: CustomTopics = strict(doc)?;
    let errors = topics::validate(&custom.topics, "/topics");
    if errors.is_empty() {
        Ok(custom)
    } else {
        Err(Problem::invalid(errors))
    }
}

/// Checks a `PUT /v1/admin/triage/rules` body against the topics that exist.
pub fn rules_input(doc: &Value, taxonomy: &Taxonomy) -> Result<(RuleSet, Vec<Warning>), Problem> {
    routing::parse(doc, &|t| taxonomy.knows(t)).map_err(Problem::invalid)
}

/// Checks a `PUT /v1/admin/triage/calendars` body: `{"teams": {"<team>": {calendar}}}`.
pub fn calendars_input(doc: &Value) -> Result<TeamCalendars, Problem> {
    let calendars: TeamCalendars = strict(doc)?;
    let mut errors = Vec::new();
    if calendars.teams.len() > MAX_CALENDARS {
        errors.push(FieldError::new(
            "/teams",
            format!("at most {MAX_CALENDARS} team calendars"),
        ));
    }
    for (team, calendar) in &calendars.teams {
        let at = format!("/teams/{}", team.replace('~', "~0").replace('/', "~1"));
        if team.trim().is_empty() || team.chars().count() > routing::MAX_NAME_CHARS {
            errors.push(FieldError::new(
                at.clone(),
                format!(
                    "a team name has 1 to {} characters",
                    routing::MAX_NAME_CHARS
                ),
            ));
        }
        if let Err(e) = calendar.check(&at) {
            errors.extend(e);
        }
    }
    if errors.is_empty() {
        Ok(calendars)
    } else {
        Err(Problem::invalid(errors))
    }
}

/// `POST /v1/triage/preview`: a sample of feedback, and optionally rules to try instead of the
/// stored ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub feedback: FeedbackInput,
    #[serde(default)]
    pub rules: Option<Value>,
}

/// Re-roots field errors found inside a part of a body (`/score/value` under `/feedback`).
pub fn under(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(format!("{prefix}{}", e.pointer), e.detail))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_fit_every_backend() {
        for key in [
            CALENDARS_KEY.to_owned(),
            round_robin_key(&"t".repeat(10_000)),
            open_case_key("email:a/b@example.com"),
            TOPICS_KEY.to_owned(),
            RULES_KEY.to_owned(),
        ] {
            assert!(key.len() <= 255, "{key}");
            assert!(!key.contains(['/', '\\', '?', '#']), "{key}");
        }
    }

    #[test]
    fn admin_inputs_are_checked_with_pointers() {
        let p = topics_input(&json!({"topics": [{"id": "Bad", "phrases": ["x"]}]})).unwrap_err();
        assert_eq!(p.errors[0].pointer, "/topics/0/id");
        let p = calendars_input(&json!({"teams": {"billing/emea": {"time_zone": "Nowhere/City", "days": ["mon"], "open": "09:00", "close": "17:00"}}})).unwrap_err();
        assert_eq!(p.errors[0].pointer, "/teams/billing~1emea/time_zone");
        assert_eq!(p.status(), 422);
        let ok = calendars_input(&json!({"teams": {"billing": {"time_zone": "Europe/Paris", "days": ["mon"], "open": "09:00", "close": "17:00"}}})).unwrap();
        let config = compile(None, None, Some(ok));
        assert!(config.calendars.contains_key("billing"));
        assert!(!config.rules.join_open_case, "contact frequency is opt-in");
    }

    #[test]
    fn customer_identity_prefers_the_id() {
        let mut c = Customer {
            id: None,
            email: Some("A@Example.com".into()),
            name: None,
            phone: Some("+4420".into()),
            attributes: Default::default(),
        };
        assert_eq!(
            customer_identity(&c).as_deref(),
            Some("email:a@example.com")
        );
        c.id = Some("42".into());
        assert_eq!(customer_identity(&c).as_deref(), Some("id:42"));
    }

    #[test]
    fn calendar_count_at_the_limit_and_one_past_it() {
        let one = json!({"time_zone": "UTC", "days": ["mon"], "open": "09:00", "close": "17:00"});
        let teams = |n: usize| {
            let map: serde_json::Map<String, Value> =
                (0..n).map(|i| (format!("team-{i}"), one.clone())).collect();
            json!({"teams": map})
        };
        assert!(calendars_input(&teams(MAX_CALENDARS)).is_ok());
        let p = calendars_input(&teams(MAX_CALENDARS + 1)).unwrap_err();
        assert_eq!(p.errors[0].pointer, "/teams");
    }
}
