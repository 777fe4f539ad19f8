//! Sentiment of a comment: a lexicon-and-rules model, explainable word by word.
//!
//! Why rules and not a trained model: every score must be explainable to the person it alerts
//! ("negative because of *stopped working*, *useless*"), it must run in a few microseconds
//! inside a wasm component, and it must not drift with a training set. The model is VADER's
//! rules (Hutto and Gilbert, 2014: negation, intensifiers, "but" contrast, emphasis by capitals
//! and punctuation, emoji) run over two lexicons whose errors differ, then blended:
//!
//! - *general*: VADER's lexicon, overridden and extended by closeloop's customer-feedback
//!   lexicon (`data/feedback_lexicon.tsv`: "stopped working", "waste of money", "don't waste",
//!   "wish", star ratings written in the comment...);
//! - *adjectives*: the Pattern adjective lexicon (`data/pattern_adjectives.tsv`) with the same
//!   feedback lexicon.
//!
//! Two departures from VADER, both general properties of feedback rather than of any data set:
//! negative words weigh [`NEGATIVITY_WEIGHT`] times as much as positive ones (a complaint that
//! mentions one nice thing is still a complaint), and when the general lexicon knows no word
//! of the comment the adjective lexicon alone decides (and when the adjective lexicon knows
//! none, the general score counts at its [`GENERAL_SHARE`], so such comments read milder). Sources and licences: `data/NOTICE.md`.
//! The lexicons, VADER's word lists and the multi-word terms are compiled into static tables
//! at build time ([`super::tables`]).
//! `cargo run -p closeloop-domain --example sentiment-eval` prints the model's figures against
//! the human-rated development set.

use serde::{Deserialize, Serialize};

use super::tables::{self, BOOSTERS_DOWN, BOOSTERS_UP, EMOJI, NEGATIONS, PHRASES};

/// How much more a negative word weighs than a positive one of the same valence.
pub const NEGATIVITY_WEIGHT: f64 = 1.8;
/// VADER's normalisation constant: a sum of `s` maps to `s / sqrt(s² + alpha)`.
pub const NORMALIZE_ALPHA: f64 = 15.0;
/// Share of the general lexicon's score in the blend; the adjective lexicon has the rest.
pub const GENERAL_SHARE: f64 = 0.7;
/// Scores above this are positive, below its negation negative, otherwise neutral.
pub const NEUTRAL_BAND: f64 = 0.05;
/// Comments longer than this many characters are scored on their first this-many.
pub const MAX_SCORED_CHARS: usize = 5_000;

// VADER's empirically derived constants.
const BOOST: f64 = 0.293;
const CAPS_BOOST: f64 = 0.733;
const NEGATION_SCALAR: f64 = -0.74;
const EXCLAMATION_BOOST: f64 = 0.292;
const QUESTION_BOOST: f64 = 0.18;

/// A word list: term (lowercase) to valence.
struct Lexicon {
    terms: &'static phf::Map<&'static str, f64>,
}

impl Lexicon {
    fn get(&self, lower: &str) -> Option<f64> {
        self.terms.get(lower).copied()
    }
}

const GENERAL: Lexicon = Lexicon {
    terms: &tables::GENERAL,
};
const ADJECTIVES: Lexicon = Lexicon {
    terms: &tables::ADJECTIVES,
};

/// The description of `c` if it is an emoji.
fn emoji(c: char) -> Option<&'static str> {
    EMOJI
        .binary_search_by_key(&c, |(e, _)| *e)
        .ok()
        .map(|i| EMOJI[i].1)
}

/// Positive, negative or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Positive,
    Neutral,
    Negative,
}

/// A word or phrase that moved the score, with its valence after the rules (-4..+4 roughly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub term: String,
    pub valence: f64,
}

/// The sentiment of one comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// -1 (most negative) to +1 (most positive).
    pub score: f64,
    pub polarity: Polarity,
    /// The terms behind the score, strongest first (general lexicon's reading).
    pub evidence: Vec<Evidence>,
}

