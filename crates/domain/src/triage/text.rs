//! Word stems, so that one phrase rule matches every inflection: a phrase keeps its word order,
//! and each of its words matches any inflection ("charged twice" finds "charging twice",
//! "refund" finds "refunds").
//!
//! Stemming is the Snowball English stemmer (`rust-stemmers`), the well-kept standard.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// How many words before a phrase a negation reaches.
const NEGATION_REACH: usize = 3;
/// Words that end a negation's reach.
const CLAUSE_BREAKS: &[&str] = &["but", "and", "or", "though", "although"];
/// Stems of the words that negate what follows them.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont", "cant", "without",
];

/// Lowercase words of `text`, split on anything that is not a letter, digit or apostrophe,
/// apostrophes dropped ("don't" becomes "dont"), each reduced to its stem.
pub fn stems(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| STEMMER.stem(&w).into_owned())
        .collect()
}

/// A phrase prepared for matching: its stems in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub text: String,
    stems: Vec<String>,
}

impl Phrase {
    pub fn new(text: &str) -> Self {
        Phrase {
            text: text.trim().to_lowercase(),
            stems: stems(text),
        }
    }

    /// Whether the phrase has at least one word.
    pub fn is_empty(&self) -> bool {
        self.stems.is_empty()
    }

    /// Whether `words` (from [`stems`]) contain the phrase's stems contiguously.
    pub fn found_in(&self, words: &[String]) -> bool {
        self.positions(words).next().is_some()
    }

    /// Whether the phrase occurs in `words` without a negation in the three words before it
    /// within its clause ("not great", "I don't want a refund", but "not cheap but great").
    pub fn found_unnegated_in(&self, words: &[String]) -> bool {
        self.positions(words).any(|at| {
            !words[at.saturating_sub(NEGATION_REACH)..at]
                .iter()
                .rev()
                .take_while(|w| !CLAUSE_BREAKS.contains(&w.as_str()))
                .any(|w| NEGATIONS.contains(&w.as_str()))
        })
    }

    fn positions<'a>(&'a self, words: &'a [String]) -> impl Iterator<Item = usize> + 'a {
        let n = self.stems.len().max(1);
        words
            .windows(n)
            .enumerate()
            .filter(move |(_, w)| !self.stems.is_empty() && *w == self.stems.as_slice())
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_any_inflection_in_order() {
        let p = Phrase::new("charged twice");
        assert!(p.found_in(&stems("They CHARGED me... no: they were charging twice!")));
        assert!(p.found_in(&stems("I was charged twice.")));
        assert!(!p.found_in(&stems("twice charged")));
        assert!(Phrase::new("refund").found_in(&stems("Refunds take weeks")));
        assert!(Phrase::new("don't").found_in(&stems("I dont know")));
        assert!(Phrase::new("").is_empty());
        let great = Phrase::new("great");
        assert!(great.found_unnegated_in(&stems("It was great")));
        assert!(!great.found_unnegated_in(&stems("It was not great")));
        assert!(!Phrase::new("refund").found_unnegated_in(&stems("I don't want a refund")));
        assert!(great.found_unnegated_in(&stems("not cheap but great")));
    }
}
