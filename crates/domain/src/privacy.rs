//! A customer's right to their data: export everything held about them, or erase it.
//!
//! Erasure keeps what the measures need and nothing that identifies anyone: feedback keeps its
//! source, times and score; cases keep their triage, states and times; events keep their kind,
//! actor and time. Gone are the customer's id, name, email, phone, attributes, comments and
//! metadata, any text quoting the customer, and every remaining mention of their identifiers in
//! notes, resolutions, close reasons and the other events' details and actors. Notices and
//! deliveries hold only ids and links, never personal data.
//!
//! The identifiers are derived by [`identifiers`] from the customer's feedback (the customer,
//! the comment, the metadata) and from what else the customer said on their cases, gathered
//! before any of it is erased; [`scrub`] then replaces each mention with [`ERASED`]:
//! - the id, the email and the full name, and each part of the name and of the email's local
//!   part of at least [`MIN_NAME_PART_CHARS`] characters, case-insensitively as whole words
//!   ("Alex" in "Alex's" and "ALEX", not in "Alexandria"). A part that is also a common word
//!   ("Will", "Guest") is erased only capitalised as in a name, so "we will" stays;
//! - phone numbers by their digits, whatever the separators, with or without the country code
//!   or the leading 0 ("+44 7700 900123" is "07700900123");
//! - from the comments, metadata and attributes: code-like tokens such as order numbers and
//!   booking references ("ORD-5531", "#A-10442", "BK7F2Q", "10442": [`is_code`]), each run of
//!   at least [`MIN_ID_DIGITS`] digits in them on its own, whole numbers of that many digits,
//!   email addresses and phone numbers. Plain words are never identifiers, so a comment in
//!   plain English wipes no ordinary word from the notes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::case::{Case, CaseEvent, EventKind};
use crate::dispatch::directory::has_email_shape;
use crate::feedback::{Customer, Feedback};
use crate::problem::FieldError;

/// What replaces erased text.
pub const ERASED: &str = "[erased]";
/// The longest identifier accepted in an erasure or export request.
pub const MAX_SELECTOR_CHARS: usize = 320;

/// `POST /v1/admin/customers/{export,erase}`: the customer, by id or email (or both).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSelectorInput {
    pub customer_id: Option<String>,
    pub email: Option<String>,
}

/// Which customer a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSelector {
    pub id: Option<String>,
    pub email: Option<String>,
}

impl CustomerSelectorInput {
    pub fn validate(self) -> Result<CustomerSelector, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut field = |pointer: &str, v: Option<String>| {
            let v = v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())?;
            if v.chars().count() > MAX_SELECTOR_CHARS {
                errors.push(FieldError::new(
                    pointer,
                    format!("is longer than {MAX_SELECTOR_CHARS} characters"),
                ));
                return None;
            }
            Some(v)
        };
        let id = field("/customer_id", self.customer_id);
        let email = field("/email", self.email);
        if id.is_none() && email.is_none() && errors.is_empty() {
            errors.push(FieldError::new("", "give the customer_id or the email"));
        }
        if errors.is_empty() {
            Ok(CustomerSelector { id, email })
        } else {
            Err(errors)
        }
    }
}

impl CustomerSelector {
    /// Whether `customer` is this customer (emails compare case-insensitively).
    pub fn matches(&self, customer: &Customer) -> bool {
        let id = matches!((&self.id, &customer.id), (Some(a), Some(b)) if a == b);
        let email = matches!((&self.email, &customer.email),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        id || email
    }
}

/// The fewest letters or digits a part of a name (or of an email's local part) needs to be
/// erased on its own: initials are not.
pub const MIN_NAME_PART_CHARS: usize = 2;
/// The fewest consecutive digits that make a number the customer wrote an identifier (an order
/// number, a booking number), wherever it appears.
pub const MIN_ID_DIGITS: usize = 4;
/// The fewest letters and digits of a token that mixes them (`BK7F2Q`) for it to be a code.
pub const MIN_CODE_CHARS: usize = 4;
/// The fewest digits of a phone number.
const MIN_PHONE_DIGITS: usize = 7;
/// The most digits of a phone number (E.164).
const MAX_PHONE_DIGITS: usize = 15;
/// How many digits a phone number has.
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = MIN_PHONE_DIGITS..=MAX_PHONE_DIGITS;
/// How many more digits a number written with its country code may have than the same number
/// written without it ("447700900123" against "7700900123").
const MAX_COUNTRY_CODE_DIGITS: usize = 3;
/// What may join the digit groups of a phone number, and how many of them in a row.
const PHONE_SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '\u{a0}'];
const MAX_PHONE_SEPARATORS: usize = 3;
/// What a token of the customer's words may hold besides letters and digits (`ORD-5531`,
/// `a.b+c@example.com`); anything else ends it.
const TOKEN_JOINERS: &[char] = &['-', '_', '.', '#', '+', '@'];

