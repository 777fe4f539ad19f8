//! Postmark's inbound webhook (`POST /v1/inbound/postmark`): an email sent to the inbound
//! address, parsed by Postmark and posted as JSON.
//!
//! Postmark does not sign webhooks. Its documented protection is HTTP basic authentication in
//! the webhook URL: "You can configure your webhook URL with basic HTTP authentication by
//! adding the user name and password to the URL ... https://<username>:<password>@example.com/webhook"
//! (Postmark, "Webhooks overview", Protecting your webhook). closeloop checks the password
//! against `postmark_inbound_password` in constant time (any user name), before reading the
//! body. Postmark retries a non-200 answer ten times, and stops at a 403.
//!
//! Fields read (Postmark, "Inbound webhook"): `MessageID` (Postmark's id of the inbound
//! message: the idempotency key), the recipients where the reply token is looked for —
//! `MailboxHash` ("If the email was sent to user+12345@example.com the MailboxHash would
//! contain 12345"), `OriginalRecipient`, `ToFull[].MailboxHash`/`.Email`, `CcFull`,
//! `BccFull`, `To` — and the words: `StrippedTextReply` ("Postmark may be able to strip out
//! the information for only the reply"), else `TextBody`, else `HtmlBody`, their history cut
//! by [`super::text`]. `From`/`FromFull` are never used to find the case, nor stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{InboundAuthError, InboundEmail, text};
use crate::problem::{Problem, ProblemKind};

/// Checks `Authorization: Basic base64(user:password)` against `password` (any user name).
pub fn check_basic_auth(
    authorization: Option<&str>,
    password: &str,
) -> Result<(), InboundAuthError> {
    let encoded = authorization
        .map(str::trim)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials.trim())
        .ok_or(InboundAuthError::MissingBasicAuth)?;
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(InboundAuthError::MissingBasicAuth)?;
    let (_, given) = decoded
        .split_once(':')
        .ok_or(InboundAuthError::MissingBasicAuth)?;
    if crate::auth::secrets_match(given, password) {
        Ok(())
    } else {
        Err(InboundAuthError::WrongPassword)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Payload {
    #[serde(rename = "MessageID")]
    message_id: Option<String>,
    mailbox_hash: Option<String>,
    original_recipient: Option<String>,
    to: Option<String>,
    to_full: Option<Vec<Address>>,
    cc_full: Option<Vec<Address>>,
    bcc_full: Option<Vec<Address>>,
    text_body: Option<String>,
    html_body: Option<String>,
    stripped_text_reply: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Address {
    email: Option<String>,
    mailbox_hash: Option<String>,
}

/// Reads Postmark's inbound JSON (leniently: unknown fields ignored).
pub fn parse(body: &[u8]) -> Result<InboundEmail, Problem> {
    let p: Payload = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            ProblemKind::MalformedJson,
            format!("the body is not Postmark's inbound JSON: {e}"),
        )
    })?;
    let message_id = super::message_id(p.message_id, "MessageID", "Postmark")?;
    let mut recipients: Vec<String> = [p.mailbox_hash, p.original_recipient]
        .into_iter()
        .flatten()
        .collect();
    for list in [p.to_full, p.cc_full, p.bcc_full].into_iter().flatten() {
        for a in list {
            recipients.extend(a.mailbox_hash);
            recipients.extend(a.email);
        }
    }
    if let Some(to) = p.to {
        recipients.extend(to.split(',').map(str::to_owned));
    }
    recipients.retain(|r| !r.trim().is_empty());
    let words = text::email_words(
        p.stripped_text_reply.as_deref(),
        p.text_body.as_deref(),
        p.html_body.as_deref(),
    );
    Ok(InboundEmail {
        message_id,
        recipients,
        text: Some(words),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &str) -> String {
        format!("Basic {}", STANDARD.encode(credentials))
    }

    #[test]
    fn the_password_of_the_webhook_url_is_checked() {
        let password = "pm-inbound-password-0123";
        let ok = basic(&format!("postmark:{password}"));
        assert_eq!(check_basic_auth(Some(&ok), password), Ok(()));
        let any_user = basic(&format!("closeloop:{password}"));
        assert_eq!(check_basic_auth(Some(&any_user), password), Ok(()));
        assert_eq!(
            check_basic_auth(Some(&basic("postmark:guess")), password),
            Err(InboundAuthError::WrongPassword)
        );
        for missing in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some(basic("no-colon").as_str()),
        ] {
            assert_eq!(
                check_basic_auth(missing, password),
                Err(InboundAuthError::MissingBasicAuth),
                "{missing:?}"
            );
        }
        assert_eq!(
            check_basic_auth(Some(&basic("postmark:")), ""),
            Err(InboundAuthError::WrongPassword),
            "an unset password opens nothing"
        );
    }

    #[test]
    fn the_words_fall_back_from_the_stripped_reply_to_the_text_to_the_html() {
        let parse_json = |v: serde_json::Value| parse(v.to_string().as_bytes());
        let r = parse_json(
            serde_json::json!({"MessageID": "m1", "StrippedTextReply": " Yes ",
            "TextBody": "Yes\n> quoted"}),
        )
        .unwrap();
        assert_eq!(r.text.as_deref(), Some("Yes"));
        let r = parse_json(
            serde_json::json!({"MessageID": "m1", "StrippedTextReply": "",
            "TextBody": "No\nOn Mon, Hotel wrote:\n> quoted"}),
        )
        .unwrap();
        assert_eq!(r.text.as_deref(), Some("No"));
        let r = parse_json(serde_json::json!({"MessageID": "m1", "TextBody": null,
            "HtmlBody": "<p>Better&nbsp;now</p>", "ToFull": null}))
        .unwrap();
        assert_eq!(r.text.as_deref(), Some("Better now"));
        assert!(r.recipients.is_empty());
        let r = parse_json(serde_json::json!({"MessageID": "m1"})).unwrap();
        assert_eq!(r.text.as_deref(), Some(""));
        let p = parse_json(serde_json::json!({"TextBody": "x"})).unwrap_err();
        assert_eq!(p.kind, ProblemKind::InvalidRequest);
        assert!(p.detail.contains("MessageID"), "{}", p.detail);
        let p = parse_json(serde_json::json!({"MessageID": "m".repeat(201)})).unwrap_err();
        assert!(p.detail.contains("200"), "{}", p.detail);
        assert!(parse_json(serde_json::json!({"MessageID": "m".repeat(200)})).is_ok());
        assert_eq!(
            parse(b"<xml/>").unwrap_err().kind,
            ProblemKind::MalformedJson
        );
    }
}
