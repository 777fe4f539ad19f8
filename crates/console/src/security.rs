//! The session cookie, CSRF tokens, the same-origin check and the headers every page carries.
//!
//! **Why the cookie holds the API key.** The key is the bearer credential the user typed; the
//! console forwards it to the API on every call and keeps nothing of its own. Holding it in a
//! cookie that scripts cannot read (`HttpOnly`), that no other site's request carries
//! (`SameSite=Strict`), that goes only to `/console` (`Path`) and only over TLS when the app is
//! served over https (`Secure`) needs no server-side session store, which a Spin component does
//! not have between requests; signing the user out clears it, and revoking the key (admin API)
//! ends every session that uses it at the next request. The value is base64url-encoded so that
//! any token is a valid cookie value.
//!
//! **CSRF.** Every state-changing form carries `csrf = hex(HMAC-SHA256(link_signing_key,
//! "console-csrf:" + hex(sha256(session key))))`, checked in constant time; the sign-in form,
//! before there is a session, is protected by a double-submit token (a random cookie that the
//! hidden field must repeat). On top of the tokens, a POST is refused when its `Origin` is
//! another origin or its `Sec-Fetch-Site` is `cross-site`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use closeloop_domain::auth::secrets_match;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The cookie that holds the signed-in user's API key.
pub const SESSION_COOKIE: &str = "closeloop_session";
/// The double-submit cookie of the sign-in form.
pub const LOGIN_COOKIE: &str = "closeloop_login";
/// The longest API key accepted at sign-in (personal keys and tokens are far shorter).
pub const MAX_KEY_CHARS: usize = 512;
/// Scripts none, styles and images from the console only (inline SVG uses presentation
/// attributes, never `style`), forms post back here only, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The referrer policy: nothing leaves for other origins (case ids are in URLs), and the
/// console's own form posts keep a real `Origin`. Not `no-referrer`: under it browsers send
/// `Origin: null` with every form post, and the same-origin check could only refuse them all
/// or ignore `Origin`.
pub const REFERRER_POLICY: &str = "same-origin";

/// The headers of every console response.
pub fn security_headers() -> Vec<(String, String)> {
    [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", REFERRER_POLICY),
        ("x-frame-options", "DENY"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn attributes(secure: bool) -> &'static str {
    if secure {
        "; HttpOnly; SameSite=Strict; Path=/console; Secure"
    } else {
        "; HttpOnly; SameSite=Strict; Path=/console"
    }
}

/// `Set-Cookie` for a session holding `key`.
pub fn session_cookie(key: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={}{}",
        URL_SAFE_NO_PAD.encode(key.as_bytes()),
        attributes(secure)
    )
}

/// `Set-Cookie` that removes cookie `name`.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    format!("{name}={}; Max-Age=0", attributes(secure))
}

/// `Set-Cookie` of the sign-in form's double-submit token.
pub fn login_cookie(token: &str, secure: bool) -> String {
    format!("{LOGIN_COOKIE}={token}{}", attributes(secure))
}

/// The API key of the session in a `Cookie` header, if any and well-formed.
pub fn session_key(cookie_header: Option<&str>) -> Option<String> {
    let raw = cookie(cookie_header, SESSION_COOKIE)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let key = String::from_utf8(bytes).ok()?;
    valid_key(&key).then_some(key)
}

/// A key that can travel in an `Authorization` header: printable ASCII without spaces.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The CSRF token of the session holding `session_key`.
pub fn csrf_token(signing_key: &[u8], session_key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key).expect("HMAC takes any key length");
    mac.update(b"console-csrf:");
    mac.update(hex::encode(Sha256::digest(session_key.as_bytes())).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn csrf_ok(signing_key: &[u8], session_key: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| secrets_match(p, &csrf_token(signing_key, session_key)))
}

