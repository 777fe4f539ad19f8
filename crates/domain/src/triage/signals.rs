//! Signals and emotions: what the customer is doing (complaining, asking, threatening to
//! leave...) and feeling, from phrase rules robust to inflection plus the comment's sentiment.
//!
//! Legal and safety threats are the signals no policy may ignore: they always make the case P1
//! (see [`super::policy`]). Each signal keeps the phrase that raised it, for the reasons.
//!
//! The phrases are in `data/word_lists.rs`, stemmed at build time ([`super::tables`]).

use serde::{Deserialize, Serialize};

use super::sentiment::{Polarity, Sentiment};
use super::tables::{EMOTIONS, SIGNALS};
use super::text::{BuiltinPhrase, stems};
use crate::score::ScoreClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    Complaint,
    Praise,
    Question,
    FeatureRequest,
    ChurnThreat,
    RefundRequest,
    LegalThreat,
    SafetyThreat,
}

impl Signal {
    pub const ALL: [Signal; 8] = [
        Self::Complaint,
        Self::Praise,
        Self::Question,
        Self::FeatureRequest,
        Self::ChurnThreat,
        Self::RefundRequest,
        Self::LegalThreat,
        Self::SafetyThreat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::Praise => "praise",
            Self::Question => "question",
            Self::FeatureRequest => "feature-request",
            Self::ChurnThreat => "churn-threat",
            Self::RefundRequest => "refund-request",
            Self::LegalThreat => "legal-threat",
            Self::SafetyThreat => "safety-threat",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Emotion {
    Anger,
    Frustration,
    Disappointment,
    Joy,
    Gratitude,
}

impl Emotion {
    pub const ALL: [Emotion; 5] = [
        Self::Anger,
        Self::Frustration,
        Self::Disappointment,
        Self::Joy,
        Self::Gratitude,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anger => "anger",
            Self::Frustration => "frustration",
            Self::Disappointment => "disappointment",
            Self::Joy => "joy",
            Self::Gratitude => "gratitude",
        }
    }
}

const QUESTION_OPENERS: &[&str] = &[
    "how", "what", "why", "when", "where", "who", "which", "can", "could", "is", "are", "do",
    "does", "will", "would",
];

/// A signal or emotion and the phrase (or rule) that raised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found<T> {
    pub kind: T,
    pub because: String,
}

fn scan<T: Copy>(words: &[String], table: &[(T, &[BuiltinPhrase])]) -> Vec<Found<T>> {
    table
        .iter()
        .filter_map(|(kind, phrases)| {
            phrases
                .iter()
                .find(|p| p.found_unnegated_in(words))
                .map(|p| Found {
                    kind: *kind,
                    because: format!("\"{}\"", p.text),
                })
        })
        .collect()
}

/// The signals of a comment, given its sentiment and the score's class.
pub fn signals(
    comment: &str,
    sentiment: &Sentiment,
    class: Option<ScoreClass>,
) -> Vec<Found<Signal>> {
    let words = stems(comment);
    let mut found = scan(&words, SIGNALS);
    let trimmed = comment.trim();
    let first = words.first().map(String::as_str).unwrap_or("");
    if trimmed.contains('?')
        || (QUESTION_OPENERS.contains(&first) && words.len() > 2 && !trimmed.ends_with('.'))
    {
        found.push(Found {
            kind: Signal::Question,
            because: "the comment asks a question".into(),
        });
    }
    let negative_class = class == Some(ScoreClass::Detractor);
    match sentiment.polarity {
        Polarity::Negative => found.push(Found {
            kind: Signal::Complaint,
            because: "the comment is negative".into(),
        }),
        Polarity::Neutral if negative_class && !trimmed.is_empty() => found.push(Found {
            kind: Signal::Complaint,
            because: "a detractor's comment".into(),
        }),
        Polarity::Positive if !negative_class => found.push(Found {
            kind: Signal::Praise,
            because: "the comment is positive".into(),
        }),
        _ => {}
    }
    found.sort_by_key(|f| f.kind);
    found
}

/// The emotions a comment expresses.
pub fn emotions(comment: &str) -> Vec<Found<Emotion>> {
    let words = stems(comment);
    let mut found = scan(&words, EMOTIONS);
    // Shouting: several words in capitals with exclamation marks.
    let shouted = comment
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .filter(|w| !w.chars().any(char::is_lowercase))
        .count();
    if shouted >= 2 && comment.contains('!') && !found.iter().any(|f| f.kind == Emotion::Anger) {
        found.push(Found {
            kind: Emotion::Anger,
            because: "shouting in capitals".into(),
        });
        found.sort_by_key(|f| f.kind);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::sentiment::analyze;
    use super::*;

    fn sig(text: &str) -> Vec<Signal> {
        signals(text, &analyze(text), None)
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    fn emo(text: &str) -> Vec<Emotion> {
        emotions(text).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn each_signal_is_raised() {
        assert!(sig("The staff were rude and the room dirty").contains(&Signal::Complaint));
        assert!(sig("Wonderful stay, lovely staff").contains(&Signal::Praise));
        assert!(sig("How do I change my booking?").contains(&Signal::Question));
        assert!(sig("It would be nice to have a dark mode").contains(&Signal::FeatureRequest));
        assert!(sig("I am cancelling my subscription").contains(&Signal::ChurnThreat));
        assert!(sig("Switching to your competitor next month").contains(&Signal::ChurnThreat));
        assert!(sig("Never again.").contains(&Signal::ChurnThreat));
        assert!(sig("I want my money back").contains(&Signal::RefundRequest));
        assert!(sig("Refunded? No, I asked for refunds twice").contains(&Signal::RefundRequest));
        assert!(sig("My lawyer will be in touch").contains(&Signal::LegalThreat));
        assert!(sig("We are suing you").contains(&Signal::LegalThreat));
        assert!(sig("The charger caught fire").contains(&Signal::SafetyThreat));
        assert!(sig("My son was injured by the broken gate").contains(&Signal::SafetyThreat));
        assert!(sig("Checked in at noon.").is_empty());
    }

    #[test]
    fn a_detractors_neutral_comment_is_a_complaint_and_no_praise_from_detractors() {
        let t = "Implementation took three months";
        let s = analyze(t);
        let kinds: Vec<_> = signals(t, &s, Some(ScoreClass::Detractor))
            .into_iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, vec![Signal::Complaint]);
        let t = "Lovely people";
        let kinds: Vec<_> = signals(t, &analyze(t), Some(ScoreClass::Detractor))
            .into_iter()
            .map(|f| f.kind)
            .collect();
        assert!(!kinds.contains(&Signal::Praise));
    }

    #[test]
    fn each_emotion_is_found() {
        assert_eq!(emo("This is unacceptable"), vec![Emotion::Anger]);
        assert_eq!(emo("THIS IS A DISGRACE!!"), vec![Emotion::Anger]);
        assert_eq!(
            emo("So frustrating, the third time this month"),
            vec![Emotion::Frustration]
        );
        assert_eq!(
            emo("Really disappointed with the food"),
            vec![Emotion::Disappointment]
        );
        assert_eq!(emo("We loved it"), vec![Emotion::Joy]);
        assert_eq!(emo("Thanks to Dana at reception"), vec![Emotion::Gratitude]);
        assert_eq!(emo("WE ARE STILL HERE!"), vec![Emotion::Anger]);
        assert!(emo("Checked in at noon").is_empty());
        // Negated phrases do not count.
        assert!(emo("The food was not great").is_empty());
        assert!(!sig("I do not want a refund, just an apology").contains(&Signal::RefundRequest));
    }
}
