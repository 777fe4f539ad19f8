//! Topics: what a comment is about, multi-label, from phrase rules robust to inflection.
//!
//! The default taxonomy covers what customer-experience teams report on (the "outer loop");
//! teams add their own topics and phrases through the admin API, which extend it (a custom
//! topic with a default topic's id adds phrases to it). A topic matches when any of its
//! phrases occurs in the comment, each word in any inflection (see [`super::text`]).
//!
//! The default topics are in `data/word_lists.rs`, their phrases stemmed at build time
//! ([`super::tables`]): a taxonomy without custom topics is built without stemming anything.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::tables::TOPICS;
use super::text::{BuiltinPhrase, Phrase, stems};
use crate::problem::FieldError;

/// At most this many topics in a taxonomy (default plus custom).
pub const MAX_TOPICS: usize = 100;
/// At most this many phrases per topic.
pub const MAX_PHRASES_PER_TOPIC: usize = 200;
/// A topic id or phrase is at most this many characters.
pub const MAX_TERM_CHARS: usize = 64;

/// One topic and the phrases that find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRule {
    /// Lowercase slug: `billing`, `noise`.
    pub id: String,
    /// What people read: "Billing and pricing".
    #[serde(default)]
    pub name: String,
    pub phrases: Vec<String>,
}

/// A topic found in a comment, with the phrases that found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMatch {
    pub topic: String,
    pub phrases: Vec<String>,
}

/// A default topic, with its phrases prepared at build time.
#[derive(Debug)]
pub struct BuiltinTopic {
    pub id: &'static str,
    pub name: &'static str,
    pub phrases: &'static [BuiltinPhrase],
}

/// The default taxonomy.
pub fn default_topics() -> Vec<TopicRule> {
    TOPICS
        .iter()
        .map(|t| TopicRule {
            id: t.id.to_owned(),
            name: t.name.to_owned(),
            phrases: t.phrases.iter().map(|p| p.text.to_owned()).collect(),
        })
        .collect()
}

/// A taxonomy ready to match: the default topics extended by a team's custom ones.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    topics: Vec<Topic>,
}

/// One topic of a taxonomy: a default topic's phrases (if any), then the custom ones.
#[derive(Debug, Clone)]
struct Topic {
    id: Cow<'static, str>,
    builtin: &'static [BuiltinPhrase],
    custom: Vec<Phrase>,
}

impl Taxonomy {
    /// The default topics, extended by `custom` (same id: phrases added; new id: new topic).
    pub fn new(custom: &[TopicRule]) -> Self {
        let mut topics: Vec<Topic> = TOPICS
            .iter()
            .map(|t| Topic {
                id: Cow::Borrowed(t.id),
                builtin: t.phrases,
                custom: Vec::new(),
            })
            .collect();
        for rule in custom {
            let phrases = rule.phrases.iter().map(|p| Phrase::new(p));
            match topics.iter_mut().find(|t| t.id == rule.id) {
                Some(topic) => topic.custom.extend(phrases),
                None => topics.push(Topic {
                    id: Cow::Owned(rule.id.clone()),
                    builtin: &[],
                    custom: phrases.collect(),
                }),
            }
        }
        Taxonomy { topics }
    }

