//! Triage: what a piece of feedback means, how urgent it is, who owns it, and why.
//!
//! One pass, each step a module tested on its own:
//! 1. [`sentiment`] of the comment, its [`topics`], [`signals`] and emotions;
//! 2. the priority [`policy`] (score class, sentiment, signals, customer value);
//! 3. the [`routing`] rules (team, owner, channels, watchers, delivery, follow-ups);
//! 4. due times counted in the owning team's business hours ([`calendar`]).
//!
//! Every step adds its reasons, in plain sentences, so an agent can see which score, words and
//! rules led to the result. First-response / resolution targets per priority: P1 1 h / 24 h, P2
//! 4 h / 72 h, P3 24 h / 7 days (168 h), P4 72 h / 14 days (336 h), counted from when closeloop
//! received the feedback, so a re-triage moves them only if the priority changes.

pub mod calendar;
pub mod config;
pub mod policy;
pub mod routing;
pub mod sentiment;
pub mod signals;
mod tables;
pub mod text;
pub mod topics;

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Timestamp;
use crate::feedback::Feedback;
use crate::score::{ScoreClass, ScoreKind};

pub use policy::{HIGH_VALUE_ARR, HIGH_VALUE_TIERS, SEVERE_AT_OR_BELOW};

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
    /// The team that owns a case no routing rule assigns.
    pub default_team: String,
}

/// A score as triage saw it: kept on its own scale, and normalised (0 worst, 1 best).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    pub kind: ScoreKind,
    pub value: i64,
    pub scale: i64,
    pub normalized: f64,
    pub class: ScoreClass,
}

/// What triage read in the feedback, beyond the priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub score: Option<ScoreView>,
    /// The comment's sentiment; none without a comment.
    pub sentiment: Option<sentiment::Sentiment>,
    pub topics: Vec<topics::TopicMatch>,
    pub signals: Vec<signals::Signal>,
    pub emotions: Vec<signals::Emotion>,
    /// 0 to 1, see [`policy::churn_risk`].
    pub churn_risk: f64,
    pub high_value: bool,
    /// What the customer is sent besides the loop itself (`thank-you`, `review-ask`, ...).
    pub follow_ups: Vec<String>,
    /// The owning team's working time the due times were counted in.
    pub business_hours: String,
}

/// A team's configuration, as read from the store: custom topics, routing rules, calendars.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    pub taxonomy: topics::Taxonomy,
    pub rules: routing::RuleSet,
    /// Business hours per team; a team without a calendar works around the clock.
    pub calendars: BTreeMap<String, calendar::Hours>,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            taxonomy: topics::Taxonomy::new(&[]),
            rules: routing::RuleSet::default(),
            calendars: BTreeMap::new(),
        }
    }
}

/// The triage and what the caller must still settle with the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Triaged {
    pub triage: Triage,
    /// Owners to take turns among; the caller draws the next with [`routing::take_turn`] and
    /// [`Triage::assign`].
    pub round_robin: Vec<String>,
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
    /// Sentiment, topics, signals, emotions, churn risk (absent in cases triaged before them).
    #[serde(default)]
    pub analysis: Analysis,
}

impl Triage {
    /// Assigns the case to `owner`, drawn by round-robin.
    pub fn assign(&mut self, owner: String) {
        self.reasons.push(format!(
            "{owner} is the next owner in the round-robin of team {}",
            self.team
        ));
        self.routing.owner = Some(owner);
    }
}

/// Triages `feedback` under `policy` with the default configuration.
pub fn triage(feedback: &Feedback, policy: &TriagePolicy, now: Timestamp) -> Triage {
    triage_with(feedback, policy, &TriageConfig::default(), now).triage
}

