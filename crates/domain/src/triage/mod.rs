//! Triage: what a piece of feedback means, how urgent it is and who owns it, and why.
//!
//! The walking-skeleton policy, kept deliberately small and explainable:
//!
//! | score class | worst 30% of the scale | otherwise |
//! |---|---|---|
//! | detractor | P1 | P2 |
//! | passive | P3 | P3 |
//! | promoter | P4 | P4 |
//!
//! A high-value customer (tier `enterprise`, `vip` or `strategic`, or ARR of at least
//! [`HIGH_VALUE_ARR`]) is raised one level, never above P1 and never for a promoter. P1 and
//! P2 alert the owning team at once; P3 and P4 open a case without an alert. Due times count
//! calendar hours from when closeloop received the feedback, so a re-triage never moves them.

pub mod sentiment;
pub mod signals;
pub mod text;
pub mod topics;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::feedback::Feedback;
use crate::score::ScoreClass;

/// Annual recurring revenue from which a customer counts as high-value.
pub const HIGH_VALUE_ARR: f64 = 100_000.0;
/// Tiers that count as high-value (compared case-insensitively).
pub const HIGH_VALUE_TIERS: [&str; 3] = ["enterprise", "vip", "strategic"];
/// Normalised scores at or below this are the worst of their scale.
pub const SEVERE_AT_OR_BELOW: f64 = 0.3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
            Self::P4 => "P4",
        }
    }

    fn raised(self) -> Self {
        match self {
            Self::P1 | Self::P2 => Self::P1,
            Self::P3 => Self::P2,
            Self::P4 => Self::P3,
        }
    }

    /// Time allowed to the first response, then to resolution.
    pub fn targets(self) -> (Duration, Duration) {
        match self {
            Self::P1 => (Duration::hours(1), Duration::hours(24)),
            Self::P2 => (Duration::hours(4), Duration::hours(72)),
            Self::P3 => (Duration::hours(24), Duration::days(7)),
            Self::P4 => (Duration::hours(72), Duration::days(14)),
        }
    }

    /// Whether this priority alerts the owning team as soon as the case opens.
    pub fn alerts_at_once(self) -> bool {
        matches!(self, Self::P1 | Self::P2)
    }
}

/// How an alert is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Alert as soon as the case opens.
    Immediate,
    /// Collect into the recipient's digest.
    Digest,
    /// Open the case, alert no one.
    Suppress,
}

/// Who owns a case and who is told, and how: the output of routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// The owning team.
    pub team: String,
    /// The person the case is assigned to, if routing chose one.
    pub owner: Option<String>,
    /// Channel names to alert on (`slack`, `webhook`, ...); empty means the team's defaults.
    pub channels: Vec<String>,
    /// People told when the case closes.
    pub watchers: Vec<String>,
    pub delivery: DeliveryMode,
    /// The routing rules that matched, in order.
    pub matched_rules: Vec<String>,
}

impl Routing {
    /// The default route: the whole case to `team`, alerted at once or not at all.
    pub fn to_team(team: &str, alert: bool) -> Self {
        Routing {
            team: team.to_owned(),
            owner: None,
            channels: Vec::new(),
            watchers: Vec::new(),
            delivery: if alert {
                DeliveryMode::Immediate
            } else {
                DeliveryMode::Suppress
            },
            matched_rules: Vec::new(),
        }
    }
}

/// What the operator configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriagePolicy {
    /// The team that owns every case until routing rules exist.
    pub default_team: String,
}

/// The result of triaging one piece of feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub class: Option<ScoreClass>,
    pub priority: Priority,
    pub team: String,
    pub first_response_due: Timestamp,
    pub resolution_due: Timestamp,
    pub alert: bool,
    pub routing: Routing,
    /// Why: one sentence per rule that shaped the result.
    pub reasons: Vec<String>,
    pub triaged_at: Timestamp,
}

fn is_high_value(feedback: &Feedback) -> Option<String> {
    let customer = &feedback.customer;
    if let Some(tier) = customer.attribute_str("tier")
        && HIGH_VALUE_TIERS
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tier.trim()))
    {
        return Some(format!("customer tier is {tier}"));
    }
    let arr = customer.attributes.get("arr").and_then(|v| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    match arr {
        Some(arr) if arr >= HIGH_VALUE_ARR => Some(format!("customer ARR is {arr}")),
        _ => None,
    }
}