/// Words never erased as written in ordinary prose (lowercase), even when they are part of the
/// customer's name or email: a name part among them is erased only capitalised as in a name
/// ("Will", "Guest").
/// Function words, the words for a customer, mailbox names, titles, name particles, and
/// common words that are also names; lowercase, sorted (a test checks).
const COMMON_WORDS: &str = "\
    a about above account admin after again against al all also am an and any april are art as \
    at august be been before bell below ben between bill bin black booking both brown but buyer \
    by call caller can client contact could customer da dame dawn de del della den der des desk \
    di did do does done down dr du during each el email even ever every faith few field for \
    frank from front further gay grace green guest had hall has have he hello her here hers hi \
    hill him his hope hotel how i ibn if ii iii in info into is it its iv jack joy jr june just \
    king la lady lane le long lord madam mail manager mark may me member miss more most mr mrs \
    ms mx my no nor noreply not now of off office ok okay on once only onto or order other our \
    ours out over own page park pat patient per please prof ray re reception rich room rose \
    sales same service she should sir so some sr st staff star sue summer support team than \
    thank thanks that the their them then there these they this those to too under until up \
    upon us user van very via visitor von was we were what when where which while white who \
    whom whose why will with wood would yes yet you young your yours";

/// Whether `word` (lowercase) is a common word: see [`COMMON_WORDS`].
fn is_common_word(word: &str) -> bool {
    COMMON_WORDS.split_whitespace().any(|w| w == word)
}

/// What identifies one customer in free text, derived by [`identifiers`], erased by [`scrub`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// Matched case-insensitively as whole words (neither neighbour a letter, digit or `_`);
    /// stored folded by [`fold`].
    words: BTreeSet<String>,
    /// Name parts that are common words: matched as whole words, only capitalised as here.
    proper: BTreeSet<String>,
    /// Runs of at least [`MIN_ID_DIGITS`] digits: matched where no digit is next to them.
    digits: BTreeSet<String>,
    /// Phone numbers, as digits: matched whatever separators the text writes between them.
    phones: BTreeSet<String>,
}

impl Identifiers {
    fn word(&mut self, word: &str) {
        let word = word.trim();
        if !word.is_empty() {
            self.words.insert(fold(word));
        }
    }

    /// A part of a name: skipped when shorter than [`MIN_NAME_PART_CHARS`], matched only
    /// capitalised when it is a common word.
    fn name_part(&mut self, part: &str) {
        let part = trim_edges(part);
        if part.chars().filter(|c| c.is_alphanumeric()).count() < MIN_NAME_PART_CHARS {
            return;
        }
        let lower = fold(part);
        if is_common_word(&lower) {
            let mut chars = lower.chars();
            let first = chars.next().map(char::to_uppercase).into_iter().flatten();
            self.proper.insert(first.chain(chars).collect());
        } else {
            self.words.insert(lower);
        }
    }

    /// A name, whole and by parts: "Mary-Jane O'Neil" gives "Mary-Jane", "Mary", "Jane",
    /// "O'Neil" and "Neil".
    fn name(&mut self, name: &str) {
        let whole = name.split_whitespace().collect::<Vec<_>>().join(" ");
        self.word(&whole);
        for part in whole.split(' ') {
            self.name_part(part);
            for piece in part.split(|c: char| !c.is_alphanumeric()) {
                self.name_part(piece);
            }
        }
    }

    /// An email, whole, its local part (with and without a `+tag`), and the local part's
    /// pieces as name parts.
    fn email(&mut self, email: &str) {
        self.word(email);
        if let Some((local, _)) = email.trim().rsplit_once('@') {
            self.name_part(local);
            if let Some((untagged, _)) = local.split_once('+') {
                self.name_part(untagged);
            }
            for piece in local.split(|c: char| !c.is_alphanumeric()) {
                self.name_part(piece);
            }
        }
    }

