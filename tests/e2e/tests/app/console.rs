//! The web console over HTTP: sign-in, CSRF, security headers, escaping, redirects.

use closeloop_e2e::client::{Response, request};
use closeloop_e2e::{AGENT_TOKEN, Closeloop, Runtime, on_host_and_spin};

use crate::open_case;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The value of the hidden input `name` in a page.
fn hidden(page: &Response, name: &str) -> String {
    page.hidden_field(name)
        .unwrap_or_else(|| panic!("no {name} field: {}", page.text()))
}

async fn get(cl: &Closeloop, path: &str, cookie: &str) -> Response {
    cl.get(path, &[("cookie", cookie)]).await
}

/// Signs out through the console's form, with the page's CSRF token.
async fn sign_out(cl: &Closeloop, cookie: &str, csrf: &str) -> Response {
    post_form(
        cl,
        "/console/sign-out",
        cookie,
        &format!("csrf={csrf}"),
        &[],
    )
    .await
}

async fn post_form(
    cl: &Closeloop,
    path: &str,
    cookie: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut headers = vec![
        ("cookie", cookie),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    request("POST", &cl.url(path), &headers, body.as_bytes().to_vec()).await
}

/// Signs in with `key` through the form, checking the double-submit pair it uses.
async fn try_sign_in(cl: &Closeloop, key: &str) -> Response {
    let form = cl.get("/console/sign-in", &[]).await;
    assert_eq!(form.status, 200, "{}", form.text());
    let login = form.cookie("closeloop_login").expect("a login cookie");
    assert_eq!(login, format!("closeloop_login={}", hidden(&form, "login")));
    cl.console_sign_in(key).await
}

/// Signs in and returns the session cookie.
async fn sign_in(cl: &Closeloop, key: &str) -> String {
    let r = try_sign_in(cl, key).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console")),
        "{}",
        r.text()
    );
    r.cookie("closeloop_session").expect("a session cookie")
}

on_host_and_spin!(console_sign_in_accepts_good_keys_and_refuses_bad_ones);
async fn console_sign_in_accepts_good_keys_and_refuses_bad_ones(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let r = cl.get("/console", &[]).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/sign-in"))
    );

    let r = try_sign_in(&cl, AGENT_TOKEN).await;
    let set = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("closeloop_session="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "public_base_url is http in tests: {set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let inbox = get(&cl, "/console", &cookie).await;
    assert_eq!(inbox.status, 200, "{}", inbox.text());
    assert!(inbox.text().contains("<h1>Inbox</h1>"));

    let personal = cl.new_key("Dana", "agent").await;
    let cookie = sign_in(&cl, &personal).await;
    assert_eq!(get(&cl, "/console/", &cookie).await.status, 200);

    let r = try_sign_in(&cl, "clk_not_a_real_key").await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("That key was not accepted"),
        "{}",
        r.text()
    );
    assert!(r.cookie("closeloop_session").is_none());
    let r = try_sign_in(&cl, "wrong-token").await;
    assert_eq!(r.status, 401);

    // A forged cookie is no session: the API refuses it and the console signs it out.
    for forged in [
        "closeloop_session=Zm9yZ2Vk",
        "closeloop_session=cls_e30.Zm9yZ2Vk",
    ] {
        let r = get(&cl, "/console", forged).await;
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/console/sign-in")),
            "{forged}"
        );
    }

    // Signing out needs the token, then ends the session.
    let cookie = sign_in(&cl, AGENT_TOKEN).await;
    let csrf = hidden(&get(&cl, "/console", &cookie).await, "csrf");
    assert_eq!(
        post_form(&cl, "/console/sign-out", &cookie, "", &[])
            .await
            .status,
        403
    );
    let r = sign_out(&cl, &cookie, &csrf).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.cookie("closeloop_session").as_deref(),
        Some("closeloop_session=")
    );
}