/// Triages `feedback` under `policy`; `now` is recorded as the triage time.
pub fn triage(feedback: &Feedback, policy: &TriagePolicy, now: Timestamp) -> Triage {
    let mut reasons = Vec::new();
    let class = feedback.score.map(|s| s.class());
    let mut priority = match (feedback.score, class) {
        (Some(score), Some(class)) => {
            let severe = score.normalized() <= SEVERE_AT_OR_BELOW;
            let p = match class {
                ScoreClass::Detractor if severe => Priority::P1,
                ScoreClass::Detractor => Priority::P2,
                ScoreClass::Passive => Priority::P3,
                ScoreClass::Promoter => Priority::P4,
            };
            let severity = if severe && class == ScoreClass::Detractor {
                ", in the worst 30% of the scale"
            } else {
                ""
            };
            reasons.push(format!(
                "{} is a {}{severity}: {}",
                score.label(),
                class.as_str(),
                p.as_str()
            ));
            p
        }
        _ => {
            reasons.push("no score: P3".to_owned());
            Priority::P3
        }
    };
    if class != Some(ScoreClass::Promoter)
        && let Some(why) = is_high_value(feedback)
    {
        let raised = priority.raised();
        if raised != priority {
            reasons.push(format!(
                "{why}: raised from {} to {}",
                priority.as_str(),
                raised.as_str()
            ));
            priority = raised;
        }
    }
    let (first, resolution) = priority.targets();
    let alert = priority.alerts_at_once();
    reasons.push(format!(
        "{} is owned by team {} (default routing)",
        priority.as_str(),
        policy.default_team
    ));
    reasons.push(if alert {
        format!("{} alerts the owning team at once", priority.as_str())
    } else {
        format!(
            "{} opens a case without an immediate alert",
            priority.as_str()
        )
    });
    Triage {
        class,
        priority,
        routing: Routing::to_team(&policy.default_team, alert),
        team: policy.default_team.clone(),
        first_response_due: feedback.received_at + first,
        resolution_due: feedback.received_at + resolution,
        alert,
        reasons,
        triaged_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::Customer;
    use crate::score::{Score, ScoreKind};
    use chrono::TimeZone;
    use serde_json::json;

    fn at() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn feedback(kind: ScoreKind, value: i64, scale: i64, attrs: serde_json::Value) -> Feedback {
        Feedback {
            id: "f".into(),
            source: "test".into(),
            external_id: "1".into(),
            submitted_at: at(),
            received_at: at(),
            customer: Customer {
                id: Some("c".into()),
                email: None,
                name: None,
                phone: None,
                attributes: attrs.as_object().cloned().unwrap_or_default(),
            },
            score: Some(Score { kind, value, scale }),
            comment: None,
            metadata: Default::default(),
        }
    }

    fn policy() -> TriagePolicy {
        TriagePolicy {
            default_team: "customer-success".into(),
        }
    }

    fn priority(kind: ScoreKind, value: i64, scale: i64, attrs: serde_json::Value) -> Priority {
        triage(&feedback(kind, value, scale, attrs), &policy(), at()).priority
    }

    #[test]
    fn the_three_founding_scenarios() {
        // Hotel guest, NPS 3: P1, alerted.
        let hotel = triage(&feedback(ScoreKind::Nps, 3, 10, json!({})), &policy(), at());
        assert_eq!(hotel.priority, Priority::P1);
        assert!(hotel.alert);
        assert_eq!(hotel.first_response_due, at() + Duration::hours(1));
        // Dental patient, 2/5: P1.
        assert_eq!(priority(ScoreKind::Csat, 2, 5, json!({})), Priority::P1);
        // B2B NPS 4: P2, raised to P1 for an enterprise customer.
        assert_eq!(priority(ScoreKind::Nps, 4, 10, json!({})), Priority::P2);
        assert_eq!(
            priority(ScoreKind::Nps, 4, 10, json!({"tier": "Enterprise"})),
            Priority::P1
        );
    }

    #[test]
    fn classes_map_to_priorities() {
        assert_eq!(priority(ScoreKind::Nps, 6, 10, json!({})), Priority::P2);
        assert_eq!(priority(ScoreKind::Nps, 7, 10, json!({})), Priority::P3);
        assert_eq!(priority(ScoreKind::Nps, 10, 10, json!({})), Priority::P4);
        assert_eq!(priority(ScoreKind::Ces, 1, 7, json!({})), Priority::P1);
    }

    #[test]
    fn high_value_raises_but_not_promoters() {
        assert_eq!(
            priority(ScoreKind::Nps, 7, 10, json!({"arr": 250000})),
            Priority::P2
        );
        assert_eq!(
            priority(ScoreKind::Nps, 7, 10, json!({"arr": "99999"})),
            Priority::P3
        );
        assert_eq!(
            priority(ScoreKind::Nps, 9, 10, json!({"tier": "vip"})),
            Priority::P4
        );
    }

    #[test]
    fn explains_itself() {
        let t = triage(
            &feedback(ScoreKind::Nps, 4, 10, json!({"tier": "vip"})),
            &policy(),
            at(),
        );
        let all = t.reasons.join("\n");
        assert!(all.contains("NPS 4/10 is a detractor"), "{all}");
        assert!(all.contains("raised from P2 to P1"), "{all}");
        assert!(all.contains("customer-success"), "{all}");
    }

    #[test]
    fn quiet_priorities_do_not_alert() {
        let t = triage(&feedback(ScoreKind::Nps, 8, 10, json!({})), &policy(), at());
        assert!(!t.alert);
        assert_eq!(t.resolution_due, at() + Duration::days(7));
    }
}