    /// A phone number by its digits; one with too few or too many digits is matched as written.
    fn phone(&mut self, phone: &str) {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if PHONE_DIGITS.contains(&digits.len()) {
            self.phones.insert(digits);
        } else {
            self.word(phone);
        }
    }

    /// Free text the customer wrote: its codes, the digit runs in them, its emails and its
    /// phone numbers. Plain words are not identifiers.
    fn said(&mut self, text: &str) {
        for token in text.split(|c: char| !c.is_alphanumeric() && !TOKEN_JOINERS.contains(&c)) {
            let token = trim_edges(token);
            let code = is_code(token);
            if has_email_shape(token) {
                self.email(token);
            } else if code {
                self.word(token);
            }
            if code {
                for run in token.split(|c: char| !c.is_ascii_digit()) {
                    if run.len() >= MIN_ID_DIGITS {
                        self.digits.insert(run.to_owned());
                    }
                }
            }
        }
        for groups in digit_runs(text) {
            let whole = phone_digits(text, &groups);
            if PHONE_DIGITS.contains(&whole.len()) {
                self.phones.insert(whole);
                continue;
            }
            for &group in &groups {
                let one = phone_digits(text, &[group]);
                if PHONE_DIGITS.contains(&one.len()) {
                    self.phones.insert(one);
                }
            }
        }
    }

    /// A metadata or attribute value: strings as the customer's words, whole numbers of at
    /// least [`MIN_ID_DIGITS`] digits (`"order_id": 10442`), arrays and objects value by value.
    fn value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.said(s),
            Value::Number(n) => {
                let whole = n.as_u64().or_else(|| n.as_i64().map(i64::unsigned_abs));
                if let Some(digits) = whole.map(|n| n.to_string()) {
                    if digits.len() >= MIN_ID_DIGITS {
                        self.digits.insert(digits.clone());
                    }
                    if PHONE_DIGITS.contains(&digits.len()) {
                        self.phones.insert(digits);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.value(v)),
            Value::Object(map) => map.values().for_each(|v| self.value(v)),
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn customer(&mut self, customer: &Customer) {
        if let Some(id) = &customer.id {
            self.word(id);
            self.said(id);
        }
        if let Some(name) = &customer.name {
            self.name(name);
        }
        if let Some(email) = &customer.email {
            self.email(email);
        }
        if let Some(phone) = &customer.phone {
            self.phone(phone);
        }
        customer.attributes.values().for_each(|v| self.value(v));
    }
}

/// What identifies the customer of `feedback` in free text: their id, name, email and phone
/// from each feedback's customer, and the codes, numbers, emails and phone numbers in each
/// comment, metadata and attributes, and in `said` (what else the customer said on their cases:
/// [`customer_words`]). Read them before erasing any of it.
pub fn identifiers<'a>(
    feedback: &[Feedback],
    said: impl IntoIterator<Item = &'a str>,
) -> Identifiers {
    let mut ids = Identifiers::default();
    for fb in feedback {
        ids.customer(&fb.customer);
        if let Some(comment) = &fb.comment {
            ids.said(comment);
        }
        fb.metadata.values().for_each(|v| ids.value(v));
    }
    for text in said {
        ids.said(text);
    }
    ids
}

/// Whether an event's detail is the customer's own words (or names them), erased whole.
pub fn quotes_customer(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::FeedbackReceived
            | EventKind::CustomerConfirmed
            | EventKind::Reopened
            | EventKind::CustomerFeedback
            | EventKind::CustomerReplied
    )
}

/// What the customer said on a case, besides their feedback: their answer on the confirmation
/// page and the events that quote them (`events`: the case's whole timeline).
pub fn customer_words<'a>(
    case: &'a Case,
    events: impl IntoIterator<Item = &'a CaseEvent>,
) -> Vec<&'a str> {
    let answer = case
        .customer_answer
        .as_ref()
        .and_then(|a| a.comment.as_deref());
    let quoted = events
        .into_iter()
        .filter(|e| quotes_customer(e.kind) && e.kind != EventKind::FeedbackReceived)
        .map(|e| e.detail.as_str());
    answer.into_iter().chain(quoted).collect()
}

