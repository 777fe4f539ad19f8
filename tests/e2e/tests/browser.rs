//! The console in a real browser: Debian's Chromium, headless, driven over the Chrome DevTools
//! Protocol. A CX lead signs in, finds the most urgent case at the top of the inbox, opens it,
//! acknowledges it, resolves it with a root cause, and sees the dashboard change. Screenshots
//! of every step are saved under `target/browser-artifacts/`. A front-desk manager signed out
//! opens a Slack alert's "Open case" link and lands, through sign-in, on that case.
//!
//! Where `chromium` is not installed the test is skipped with a loud message, except under
//! `CI`, where it fails (`.ci/run` installs it), like the Redis tests.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use closeloop_e2e::mock::{MockReceiver, Mode};
use closeloop_e2e::{Closeloop, Runtime, on_host_and_spin, on_host_only};
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long one browser step (a command, a page load) may take.
const STEP: Duration = Duration::from_secs(30);

fn chromium_path() -> Option<PathBuf> {
    let candidate =
        std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
    Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| candidate)
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("the artefacts folder");
    dir
}

/// Headless Chromium with one page, spoken to over CDP.
struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "closeloop-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // Chromium announces its DevTools endpoint on stderr.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                    sent = true;
                }
            }
        });
        let url = rx
            .recv_timeout(STEP)
            .expect("chromium printed its DevTools address");
        let (ws, _) = tungstenite::connect(url.as_str()).expect("the DevTools WebSocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
        }
        let mut browser = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends a command (to the page once attached) and waits for its result.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("a CDP command is sent");
        let deadline = Instant::now() + STEP;
        loop {
            assert!(
                Instant::now() < deadline,
                "no answer to {method} within {STEP:?}"
            );
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let v: Value = serde_json::from_str(&text).expect("CDP JSON");
                    if v["id"] == id {
                        return match v.get("error") {
                            Some(e) => Err(e.clone()),
                            None => Ok(v["result"].clone()),
                        };
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("CDP connection: {e}"),
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Evaluates JavaScript in the page (DevTools evaluation, not a page script: the
    /// console's CSP forbids scripts and still holds for the page itself).
    fn eval(&mut self, expression: &str) -> Result<Value, Value> {
        let r = self.try_call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        )?;
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Runs `action`, then waits until a new document has loaded.
    fn navigating(&mut self, action: impl FnOnce(&mut Self)) {
        self.eval("window.__closeloopOld = true").unwrap();
        action(self);
        let deadline = Instant::now() + STEP;
        loop {
            assert!(Instant::now() < deadline, "the page did not load");
            if let Ok(Value::Bool(true)) = self
                .eval("window.__closeloopOld === undefined && document.readyState === 'complete'")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn goto(&mut self, url: &str) {
        self.navigating(|b| {
            b.call("Page.navigate", json!({"url": url}));
        });
    }

    fn url(&mut self) -> String {
        self.eval("location.href")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn text(&mut self, selector: &str) -> Option<String> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.textContent.trim() : null; }})()",
            json!(selector)
        );
        self.eval(&js).unwrap().as_str().map(str::to_owned)
    }

    /// Clicks the middle of the element (of its first line box: a wrapped link's bounding box
    /// can have empty space at its centre) as a mouse would.
    fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getClientRects()[0]; return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            json!(selector)
        );
        let at = self.eval(&js).unwrap();
        let (x, y) = (
            at[0]
                .as_f64()
                .unwrap_or_else(|| panic!("no element {selector}")),
            at[1].as_f64().unwrap(),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks a field and types into it.
    fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call("Input.insertText", json!({"text": text}));
    }

    /// Picks an option of a select by its value (as choosing it from the list does).
    fn choose(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); e.focus(); e.value = {}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value; }})()",
            json!(selector),
            json!(value)
        );
        assert_eq!(self.eval(&js).unwrap(), json!(value));
    }

    /// A full-page PNG screenshot; prints and returns its path.
    fn screenshot(&mut self, name: &str) -> PathBuf {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = artifacts().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        let _ = writeln!(std::io::stderr(), "screenshot: {}", path.display());
        path
    }

    /// The dashboard's count under a KPI (`n = 3`), or `None` when the KPI is not shown.
    fn kpi_count(&mut self, id: &str) -> Option<u64> {
        self.text(&format!("#kpi-{id} .count"))?.parse().ok()
    }
}

