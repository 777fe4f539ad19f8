//! Support for closeloop's end-to-end tests: the whole app on the test host, with mock
//! receivers standing in for Slack, the alert webhook and the customer-messaging gateway.
//!
//! Every address is on 127.0.0.1. The app's wall clock is a [`TestClock`] the tests move, so
//! retries, backoff and link expiry are tested without waiting.

pub mod client;
pub mod mock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
pub use spin_test_host::TestClock;
use spin_test_host::{AppOptions, RunningApp};

use client::{Response, request};
use mock::MockReceiver;

pub const AGENT_TOKEN: &str = "agent-token-for-tests";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
pub const TICK_TOKEN: &str = "tick-token-for-tests";
pub const INTERNAL_TOKEN: &str = "internal-token-for-tests";
pub const LINK_KEY: &str = "link-signing-key-for-tests-0123456789";
/// The provider timeout the app runs with in tests: short, so a hung mock fails fast.
pub const DELIVERY_TIMEOUT_MS: u64 = 1_000;

/// The repository's spin.toml.
pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// closeloop running on the test host with its three mock receivers.
pub struct Closeloop {
    pub app: RunningApp,
    pub clock: TestClock,
    pub slack: Arc<MockReceiver>,
    pub webhook: Arc<MockReceiver>,
    pub customer: Arc<MockReceiver>,
}

impl Closeloop {
    /// Builds the components (once per test binary) and starts the app on an in-memory store.
    pub async fn start() -> Closeloop {
        Self::start_with(|o| o).await
    }

    /// Like [`Closeloop::start`], with extra options (variables, say).
    pub async fn start_with(extra: impl FnOnce(AppOptions) -> AppOptions) -> Closeloop {
        let clock = TestClock::at(SystemTime::now());
        let mocks = [
            MockReceiver::start().await,
            MockReceiver::start().await,
            MockReceiver::start().await,
        ]
        .map(Arc::new);
        Self::launch(clock, mocks, |o| extra(o.key_value_in_memory())).await
    }

    /// Like [`Closeloop::start`], on a SQLite store file at `path`: Spin's default backend,
    /// whose real I/O lets racing requests overlap as they do under `spin up`.
    pub async fn start_on_sqlite(path: &Path) -> Closeloop {
        let clock = TestClock::at(SystemTime::now());
        let mocks = [
            MockReceiver::start().await,
            MockReceiver::start().await,
            MockReceiver::start().await,
        ]
        .map(Arc::new);
        let path = path.to_owned();
        Self::launch(clock, mocks, move |o| o.sqlite_path(path)).await
    }

