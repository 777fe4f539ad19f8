//! Text to word stems. Shared, by `#[path]`, with the crate's `build.rs`, which stems the
//! built-in phrase rules with it ahead of time: comments at run time and phrases at build time
//! are stemmed by the same code, so they match alike.
//!
//! Stemming is the Snowball English stemmer (`rust-stemmers`), the well-kept standard.

use rust_stemmers::{Algorithm, Stemmer};

/// Lowercase words of `text`, split on anything that is not a letter, digit or apostrophe,
/// apostrophes dropped ("don't" becomes "dont"), each reduced to its stem.
pub fn stems(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}
