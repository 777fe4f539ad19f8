//! The console's forms and queries, parsed once: posted forms become the agent API's JSON
//! inputs (the API validates them strictly and its problem detail is shown to the user), and
//! the dashboard's query becomes a checked period.

use chrono::{Duration, NaiveDate};
use serde_json::{Map, Value, json};

/// The largest form body accepted.
pub const MAX_FORM_BYTES: usize = 32 * 1024;
/// The longest team name accepted in a filter.
pub const MAX_TEAM_CHARS: usize = 100;
/// The dashboard's default period, in days (today included).
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period the dashboard asks for, in days.
pub const MAX_DAYS: i64 = 366;

/// A posted `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A case action posted from the case page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    Acknowledge,
    Note,
    Resolve,
    Assign,
}

impl CaseAction {
    /// The action named by the last path segment of `/console/cases/{id}/{action}`.
    pub fn from_segment(s: &str) -> Option<Self> {
        Some(match s {
            "acknowledge" => Self::Acknowledge,
            "note" => Self::Note,
            "resolve" => Self::Resolve,
            "assign" => Self::Assign,
            _ => return None,
        })
    }

    /// The agent API's path segment.
    pub fn api_segment(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Note => "notes",
            Self::Resolve => "resolve",
            Self::Assign => "assign",
        }
    }

    /// The flash code shown after it succeeded.
    pub fn done(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledged",
            Self::Note => "noted",
            Self::Resolve => "resolved",
            Self::Assign => "assigned",
        }
    }

    /// The API's JSON input from the form: only the fields the user filled in (the API says
    /// which required ones are missing).
    pub fn body(self, form: &Form) -> Value {
        let fields: &[(&str, &str)] = match self {
            Self::Acknowledge => &[("note", "note")],
            Self::Note => &[("text", "text")],
            Self::Resolve => &[("resolution", "resolution"), ("root_cause", "root_cause")],
            Self::Assign => &[("to", "to"), ("note", "note")],
        };
        let mut body = Map::new();
        for (field, json_name) in fields {
            if let Some(v) = form.get(field) {
                body.insert((*json_name).to_owned(), json!(v));
            }
        }
        if self == Self::Note && form.get("from_customer").is_some() {
            body.insert("from_customer".into(), json!(true));
        }
        Value::Object(body)
    }
}

/// The sentence shown for a flash code after a redirect; unknown codes show nothing (the
/// text never comes from the URL).
pub fn flash_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "acknowledged" => "Acknowledged: the customer's first response is recorded.",
        "noted" => "Note added to the timeline.",
        "resolved" => "Resolved: the customer is being asked to confirm the fix.",
        "assigned" => "Reassigned.",
        "signed-in" => "Signed in.",
        _ => return None,
    })
}

/// The dashboard's period and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub team: Option<String>,
}

impl DashboardQuery {
    /// Parses `from`, `to` (YYYY-MM-DD, inclusive UTC days; default the last
    /// [`DEFAULT_DAYS`] days up to `today`) and `team`. Errors are sentences for the user.
    pub fn parse(query: &str, today: NaiveDate) -> Result<Self, String> {
        let mut from = None;
        let mut to = None;
        let mut team = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.trim();
            match k.as_ref() {
                "from" | "to" if v.is_empty() => {}
                "from" | "to" => {
                    let date = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                        format!("`{k}` must be a date written YYYY-MM-DD, like 2026-11-01")
                    })?;
                    if k == "from" {
                        from = Some(date);
                    } else {
                        to = Some(date);
                    }
                }
                "team" if v.is_empty() => {}
                "team" => {
                    if v.chars().count() > MAX_TEAM_CHARS || v.chars().any(char::is_control) {
                        return Err(format!(
                            "`team` must be a team name of at most {MAX_TEAM_CHARS} characters"
                        ));
                    }
                    team = Some(v.to_owned());
                }
                _ => {}
            }
        }
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
        if from > to {
            return Err("`from` must be on or before `to`".into());
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(format!("the period can be at most {MAX_DAYS} days"));
        }
        Ok(DashboardQuery { from, to, team })
    }

    pub fn from_str(&self) -> String {
        self.from.format("%Y-%m-%d").to_string()
    }

    pub fn to_str(&self) -> String {
        self.to.format("%Y-%m-%d").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn forms_become_api_inputs_with_only_what_was_filled_in() {
        let form = Form::parse(b"csrf=x&resolution=+Moved+room+&root_cause=facilities&note=");
        assert_eq!(
            CaseAction::Resolve.body(&form),
            json!({"resolution": "Moved room", "root_cause": "facilities"})
        );
        assert_eq!(CaseAction::Acknowledge.body(&form), json!({}));
        let form = Form::parse(b"text=called&from_customer=on");
        assert_eq!(
            CaseAction::Note.body(&form),
            json!({"text": "called", "from_customer": true})
        );
        assert_eq!(
            CaseAction::Assign.body(&Form::parse(b"to=Lee&note=cover")),
            json!({"to": "Lee", "note": "cover"})
        );
        assert_eq!(CaseAction::from_segment("delete"), None);
        assert_eq!(CaseAction::Note.api_segment(), "notes");
    }

    #[test]
    fn flash_messages_come_from_a_fixed_list() {
        assert!(flash_message("resolved").is_some());
        assert_eq!(flash_message("<script>alert(1)</script>"), None);
    }

    #[test]
    fn the_dashboard_period_defaults_and_checks() {
        let today = day("2026-11-30");
        let q = DashboardQuery::parse("", today).unwrap();
        assert_eq!(
            (q.from_str(), q.to_str()),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        let q =
            DashboardQuery::parse("from=2026-10-01&to=2026-10-31&team=front-desk", today).unwrap();
        assert_eq!(q.team.as_deref(), Some("front-desk"));
        assert!(
            DashboardQuery::parse("from=2026-13-01", today)
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(DashboardQuery::parse("from=2026-11-02&to=2026-11-01", today).is_err());
        let at_limit = format!(
            "from={}&to=2026-11-30",
            (today - Duration::days(MAX_DAYS - 1))
        );
        assert!(DashboardQuery::parse(&at_limit, today).is_ok());
        let past = format!("from={}&to=2026-11-30", (today - Duration::days(MAX_DAYS)));
        assert!(DashboardQuery::parse(&past, today).is_err());
        assert!(
            DashboardQuery::parse(&format!("team={}", "t".repeat(MAX_TEAM_CHARS + 1)), today)
                .is_err()
        );
        assert!(DashboardQuery::parse("from=&to=&team=", today).is_ok());
    }
}
