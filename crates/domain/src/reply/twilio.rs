//! Twilio's incoming message webhook (`POST /v1/inbound/twilio`): an SMS to closeloop's
//! Twilio number.
//!
//! "Twilio makes HTTP requests to your application in the application/x-www-form-urlencoded
//! format" with, among others, `MessageSid`, `AccountSid`, `From`, `To`, `Body`, `NumMedia`
//! (Twilio, "Twilio's request to your incoming message Webhook URL"); the parameters change
//! over time, so every one received is signed and none is refused for being unknown.
//!
//! The signature: "Twilio signs all HTTP requests to your app with an X-Twilio-Signature HTTP
//! header", the HMAC-SHA1 of the full URL Twilio called followed by every POST parameter,
//! sorted by name, as name and value with no delimiters, keyed with the auth token, in base64
//! (Twilio, "Secure webhooks"; Twilio's helper libraries build it exactly so). [`verify`]
//! accepts a signature over any of the URLs closeloop may have been called at (its public
//! URL, and the URL Spin saw), since a proxy in between changes what the app sees.
//!
//! Twilio expects TwiML back; closeloop answers [`TWIML_EMPTY`]: no message is sent back.
//!
//! Opt-outs: "By default, Twilio handles standard English-language reply messages—STOP,
//! UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, and CANCEL" (Twilio, "Advanced
//! Opt-Out"), recognised "only when the full message body matches the keyword" and "not case
//! sensitive" (Twilio, "How to Track Opt-Out, Opt-In and Help Messages Using the OptOutType
//! Parameter"); a Messaging Service with Advanced Opt-Out also sends `OptOutType=STOP` for its
//! own keywords. Twilio then blocks the number itself, and closeloop lists it as do-not-contact
//! for every channel.

use super::InboundAuthError;
use crate::problem::{Problem, ProblemKind};
use crate::sources::verify as v;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// Twilio's default opt-out keywords for long codes.
pub const OPT_OUT_KEYWORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// The empty TwiML answer: nothing is sent back to the customer.
pub const TWIML_EMPTY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
/// The content type of [`TWIML_EMPTY`].
pub const TWIML_CONTENT_TYPE: &str = "text/xml";

/// The POST parameters of a form-encoded body, decoded, in the order received.
pub fn params(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The HMAC-SHA1 Twilio signs a request to `url` with `params` with: over the URL, then each
/// parameter's name and value, sorted by name.
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> [u8; 20] {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + 2 * sorted.len());
    parts.push(url.as_bytes());
    for (name, value) in sorted {
        parts.extend([name.as_bytes(), value.as_bytes()]);
    }
    v::hmac_sha1(auth_token.as_bytes(), &parts)
}

/// The `X-Twilio-Signature` of a request to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    v::b64(&mac(auth_token, url, params))
}

/// Checks `header` (the `X-Twilio-Signature`) against each of `urls` in turn.
pub fn verify(
    auth_token: &str,
    header: Option<&str>,
    urls: &[String],
    params: &[(String, String)],
) -> Result<(), InboundAuthError> {
    let given = header.ok_or(v::AuthError::MissingHeader("X-Twilio-Signature"))?;
    let matches = |url: &String| v::base64_matches(given, &mac(auth_token, url, params));
    if !auth_token.is_empty() && urls.iter().any(matches) {
        Ok(())
    } else {
        Err(InboundAuthError::TwilioSignature)
    }
}

/// An inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    /// The customer's number, as Twilio vouches for it (E.164).
    pub from: String,
    pub body: String,
    /// The opt-out keyword, if the message is one.
    pub opt_out: Option<String>,
}

