//! Support for closeloop's end-to-end tests: the whole app on either runtime, with mock
//! receivers standing in for Slack, the alert webhook and the customer-messaging gateway.
//!
//! A test runs the app on the test host (in process, [`Runtime::Host`]) or on the real Spin
//! 4.0.2 CLI (`spin up` as a child process, [`Runtime::Spin`]), the reference the host is held
//! to. [`on_host_and_spin!`] makes one test of each; a test that needs what only the host has
//! (the movable clock, the store's listing counter) says so with [`on_host_only!`]. Where
//! `spin` is missing the Spin variants are skipped with a message, except under `CI`.
//!
//! Every address is on 127.0.0.1. On the host the app's wall clock is a [`TestClock`] the
//! tests move ([`Closeloop::clock`]), so retries, backoff and link expiry are tested without
//! waiting; a Spin process reads the real clock.

pub mod client;
pub mod mock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
pub use spin_test_host::TestClock;
use spin_test_host::{AppOptions, KvHandle, RunningApp, SpinApp, SpinCli, SpinOptions};

use client::{Response, request};
use mock::MockReceiver;

pub const AGENT_TOKEN: &str = "agent-token-for-tests";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
pub const TICK_TOKEN: &str = "tick-token-for-tests";
pub const INTERNAL_TOKEN: &str = "internal-token-for-tests";
pub const LINK_KEY: &str = "link-signing-key-for-tests-0123456789";
/// The provider timeout the app runs with in tests: short, so a hung mock fails fast.
pub const DELIVERY_TIMEOUT_MS: u64 = 1_000;
/// How long the app may take to finish the work that follows a response ([`Closeloop::settle`],
/// [`Closeloop::wait_for_state`]): generous, because on Spin every write is a synced SQLite
/// transaction on a machine other builds share.
pub const SETTLE_WITHIN: Duration = Duration::from_secs(30);
/// Spin's default store file, in its state directory.
const SQLITE_FILE: &str = "sqlite_key_value.db";
/// How often the store is polled while waiting.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// The repository's spin.toml.
pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// Where a test runs the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `spin-test-host`, in this process.
    Host,
    /// The real `spin up`, a child process.
    Spin,
    /// The test host's `up` as a child process, run like `spin up`: for tests that crash the
    /// runtime ([`Closeloop::kill`]) and compare it with Spin. It reads the real clock.
    HostProcess,
}

impl Runtime {
    /// Whether the app can run on this runtime here: always on the host; on Spin when the CLI
    /// is installed (else a SKIPPED message, or a failure under `CI`).
    pub fn available(self) -> bool {
        match self {
            Runtime::Host | Runtime::HostProcess => true,
            Runtime::Spin => SpinCli::find_or_skip().is_some(),
        }
    }
}

/// Makes two tests of `async fn $name(rt: Runtime)`: `$name::on_host` and `$name::on_spin`
/// (skipped where `spin` is missing). Extra arguments go to `#[tokio::test(...)]`:
/// `on_host_and_spin!(name, flavor = "multi_thread", worker_threads = 4);`.
#[macro_export]
macro_rules! on_host_and_spin {
    ($name:ident $(, $($tokio:tt)+)?) => {
        mod $name {
            #[tokio::test$(($($tokio)+))?]
            async fn on_host() {
                super::$name($crate::Runtime::Host).await
            }

            #[tokio::test$(($($tokio)+))?]
            async fn on_spin() {
                if $crate::Runtime::Spin.available() {
                    super::$name($crate::Runtime::Spin).await
                }
            }
        }
    };
}

/// Makes one test of `async fn $name()` on the host only, `$name::on_host_only`, saying why
/// (`"needs the movable clock"`: a Spin process reads the real clock); the test starts the app
/// on `Runtime::Host`. Extra arguments go to `#[tokio::test(...)]` as in [`on_host_and_spin!`].
#[macro_export]
macro_rules! on_host_only {
    ($name:ident, $why:literal $(, $($tokio:tt)+)?) => {
        #[doc = $why]
        mod $name {
            #[tokio::test$(($($tokio)+))?]
            async fn on_host_only() {
                super::$name().await
            }
        }
    };
}

/// The app on one runtime.
pub enum App {
    Host(RunningApp),
    Spin(Box<SpinApp>),
}

