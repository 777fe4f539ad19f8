//! Word stems, so that one phrase rule matches every inflection: a phrase keeps its word order,
//! and each of its words matches any inflection ("charged twice" finds "charging twice",
//! "refund" finds "refunds").
//!
//! Stemming is in [`words`], which `build.rs` shares to stem the built-in phrase rules ahead of
//! time ([`BuiltinPhrase`]); phrases that teams add at run time are stemmed by [`Phrase::new`].

mod words;

pub use words::stems;

/// How many words before a phrase a negation reaches.
const NEGATION_REACH: usize = 3;
/// Words that end a negation's reach.
const CLAUSE_BREAKS: &[&str] = &["but", "and", "or", "though", "although"];
/// Stems of the words that negate what follows them.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont", "cant", "without",
];

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
        found_in(&self.stems, words)
    }

    /// Whether the phrase occurs in `words` without a negation in the three words before it
    /// within its clause ("not great", "I don't want a refund", but "not cheap but great").
    pub fn found_unnegated_in(&self, words: &[String]) -> bool {
        found_unnegated_in(&self.stems, words)
    }
}

/// A built-in phrase, prepared at build time as [`Phrase::new`] prepares one at run time.
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltinPhrase {
    pub text: &'static str,
    pub stems: &'static [&'static str],
}

impl BuiltinPhrase {
    /// See [`Phrase::found_in`].
    pub fn found_in(&self, words: &[String]) -> bool {
        found_in(self.stems, words)
    }

    /// See [`Phrase::found_unnegated_in`].
    pub fn found_unnegated_in(&self, words: &[String]) -> bool {
        found_unnegated_in(self.stems, words)
    }
}

#[cfg(test)]
impl From<&BuiltinPhrase> for Phrase {
    fn from(p: &BuiltinPhrase) -> Self {
        Phrase {
            text: p.text.to_owned(),
            stems: p.stems.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

fn found_in(stems: &[impl AsRef<str>], words: &[String]) -> bool {
    positions(stems, words).next().is_some()
}

fn found_unnegated_in(stems: &[impl AsRef<str>], words: &[String]) -> bool {
    positions(stems, words).any(|at| {
        !words[at.saturating_sub(NEGATION_REACH)..at]
            .iter()
            .rev()
            .take_while(|w| !CLAUSE_BREAKS.contains(&w.as_str()))
            .any(|w| NEGATIONS.contains(&w.as_str()))
    })
}

/// Where `stems` occur contiguously in `words`; nowhere when there are no stems.
fn positions<'a>(
    stems: &'a [impl AsRef<str>],
    words: &'a [String],
) -> impl Iterator<Item = usize> + 'a {
    words
        .windows(stems.len().max(1))
        .enumerate()
        .filter(move |(_, w)| {
            !stems.is_empty() && w.iter().zip(stems).all(|(w, s)| w == s.as_ref())
        })
        .map(|(i, _)| i)
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