fn label<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Triages `feedback` under `policy` and a team's `config`; `now` is recorded as the triage time.
pub fn triage_with(
    feedback: &Feedback,
    policy: &TriagePolicy,
    config: &TriageConfig,
    now: Timestamp,
) -> Triaged {
    let comment = feedback.comment.as_deref().unwrap_or("").trim();
    let class = feedback.score.map(|s| s.class());
    let sentiment = (!comment.is_empty()).then(|| sentiment::analyze(comment));
    let topics = config.taxonomy.detect(comment);
    let found_signals = match &sentiment {
        Some(s) => signals::signals(comment, s, class),
        None => Vec::new(),
    };
    let found_emotions = signals::emotions(comment);
    let signal_kinds: Vec<signals::Signal> = found_signals.iter().map(|f| f.kind).collect();
    let emotion_kinds: Vec<signals::Emotion> = found_emotions.iter().map(|f| f.kind).collect();
    let inputs = policy::Inputs {
        feedback,
        sentiment: sentiment.as_ref(),
        signals: &signal_kinds,
        emotions: &emotion_kinds,
    };
    let decision = policy::decide(&inputs);
    let churn_risk = policy::churn_risk(&inputs);
    let priority = decision.priority;

    let mut reasons = decision.reasons;
    if let Some(s) = &sentiment {
        reasons.insert(1.min(reasons.len()), s.explain());
    }
    if !topics.is_empty() {
        let list: Vec<String> = topics
            .iter()
            .map(|t| format!("{} ({})", t.topic, t.phrases.join(", ")))
            .collect();
        reasons.push(format!("topics: {}", list.join("; ")));
    }
    if !found_signals.is_empty() {
        let list: Vec<String> = found_signals
            .iter()
            .map(|f| format!("{} ({})", f.kind.as_str(), f.because))
            .collect();
        reasons.push(format!("signals: {}", list.join("; ")));
    }
    if !found_emotions.is_empty() {
        let list: Vec<String> = found_emotions
            .iter()
            .map(|f| format!("{} ({})", f.kind.as_str(), f.because))
            .collect();
        reasons.push(format!("emotions: {}", list.join("; ")));
    }

    let score_view = feedback.score.map(|s| ScoreView {
        kind: s.kind,
        value: s.value,
        scale: s.scale,
        normalized: (s.normalized() * 1000.0).round() / 1000.0,
        class: s.class(),
    });
    let mut fields = Map::new();
    fields.insert("priority".into(), json!(priority.as_str()));
    fields.insert("class".into(), class.map_or(Value::Null, |c| label(&c)));
    fields.insert(
        "score".into(),
        score_view.as_ref().map_or(Value::Null, label),
    );
    fields.insert(
        "sentiment".into(),
        sentiment.as_ref().map_or(
            Value::Null,
            |s| json!({"score": s.score, "polarity": s.polarity}),
        ),
    );
    fields.insert(
        "topics".into(),
        json!(topics.iter().map(|t| &t.topic).collect::<Vec<_>>()),
    );
    fields.insert("signals".into(), label(&signal_kinds));
    fields.insert("emotions".into(), label(&emotion_kinds));
    fields.insert("churn_risk".into(), json!(churn_risk));
    fields.insert("high_value".into(), json!(decision.high_value));
    fields.insert("source".into(), json!(feedback.source));
    fields.insert("has_comment".into(), json!(!comment.is_empty()));
    let facts = routing::facts(fields, &feedback.customer.attributes);

    let alert = priority.alerts_at_once();
    let default_delivery = if alert {
        DeliveryMode::Immediate
    } else {
        DeliveryMode::Suppress
    };
    let outcome = routing::evaluate(
        &config.rules,
        &facts,
        &policy.default_team,
        default_delivery,
    );
    if outcome.matched_rules.is_empty() {
        reasons.push(format!(
            "{} is owned by team {} (default routing)",
            priority.as_str(),
            outcome.team
        ));
    }
    reasons.extend(outcome.reasons.iter().cloned());
    let alert = outcome.delivery != DeliveryMode::Suppress;
    reasons.push(match outcome.delivery {
        DeliveryMode::Immediate => format!("{} alerts the owning team at once", priority.as_str()),
        DeliveryMode::Digest => format!("{} goes to the team's digest", priority.as_str()),
        DeliveryMode::Suppress => format!(
            "{} opens a case without an immediate alert",
            priority.as_str()
        ),
    });

    let always = calendar::Hours::always_open();
    let hours = config.calendars.get(&outcome.team).unwrap_or(&always);
    let (first, resolution) = priority.targets();
    let first_response_due = hours.add(feedback.received_at, first);
    let resolution_due = hours.add(feedback.received_at, resolution);
    reasons.push(format!(
        "{}: first response within {} h and resolution within {} h of team {}'s working time ({})",
        priority.as_str(),
        first.num_hours(),
        resolution.num_hours(),
        outcome.team,
        hours.describe()
    ));

    let triage = Triage {
        class,
        priority,
        team: outcome.team.clone(),
        first_response_due,
        resolution_due,
        alert,
        routing: Routing {
            team: outcome.team.clone(),
            owner: outcome.owner.clone(),
            channels: outcome.channels.clone(),
            watchers: outcome.watchers.clone(),
            delivery: outcome.delivery,
            matched_rules: outcome.matched_rules.clone(),
        },
        reasons,
        triaged_at: now,
        analysis: Analysis {
            score: score_view,
            sentiment,
            topics,
            signals: signal_kinds,
            emotions: emotion_kinds,
            churn_risk,
            high_value: decision.high_value,
            follow_ups: outcome.follow_ups.clone(),
            business_hours: hours.describe(),
        },
    };
    Triaged {
        triage,
        round_robin: outcome.round_robin,
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

    fn with_comment(
        kind: ScoreKind,
        value: i64,
        scale: i64,
        comment: &str,
        attrs: serde_json::Value,
    ) -> Feedback {
        let mut f = feedback(kind, value, scale, attrs);
        f.comment = Some(comment.into());
        f
    }

    fn config(rules: serde_json::Value) -> TriageConfig {
        let (rules, warnings) = routing::parse(&rules, &|_| true).expect("valid rules");
        assert!(warnings.is_empty(), "{warnings:?}");
        TriageConfig {
            rules,
            ..Default::default()
        }
    }

    fn run(f: &Feedback, config: &TriageConfig) -> Triaged {
        triage_with(f, &policy(), config, at())
    }

    #[test]
    fn every_score_scale_is_classed_and_normalised_with_its_scale_kept() {
        use ScoreClass::*;
        let cases = [
            (ScoreKind::Nps, 0, 10, Detractor, 0.0),
            (ScoreKind::Nps, 6, 10, Detractor, 0.6),
            (ScoreKind::Nps, 7, 10, Passive, 0.7),
            (ScoreKind::Nps, 8, 10, Passive, 0.8),
            (ScoreKind::Nps, 9, 10, Promoter, 0.9),
            (ScoreKind::Csat, 2, 5, Detractor, 0.25),
            (ScoreKind::Csat, 3, 5, Passive, 0.5),
            (ScoreKind::Csat, 4, 5, Promoter, 0.75),
            (ScoreKind::Csat, 3, 7, Detractor, 0.333),
            (ScoreKind::Csat, 5, 7, Passive, 0.667),
            (ScoreKind::Csat, 6, 7, Promoter, 0.833),
            (ScoreKind::Csat, 4, 10, Detractor, 0.333),
            (ScoreKind::Csat, 7, 10, Passive, 0.667),
            (ScoreKind::Csat, 8, 10, Promoter, 0.778),
            (ScoreKind::Ces, 1, 7, Detractor, 0.0),
            (ScoreKind::Ces, 4, 7, Passive, 0.5),
            (ScoreKind::Ces, 7, 7, Promoter, 1.0),
            (ScoreKind::Rating, 1, 3, Detractor, 0.0),
            (ScoreKind::Rating, 2, 3, Passive, 0.5),
            (ScoreKind::Rating, 3, 3, Promoter, 1.0),
            (ScoreKind::Rating, 2, 5, Detractor, 0.25),
            (ScoreKind::Rating, 5, 5, Promoter, 1.0),
        ];
        for (kind, value, scale, class, normalized) in cases {
            let t = triage(&feedback(kind, value, scale, json!({})), &policy(), at());
            let view = t.analysis.score.expect("score view");
            assert_eq!((view.kind, view.value, view.scale), (kind, value, scale));
            assert_eq!(view.class, class, "{kind:?} {value}/{scale}");
            assert!(
                (view.normalized - normalized).abs() < 0.001,
                "{kind:?} {value}/{scale}: {}",
                view.normalized
            );
        }
    }

    #[test]
    fn a_strongly_negative_comment_raises_a_passive_or_a_promoter() {
        let f = with_comment(
            ScoreKind::Nps,
            8,
            10,
            "Terrible, rude staff and a filthy room",
            json!({}),
        );
        let t = triage(&f, &policy(), at());
        assert_eq!(t.priority, Priority::P2, "{:?}", t.reasons);
        assert!(
            t.reasons.iter().any(|r| r.contains("strongly negative")),
            "{:?}",
            t.reasons
        );
        let mild = with_comment(ScoreKind::Nps, 8, 10, "Fine, a bit slow", json!({}));
        assert_eq!(triage(&mild, &policy(), at()).priority, Priority::P3);
    }

    #[test]
    fn a_churn_threat_raises_one_level_and_raises_churn_risk() {
        let f = with_comment(
            ScoreKind::Nps,
            5,
            10,
            "We will cancel our contract next month",
            json!({}),
        );
        let t = triage(&f, &policy(), at());
        assert_eq!(t.priority, Priority::P1);
        assert!(t.analysis.signals.contains(&signals::Signal::ChurnThreat));
        assert!(t.analysis.churn_risk >= 0.8, "{}", t.analysis.churn_risk);
        let calm = triage(&feedback(ScoreKind::Nps, 5, 10, json!({})), &policy(), at());
        assert!(calm.analysis.churn_risk < t.analysis.churn_risk);
    }

    #[test]
    fn legal_and_safety_threats_are_always_p1() {
        for comment in [
            "Great stay but my lawyer will hear about the deposit",
            "Lovely, though the kettle caught fire",
        ] {
            let f = with_comment(ScoreKind::Nps, 10, 10, comment, json!({}));
            let t = triage(&f, &policy(), at());
            assert_eq!(t.priority, Priority::P1, "{comment}: {:?}", t.reasons);
            assert!(t.alert);
            assert!(
                t.reasons.iter().any(|r| r.contains("always P1")),
                "{:?}",
                t.reasons
            );
        }
    }

    #[test]
    fn reasons_name_the_score_the_words_and_the_topics() {
        let f = with_comment(
            ScoreKind::Nps,
            3,
            10,
            "The room by the lift was noisy all night",
            json!({}),
        );
        let t = triage(&f, &policy(), at());
        let all = t.reasons.join("\n");
        assert!(all.contains("NPS 3/10 is a detractor"), "{all}");
        assert!(all.contains("\"noisy\""), "{all}");
        assert!(all.contains("topics: noise"), "{all}");
        assert_eq!(t.analysis.topics[0].topic, "noise");
    }

    #[test]
    fn due_times_count_the_owning_teams_business_hours() {
        let mut cfg = config(json!({"rules": [
            {"name": "billing team", "when": [{"field": "topics", "op": "contains", "value": "billing"}],
             "then": {"team": "billing"}}
        ]}));
        let hours = calendar::Calendar {
            time_zone: "Europe/London".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        }
        .check("/")
        .unwrap();
        cfg.calendars.insert("billing".into(), hours);
        // Friday 27 Nov 2026 16:30 UTC (London): P2, 4 h first response: 30 min Friday, 3.5 h Monday.
        let mut f = with_comment(ScoreKind::Nps, 5, 10, "I was charged twice", json!({}));
        f.received_at = "2026-11-27T16:30:00Z".parse().unwrap();
        let t = run(&f, &cfg).triage;
        assert_eq!(t.team, "billing");
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(
            t.first_response_due,
            "2026-11-30T12:30:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(
            t.reasons.last().unwrap().contains("Europe/London"),
            "{:?}",
            t.reasons
        );
        // Another team has no calendar: calendar hours.
        f.comment = Some("The room was cold".into());
        let t = run(&f, &cfg).triage;
        assert_eq!(t.first_response_due, f.received_at + Duration::hours(4));
    }

    #[test]
    fn rules_run_in_order_later_ones_override_and_stop_ends_them() {
        let cfg = config(json!({"rules": [
            {"name": "detractors to success", "when": [{"field": "class", "op": "eq", "value": "detractor"}],
             "then": {"team": "success", "channels": ["slack"]}},
            {"name": "enterprise to the CSMs", "when": [{"field": "customer.tier", "op": "eq", "value": "enterprise"}],
             "then": {"team": "csm", "round_robin": ["ana", "ben"], "channels": ["webhook"], "watchers": ["vp"]}, "stop": true},
            {"name": "never reached for enterprise", "then": {"team": "other"}}
        ]}));
        let t = run(
            &feedback(ScoreKind::Nps, 4, 10, json!({"tier": "enterprise"})),
            &cfg,
        );
        assert_eq!(
            t.triage.routing.matched_rules,
            vec!["detractors to success", "enterprise to the CSMs"]
        );
        assert_eq!(t.triage.team, "csm");
        assert_eq!(t.triage.routing.channels, vec!["slack", "webhook"]);
        assert_eq!(t.triage.routing.watchers, vec!["vp"]);
        assert_eq!(t.round_robin, vec!["ana", "ben"]);
        let t = run(&feedback(ScoreKind::Nps, 4, 10, json!({})), &cfg);
        assert_eq!(
            t.triage.routing.matched_rules,
            vec!["detractors to success", "never reached for enterprise"]
        );
        assert_eq!(t.triage.team, "other");
        assert!(t.round_robin.is_empty());
    }

    #[test]
    fn round_robin_takes_turns() {
        let owners = vec!["ana".to_owned(), "ben".to_owned(), "cy".to_owned()];
        let turns: Vec<_> = (1..=4)
            .map(|n| routing::take_turn(&owners, n).unwrap())
            .collect();
        assert_eq!(turns, vec!["ana", "ben", "cy", "ana"]);
        assert_eq!(routing::take_turn(&[], 1), None);
        let mut t = triage(&feedback(ScoreKind::Nps, 4, 10, json!({})), &policy(), at());
        t.assign("ben".into());
        assert_eq!(t.routing.owner.as_deref(), Some("ben"));
    }

    #[test]
    fn digest_and_suppress_change_the_alert() {
        let cfg = config(json!({"rules": [
            {"name": "quiet source", "when": [{"field": "source", "op": "eq", "value": "test"}], "then": {"delivery": "suppress"}},
            {"name": "big accounts in the digest", "when": [{"field": "customer.arr", "op": "gte", "value": 50000}], "then": {"delivery": "digest"}}
        ]}));
        let t = run(&feedback(ScoreKind::Nps, 2, 10, json!({})), &cfg).triage;
        assert_eq!(t.routing.delivery, DeliveryMode::Suppress);
        assert!(!t.alert);
        let t = run(
            &feedback(ScoreKind::Nps, 2, 10, json!({"arr": "60000"})),
            &cfg,
        )
        .triage;
        assert_eq!(t.routing.delivery, DeliveryMode::Digest);
        assert!(t.alert);
    }

    #[test]
    fn the_promoter_path_thanks_and_asks_everyone_for_reviews() {
        let cfg = config(json!({"rules": [], "review_ask": true}));
        let promoter = run(&feedback(ScoreKind::Nps, 10, 10, json!({})), &cfg).triage;
        assert_eq!(
            promoter.analysis.follow_ups,
            vec!["thank-you", "review-ask"]
        );
        let detractor = run(&feedback(ScoreKind::Nps, 1, 10, json!({})), &cfg).triage;
        assert_eq!(detractor.analysis.follow_ups, vec!["review-ask"]);
        let off = triage(&feedback(ScoreKind::Nps, 1, 10, json!({})), &policy(), at());
        assert!(off.analysis.follow_ups.is_empty());
    }

    #[test]
    fn triage_without_a_comment_still_works_and_old_cases_still_read() {
        let t = triage(&feedback(ScoreKind::Nps, 3, 10, json!({})), &policy(), at());
        assert!(t.analysis.sentiment.is_none());
        let mut stored = serde_json::to_value(&t).unwrap();
        stored.as_object_mut().unwrap().remove("analysis");
        let old: Triage = serde_json::from_value(stored).unwrap();
        assert_eq!(old.analysis, Analysis::default());
    }
}
