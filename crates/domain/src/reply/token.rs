//! The reply token: a case, signed, short enough to ride in an email address.
//!
//! `token = hex(case id, 16 bytes) hex(HMAC-SHA256(link_signing_key, "closeloop-reply-v1." ||
//! case id bytes)[..10])`: 52 lowercase hex characters. Hex because mail systems may change the
//! case of an address; 80 bits of tag because a forger gets one guess per email. The token
//! names the case and nothing else: it does not expire (a customer may answer weeks later), and
//! it is not a confirmation link (it cannot close or reopen anything).
//!
//! The follow-up's `Reply-To` is the operator's `reply_to_address` with the token as a plus
//! address: `reply@in.example.com` gives `reply+<token>@in.example.com` ([`address`]). Plus
//! addressing is what Postmark reports as `MailboxHash` ("If the email was sent to
//! user+12345@example.com the MailboxHash would contain 12345", Postmark's inbound webhook
//! documentation), and Resend receives every address of a receiving domain ("Any email sent to
//! any username at your receiving domain will be received by Resend").

use uuid::Uuid;

use crate::link::LinkKey;

const CONTEXT: &[u8] = b"closeloop-reply-v1.";
/// The bytes of the signature kept in a token.
const TAG_BYTES: usize = 10;
/// The length of a token: the case id and the tag, in hex.
pub const TOKEN_CHARS: usize = 2 * (16 + TAG_BYTES);
/// The longest local part (before `@`) an address may have (RFC 5321, 4.5.3.1.1): longer
/// ones may bounce, so a `reply_to_address` whose reply addresses would be longer is refused.
const MAX_LOCAL_PART_CHARS: usize = 64;

/// The reply token of case `case_id`; `None` if the id is not a UUID (every case id is).
pub fn sign(key: &LinkKey, case_id: &str) -> Option<String> {
    let id = Uuid::parse_str(case_id).ok()?;
    let tag = key.tag(CONTEXT, id.as_bytes());
    Some(format!(
        "{}{}",
        hex::encode(id.as_bytes()),
        hex::encode(&tag[..TAG_BYTES])
    ))
}

/// The case a token names, if it is a token and `key` signed it (compared in constant time;
/// either case of hex).
pub fn verify(key: &LinkKey, token: &str) -> Option<String> {
    let token = token.trim();
    if token.len() != TOKEN_CHARS {
        return None;
    }
    let bytes = hex::decode(token).ok()?;
    let (id, tag) = bytes.split_at(16);
    if !key.verify_truncated(CONTEXT, id, tag) {
        return None;
    }
    Some(Uuid::from_slice(id).ok()?.to_string())
}