impl App {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        match self {
            App::Host(app) => app.base_url(),
            App::Spin(app) => app.base_url(),
        }
    }

    /// Seeds and inspects the store `label` (on Spin, opened on its file or server).
    pub fn kv(&self, label: &str) -> KvHandle {
        match self {
            App::Host(app) => app.kv(label),
            App::Spin(app) => app.kv(label),
        }
    }

    /// The component's stderr so far.
    pub fn component_log(&self, component: &str) -> String {
        match self {
            App::Host(app) => app.component_log(component),
            App::Spin(app) => app.component_log(component),
        }
    }

    /// Stops the app (on Spin, kills the run).
    pub async fn shutdown(self) {
        match self {
            App::Host(app) => app.shutdown().await,
            App::Spin(app) => drop(app),
        }
    }
}

/// How a test starts the app, on either runtime.
pub struct Options {
    variables: BTreeMap<String, String>,
    own_url_variables: Vec<String>,
    sqlite: bool,
    runtime_config: Option<PathBuf>,
}

impl Options {
    /// Sets an application variable.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the variable `name` to the app's own URL (`http://127.0.0.1:<port>`).
    pub fn own_url(mut self, name: &str) -> Self {
        self.own_url_variables.push(name.to_owned());
        self
    }

    /// Keeps the store in a SQLite file, whose real I/O lets racing requests overlap as they
    /// do under `spin up`, instead of the host's in-memory store. Spin's default store is
    /// always its SQLite file.
    pub fn on_sqlite(mut self) -> Self {
        self.sqlite = true;
        self
    }

    /// Runs with `--runtime-config-file` (a Redis default store, say), on every runtime.
    pub fn runtime_config(mut self, file: &Path) -> Self {
        self.runtime_config = Some(file.to_owned());
        self
    }
}

/// A directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "closeloop-e2e-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// closeloop running with its three mock receivers.
pub struct Closeloop {
    pub app: App,
    runtime: Runtime,
    clock: Option<TestClock>,
    pub slack: Arc<MockReceiver>,
    pub webhook: Arc<MockReceiver>,
    pub customer: Arc<MockReceiver>,
    scratch: Option<Scratch>,
}

async fn mocks() -> [Arc<MockReceiver>; 3] {
    [
        MockReceiver::start().await,
        MockReceiver::start().await,
        MockReceiver::start().await,
    ]
    .map(Arc::new)
}

/// Runs every component's build command once per test binary.
async fn build() {
    tokio::task::spawn_blocking(|| spin_test_host::build_components(&manifest()))
        .await
        .expect("build task")
        .expect("the components build");
}