/// Whether a token the customer wrote is a code (an order number, a booking reference): at
/// least [`MIN_CODE_CHARS`] letters and digits, with a run of [`MIN_ID_DIGITS`] digits
/// ("10442", "ORD-5531") or a letter before a digit ("BK7F2Q", "A380"). A number with a unit or
/// an ordinal ("10pm", "3rd", "24hrs") and a plain word are not.
fn is_code(token: &str) -> bool {
    if token.chars().filter(|c| c.is_alphanumeric()).count() < MIN_CODE_CHARS {
        return false;
    }
    if token
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= MIN_ID_DIGITS)
    {
        return true;
    }
    let mut letter = false;
    for c in token.chars() {
        if c.is_ascii_digit() && letter {
            return true;
        }
        letter |= c.is_alphabetic();
    }
    false
}

/// `s` without the punctuation around it ("#A-10442," is "A-10442").
fn trim_edges(s: &str) -> &str {
    s.trim_matches(|c: char| !c.is_alphanumeric())
}

/// `s` case-folded for matching: lowercase, char by char (final sigma as sigma).
fn fold(s: &str) -> String {
    s.chars().flat_map(fold_char).collect()
}

fn fold_char(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|c| if c == 'ς' { 'σ' } else { c })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The byte spans of the digit groups of each run of digits in `text` that phone separators
/// join ("+44 (0)7700 900-123" is one run of five groups).
fn digit_runs(text: &str) -> Vec<Vec<(usize, usize)>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        loop {
            let start = i;
            while i < chars.len() && chars[i].1.is_ascii_digit() {
                i += 1;
            }
            groups.push((at(start), at(i)));
            let mut j = i;
            while j < chars.len()
                && j - i < MAX_PHONE_SEPARATORS
                && PHONE_SEPARATORS.contains(&chars[j].1)
            {
                j += 1;
            }
            if j > i && j < chars.len() && chars[j].1.is_ascii_digit() {
                i = j;
            } else {
                break;
            }
        }
        runs.push(groups);
    }
    runs
}

/// The digits of a run of digit groups, without a trunk prefix written "(0)".
fn phone_digits(text: &str, groups: &[(usize, usize)]) -> String {
    groups
        .iter()
        .filter(|&&(a, b)| {
            !(&text[a..b] == "0" && text[..a].ends_with('(') && text[b..].starts_with(')'))
        })
        .map(|&(a, b)| &text[a..b])
        .collect()
}

/// Whether two phone numbers (digits only) are the same number, one perhaps written with its
/// country code or an international or national prefix of zeros and the other without.
fn same_phone(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= MIN_PHONE_DIGITS
        && long.ends_with(short)
        && long.len() - short.len() <= MAX_COUNTRY_CODE_DIGITS
}

/// Where `needle` matches `text` at byte `at`: the end of the match. `folded`: the needle is
/// folded and the text is folded as it is read.
fn match_at(text: &str, at: usize, needle: &str, folded: bool) -> Option<usize> {
    let mut want = needle.chars().peekable();
    for (offset, c) in text[at..].char_indices() {
        if want.peek().is_none() {
            return Some(at + offset);
        }
        if folded {
            for l in fold_char(c) {
                if want.next() != Some(l) {
                    return None;
                }
            }
        } else if want.next() != Some(c) {
            return None;
        }
    }
    want.peek().is_none().then_some(text.len())
}

/// Pushes the spans where `needle` occurs in `text` on boundaries: where the needle begins
/// (ends) with a char that `joins` says belongs to a word, the char before (after) must not.
fn find_all(
    text: &str,
    needle: &str,
    folded: bool,
    joins: fn(char) -> bool,
    spans: &mut Vec<(usize, usize)>,
) {
    let (Some(first), Some(last)) = (needle.chars().next(), needle.chars().next_back()) else {
        return;
    };
    let mut before = None;
    for (at, c) in text.char_indices() {
        let starts_ok = !(joins(first) && before.is_some_and(joins));
        before = Some(c);
        if !starts_ok {
            continue;
        }
        let Some(end) = match_at(text, at, needle, folded) else {
            continue;
        };
        let after = text[end..].chars().next();
        if !(joins(last) && after.is_some_and(joins)) {
            spans.push((at, end));
        }
    }
}