impl Sentiment {
    /// "negative (-0.62): stopped working -2.5, useless -1.8"
    pub fn explain(&self) -> String {
        let polarity = match self.polarity {
            Polarity::Positive => "positive",
            Polarity::Neutral => "neutral",
            Polarity::Negative => "negative",
        };
        let terms: Vec<String> = self
            .evidence
            .iter()
            .take(5)
            .map(|e| format!("\"{}\" {:+.1}", e.term, e.valence))
            .collect();
        if terms.is_empty() {
            format!(
                "comment sentiment {polarity} ({:+.2}): no opinion words",
                self.score
            )
        } else {
            format!(
                "comment sentiment {polarity} ({:+.2}): {}",
                self.score,
                terms.join(", ")
            )
        }
    }
}

struct Token {
    text: String,
    lower: String,
}

fn is_upper(s: &str) -> bool {
    s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase)
}

fn negates(lower: &str) -> bool {
    NEGATIONS.contains(&lower) || lower.contains("n't")
}

fn booster(token: &Token, valence: f64, caps_differ: bool) -> f64 {
    let base = if BOOSTERS_UP.contains(&token.lower.as_str()) {
        BOOST
    } else if BOOSTERS_DOWN.contains(&token.lower.as_str()) {
        -BOOST
    } else {
        return 0.0;
    };
    let mut scalar = if valence < 0.0 { -base } else { base };
    if caps_differ && is_upper(&token.text) {
        scalar += if valence > 0.0 {
            CAPS_BOOST
        } else {
            -CAPS_BOOST
        };
    }
    scalar
}

/// Splits a comment into VADER's tokens: emoji replaced by their description, words stripped
/// of surrounding punctuation (kept when that leaves two characters or fewer: emoticons), and
/// known phrases joined into one token.
fn tokenize(text: &str) -> Vec<Token> {
    let mut expanded = String::with_capacity(text.len());
    for c in text.chars().take(MAX_SCORED_CHARS) {
        match emoji(c) {
            Some(description) => {
                expanded.push(' ');
                expanded.push_str(description);
                expanded.push(' ');
            }
            None => expanded.push(c),
        }
    }
    let words: Vec<&str> = expanded
        .split_whitespace()
        .map(|w| {
            let stripped = w.trim_matches(|c: char| c.is_ascii_punctuation());
            if stripped.chars().count() <= 2 {
                w
            } else {
                stripped
            }
        })
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let mut tokens = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let phrase = PHRASES.get(lower[i].as_str()).and_then(|candidates| {
            candidates.iter().find(|p| {
                i + p.len() <= lower.len() && p.iter().zip(&lower[i..]).all(|(a, b)| *a == b)
            })
        });
        let n = phrase.map_or(1, |p| p.len());
        tokens.push(Token {
            text: words[i..i + n].join(" "),
            lower: lower[i..i + n].join(" "),
        });
        i += n;
    }
    tokens
}

