//! Priority: a documented policy a customer-experience lead can check by hand.
//!
//! Applied in this order; each step that changes the priority adds a reason:
//!
//! | step | rule |
//! |---|---|
//! | 1. score | a detractor in the worst 30% of its scale ([`SEVERE_AT_OR_BELOW`]) is P1, another detractor P2, a passive P3, a promoter P4; no score is P3 |
//! | 2. comment | a comment at or below [`NEGATIVE_COMMENT_AT_OR_BELOW`] from a passive, a promoter or without a score raises one level: the words contradict the number |
//! | 3. churn | a churn threat ("cancel", "switching to", "never again") raises one level |
//! | 4. value | a high-value customer (tier in [`HIGH_VALUE_TIERS`] or ARR of at least [`HIGH_VALUE_ARR`]) raises one level, unless the answer is a promoter's with no complaint |
//! | 5. threats | a legal or safety threat is P1, whatever came before |
//!
//! Raising never goes above P1. P1 and P2 alert the owning team at once. Churn risk (0 to 1)
//! is reported alongside: see [`churn_risk`].

use serde::{Deserialize, Serialize};

use super::Priority;
use super::sentiment::Sentiment;
use super::signals::{Emotion, Signal};
use crate::feedback::Feedback;
use crate::score::ScoreClass;

/// Annual recurring revenue from which a customer counts as high-value.
pub const HIGH_VALUE_ARR: f64 = 100_000.0;
/// Tiers that count as high-value (compared case-insensitively).
pub const HIGH_VALUE_TIERS: [&str; 3] = ["enterprise", "vip", "strategic"];
/// Normalised scores at or below this are the worst of their scale.
pub const SEVERE_AT_OR_BELOW: f64 = 0.3;
/// A comment sentiment at or below this is strongly negative.
pub const NEGATIVE_COMMENT_AT_OR_BELOW: f64 = -0.5;

/// What the policy reads besides the feedback itself.
pub struct Inputs<'a> {
    pub feedback: &'a Feedback,
    pub sentiment: Option<&'a Sentiment>,
    pub signals: &'a [Signal],
    pub emotions: &'a [Emotion],
}

/// The priority, why, and whether the customer counts as high-value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub priority: Priority,
    pub high_value: bool,
    pub reasons: Vec<String>,
}

/// Why the customer counts as high-value, if they do.
pub fn high_value(feedback: &Feedback) -> Option<String> {
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

fn raise(priority: &mut Priority, why: String, reasons: &mut Vec<String>) {
    let raised = priority.raised();
    if raised != *priority {
        reasons.push(format!(
            "{why}: raised from {} to {}",
            priority.as_str(),
            raised.as_str()
        ));
        *priority = raised;
    }
}

/// Runs the policy.
pub fn decide(inputs: &Inputs) -> Decision {
    let feedback = inputs.feedback;
    let mut reasons = Vec::new();
    let class = feedback.score.map(|s| s.class());
    // 1. The score.
    let mut priority = match feedback.score {
        Some(score) => {
            let class = score.class();
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
                "{} is a {} (normalised {:.2}){severity}: {}",
                score.label(),
                class.as_str(),
                score.normalized(),
                p.as_str()
            ));
            p
        }
        None => {
            reasons.push("no score: P3".to_owned());
            Priority::P3
        }
    };
    // 2. A comment that contradicts the score.
    if let Some(s) = inputs.sentiment
        && s.score <= NEGATIVE_COMMENT_AT_OR_BELOW
        && class != Some(ScoreClass::Detractor)
    {
        raise(
            &mut priority,
            format!("the comment is strongly negative ({:+.2})", s.score),
            &mut reasons,
        );
    }
    // 3. Churn.
    if inputs.signals.contains(&Signal::ChurnThreat) {
        raise(
            &mut priority,
            "the customer threatens to leave".into(),
            &mut reasons,
        );
    }
    // 4. Customer value.
    let value = high_value(feedback);
    let happy = class == Some(ScoreClass::Promoter) && !inputs.signals.contains(&Signal::Complaint);
    if let Some(why) = &value
        && !happy
    {
        raise(&mut priority, why.clone(), &mut reasons);
    }
    // 5. Legal and safety threats.
    for threat in [Signal::LegalThreat, Signal::SafetyThreat] {
        if inputs.signals.contains(&threat) && priority != Priority::P1 {
            reasons.push(format!(
                "a {} is always P1 (was {})",
                threat.as_str().replace('-', " "),
                priority.as_str()
            ));
            priority = Priority::P1;
        }
    }
    Decision {
        priority,
        high_value: value.is_some(),
        reasons,
    }
}

/// Churn risk from 0 to 1, a sum of documented parts capped at 1: detractor 0.4 (0.5 in the
/// worst 30% of the scale), passive 0.15; a churn threat 0.4; a negative comment up to 0.2 (its
/// score's magnitude times 0.2); anger or frustration 0.1.
pub fn churn_risk(inputs: &Inputs) -> f64 {
    let mut risk = match inputs.feedback.score {
        Some(s) if s.class() == ScoreClass::Detractor && s.normalized() <= SEVERE_AT_OR_BELOW => {
            0.5
        }
        Some(s) if s.class() == ScoreClass::Detractor => 0.4,
        Some(s) if s.class() == ScoreClass::Passive => 0.15,
        _ => 0.0,
    };
    if inputs.signals.contains(&Signal::ChurnThreat) {
        risk += 0.4;
    }
    if let Some(s) = inputs.sentiment
        && s.score < 0.0
    {
        risk += -s.score * 0.2;
    }
    if inputs
        .emotions
        .iter()
        .any(|e| matches!(e, Emotion::Anger | Emotion::Frustration))
    {
        risk += 0.1;
    }
    (risk.min(1.0) * 100.0).round() / 100.0
}
