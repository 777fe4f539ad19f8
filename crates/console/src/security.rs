//! The session cookie, CSRF tokens, the same-origin check and the headers every page carries.
//!
//! **The session cookie holds a session, never a key.** At sign-in the console sends the key
//! the user typed to `POST /v1/sessions` once and keeps only the signed session token the API
//! answers (`closeloop_domain::session`): it names the key without containing it, expires
//! after [`session::LIFETIME`], and every API call checks it against the key, so revoking the
//! key ends the session at its next request and signing out ends it at once. The cookie
//! cannot be read by scripts (`HttpOnly`), is carried by no other site's request
//! (`SameSite=Strict`), goes only to `/console` (`Path`), only over TLS when the app is served
//! over https (`Secure`), and lapses with the session (`Max-Age`).
//!
//! **CSRF.** Every state-changing form carries `csrf = hex(HMAC-SHA256(link_signing_key,
//! "console-csrf:" + hex(sha256(session token))))`, checked in constant time: bound to the
//! session, so every sign-in has tokens of its own; the sign-in form,
//! before there is a session, is protected by a double-submit token (a random cookie that the
//! hidden field must repeat). On top of the tokens, a POST is refused when its `Origin` is
//! another origin or its `Sec-Fetch-Site` is `cross-site`.

use closeloop_domain::auth::secrets_match;
use closeloop_domain::session;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The cookie that holds the signed-in user's session token.
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

/// `Set-Cookie` for the session `token`, lapsing with it.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}{}; Max-Age={}",
        attributes(secure),
        session::LIFETIME.num_seconds()
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

/// The session token in a `Cookie` header, if any and shaped like one (a cookie from before
/// sessions, which held a key, is not: its holder signs in again).
pub fn session_token(cookie_header: Option<&str>) -> Option<String> {
    let token = cookie(cookie_header, SESSION_COOKIE)?;
    (session::looks_like_session(token)
        && token.len() <= session::MAX_TOKEN_CHARS
        && valid_key(token))
    .then(|| token.to_owned())
}

/// Where to land after signing in: a console page (path and query) of this origin only, so a
/// crafted sign-in link cannot send a user elsewhere.
pub fn safe_next(next: &str) -> Option<&str> {
    let page = next == "/console" || next.starts_with("/console/") || next.starts_with("/console?");
    let odd =
        next.contains("//") || next.contains('\\') || next.contains("/..") || next.contains("/./");
    (page
        && !odd
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.starts_with("/console/sign-"))
    .then_some(next)
}

/// The sign-in page that leads back to `next`.
pub fn sign_in_location(next: &str) -> String {
    match safe_next(next) {
        Some(next) if next != "/console" => format!(
            "/console/sign-in?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ),
        _ => "/console/sign-in".to_owned(),
    }
}

/// A key that can travel in an `Authorization` header: printable ASCII without spaces.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The CSRF token of the session `session_key` (its token).
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
    fn session_cookies_hold_a_session_and_are_locked_down() {
        let set = session_cookie("cls_abc.def", true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(set.contains("Path=/console") && set.contains("Secure"));
        assert!(set.ends_with("; Max-Age=43200"), "{set}");
        assert!(!session_cookie("cls_k", false).contains("Secure"));
        let value = set.split(';').next().unwrap();
        let header = format!("theme=dark; {value}; other=1");
        assert_eq!(session_token(Some(&header)).as_deref(), Some("cls_abc.def"));
        // A cookie from before sessions held a key (base64 of `dev-agent-token`): not a session.
        assert_eq!(
            session_token(Some("closeloop_session=ZGV2LWFnZW50LXRva2Vu")),
            None
        );
        assert_eq!(session_token(Some("closeloop_session=clk_live_42")), None);
        assert_eq!(session_token(Some("closeloop_session=cls_a\u{7f}b")), None);
        assert_eq!(session_token(None), None);
        assert!(clear_cookie(SESSION_COOKIE, false).contains("Max-Age=0"));
    }

    #[test]
    fn sign_in_leads_back_to_console_pages_only() {
        assert_eq!(safe_next("/console/cases/c1"), Some("/console/cases/c1"));
        assert_eq!(
            safe_next("/console?team=front%20desk"),
            Some("/console?team=front%20desk")
        );
        for bad in [
            "https://evil.example/console",
            "//evil.example/console",
            "/console//evil.example",
            "/console/..//evil",
            "/console\\evil",
            "/consolex",
            "/v1/cases/c1",
            "/console/sign-in",
            "/console/cases/c1 x",
            "",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
        assert_eq!(
            sign_in_location("/console/cases/c 1"),
            "/console/sign-in",
            "an unsafe page is not carried"
        );
        assert_eq!(
            sign_in_location("/console/cases/c1?done=ack"),
            "/console/sign-in?next=%2Fconsole%2Fcases%2Fc1%3Fdone%3Dack"
        );
        assert_eq!(sign_in_location("/console"), "/console/sign-in");
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