/// The variables every test runs with: test secrets, and every provider on its mock.
fn test_variables([slack, webhook, customer]: &[Arc<MockReceiver>; 3]) -> BTreeMap<String, String> {
    [
        ("internal_token", INTERNAL_TOKEN.to_owned()),
        ("agent_token", AGENT_TOKEN.to_owned()),
        ("admin_token", ADMIN_TOKEN.to_owned()),
        ("tick_token", TICK_TOKEN.to_owned()),
        ("link_signing_key", LINK_KEY.to_owned()),
        ("slack_webhook_url", slack.url("/services/T000/B000/XXXX")),
        ("alert_webhook_url", webhook.url("/alerts")),
        ("customer_webhook_url", customer.url("/messages")),
        ("dispatch_allowed_hosts", "http://127.0.0.1:*".to_owned()),
        ("delivery_timeout_ms", DELIVERY_TIMEOUT_MS.to_string()),
        ("public_base_url", "http://closeloop.test".to_owned()),
        // Survey platforms' APIs are mocked on loopback.
        ("surveymonkey_api_hosts", "http://127.0.0.1:*".to_owned()),
        ("qualtrics_api_hosts", "http://127.0.0.1:*".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Closeloop {
    /// Builds the components (once per test binary) and starts the app on `rt`: on the host
    /// on an in-memory store, on Spin on its default SQLite store in a state dir of its own.
    pub async fn start(rt: Runtime) -> Closeloop {
        Self::start_with(rt, |o| o).await
    }

    /// Like [`Closeloop::start`], with extra options (variables, say).
    pub async fn start_with(rt: Runtime, extra: impl FnOnce(Options) -> Options) -> Closeloop {
        Self::try_start_with(rt, extra)
            .await
            .unwrap_or_else(|e| panic!("the app starts on {rt:?}: {e:#}"))
    }

    /// Like [`Closeloop::start_with`], answering why the app did not start.
    pub async fn try_start_with(
        rt: Runtime,
        extra: impl FnOnce(Options) -> Options,
    ) -> anyhow::Result<Closeloop> {
        build().await;
        let mocks = mocks().await;
        let variables = test_variables(&mocks);
        let [slack, webhook, customer] = mocks;
        let options = extra(Options {
            variables,
            own_url_variables: Vec::new(),
            sqlite: false,
            runtime_config: None,
        });
        let (app, clock, scratch) = match rt {
            Runtime::Host => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let own_url = format!("http://{}", listener.local_addr()?);
                let clock = TestClock::at(SystemTime::now());
                let mut host = AppOptions::new(manifest())
                    .clock(clock.clone())
                    .listener(listener);
                for (name, value) in &options.variables {
                    host = host.variable(name, value);
                }
                for name in &options.own_url_variables {
                    host = host.variable(name, &own_url);
                }
                let scratch = options.sqlite.then(|| Scratch::new("sqlite"));
                host = match (&options.runtime_config, &scratch) {
                    (Some(rc), _) => host.runtime_config_file(rc),
                    (None, Some(dir)) => host.sqlite_path(dir.0.join(SQLITE_FILE)),
                    (None, None) => host.key_value_in_memory(),
                };
                let app = spin_test_host::start(host).await?;
                (App::Host(app), Some(clock), scratch)
            }
            Runtime::Spin | Runtime::HostProcess => {
                let cli = match rt {
                    Runtime::Spin => SpinCli::find()?,
                    _ => SpinCli::at(host_process_bin()),
                };
                let mut spin = SpinOptions::new(manifest());
                if let Some(rc) = &options.runtime_config {
                    spin = spin.runtime_config_file(rc);
                }
                for (name, value) in &options.variables {
                    spin = spin.variable(name, value);
                }
                for name in &options.own_url_variables {
                    spin = spin.own_url_variable(name);
                }
                let app = tokio::task::spawn_blocking(move || cli.up(spin)).await??;
                (App::Spin(Box::new(app)), None, None)
            }
        };
        Ok(Closeloop {
            app,
            runtime: rt,
            clock,
            slack,
            webhook,
            customer,
            scratch,
        })
    }

    /// `n` replicas of the app on the host, each on a host of its own, sharing what replicas
    /// behind one load balancer share: the key-value store that `runtime_config` names (Redis,
    /// say), the providers (the same mock receivers) and the wall clock. `extra` adds options
    /// per replica.
    pub async fn start_replicas(
        n: usize,
        runtime_config: &Path,
        extra: impl Fn(usize, AppOptions) -> AppOptions,
    ) -> Vec<Closeloop> {
        build().await;
        let clock = TestClock::at(SystemTime::now());
        let mocks = mocks().await;
        let variables = test_variables(&mocks);
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            let mut options = AppOptions::new(manifest())
                .clock(clock.clone())
                .runtime_config_file(runtime_config);
            for (name, value) in &variables {
                options = options.variable(name, value);
            }
            let app = spin_test_host::start(extra(i, options))
                .await
                .expect("the replica starts");
            let [slack, webhook, customer] = mocks.clone();
            replicas.push(Closeloop {
                app: App::Host(app),
                runtime: Runtime::Host,
                clock: Some(clock.clone()),
                slack,
                webhook,
                customer,
                scratch: None,
            });
        }
        replicas
    }

    /// Where the app runs.
    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    /// The crash: `kill -9` of a runtime running as a process ([`Runtime::Spin`],
    /// [`Runtime::HostProcess`]), whatever it is doing.
    ///
    /// # Panics
    /// On [`Runtime::Host`], which runs in the test's own process.
    pub fn kill(&mut self) {
        match &mut self.app {
            App::Spin(app) => app.kill(),
            App::Host(_) => {
                panic!("the in-process host cannot be killed: use Runtime::HostProcess")
            }
        }
    }

    /// Starts a killed runtime again on the same state and port, and waits until it answers.
    pub async fn restart(&mut self) {
        let App::Spin(app) = &mut self.app else {
            panic!("the in-process host cannot be restarted: use Runtime::HostProcess");
        };
        tokio::task::block_in_place(|| app.restart()).expect("the runtime restarts");
    }

    /// The app's movable wall clock.
    ///
    /// # Panics
    /// On Spin, which reads the real clock: a test that moves time runs on the host only
    /// ([`on_host_only!`], "needs the movable clock").
    pub fn clock(&self) -> &TestClock {
        self.clock.as_ref().unwrap_or_else(|| {
            panic!("only the test host has a movable clock: mark this test on_host_only!(name, \"needs the movable clock\")")
        })
    }

    /// The SQLite file of the app's store, if it has one (on the host only with
    /// [`Options::on_sqlite`]).
    pub fn store_file(&self) -> Option<PathBuf> {
        match &self.app {
            App::Host(_) => self.scratch.as_ref().map(|dir| dir.0.join(SQLITE_FILE)),
            App::Spin(app) => Some(app.state_dir().join(SQLITE_FILE)),
        }
    }

    /// The time the app reads now.
    pub fn now(&self) -> SystemTime {
        self.clock
            .as_ref()
            .map_or_else(SystemTime::now, TestClock::now)
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
        let deadline = Instant::now() + SETTLE_WITHIN;
        while Instant::now() < deadline {
            let view = self.case(id).await;
            if view["case"]["state"] == state {
                return view;
            }
            tokio::time::sleep(POLL_EVERY).await;
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

    /// How many commands the log has taken but not folded yet (each fold also brings the
    /// metrics and the case index up to date).
    pub fn log_behind(&self) -> u64 {
        let kv = self.app.kv("default");
        // A counter is 8 little-endian bytes on SQLite and in memory, digits on Redis.
        let head = kv
            .get("log:seq")
            .and_then(|v| match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(bytes) if !v.iter().all(u8::is_ascii_digit) => Some(u64::from_le_bytes(bytes)),
                _ => String::from_utf8(v).ok()?.parse().ok(),
            })
            .unwrap_or(0);
        let folded = kv
            .get("log:state")
            .and_then(|v| serde_json::from_slice::<Value>(&v).ok())
            .and_then(|v| v["data"]["folded"].as_u64())
            .unwrap_or(0);
        head.saturating_sub(folded)
    }

    /// Waits until the app has nothing in flight: every command folded, and every delivery
    /// whose first attempt was handed over attempted and recorded.
    pub async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_WITHIN;
        while Instant::now() < deadline {
            if self.log_behind() == 0 && !under_way(&self.store_snapshot()) {
                return;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        panic!(
            "the app never settled: {} commands not folded, deliveries {:?}",
            self.log_behind(),
            self.records("delivery:")
                .iter()
                .filter(|d| d["status"] == "pending")
                .collect::<Vec<_>>()
        );
    }
}

/// The test host's CLI, this package's `closeloop-test-host` binary: next to the test
/// executable's `deps/` directory (cargo builds a package's binaries before its integration
/// tests), or next to the running binary (a bench, after [`build_host_process`]).
fn host_process_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("closeloop-test-host"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no closeloop-test-host beside {}: cargo build -p closeloop-e2e --bin closeloop-test-host",
                exe.display()
            )
        })
}

/// Builds the test host's CLI for [`Runtime::HostProcess`] (`release`: the release profile),
/// for a program that is not one of this package's tests.
pub fn build_host_process(release: bool) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "closeloop-e2e",
        "--bin",
        "closeloop-test-host",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status()?;
    anyhow::ensure!(
        status.success(),
        "cargo build of closeloop-test-host: {status}"
    );
    Ok(())
}

/// Whether `snapshot` shows work under way (see [`Closeloop::settle`]): a delivery whose
/// first attempt a fold handed over (leased) and whose outcome is not recorded yet.
fn under_way(snapshot: &BTreeMap<String, Vec<u8>>) -> bool {
    snapshot
        .iter()
        .filter(|(k, _)| k.starts_with("delivery:"))
        .filter_map(|(_, v)| serde_json::from_slice::<Value>(v).ok())
        .any(|d| {
            let d = &d["data"];
            d["status"] == "pending" && d["attempts"] == 0 && d["lease"].is_object()
        })
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