on_host_and_spin!(console_forms_refuse_missing_wrong_and_cross_site_tokens);
async fn console_forms_refuse_missing_wrong_and_cross_site_tokens(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "console-csrf-1", 2, "The shower was cold").await;
    let cookie = sign_in(&cl, AGENT_TOKEN).await;
    let page = get(&cl, &format!("/console/cases/{case_id}"), &cookie).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let csrf = hidden(&page, "csrf");
    let path = format!("/console/cases/{case_id}/acknowledge");

    // The sign-in form needs its double-submit token too.
    let r = post_form(
        &cl,
        "/console/sign-in",
        "",
        &format!("key={AGENT_TOKEN}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 403);

    let cases = [
        (String::new(), vec![]),
        (format!("csrf={}", "0".repeat(64)), vec![]),
        (
            format!("csrf={csrf}"),
            vec![("origin", "https://evil.example")],
        ),
        (
            format!("csrf={csrf}"),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (body, extra) in &cases {
        let r = post_form(&cl, &path, &cookie, body, extra).await;
        assert_eq!(r.status, 403, "{body} {extra:?}: {}", r.text());
        assert!(r.text().contains("Refused"));
    }
    // Another session's token is refused too.
    let other = sign_in(&cl, &cl.new_key("Lee", "agent").await).await;
    let other_csrf = hidden(&get(&cl, "/console", &other).await, "csrf");
    assert_ne!(other_csrf, csrf);
    assert_eq!(
        post_form(&cl, &path, &cookie, &format!("csrf={other_csrf}"), &[])
            .await
            .status,
        403
    );
    assert_eq!(
        cl.case(&case_id).await["case"]["state"],
        "new",
        "nothing changed"
    );

    let own_origin = cl.url("");
    let r = post_form(
        &cl,
        &path,
        &cookie,
        &format!("csrf={csrf}&note=calling"),
        &[
            ("origin", own_origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("/console/cases/{case_id}?done=acknowledged").as_str())
    );
    assert_eq!(cl.case(&case_id).await["case"]["state"], "acknowledged");

    // The API's refusal reaches the user with its status: an agent may not reassign.
    let r = post_form(
        &cl,
        &format!("/console/cases/{case_id}/assign"),
        &cookie,
        &format!("csrf={csrf}&to=Lee"),
        &[],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("Not done:"), "{}", r.text());
    // A resolve without a root cause: the API's 422 detail names the field.
    let r = post_form(
        &cl,
        &format!("/console/cases/{case_id}/resolve"),
        &cookie,
        &format!("csrf={csrf}&resolution=fixed"),
        &[],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("root_cause"), "{}", r.text());
}

on_host_and_spin!(console_pages_carry_the_security_headers);
async fn console_pages_carry_the_security_headers(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "console-headers-1", 3, "Slow check-in").await;
    let cookie = sign_in(&cl, AGENT_TOKEN).await;
    for (path, status) in [
        ("/console/sign-in".to_owned(), 200),
        ("/console".to_owned(), 200),
        (format!("/console/cases/{case_id}"), 200),
        ("/console/assets/console.css".to_owned(), 200),
        ("/console/no-such-page".to_owned(), 404),
        ("/console/dashboard?from=yesterday".to_owned(), 400),
    ] {
        let r = get(&cl, &path, &cookie).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
        if path.ends_with(".css") {
            assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
        } else {
            assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
            assert_eq!(
                r.header("content-type"),
                Some("text/html; charset=utf-8"),
                "{path}"
            );
            assert!(!r.text().contains("<script"), "{path}");
        }
    }
    let r = get(&cl, "/console/dashboard?from=yesterday", &cookie).await;
    assert!(r.text().contains("YYYY-MM-DD"), "{}", r.text());
}

on_host_and_spin!(console_renders_a_hostile_comment_escaped);
async fn console_renders_a_hostile_comment_escaped(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let (_, case_id) = open_case(&cl, "console-xss-1", 1, hostile).await;
    let cookie = sign_in(&cl, AGENT_TOKEN).await;
    for path in ["/console".to_owned(), format!("/console/cases/{case_id}")] {
        let html = get(&cl, &path, &cookie).await.text();
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{path}: {html}"
        );
        assert!(
            html.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
            ),
            "{path}: {html}"
        );
    }
    // The flash message comes from a fixed list, never from the URL.
    let html = get(
        &cl,
        &format!("/console/cases/{case_id}?done=%3Cscript%3E"),
        &cookie,
    )
    .await
    .text();
    assert!(!html.contains("<script") && !html.contains("&lt;script&gt;&lt;/"));
}

on_host_and_spin!(console_sessions_hold_no_key_and_end_with_the_key_or_a_sign_out);
async fn console_sessions_hold_no_key_and_end_with_the_key_or_a_sign_out(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let created = cl
        .admin(
            "POST",
            "/v1/admin/keys",
            Some(serde_json::json!({"name": "Dana", "role": "agent"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let (key, key_id) = {
        let v = created.json();
        (
            v["key"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    };

    // The cookie holds a signed session: neither the key nor any encoding of it.
    let cookie = sign_in(&cl, &key).await;
    let session = cookie
        .strip_prefix("closeloop_session=")
        .unwrap()
        .to_owned();
    assert!(session.starts_with("cls_"), "{cookie}");
    assert!(
        !session.contains(&key) && !session.contains(&key[4..]),
        "{cookie}"
    );
    use base64::Engine;
    for engine in [
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ] {
        assert!(!session.contains(&engine.encode(&key)[..20]), "{cookie}");
    }
    // The API takes the session as it takes the key; a session cannot open another.
    let r = cl.call_as(&session, "GET", "/v1/cases", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        cl.call_as(&session, "GET", "/v1/metrics", None)
            .await
            .status,
        200
    );
    let r = cl.call_as(&session, "POST", "/v1/sessions", None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));

    // CSRF tokens are bound to the session: another sign-in's token is refused.
    let (_, case_id) = open_case(&cl, "console-session-1", 2, "The shower was cold").await;
    let other = sign_in(&cl, &key).await;
    assert_ne!(other, cookie, "every sign-in opens a session of its own");
    let page = format!("/console/cases/{case_id}");
    let other_csrf = hidden(&get(&cl, &page, &other).await, "csrf");
    let csrf = hidden(&get(&cl, &page, &cookie).await, "csrf");
    assert_ne!(other_csrf, csrf);
    let act = format!("{page}/note");
    let r = post_form(
        &cl,
        &act,
        &cookie,
        &format!("csrf={other_csrf}&text=hi"),
        &[],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());

    // Revoking the key ends its sessions at their next request, in the console and the API.
    let r = cl
        .admin("DELETE", &format!("/v1/admin/keys/{key_id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&cl, &page, &cookie).await;
    let back = format!("/console/sign-in?next=%2Fconsole%2Fcases%2F{case_id}");
    assert_eq!((r.status, r.header("location")), (303, Some(back.as_str())));
    assert_eq!(
        r.cookie("closeloop_session").as_deref(),
        Some("closeloop_session=")
    );
    let r = cl.call_as(&session, "GET", "/v1/cases", None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("revoked"), "{}", r.text());

    // Signing out ends every session of the credential, including a copied cookie.
    let first = sign_in(&cl, AGENT_TOKEN).await;
    let second = sign_in(&cl, AGENT_TOKEN).await;
    let csrf = hidden(&get(&cl, "/console", &first).await, "csrf");
    let r = sign_out(&cl, &first, &csrf).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/console/sign-in"))
    );
    for cookie in [&first, &second] {
        let r = get(&cl, "/console", cookie).await;
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/console/sign-in")),
            "a session from before the sign-out"
        );
    }
    let again = sign_in(&cl, AGENT_TOKEN).await;
    assert_eq!(get(&cl, "/console", &again).await.status, 200);
}

on_host_and_spin!(console_sign_in_leads_back_to_the_page_asked_for);
async fn console_sign_in_leads_back_to_the_page_asked_for(rt: Runtime) {
    let cl = Closeloop::start(rt).await;
    let (_, case_id) = open_case(&cl, "console-next-1", 2, "The lift was broken").await;
    let page = format!("/console/cases/{case_id}");
    let r = cl.get(&page, &[]).await;
    let location = r.header("location").expect("a redirect").to_owned();
    assert_eq!(r.status, 303);
    assert_eq!(
        location,
        format!("/console/sign-in?next=%2Fconsole%2Fcases%2F{case_id}")
    );
    let form = cl.get(&location, &[]).await;
    assert_eq!(hidden(&form, "next"), page);
    let login = form.cookie("closeloop_login").unwrap();
    let sign_in = |next: String| {
        let body = format!(
            "login={}&key={AGENT_TOKEN}&next={}",
            hidden(&form, "login"),
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let headers = [
            ("cookie", login.clone()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ];
        let url = cl.url("/console/sign-in");
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            request("POST", &url, &headers, body.into_bytes()).await
        }
    };
    let r = sign_in(page.clone()).await;
    assert_eq!((r.status, r.header("location")), (303, Some(page.as_str())));
    let cookie = r.cookie("closeloop_session").unwrap();
    let shown = get(&cl, &page, &cookie).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    // Only console pages of this origin: anything else lands on the inbox.
    for elsewhere in [
        "https://evil.example/",
        "//evil.example/console",
        "/v1/cases",
    ] {
        let r = sign_in(elsewhere.to_owned()).await;
        assert_eq!(r.header("location"), Some("/console"), "{elsewhere}");
    }
}

closeloop_e2e::on_host_only!(
    sessions_write_only_when_signing_out,
    "needs the host's count of write calls"
);
/// Write calls (the test host counts them): opening a session and using it write nothing;
/// signing out writes the credential's sign-out time, once.
async fn sessions_write_only_when_signing_out() {
    let cl = Closeloop::start(Runtime::Host).await;
    let kv = cl.app.kv("default");
    let key = cl.new_key("Dana", "agent").await;
    let before = kv.writes();
    let cookie = sign_in(&cl, &key).await;
    let inbox = get(&cl, "/console", &cookie).await;
    assert_eq!(inbox.status, 200);
    assert_eq!(kv.writes() - before, 0, "signing in and reading");
    let csrf = hidden(&inbox, "csrf");
    let r = sign_out(&cl, &cookie, &csrf).await;
    assert_eq!(r.status, 303);
    assert_eq!(kv.writes() - before, 1, "signing out");
}