/// VADER's rules over one lexicon: the valence of each token after negation, boosters, caps,
/// "least" and "but".
fn valences(tokens: &[Token], lexicon: &Lexicon) -> Vec<f64> {
    let caps_differ = {
        let caps = tokens.iter().filter(|t| is_upper(&t.text)).count();
        caps > 0 && caps < tokens.len()
    };
    let word = |i: usize| tokens[i].lower.as_str();
    let mut out = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let lower = token.lower.as_str();
        // A booster modifies the next word; it carries its own valence ("the battery life is
        // incredible") only when the next word has none.
        let next_has_valence = i + 1 < tokens.len() && lexicon.get(word(i + 1)).is_some();
        if (BOOSTERS_UP.contains(&lower) || BOOSTERS_DOWN.contains(&lower)) && next_has_valence {
            out.push(0.0);
            continue;
        }
        let Some(base) = lexicon.get(lower) else {
            out.push(0.0);
            continue;
        };
        let mut valence = base;
        if lower == "no" && i + 1 < tokens.len() && lexicon.get(word(i + 1)).is_some() {
            valence = 0.0;
        }
        if (i > 0 && word(i - 1) == "no")
            || (i > 1 && word(i - 2) == "no")
            || (i > 2 && word(i - 3) == "no" && matches!(word(i - 1), "or" | "nor"))
        {
            valence = base * NEGATION_SCALAR;
        }
        if caps_differ && is_upper(&token.text) {
            valence += if valence > 0.0 {
                CAPS_BOOST
            } else {
                -CAPS_BOOST
            };
        }
        for back in 1..=3 {
            if i < back || lexicon.get(word(i - back)).is_some() {
                continue;
            }
            let damp = [1.0, 0.95, 0.9][back - 1];
            valence += booster(&tokens[i - back], valence, caps_differ) * damp;
            let before = word(i - back);
            let never_so = |k: usize| i >= k && word(i - k) == "never";
            valence = match back {
                2 if never_so(2) && matches!(word(i - 1), "so" | "this") => valence * 1.25,
                2 if word(i - 2) == "without" && word(i - 1) == "doubt" => valence,
                3 if (never_so(3) && matches!(word(i - 2), "so" | "this"))
                    || matches!(word(i - 1), "so" | "this") =>
                {
                    valence * 1.25
                }
                3 if word(i - 3) == "without"
                    && (word(i - 2) == "doubt" || word(i - 1) == "doubt") =>
                {
                    valence
                }
                _ if negates(before) => valence * NEGATION_SCALAR,
                _ => valence,
            };
        }
        if i > 0 && word(i - 1) == "least" && lexicon.get("least").is_none() {
            let comparative = i > 1 && matches!(word(i - 2), "at" | "very");
            if !comparative {
                valence *= NEGATION_SCALAR;
            }
        }
        out.push(valence);
    }
    if let Some(but) = tokens.iter().position(|t| t.lower == "but") {
        for (i, v) in out.iter_mut().enumerate() {
            if i < but {
                *v *= 0.5;
            } else if i > but {
                *v *= 1.5;
            }
        }
    }
    out
}

fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(4) as f64;
    let questions = text.matches('?').count();
    let question_boost = match questions {
        0 | 1 => 0.0,
        2 | 3 => questions as f64 * QUESTION_BOOST,
        _ => 0.96,
    };
    exclamations * EXCLAMATION_BOOST + question_boost
}

/// The normalised score of one lexicon's valences, or `None` when no word carried any.
fn compound(valences: &[f64], emphasis: f64) -> Option<f64> {
    if valences.iter().all(|v| *v == 0.0) {
        return None;
    }
    let positive: f64 = valences.iter().filter(|v| **v > 0.0).sum();
    let negative: f64 = valences.iter().filter(|v| **v < 0.0).map(|v| -v).sum();
    let mut sum = positive - NEGATIVITY_WEIGHT * negative;
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    Some((sum / (sum * sum + NORMALIZE_ALPHA).sqrt()).clamp(-1.0, 1.0))
}

/// Scores `text` from -1 to +1; 0 when it carries no opinion at all.
pub fn score(text: &str) -> f64 {
    analyze(text).score
}