/// Whether `s` has the shape of a token (so a mismatch is a forgery, not another address).
fn looks_like_token(s: &str) -> bool {
    let s = s.trim();
    s.len() == TOKEN_CHARS && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks `reply_to_address` (`local@domain`): one `@`, no `+` in the local part (the token
/// goes there), no spaces or brackets, and room for the token within
/// [`MAX_LOCAL_PART_CHARS`]. The error says what to change.
fn check_address(template: &str) -> Result<(), String> {
    let template = template.trim();
    let Some((local, domain)) = template.split_once('@') else {
        return Err("reply_to_address must be an email address, like reply@in.example.com".into());
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') || !domain.contains('.') {
        return Err("reply_to_address must be an email address, like reply@in.example.com".into());
    }
    if template.contains(|c: char| c.is_whitespace() || "<>\"(),;:[]\\".contains(c)) {
        return Err("reply_to_address must be a bare address, without a name or brackets".into());
    }
    if local.contains('+') {
        return Err("reply_to_address must have no + in it: closeloop adds +<token>".into());
    }
    let longest = local.chars().count() + 1 + TOKEN_CHARS;
    if longest > MAX_LOCAL_PART_CHARS {
        return Err(format!(
            "reply_to_address's part before @ must be at most {} characters, so that \
             <part>+<{TOKEN_CHARS}-character token> fits the {MAX_LOCAL_PART_CHARS} mail servers \
             accept; use a short one on your inbound domain (reply@in.example.com)",
            MAX_LOCAL_PART_CHARS - 1 - TOKEN_CHARS
        ));
    }
    Ok(())
}

/// The reply address for `token`: `reply_to_address` with `+<token>` before the `@`.
pub fn address(template: &str, token: &str) -> Result<String, String> {
    check_address(template)?;
    let (local, domain) = template.trim().split_once('@').expect("checked");
    Ok(format!("{local}+{token}@{domain}"))
}

/// The part of a recipient that may be a token: the plus address of an address
/// (`"Name" <reply+TOKEN@in.example.com>` gives `TOKEN`), or a plus-address hash as given
/// (Postmark's `MailboxHash`).
fn candidate(recipient: &str) -> Option<&str> {
    let mut r = recipient.trim();
    if let (Some(open), Some(close)) = (r.rfind('<'), r.rfind('>'))
        && open < close
    {
        r = &r[open + 1..close];
    }
    let part = match r.rsplit_once('@') {
        Some((local, _)) => local.split_once('+')?.1,
        None => r,
    };
    let part = part.trim();
    (!part.is_empty()).then_some(part)
}

/// What the recipients of an inbound email say about its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The first recipient whose token `key` signed names this case.
    Case(String),
    /// A recipient has a token's shape but no valid signature: a forged or damaged address.
    Forged,
    /// No recipient carries a token: not a reply to a follow-up.
    Unaddressed,
}

/// Looks for a signed reply token among `recipients`, in their order.
pub fn find<'a>(key: &LinkKey, recipients: impl IntoIterator<Item = &'a str>) -> Found {
    let mut forged = false;
    for recipient in recipients {
        let Some(part) = candidate(recipient) else {
            continue;
        };
        if let Some(case_id) = verify(key, part) {
            return Found::Case(case_id);
        }
        forged |= looks_like_token(part);
    }
    if forged {
        Found::Forged
    } else {
        Found::Unaddressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = "019ab1c2-d3e4-7f00-8000-0000000000aa";

    fn key() -> LinkKey {
        LinkKey::new("0123456789abcdef-test").unwrap()
    }

    #[test]
    fn a_token_names_its_case_and_only_the_key_signs_it() {
        let token = sign(&key(), CASE).unwrap();
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(token.starts_with("019ab1c2d3e47f0080000000000000aa"));
        assert!(looks_like_token(&token));
        assert_eq!(verify(&key(), &token).as_deref(), Some(CASE));
        assert_eq!(
            verify(&key(), &token.to_ascii_uppercase()).as_deref(),
            Some(CASE),
            "mail systems may upper-case an address"
        );
        // Another key, another case with this tag, a changed tag, a cut token: nothing.
        let other = LinkKey::new("another-key-of-16+bytes").unwrap();
        assert_eq!(verify(&other, &token), None);
        let mut moved = token.clone();
        moved.replace_range(31..32, "b");
        assert_eq!(verify(&key(), &moved), None, "the tag binds the case");
        let mut bad_tag = token.clone();
        let last = if token.ends_with('0') { "1" } else { "0" };
        bad_tag.replace_range(TOKEN_CHARS - 1.., last);
        assert_eq!(verify(&key(), &bad_tag), None);
        assert_eq!(verify(&key(), &token[..TOKEN_CHARS - 2]), None);
        assert_eq!(verify(&key(), &format!("{token}00")), None);
        assert_eq!(verify(&key(), &"z".repeat(TOKEN_CHARS)), None);
        assert_eq!(sign(&key(), "not-a-uuid"), None);
    }

    #[test]
    fn a_reply_token_is_not_a_confirmation_link_and_back() {
        // One key signs both, in different contexts: neither passes for the other.
        use crate::link::LinkClaims;
        let at = chrono::DateTime::UNIX_EPOCH;
        let link = key().sign(&LinkClaims::new(CASE, 1, at, 24, "n".into()));
        assert_eq!(verify(&key(), &link), None);
        let token = sign(&key(), CASE).unwrap();
        assert!(key().verify::<LinkClaims>(&token, at).is_err());
    }

    #[test]
    fn reply_addresses_put_the_token_in_a_plus_address() {
        let token = sign(&key(), CASE).unwrap();
        let reply_to = address("reply@in.example.com", &token).unwrap();
        assert_eq!(reply_to, format!("reply+{token}@in.example.com"));
        assert_eq!(candidate(&reply_to), Some(token.as_str()));
        assert_eq!(
            candidate(&format!("\"Harbour Hotel\" <{reply_to}>")),
            Some(token.as_str())
        );
        assert_eq!(candidate(&token), Some(token.as_str()), "a MailboxHash");
        assert_eq!(candidate("care@hotel.example"), None);
        assert_eq!(candidate("  "), None);
        for bad in [
            "reply",
            "@in.example.com",
            "reply@localhost",
            "reply+x@in.example.com",
            "Reply <reply@in.example.com>",
            "a@b@c.example",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
        // The local part may take the token within the 64 characters mail servers accept.
        let room = MAX_LOCAL_PART_CHARS - 1 - TOKEN_CHARS;
        let at_limit = format!("{}@in.example.com", "r".repeat(room));
        assert!(check_address(&at_limit).is_ok());
        let long = address(&at_limit, &token).unwrap();
        assert_eq!(long.split_once('@').unwrap().0.len(), MAX_LOCAL_PART_CHARS);
        let past = format!("{}@in.example.com", "r".repeat(room + 1));
        let why = check_address(&past).unwrap_err();
        assert!(why.contains(&format!("at most {room} characters")), "{why}");
        // Postmark's own inbound address (a 32-character hash) is too long for a token.
        assert!(check_address("451d9b70cf9364d23ff6f9d51d870251@inbound.postmarkapp.com").is_err());
    }

    #[test]
    fn the_first_signed_recipient_wins_and_forgeries_are_told_apart() {
        let token = sign(&key(), CASE).unwrap();
        let other_case = "019ab1c2-d3e4-7f00-8000-0000000000bb";
        let other = sign(&key(), other_case).unwrap();
        let to = |t: &str| format!("reply+{t}@in.example.com");
        assert_eq!(
            find(
                &key(),
                [
                    "care@hotel.example",
                    to(&token).as_str(),
                    to(&other).as_str()
                ]
            ),
            Found::Case(CASE.into())
        );
        assert_eq!(
            find(&key(), [to(&other).as_str(), to(&token).as_str()]),
            Found::Case(other_case.into())
        );
        let mut forged = token.clone();
        forged.replace_range(0..1, "1");
        assert_eq!(find(&key(), [to(&forged).as_str()]), Found::Forged);
        assert_eq!(
            find(&key(), [to(&forged).as_str(), &token]),
            Found::Case(CASE.into())
        );
        assert_eq!(
            find(&key(), ["care@hotel.example", "reply+hello@in.example.com"]),
            Found::Unaddressed
        );
        assert_eq!(find(&key(), []), Found::Unaddressed);
    }
}