    /// `n` replicas of the app, each on a host of its own, sharing what replicas behind one
    /// load balancer share: the key-value store that `runtime_config` names (Redis, say), the
    /// providers (the same mock receivers) and the wall clock. `extra` adds options per replica.
    pub async fn start_replicas(
        n: usize,
        runtime_config: &Path,
        extra: impl Fn(usize, AppOptions) -> AppOptions,
    ) -> Vec<Closeloop> {
        let clock = TestClock::at(SystemTime::now());
        let mocks = [
            MockReceiver::start().await,
            MockReceiver::start().await,
            MockReceiver::start().await,
        ]
        .map(Arc::new);
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            replicas.push(
                Self::launch(clock.clone(), mocks.clone(), |o| {
                    extra(i, o.runtime_config_file(runtime_config))
                })
                .await,
            );
        }
        replicas
    }

    async fn launch(
        clock: TestClock,
        [slack, webhook, customer]: [Arc<MockReceiver>; 3],
        options: impl FnOnce(AppOptions) -> AppOptions,
    ) -> Closeloop {
        let manifest = manifest();
        tokio::task::spawn_blocking({
            let manifest = manifest.clone();
            move || spin_test_host::build_components(&manifest)
        })
        .await
        .expect("build task")
        .expect("the components build");
        let defaults = AppOptions::new(&manifest)
            .clock(clock.clone())
            .variable("internal_token", INTERNAL_TOKEN)
            .variable("agent_token", AGENT_TOKEN)
            .variable("admin_token", ADMIN_TOKEN)
            .variable("tick_token", TICK_TOKEN)
            .variable("link_signing_key", LINK_KEY)
            .variable("slack_webhook_url", &slack.url("/services/T000/B000/XXXX"))
            .variable("alert_webhook_url", &webhook.url("/alerts"))
            .variable("customer_webhook_url", &customer.url("/messages"))
            .variable("dispatch_allowed_hosts", "http://127.0.0.1:*")
            .variable("delivery_timeout_ms", &DELIVERY_TIMEOUT_MS.to_string())
            .variable("public_base_url", "http://closeloop.test")
            // Survey platforms' APIs are mocked on loopback.
            .variable("surveymonkey_api_hosts", "http://127.0.0.1:*")
            .variable("qualtrics_api_hosts", "http://127.0.0.1:*");
        let app = spin_test_host::start(options(defaults))
            .await
            .expect("the app starts");
        Closeloop {
            app,
            clock,
            slack,
            webhook,
            customer,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base_url())
    }

    /// `POST /v1/feedback` with a JSON body.
    pub async fn post_feedback(&self, body: &Value) -> Response {
        self.post_raw(
            "/v1/feedback",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Response {
        request(
            "POST",
            &self.url(path),
            &[("content-type", content_type)],
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request("GET", &self.url(path), headers, Vec::new()).await
    }

    /// An agent API call with the agent token.
    pub async fn agent(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        self.call_as(AGENT_TOKEN, method, path, body).await
    }

    /// An admin API call with the bootstrap admin token.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        self.call_as(ADMIN_TOKEN, method, path, body).await
    }

    /// Signs in to the console with `key` through its form, as a browser does: the sign-in
    /// page sets the double-submit login cookie and carries its token in a hidden field; both
    /// go back with the key. A 303 to `/console` with a `closeloop_session` cookie is success.
    pub async fn console_sign_in(&self, key: &str) -> Response {
        let form = self.get("/console/sign-in", &[]).await;
        let login = form.cookie("closeloop_login").unwrap_or_default();
        let token = form.hidden_field("login").unwrap_or_default();
        let body = format!(
            "login={}&key={}",
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        );
        request(
            "POST",
            &self.url("/console/sign-in"),
            &[
                ("cookie", &login),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body.into_bytes(),
        )
        .await
    }

    /// Creates a personal API key through the admin API and returns it.
    pub async fn new_key(&self, name: &str, role: &str) -> String {
        let r = self
            .admin(
                "POST",
                "/v1/admin/keys",
                Some(json!({"name": name, "role": role})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["key"].as_str().expect("a key").to_owned()
    }

    /// A call with `Authorization: Bearer <token>` (a JSON body when given).
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        request(method, &self.url(path), &headers, body).await
    }

    /// `POST /v1/tick`; panics unless it answers 200.
    pub async fn tick(&self) -> Value {
        let auth = format!("Bearer {TICK_TOKEN}");
        let r = request(
            "POST",
            &self.url("/v1/tick"),
            &[("authorization", auth.as_str())],
            Vec::new(),
        )
        .await;
        assert_eq!(r.status, 200, "tick: {}", r.text());
        r.json()
    }

    /// The open cases, most urgent first.
    pub async fn open_cases(&self) -> Vec<Value> {
        let r = self.agent("GET", "/v1/cases", None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["cases"].as_array().cloned().unwrap_or_default()
    }

    pub async fn case(&self, id: &str) -> Value {
        let r = self.agent("GET", &format!("/v1/cases/{id}"), None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Polls until the case's state is `state` (work after a response is asynchronous).
    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        for _ in 0..200 {
            let view = self.case(id).await;
            if view["case"]["state"] == state {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("case {id} never reached {state}: {}", self.case(id).await);
    }

    /// Every key and value in the store, for before/after comparisons.
    pub fn store_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let kv = self.app.kv("default");
        kv.keys()
            .into_iter()
            .filter_map(|k| kv.get(&k).map(|v| (k, v)))
            .collect()
    }

    /// The values of every key starting with `prefix`, decoded from their envelopes.
    pub fn records(&self, prefix: &str) -> Vec<Value> {
        self.store_snapshot()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| serde_json::from_slice::<Value>(&v).expect("stored JSON")["data"].clone())
            .collect()
    }

    /// How many changes the projector has still to fold (metrics and the case index).
    pub fn projection_behind(&self) -> u64 {
        let kv = self.app.kv("default");
        // A counter is 8 little-endian bytes on SQLite and in memory, digits on Redis.
        let head = kv
            .get("change-seq:feed")
            .and_then(|v| match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(bytes) => Some(u64::from_le_bytes(bytes)),
                Err(_) => String::from_utf8(v).ok()?.parse().ok(),
            })
            .unwrap_or(0);
        let folded = kv
            .get("projector:state")
            .and_then(|v| serde_json::from_slice::<Value>(&v).ok())
            .and_then(|v| v["data"]["folded"].as_u64())
            .unwrap_or(0);
        head.saturating_sub(folded)
    }

    /// Waits until the app has nothing pending: no feedback awaiting triage, no notice awaiting
    /// planning, no delivery awaiting a send that is due, no change the projector has not
    /// folded.
    pub async fn settle(&self) {
        for _ in 0..200 {
            let busy = self.projection_behind() > 0
                || self
                    .store_snapshot()
                    .keys()
                    .any(|k| k.starts_with("pending:triage:") || k.starts_with("pending:notice:"))
                || self
                    .records("delivery:")
                    .iter()
                    .any(|d| d["status"] == "pending" && d["attempts"] == 0);
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let kv = self.app.kv("default");
        panic!(
            "the app never settled: {} changes not folded (projector state {:?}), pending {:?}",
            self.projection_behind(),
            kv.get("projector:state")
                .map(|v| String::from_utf8_lossy(&v).into_owned()),
            kv.keys()
                .into_iter()
                .filter(|k| k.starts_with("pending:")
                    || k.starts_with("change")
                    || k.starts_with("claim:projector"))
                .collect::<Vec<_>>()
        );
    }
}

/// A canonical feedback body: NPS `score` with `comment`, for customer `customer_id`.
pub fn feedback(external_id: &str, score: i64, comment: &str) -> Value {
    let submitted = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    json!({
        "source": "hotel-survey",
        "external_id": external_id,
        "submitted_at": submitted,
        "customer": {
            "id": "guest-42",
            "email": "guest42@example.com",
            "name": "Alex Guest",
            "phone": "+447700900123",
            "attributes": {"tier": "standard", "room": "412"}
        },
        "score": {"kind": "nps", "value": score},
        "comment": comment,
        "metadata": {"property": "Harbour Hotel"}
    })
}