/// Whether the sign-in form's hidden token repeats its cookie (constant time).
pub fn login_token_ok(cookie_value: Option<&str>, presented: Option<&str>) -> bool {
    match (cookie_value, presented) {
        (Some(c), Some(p)) if c.len() >= 32 => secrets_match(p, c),
        _ => false,
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

/// Whether a state-changing request may have come from the console's own pages: refused when
/// `Sec-Fetch-Site` says `cross-site`, or when `Origin` is present and neither the public
/// origin nor the origin the request was addressed to (the `Host` the browser used).
pub fn same_origin(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    own_origins: &[String],
) -> bool {
    if sec_fetch_site.is_some_and(|s| s.trim().eq_ignore_ascii_case("cross-site")) {
        return false;
    }
    match origin.map(str::trim) {
        None => true,
        Some(o) => own_origins.iter().any(|own| own.eq_ignore_ascii_case(o)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"link-signing-key-for-tests-0123456789";

    #[test]
    fn csrf_tokens_bind_the_session_and_the_key() {
        let t = csrf_token(KEY, "clk_abc");
        assert_eq!(t.len(), 64);
        assert!(csrf_ok(KEY, "clk_abc", Some(&t)));
        assert!(!csrf_ok(KEY, "clk_abd", Some(&t)), "another session");
        assert!(!csrf_ok(
            b"another-signing-key-0123456789",
            "clk_abc",
            Some(&t)
        ));
        assert!(!csrf_ok(KEY, "clk_abc", None));
        assert!(!csrf_ok(KEY, "clk_abc", Some("")));
        assert!(!csrf_ok(KEY, "clk_abc", Some(&t[..63])));
    }

    #[test]
    fn login_tokens_must_repeat_a_long_cookie() {
        let t = "a".repeat(32);
        assert!(login_token_ok(Some(&t), Some(&t)));
        assert!(!login_token_ok(Some(&t), Some("b")));
        assert!(!login_token_ok(Some(&t), None));
        assert!(!login_token_ok(None, Some(&t)));
        assert!(!login_token_ok(Some("short"), Some("short")));
    }

    #[test]
    fn session_cookies_round_trip_and_are_locked_down() {
        let set = session_cookie("dev agent;token", true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(set.contains("Path=/console") && set.ends_with("Secure"));
        assert!(!session_cookie("k", false).contains("Secure"));
        let value = set.split(';').next().unwrap();
        assert!(!value["closeloop_session=".len()..].contains([' ', ';', ',']));
        // "dev agent;token" is not a valid key (a space), so the session is refused.
        assert_eq!(session_key(Some(value)), None);
        let value = session_cookie("clk_live_42", false);
        let value = value.split(';').next().unwrap();
        let header = format!("theme=dark; {value}; other=1");
        assert_eq!(session_key(Some(&header)).as_deref(), Some("clk_live_42"));
        assert_eq!(session_key(Some("closeloop_session=%%%")), None);
        assert_eq!(session_key(None), None);
        assert!(clear_cookie(SESSION_COOKIE, false).contains("Max-Age=0"));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let own = vec!["http://127.0.0.1:3000".to_owned()];
        assert!(same_origin(None, None, &own));
        assert!(same_origin(
            Some("http://127.0.0.1:3000"),
            Some("same-origin"),
            &own
        ));
        assert!(!same_origin(Some("https://evil.example"), None, &own));
        assert!(!same_origin(Some("null"), None, &own));
        assert!(!same_origin(None, Some("cross-site"), &own));
        assert_eq!(
            origin_of("HTTPS://Closeloop.example.com:8443/console?x").as_deref(),
            Some("https://closeloop.example.com:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }

    #[test]
    fn keys_must_fit_a_header() {
        assert!(valid_key("clk_abc-123"));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key("a\nb"));
        assert!(valid_key(&"k".repeat(MAX_KEY_CHARS)));
        assert!(!valid_key(&"k".repeat(MAX_KEY_CHARS + 1)));
    }
}