/// `text` with every mention of the customer's identifiers replaced by [`ERASED`]; mentions
/// that touch or overlap become one.
pub fn scrub(text: &str, identifiers: &Identifiers) -> String {
    let mut spans = Vec::new();
    for word in &identifiers.words {
        find_all(text, word, true, is_word_char, &mut spans);
    }
    for word in &identifiers.proper {
        find_all(text, word, false, is_word_char, &mut spans);
    }
    for digits in &identifiers.digits {
        find_all(text, digits, false, |c| c.is_ascii_digit(), &mut spans);
    }
    if !identifiers.phones.is_empty() {
        phone_spans(text, &identifiers.phones, &mut spans);
    }
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut written = 0;
    for (start, end) in merged {
        out.push_str(&text[written..start]);
        out.push_str(ERASED);
        written = end;
    }
    out.push_str(&text[written..]);
    out
}

/// Pushes the spans of the phone numbers in `text` that are one of `phones`: in each run of
/// digit groups, the longest run of groups from each group on that is one of them.
fn phone_spans(text: &str, phones: &BTreeSet<String>, spans: &mut Vec<(usize, usize)>) {
    for groups in digit_runs(text) {
        let mut i = 0;
        while i < groups.len() {
            let found = (i..groups.len()).rev().find(|&j| {
                let digits = phone_digits(text, &groups[i..=j]);
                phones.iter().any(|p| same_phone(&digits, p))
            });
            let Some(j) = found else {
                i += 1;
                continue;
            };
            let mut start = groups[i].0;
            let opens = text[..start].ends_with('(')
                && j > i
                && text[groups[i].1..groups[i + 1].0].contains(')');
            if text[..start].ends_with('+') || opens {
                start -= 1;
            }
            spans.push((start, groups[j].1));
            i = j + 1;
        }
    }
}

/// Erases the customer from their feedback; the score, source and times stay for the counts.
pub fn erase_feedback(feedback: &mut Feedback) {
    feedback.customer = Customer {
        id: None,
        email: None,
        name: None,
        phone: None,
        attributes: Default::default(),
    };
    feedback.comment = None;
    feedback.metadata = Default::default();
}

/// Erases the customer's words and identifiers from a case.
pub fn erase_case(case: &mut Case, identifiers: &Identifiers) {
    if let Some(answer) = &mut case.customer_answer {
        answer.comment = None;
    }
    if let Some(resolution) = &mut case.resolution {
        resolution.summary = scrub(&resolution.summary, identifiers);
    }
    if let Some(reason) = &mut case.close_reason {
        *reason = scrub(reason, identifiers);
    }
}

/// Erases the customer from an event: events that quote the customer lose their text, the
/// rest lose any mention of the customer's identifiers.
pub fn erase_event(event: &mut CaseEvent, identifiers: &Identifiers) {
    event.detail = if quotes_customer(event.kind) {
        ERASED.to_owned()
    } else {
        scrub(&event.detail, identifiers)
    };
    event.actor = scrub(&event.actor, identifiers);
}