fn feedback(external_id: &str, customer: &str, score: i64, comment: &str) -> Value {
    let mut body = closeloop_e2e::feedback(external_id, score, comment);
    body["customer"]["id"] = json!(customer.to_lowercase().replace(' ', "-"));
    body["customer"]["name"] = json!(customer);
    body["customer"]["email"] = json!(format!(
        "{}@example.com",
        customer.to_lowercase().replace(' ', ".")
    ));
    body
}

/// `None` (and a loud message, or a failure under `CI`) when Chromium is not installed.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium_path();
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "chromium is not installed, and CI is set: .ci/run must install it (apt-get install -y chromium)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n**********\nSKIPPED: chromium is not installed; install it (apt-get install -y chromium) to run the browser test\n**********"
        );
    }
    found
}

on_host_and_spin!(
    an_alerts_case_link_leads_a_signed_out_manager_to_the_case,
    flavor = "multi_thread"
);
async fn an_alerts_case_link_leads_a_signed_out_manager_to_the_case(rt: Runtime) {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let cl = Closeloop::start_with(rt, |o| o.own_url("public_base_url")).await;
    let key = cl.new_key("Dana", "agent").await;
    let r = cl
        .post_feedback(&feedback(
            "browser-link-1",
            "Robin Urgent",
            1,
            "The heating is broken",
        ))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let alert = cl.slack.wait_for_delivered(1).await[0].json();
    let actions = alert["blocks"].as_array().unwrap().last().unwrap().clone();
    let link = actions["elements"][0]["url"].as_str().unwrap().to_owned();
    let case_id = link.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        link,
        cl.url(&format!("/console/cases/{case_id}")),
        "{alert}"
    );

    let (landed, state, session) = tokio::task::spawn_blocking(move || {
        let mut b = Browser::launch(&chromium);
        b.goto(&link);
        assert!(
            b.url().contains("/console/sign-in?next="),
            "signed out, the link asks for a sign-in: {}",
            b.url()
        );
        b.screenshot("10-alert-link-sign-in");
        b.type_into("#key", &key);
        b.navigating(|b| b.click("button[type=submit]"));
        b.screenshot("11-alert-link-case");
        let cookies = b.call("Network.getCookies", json!({}));
        let session = cookies["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "closeloop_session")
            .map(|c| c["value"].as_str().unwrap().to_owned());
        (b.url(), b.text("#case-state"), session)
    })
    .await
    .expect("the browser session");
    assert!(
        landed.ends_with(&format!("/console/cases/{case_id}")),
        "{landed}"
    );
    assert_eq!(state.as_deref(), Some("new"));
    let session = session.expect("a session cookie");
    assert!(session.starts_with("cls_"), "{session}");
    let r = cl.call_as(&session, "GET", "/v1/cases", None).await;
    assert_eq!(r.status, 200, "the cookie is a session the API accepts");
}