    /// Whether `id` names a topic.
    pub fn knows(&self, id: &str) -> bool {
        self.topics.iter().any(|t| t.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.topics.iter().map(|t| t.id.as_ref())
    }

    /// Every topic of `text`, in taxonomy order, with the phrases that found it.
    pub fn detect(&self, text: &str) -> Vec<TopicMatch> {
        let words = stems(text);
        self.topics
            .iter()
            .filter_map(|topic| {
                let builtin = topic
                    .builtin
                    .iter()
                    .filter(|p| p.found_in(&words))
                    .map(|p| p.text.to_owned());
                let custom = topic
                    .custom
                    .iter()
                    .filter(|p| p.found_in(&words))
                    .map(|p| p.text.clone());
                let found: Vec<String> = builtin.chain(custom).collect();
                (!found.is_empty()).then(|| TopicMatch {
                    topic: topic.id.clone().into_owned(),
                    phrases: found,
                })
            })
            .collect()
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_TERM_CHARS
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a team's custom topics; errors name the JSON pointer under `base`.
pub fn validate(custom: &[TopicRule], base: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let new_ids = custom
        .iter()
        .filter(|t| !TOPICS.iter().any(|d| d.id == t.id))
        .count();
    if TOPICS.len() + new_ids > MAX_TOPICS {
        errors.push(FieldError::new(
            base,
            format!("at most {MAX_TOPICS} topics in all, default ones included"),
        ));
    }
    for (i, topic) in custom.iter().enumerate() {
        let at = format!("{base}/{i}");
        if !is_slug(&topic.id) {
            errors.push(FieldError::new(
                format!("{at}/id"),
                format!("a topic id is a lowercase slug (a-z, 0-9, -) of at most {MAX_TERM_CHARS} characters"),
            ));
        }
        if topic.phrases.is_empty() {
            errors.push(FieldError::new(
                format!("{at}/phrases"),
                "give at least one phrase, or the topic can never match",
            ));
        }
        if topic.phrases.len() > MAX_PHRASES_PER_TOPIC {
            errors.push(FieldError::new(
                format!("{at}/phrases"),
                format!("at most {MAX_PHRASES_PER_TOPIC} phrases per topic"),
            ));
        }
        for (j, phrase) in topic.phrases.iter().enumerate() {
            if Phrase::new(phrase).is_empty() || phrase.chars().count() > MAX_TERM_CHARS {
                errors.push(FieldError::new(
                    format!("{at}/phrases/{j}"),
                    format!(
                        "a phrase has one or more words and at most {MAX_TERM_CHARS} characters"
                    ),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(text: &str) -> Vec<String> {
        Taxonomy::new(&[])
            .detect(text)
            .into_iter()
            .map(|m| m.topic)
            .collect()
    }

    #[test]
    fn each_default_topic_is_found() {
        let cases = [
            ("The parcel was delivered to the wrong address", "delivery"),
            ("I was charged twice on my invoice", "billing"),
            ("Still waiting for my refund", "refunds-returns"),
            ("It stopped working after a week", "product-quality"),
            ("The receptionist was rude", "staff-attitude"),
            ("We waited two hours in the queue", "waiting-time"),
            ("The app keeps crashing at checkout", "usability"),
            ("The bathroom was dirty", "cleanliness"),
            ("The room by the lift was noisy all night", "noise"),
            (
                "Nobody called back, no response to my emails",
                "communication",
            ),
            ("Implementation took too long", "onboarding"),
            ("Customer service closed my ticket", "support"),
            ("Breakfast was cold", "food"),
            ("The shower was broken", "room"),
        ];
        for (text, topic) in cases {
            assert!(
                topics(text).contains(&topic.to_owned()),
                "{text}: {:?}",
                topics(text)
            );
        }
    }

    #[test]
    fn multi_label_and_inflections() {
        let t = topics("Deliveries arrive late and the prices keep rising; refunds are slow");
        for want in ["delivery", "billing", "refunds-returns", "waiting-time"] {
            assert!(t.contains(&want.to_owned()), "{want} in {t:?}");
        }
        assert!(topics("Lovely stay").is_empty());
    }

    #[test]
    fn custom_topics_extend_the_default_taxonomy() {
        let custom = [
            TopicRule {
                id: "parking".into(),
                name: "Parking".into(),
                phrases: vec!["car park".into()],
            },
            TopicRule {
                id: "noise".into(),
                name: String::new(),
                phrases: vec!["snoring".into()],
            },
        ];
        let tax = Taxonomy::new(&custom);
        let found: Vec<_> = tax
            .detect("The car parks were full and my neighbour was snoring")
            .into_iter()
            .map(|m| m.topic)
            .collect();
        // "car parks" also finds the default room topic ("parking"): topics are multi-label.
        assert_eq!(found, vec!["noise", "room", "parking"]);
        assert!(tax.knows("parking"));
    }

    #[test]
    fn invalid_custom_topics_name_their_json_path() {
        let bad = [TopicRule {
            id: "Bad Id".into(),
            name: String::new(),
            phrases: vec![],
        }];
        let errors = validate(&bad, "/topics");
        let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/topics/0/id", "/topics/0/phrases"]);
        // Phrase limits: at the limit and one past it.
        let at = TopicRule {
            id: "x".into(),
            name: String::new(),
            phrases: vec!["a".repeat(MAX_TERM_CHARS)],
        };
        assert!(validate(&[at], "/topics").is_empty());
        let past = TopicRule {
            id: "x".into(),
            name: String::new(),
            phrases: vec!["a".repeat(MAX_TERM_CHARS + 1)],
        };
        assert_eq!(
            validate(&[past], "/topics")[0].pointer,
            "/topics/0/phrases/0"
        );
        let many = TopicRule {
            id: "x".into(),
            name: String::new(),
            phrases: vec!["a".into(); MAX_PHRASES_PER_TOPIC],
        };
        assert!(validate(std::slice::from_ref(&many), "/t").is_empty());
        let too_many = TopicRule {
            phrases: vec!["a".into(); MAX_PHRASES_PER_TOPIC + 1],
            ..many
        };
        assert_eq!(validate(&[too_many], "/t").len(), 1);
    }
}