/// Scores `text` and keeps the terms behind the score.
pub fn analyze(text: &str) -> Sentiment {
    let tokens = tokenize(text);
    let emphasis = punctuation_emphasis(text);
    let general = valences(&tokens, &GENERAL);
    let adjectives = valences(&tokens, &ADJECTIVES);
    let score = match (
        compound(&general, emphasis),
        compound(&adjectives, emphasis),
    ) {
        (Some(g), Some(a)) => GENERAL_SHARE * g + (1.0 - GENERAL_SHARE) * a,
        (Some(g), None) => GENERAL_SHARE * g,
        (None, Some(a)) => a,
        (None, None) => 0.0,
    };
    let mut evidence: Vec<Evidence> = tokens
        .iter()
        .zip(general.iter().zip(&adjectives))
        .filter_map(|(t, (g, a))| {
            let v = if *g != 0.0 { *g } else { *a };
            (v != 0.0).then(|| Evidence {
                term: t.lower.clone(),
                valence: (v * 100.0).round() / 100.0,
            })
        })
        .collect();
    evidence.sort_by(|a, b| b.valence.abs().total_cmp(&a.valence.abs()));
    let polarity = if score > NEUTRAL_BAND {
        Polarity::Positive
    } else if score < -NEUTRAL_BAND {
        Polarity::Negative
    } else {
        Polarity::Neutral
    };
    Sentiment {
        score,
        polarity,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f64 {
        score(text)
    }

    #[test]
    fn plain_words_carry_their_lexicon_sign() {
        assert!(s("The staff were wonderful and helpful") > 0.5);
        assert!(s("The room was dirty and the staff rude") < -0.5);
        assert_eq!(s("I stayed two nights in room 12"), 0.0);
    }

    #[test]
    fn negation_flips_and_no_problems_is_praise() {
        assert!(s("The food was good") > 0.0);
        assert!(s("The food was not good") < 0.0);
        assert!(s("I had no problems at all") > 0.0);
        // A warning to others is not praise, although "waste" is negated.
        assert!(s("Don't waste your money") < -0.5);
    }

    #[test]
    fn intensifiers_capitals_and_punctuation_add_emphasis() {
        let plain = s("The service was good");
        assert!(s("The service was very good") > plain);
        assert!(s("The service was GOOD") > plain);
        assert!(s("The service was good!!!") > plain);
        assert!(s("The service was slightly good") < plain);
        assert!(s("It was bad") > s("It was VERY bad!!"));
    }

    #[test]
    fn the_clause_after_but_dominates() {
        assert!(s("The room was nice but the staff were rude") < 0.0);
        assert!(s("The staff were rude but the room was lovely") > -0.3);
    }

    #[test]
    fn feedback_phrases_and_inflections_the_general_lexicon_misses() {
        assert!(s("It stopped working after a week") < -0.3);
        assert!(s("I returned it") < -0.3);
        assert!(s("I wish it had a longer battery") < 0.0);
        assert!(s("Doesn't get any better than this") > 0.5);
        assert!(s("Five stars") > 0.5);
        assert!(s("One star") < -0.5);
    }

    #[test]
    fn emoji_and_emoticons_count() {
        assert!(s("Thanks 😍") > 0.3);
        assert!(s("Checked in 😠") < -0.3);
        assert!(s("ok :(") < 0.0);
    }

    #[test]
    fn negative_words_weigh_more_than_positive_ones() {
        // One good and one bad word of equal valence: negative overall.
        assert!(s("good staff, bad room") < 0.0);
    }

    #[test]
    fn evidence_explains_the_score() {
        let a = analyze("The delivery was late and the box was damaged");
        assert_eq!(a.polarity, Polarity::Negative);
        let terms: Vec<&str> = a.evidence.iter().map(|e| e.term.as_str()).collect();
        assert!(terms.contains(&"late"), "{terms:?}");
        assert!(a.explain().contains("\"late\""), "{}", a.explain());
    }

    #[test]
    fn scores_stay_in_range_and_long_text_is_cut_at_the_limit() {
        let long = "terrible ".repeat(MAX_SCORED_CHARS);
        let v = s(&long);
        assert!((-1.0..=-0.9).contains(&v), "{v}");
        // At the limit and one past it, only the first MAX_SCORED_CHARS characters count.
        let at = "a".repeat(MAX_SCORED_CHARS - 5) + " bad!";
        let past = "a".repeat(MAX_SCORED_CHARS - 4) + " good";
        assert!(s(&at) < 0.0);
        assert_eq!(s(&past), 0.0);
        assert_eq!(s(""), 0.0);
    }
}