on_host_and_spin!(
    a_one_click_email_link_acknowledges_only_when_its_button_is_pressed,
    flavor = "multi_thread"
);
async fn a_one_click_email_link_acknowledges_only_when_its_button_is_pressed(rt: Runtime) {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let postmark = MockReceiver::start().await;
    postmark.set_mode(Mode::Status(
        200,
        r#"{"ErrorCode":0,"Message":"OK","MessageID":"m1"}"#,
    ));
    let cl = Closeloop::start_with(rt, |o| {
        o.own_url("public_base_url")
            .variable("email_provider", "postmark")
            .variable("email_from", "alerts@closeloop.test")
            .variable("postmark_server_token", "pm-server-token-for-tests")
            .variable("postmark_api_url", &postmark.url(""))
    })
    .await;
    let team = json!({"members": [{"id": "dana", "name": "Dana Desk",
        "endpoints": [{"channel": "email", "address": "dana@hotel.test"}]}]});
    let r = cl
        .admin("PUT", "/v1/admin/teams/customer-success", Some(team))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
    let r = cl
        .post_feedback(&feedback(
            "browser-click-1",
            "Robin Urgent",
            1,
            "The lift is broken",
        ))
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let email = postmark.wait_for_delivered(1).await[0].json();
    let text = email["TextBody"].as_str().unwrap().to_owned();
    let link = (text.lines())
        .find_map(|l| l.strip_prefix("Acknowledge: "))
        .unwrap_or_else(|| panic!("no one-click link: {text}"))
        .to_owned();
    let case_id = cl.open_cases().await[0]["id"].as_str().unwrap().to_owned();

    // The browser opens the link, then waits while the test looks at the case, then presses.
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let browsing = {
        let link = link.clone();
        tokio::task::spawn_blocking(move || {
            let mut b = Browser::launch(&chromium);
            b.goto(&link);
            b.screenshot("20-one-click-asks");
            let asked = (b.text("h1"), b.url());
            opened_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            b.navigating(|b| b.click("#act"));
            b.screenshot("21-one-click-done");
            (asked, b.text("h1"))
        })
    };
    tokio::task::spawn_blocking(move || opened_rx.recv())
        .await
        .unwrap()
        .expect("the browser opened the link");
    assert_eq!(
        cl.case(&case_id).await["case"]["state"],
        "new",
        "opening the link changed nothing"
    );
    go_tx.send(()).unwrap();
    let ((asked, url_after_opening), done) = browsing.await.expect("the browser session");
    assert_eq!(
        asked.as_deref(),
        Some("Acknowledge"),
        "opening the link asks"
    );
    assert_eq!(url_after_opening, link, "and stays on the link");
    assert_eq!(done.as_deref(), Some("Acknowledged"));
    let view = cl.wait_for_state(&case_id, "acknowledged").await;
    let acked = (view["timeline"].as_array().unwrap().iter())
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(acked["actor"], "Dana Desk", "{acked}");
}

