//! Word stems, so that one phrase rule matches every inflection: a phrase keeps its word order,
//! and each of its words matches any inflection ("charged twice" finds "charging twice",
//! "refund" finds "refunds").
//!
//! Stemming is the Snowball English stemmer (`rust-stemmers`), the well-kept standard.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

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
        !self.stems.is_empty() && words.windows(self.stems.len()).any(|w| w == self.stems)
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
    }
}