/// Reads the parameters of an inbound message.
pub fn parse(params: &[(String, String)]) -> Result<InboundSms, Problem> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let message_sid = super::message_id(
        get("MessageSid").or_else(|| get("SmsSid")),
        "MessageSid",
        "Twilio",
    )?;
    let from = get("From").map(|f| f.trim().to_owned()).unwrap_or_default();
    if from.is_empty() {
        return Err(Problem::new(
            ProblemKind::InvalidRequest,
            "the Twilio message has no From: the sender's number finds the case",
        ));
    }
    let body = get("Body").unwrap_or_default();
    let opt_out = opt_out(&body, get("OptOutType").as_deref());
    Ok(InboundSms {
        message_sid,
        from,
        body,
        opt_out,
    })
}

/// The opt-out keyword `body` is (the whole message, any case), or `STOP` when Twilio's
/// Advanced Opt-Out says so.
pub fn opt_out(body: &str, opt_out_type: Option<&str>) -> Option<String> {
    let word = body.trim().to_ascii_uppercase();
    if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        return Some(word);
    }
    opt_out_type
        .filter(|t| t.trim().eq_ignore_ascii_case("STOP"))
        .map(|_| "STOP".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_signature_is_the_url_and_sorted_parameters_as_twilio_documents() {
        // Twilio's documented example (TwilioDevEd/api-snippets,
        // security/signature_validation: "var authToken = '12345'; var url =
        // 'https://mycompany.com/myapp.php?foo=1&bar=2'; ... var twilioSignature =
        // 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';").
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let mut shuffled = params.clone();
        shuffled.reverse();
        assert_eq!(
            signature("12345", url, &shuffled),
            signature("12345", url, &params)
        );
        let sig = signature("12345", url, &params);
        let urls = ["https://proxy.internal/x".to_owned(), url.to_owned()];
        assert_eq!(verify("12345", Some(&sig), &urls, &params), Ok(()));
        assert_eq!(
            verify("12345", Some(&sig), &urls[..1], &params),
            Err(InboundAuthError::TwilioSignature)
        );
        assert_eq!(
            verify("54321", Some(&sig), &urls, &params),
            Err(InboundAuthError::TwilioSignature)
        );
        let mut changed = params.clone();
        changed[2].1 = "9999".into();
        assert_eq!(
            verify("12345", Some(&sig), &urls, &changed),
            Err(InboundAuthError::TwilioSignature)
        );
        assert_eq!(
            verify("12345", None, &urls, &params),
            Err(v::AuthError::MissingHeader("X-Twilio-Signature").into())
        );
        assert_eq!(
            verify("", Some(&signature("", url, &params)), &urls, &params),
            Err(InboundAuthError::TwilioSignature),
            "no auth token, no SMS"
        );
    }

    #[test]
    fn opt_out_keywords_match_the_whole_message_in_any_case() {
        for word in OPT_OUT_KEYWORDS {
            assert_eq!(opt_out(word, None).as_deref(), Some(word));
            assert_eq!(
                opt_out(&format!("  {}\n", word.to_lowercase()), None).as_deref(),
                Some(word)
            );
        }
        assert_eq!(opt_out("Stop please", None), None, "not the whole message");
        assert_eq!(opt_out("START", None), None);
        assert_eq!(opt_out("ARRET", Some("STOP")).as_deref(), Some("STOP"));
        assert_eq!(opt_out("HELP", Some("HELP")), None);
    }

    #[test]
    fn a_message_needs_its_sid_and_sender() {
        let ok = parse(&pairs(&[
            ("SmsSid", "SM1"),
            ("From", " +447700900123 "),
            ("Body", "still noisy"),
        ]))
        .unwrap();
        assert_eq!(
            (ok.message_sid.as_str(), ok.from.as_str(), ok.opt_out),
            ("SM1", "+447700900123", None)
        );
        let p = parse(&pairs(&[("From", "+1"), ("Body", "x")])).unwrap_err();
        assert!(p.detail.contains("MessageSid"), "{}", p.detail);
        let p = parse(&pairs(&[("MessageSid", "SM1"), ("Body", "x")])).unwrap_err();
        assert!(p.detail.contains("From"), "{}", p.detail);
        let media_only = parse(&pairs(&[("MessageSid", "MM1"), ("From", "+1")])).unwrap();
        assert_eq!(media_only.body, "");
    }
}