on_host_only!(
    a_cx_lead_works_the_most_urgent_case_in_the_browser,
    "needs the movable clock",
    flavor = "multi_thread"
);
async fn a_cx_lead_works_the_most_urgent_case_in_the_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let cl = Closeloop::start(Runtime::Host).await;
    let key = cl.new_key("Dana", "agent").await;
    for (id, customer, score, comment) in [
        (
            "browser-1",
            "Sam Passive",
            7,
            "Breakfast was fine, a little slow",
        ),
        (
            "browser-2",
            "Robin Urgent",
            1,
            "Nobody answered for an hour and the heating is broken. I am cancelling.",
        ),
        (
            "browser-3",
            "Kim Mild",
            5,
            "The room was smaller than in the photos",
        ),
    ] {
        let r = cl
            .post_feedback(&feedback(id, customer, score, comment))
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    cl.settle().await;
    // Two hours on: the urgent case's first response is overdue.
    cl.clock().advance(Duration::from_secs(2 * 3600));
    let open = cl.open_cases().await;
    assert_eq!(open.len(), 3, "{open:?}");
    assert_eq!(
        open[0]["customer"], "Robin Urgent",
        "the API ranks the detractor first: {open:?}"
    );
    assert_eq!(open[0]["overdue"], true, "{open:?}");
    let urgent = open[0]["id"].as_str().unwrap().to_owned();

    let base = cl.url("");
    let top = urgent.clone();
    let (before, after) = tokio::task::spawn_blocking(move || {
        let mut b = Browser::launch(&chromium);

        b.goto(&format!("{base}/console"));
        assert!(
            b.url().ends_with("/console/sign-in"),
            "signed out: {}",
            b.url()
        );
        b.screenshot("01-sign-in");
        b.type_into("#key", &key);
        b.navigating(|b| b.click("button[type=submit]"));
        if !b.url().ends_with("/console") {
            b.screenshot("01-sign-in-refused");
            panic!("not signed in: {} {:?}", b.url(), b.text(".error"));
        }

        // The most urgent case is at the top, marked overdue in words.
        assert_eq!(
            b.eval("document.querySelector('table.inbox tbody tr').dataset.caseId")
                .unwrap(),
            json!(top)
        );
        assert_eq!(
            b.text("table.inbox tbody tr .case-link").as_deref(),
            Some("Robin Urgent")
        );
        assert_eq!(
            b.text("table.inbox tbody tr .overdue-badge").as_deref(),
            Some("Overdue")
        );
        assert_eq!(
            b.eval("document.querySelector('table.inbox tbody tr').classList.contains('overdue')")
                .unwrap(),
            json!(true)
        );
        b.screenshot("02-inbox");

        b.goto(&format!("{base}/console/dashboard"));
        b.screenshot("03-dashboard-before");
        let before = (
            b.kpi_count("first-response"),
            b.kpi_count("time-to-resolve"),
            b.text("#metrics-unavailable"),
        );

        b.goto(&format!("{base}/console"));
        b.navigating(|b| b.click("table.inbox tbody tr .case-link"));
        assert!(
            b.url().ends_with(&format!("/console/cases/{top}")),
            "{}",
            b.url()
        );
        assert_eq!(b.text("#case-state").as_deref(), Some("new"));
        b.screenshot("04-case");

        b.type_into("#ack-note", "Calling Robin now");
        b.navigating(|b| b.click("#acknowledge"));
        assert_eq!(b.text("#case-state").as_deref(), Some("acknowledged"));
        assert!(b.text(".flash").unwrap().starts_with("Acknowledged"));
        b.screenshot("05-acknowledged");

        b.type_into(
            "#resolution",
            "Fixed the heating and moved Robin to a warmer room; refunded one night",
        );
        b.choose("#root_cause", "facilities");
        b.navigating(|b| b.click("#resolve"));
        assert_eq!(
            b.text("#case-state").as_deref(),
            Some("resolved-awaiting-customer")
        );
        assert!(b.text(".flash").unwrap().starts_with("Resolved"));
        b.screenshot("06-resolved");

        // Off the inbox: the loop is with the customer now.
        b.goto(&format!("{base}/console"));
        let rows = b
            .eval("document.querySelectorAll('table.inbox tbody tr').length")
            .unwrap();
        assert_eq!(rows, json!(2));
        b.screenshot("07-inbox-after");

        b.goto(&format!("{base}/console/dashboard"));
        b.screenshot("08-dashboard-after");
        let after = (
            b.kpi_count("first-response"),
            b.kpi_count("time-to-resolve"),
            b.text("#metrics-unavailable"),
        );
        (before, after)
    })
    .await
    .expect("the browser session");

    let view = cl.case(&urgent).await;
    assert_eq!(view["case"]["state"], "resolved-awaiting-customer");
    assert_eq!(view["case"]["resolution"]["root_cause"], "facilities");
    assert_eq!(view["case"]["resolution"]["resolved_by"], "Dana", "{view}");

    // The dashboard counts the first response and the resolution just made.
    assert_eq!(before.2, None, "the dashboard had no metrics: {before:?}");
    assert_eq!(after.2, None, "the dashboard had no metrics: {after:?}");
    let (Some(fr_before), Some(ttr_before)) = (before.0, before.1) else {
        panic!("no counts on the dashboard before: {before:?}");
    };
    assert_eq!(
        after.0,
        Some(fr_before + 1),
        "first responses: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.1,
        Some(ttr_before + 1),
        "resolutions: {before:?} -> {after:?}"
    );
}