/// The anonymous record an erasure leaves: when, by whom, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub id: String,
    pub at: crate::Timestamp,
    pub by: String,
    pub feedback: usize,
    pub cases: usize,
    pub events: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alex() -> Customer {
        Customer {
            id: Some("guest-42".into()),
            email: Some("alex@example.com".into()),
            name: Some("Alex Guest".into()),
            phone: Some("+447700900123".into()),
            attributes: Default::default(),
        }
    }

    #[test]
    fn selects_by_id_or_email() {
        let by_email = CustomerSelector {
            id: None,
            email: Some("ALEX@example.com".into()),
        };
        assert!(by_email.matches(&alex()));
        let by_id = CustomerSelector {
            id: Some("guest-4".into()),
            email: None,
        };
        assert!(!by_id.matches(&alex()));
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<CustomerSelectorInput>(v)
                .unwrap()
                .validate()
        };
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"email": "  "})).is_err());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_SELECTOR_CHARS)})).is_ok());
        assert!(parse(json!({"customer_id": "x".repeat(MAX_SELECTOR_CHARS + 1)})).is_err());
    }

    fn feedback(customer: Customer, comment: &str, metadata: serde_json::Value) -> Feedback {
        let at = "2026-03-02T10:00:00Z".parse().unwrap();
        Feedback {
            id: "fb-1".into(),
            source: "hotel-survey".into(),
            external_id: "x-1".into(),
            submitted_at: at,
            received_at: at,
            customer,
            score: None,
            comment: (!comment.is_empty()).then(|| comment.to_owned()),
            metadata: serde_json::from_value(metadata).unwrap(),
        }
    }

    /// Alex's identifiers, from a feedback with a comment naming an order.
    fn alex_ids() -> Identifiers {
        let mut customer = alex();
        customer.attributes = serde_json::from_value(
            json!({"tier": "standard", "room": "412", "loyalty": "LY-88231"}),
        )
        .unwrap();
        let fb = feedback(
            customer,
            "Order #A-10442 came late, booking BK7F2Q. The room was noisy at 10pm on the 3rd!",
            json!({"order_id": "ORD-5531", "property": "Harbour Hotel", "ticket": 77120}),
        );
        identifiers(&[fb], [])
    }

    fn erased(text: &str) -> String {
        scrub(text, &alex_ids())
    }

    #[test]
    fn the_full_name_email_id_and_phone_are_erased() {
        let out =
            erased("Called alex guest (ALEX@example.com, +447700900123), ref guest-42. Ünïcode ok");
        assert_eq!(
            out,
            "Called [erased] ([erased], [erased]), ref [erased]. Ünïcode ok"
        );
        assert_eq!(erased("nothing here"), "nothing here");
        assert_eq!(erased(""), "");
    }

    #[test]
    fn each_part_of_the_name_is_erased_in_any_case_and_possessive() {
        assert_eq!(erased("called Alex about it"), "called [erased] about it");
        assert_eq!(
            erased("ALEX said yes; alex agreed"),
            "[erased] said yes; [erased] agreed"
        );
        assert_eq!(erased("Alex's room"), "[erased]'s room");
        assert_eq!(erased("Alex’s room"), "[erased]’s room");
        assert_eq!(erased("Mr Guest called"), "Mr [erased] called");
        assert_eq!(erased("(Alex)"), "([erased])");
    }

    #[test]
    fn a_name_part_is_erased_only_as_a_whole_word() {
        assert_eq!(
            erased("Flew from Alexandria with Alexa, alex2 and _alex"),
            "Flew from Alexandria with Alexa, alex2 and _alex"
        );
        assert_eq!(
            erased("alex-Guest, alex-guest"),
            "[erased]-[erased], [erased]-guest"
        );
    }

    #[test]
    fn a_name_part_that_is_a_common_word_is_erased_only_capitalised() {
        // "Guest" is Alex's surname and a common word: the guest stays, Mr Guest goes.
        assert_eq!(
            erased("Moved the guest to a quiet room; told Guest so"),
            "Moved the guest to a quiet room; told [erased] so"
        );
        let mut will = alex();
        will.name = Some("Will  J. de Vries-Smith".into());
        let ids = identifiers(&[feedback(will, "", json!({}))], []);
        assert_eq!(
            scrub(
                "Will will call; J. called de Vries and Smith, WILL de VRIES-SMITH",
                &ids
            ),
            "[erased] will call; J. called de [erased] and [erased], WILL de [erased]"
        );
        assert_eq!(scrub("Will J. de Vries-Smith", &ids), "[erased]");
        assert!(ids.words.contains("vries-smith") && ids.proper.contains("De"));
        assert!(!ids.words.contains("j"), "initials are skipped");
    }

    #[test]
    fn the_email_local_part_is_erased_on_its_own() {
        let mut customer = alex();
        customer.name = None;
        customer.email = Some("Sam.Okafor+hotel@example.org".into());
        let ids = identifiers(&[feedback(customer, "", json!({}))], []);
        assert_eq!(
            scrub(
                "wrote to sam.okafor+hotel@example.org, Sam.Okafor and okafor",
                &ids
            ),
            "wrote to [erased], [erased] and [erased]"
        );
        assert_eq!(scrub("Sam called", &ids), "[erased] called");
        assert_eq!(scrub("the hotel", &ids), "the hotel", "a common word");
    }

    #[test]
    fn a_phone_number_is_erased_in_any_format() {
        for written in [
            "+447700900123",
            "+44 7700 900123",
            "07700 900123",
            "07700900123",
            "(07700) 900-123",
            "0044 7700 900 123",
            "+44 (0)7700 900123",
            "7700.900.123",
        ] {
            let out = erased(&format!("rang {written} twice"));
            assert_eq!(out, "rang [erased] twice", "{written}");
        }
        // Other numbers stay: a different number, a longer one, one too short to be a phone.
        for other in [
            "07700 900124",
            "123456447700900123",
            "900123",
            "room 412, 2 nights",
        ] {
            assert_eq!(erased(other), other);
        }
        // A national number on file matches the same number written with its country code.
        let mut customer = alex();
        customer.phone = Some("07700 900123".into());
        let ids = identifiers(&[feedback(customer, "", json!({}))], []);
        assert_eq!(scrub("on +44 7700 900 123.", &ids), "on [erased].");
        // A number next to another in one run of digits is still found.
        assert_eq!(erased("ORD-999 07700900123"), "ORD-999 [erased]");
    }

    #[test]
    fn order_numbers_and_codes_from_the_comment_and_metadata_are_erased() {
        for (text, want) in [
            (
                "about #A-10442, see A-10442",
                "about #[erased], see [erased]",
            ),
            ("order 10442 arrived", "order [erased] arrived"),
            ("ref a10442", "ref a[erased]"),
            ("booking bk7f2q moved", "booking [erased] moved"),
            ("refund for ORD-5531.", "refund for [erased]."),
            ("order 5531 refunded", "order [erased] refunded"),
            ("ticket 77120", "ticket [erased]"),
            ("card LY-88231 and 88231", "card [erased] and [erased]"),
        ] {
            assert_eq!(erased(text), want, "{text}");
        }
        // Digits are matched where no digit touches them: other numbers stay.
        assert_eq!(
            erased("104420 and 1044 and 5532"),
            "104420 and 1044 and 5532"
        );
    }

    #[test]
    fn ordinary_words_of_the_comment_are_not_identifiers() {
        let ids = alex_ids();
        let text = "The room was noisy at 10pm on the 3rd, the order came late: \
                    moved to room 412 at the Harbour Hotel, standard tier.";
        assert_eq!(scrub(text, &ids), text);
        for word in [
            "the", "room", "noisy", "10pm", "3rd", "harbour", "hotel", "standard", "412",
        ] {
            assert!(!ids.words.contains(word), "{word}");
        }
        assert!(!ids.digits.contains("412"));
    }

    #[test]
    fn codes_are_told_from_words_numbers_and_units() {
        for code in [
            "10442",
            "#A-10442",
            "ORD-5531",
            "BK7F2Q",
            "A380",
            "a10442",
            "12/03/2024",
        ] {
            assert!(is_code(trim_edges(code)), "{code}");
        }
        for word in [
            "order", "10pm", "3rd", "24hrs", "A-10", "412", "3.5", "1,500", "10/10", "Q3",
        ] {
            assert!(!is_code(word), "{word}");
        }
    }

    #[test]
    fn the_customer_s_other_words_give_identifiers_too() {
        let said = ["Still broken, my new booking is ZX81QP, call 020 7946 0018"];
        let fb = feedback(alex(), "", json!({}));
        let ids = identifiers(std::slice::from_ref(&fb), said);
        assert_eq!(
            scrub("Rebooked ZX81QP; called +44 20 7946 0018", &ids),
            "Rebooked [erased]; called [erased]"
        );
        assert!(!identifiers(&[fb], []).words.contains("zx81qp"));
        // An email the customer wrote, and the names in it.
        let ids = identifiers(&[], ["reach my assistant at jo.marsh@example.net"]);
        assert_eq!(
            scrub("Emailed jo.marsh@example.net; Jo Marsh replied", &ids),
            "Emailed [erased]; [erased] [erased] replied"
        );
        // One too long to be deliverable (`directory::is_email`) is the customer's all the same.
        let long = format!("jo.marsh@{}.example.net", "x".repeat(260));
        assert!(!crate::dispatch::directory::is_email(&long));
        let ids = identifiers(&[], [format!("write to {long}").as_str()]);
        assert_eq!(
            scrub(&format!("Emailed {long}; Jo Marsh replied"), &ids),
            "Emailed [erased]; [erased] [erased] replied"
        );
    }

    #[test]
    fn identifiers_come_from_every_feedback_and_its_metadata() {
        let mut other = alex();
        other.name = Some("Alexander Guest".into());
        let two = [
            feedback(alex(), "first", json!({})),
            feedback(
                other,
                "second",
                json!({"orders": [{"id": 99881}], "n": 12, "vip": true}),
            ),
        ];
        let ids = identifiers(&two, []);
        assert_eq!(
            scrub("Alex and Alexander, 99881, 12", &ids),
            "[erased] and [erased], [erased], 12"
        );
        assert_eq!(identifiers(&[], []), Identifiers::default());
        let anonymous = feedback(Customer::default(), "Lovely stay", json!({}));
        assert_eq!(
            identifiers(&[anonymous], []),
            Identifiers::default(),
            "nothing identifies an anonymous answer without codes"
        );
    }

    #[test]
    fn the_customer_s_words_on_a_case_are_gathered() {
        let at: crate::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let event = |kind, detail: &str| CaseEvent {
            id: detail.into(),
            case_id: "c".into(),
            at,
            actor: "Dana".into(),
            kind,
            from: None,
            to: None,
            detail: detail.into(),
        };
        let events = [
            event(
                EventKind::FeedbackReceived,
                "NPS 3 from Alex Guest via hotel-survey",
            ),
            event(EventKind::Note, "called them"),
            event(EventKind::CustomerFeedback, "kettle BK-2291 broken"),
            event(
                EventKind::Reopened,
                "the customer says it is not resolved: \"ORD-1\"",
            ),
            event(
                EventKind::CustomerReplied,
                "the customer replied by SMS: \"still noisy, ref RM-7781\"",
            ),
        ];
        let mut case: Case = serde_json::from_value(json!({
            "id": "c", "feedback_id": "f", "opened_at": at, "state": "reopened", "version": 3,
            "triage": crate::triage::triage(&feedback(alex(), "", json!({})),
                &crate::triage::TriagePolicy { default_team: "front-desk".into() }, at),
            "owner": null, "first_response_at": null, "round": 1, "resolution": null,
            "customer_answer": {"resolved": false, "score": null, "comment": "see X1234",
                "answered_at": at},
            "reopen_count": 1, "closed_at": null,
        }))
        .unwrap();
        assert_eq!(
            customer_words(&case, &events),
            [
                "see X1234",
                "kettle BK-2291 broken",
                "the customer says it is not resolved: \"ORD-1\"",
                "the customer replied by SMS: \"still noisy, ref RM-7781\""
            ]
        );
        case.customer_answer = None;
        assert_eq!(customer_words(&case, &[]), Vec::<&str>::new());
    }

    #[test]
    fn a_case_and_its_events_lose_the_identifiers() {
        let ids = alex_ids();
        let at: crate::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut note = CaseEvent {
            id: "e".into(),
            case_id: "c".into(),
            at,
            actor: "Dana".into(),
            kind: EventKind::Note,
            from: None,
            to: None,
            detail: "called Alex about ORD-5531".into(),
        };
        erase_event(&mut note, &ids);
        assert_eq!(note.detail, "called [erased] about [erased]");
        assert_eq!(note.actor, "Dana");
        let mut quoted = CaseEvent {
            kind: EventKind::CustomerFeedback,
            detail: "the kettle".into(),
            ..note.clone()
        };
        erase_event(&mut quoted, &ids);
        assert_eq!(quoted.detail, ERASED);
        // A reply by email or SMS is the customer's own words: erased whole, like an answer.
        let mut reply = CaseEvent {
            kind: EventKind::CustomerReplied,
            actor: "customer".into(),
            detail: "the customer replied by email: \"still noisy, and nobody called\"".into(),
            ..note.clone()
        };
        erase_event(&mut reply, &ids);
        assert_eq!(
            (reply.detail.as_str(), reply.actor.as_str()),
            (ERASED, "customer")
        );
    }

    #[test]
    fn the_common_words_are_sorted_lowercase() {
        let words: Vec<&str> = COMMON_WORDS.split_whitespace().collect();
        assert!(words.len() > 200 && words.windows(2).all(|w| w[0] < w[1]));
        assert!(
            words
                .iter()
                .all(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        );
        assert!(is_common_word("will") && !is_common_word("alex"));
    }

    #[test]
    fn scrubbing_handles_any_unicode() {
        let mut customer = alex();
        customer.name = Some("İlkay ΟΔΥΣΣΕΑΣ Ærø".into());
        let ids = identifiers(&[feedback(customer, "", json!({}))], []);
        assert_eq!(
            scrub("i̇lkay, Οδυσσεας and ærø; Ærøskøbing", &ids),
            "[erased], [erased] and [erased]; Ærøskøbing"
        );
    }

    proptest::proptest! {
        #[test]
        fn scrubbing_never_panics_and_erases_the_first_name(
            before in "\\PC{0,40}",
            after in "\\PC{0,40}",
        ) {
            let ids = alex_ids();
            let out = scrub(&format!("{before} Alex {after}"), &ids);
            proptest::prop_assert!(!out.contains(" Alex "), "{}", out);
            let _ = scrub(&before, &ids);
        }
    }
}
