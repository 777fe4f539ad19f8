//! A Spin-faithful host for closeloop's tests, benchmarks and local runs.
//!
//! This crate runs the real `spin.toml` and `.wasm` components in process on wasmtime 44 (the
//! version Spin 4.0.2 embeds), matching Spin in everything the app relies on, with hooks Spin
//! has not (a movable clock, store inspection); tests also run the same app on the real Spin
//! CLI ([`spin_cli`]), the reference. Each module mirrors one Spin concern and names the Spin
//! source it follows:
//!
//! - [`manifest`]: `spin.toml` v2 parsing; `runtime_config`: `--runtime-config-file`;
//! - `routes` and `server`: routing, `spin-*` headers, one instance per request; `executor`:
//!   the multi-threaded runtime instances run on, so that concurrent requests race as on Spin;
//! - `kv`: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` on SQLite (a file or
//!   memory) or Redis, with their faults, and counters of the calls components make;
//! - `state_dir`: where state and logs go (`.spin`, `--state-dir`, `--log-dir`);
//! - `variables`: `fermyon:spin/variables@2.0.0`, templates and providers;
//! - `allowed_hosts` and `outbound`: outbound HTTP permissions, chaining, real sends;
//! - `logs`: per-component stdout/stderr; [`TestClock`]: a controllable wall clock (a test hook);
//! - `engine`: compilation cache; `build_commands`: `[component.x.build]`; [`cli`]: the binary;
//! - [`RedisServer`]: a throwaway `redis-server` for tests of the Redis store (a test hook);
//! - [`spin_cli`]: the real `spin up` as a child process, the reference tests compare with.
//!
//! Tests use [`start`] with [`AppOptions`] and talk HTTP to [`RunningApp::base_url`].

mod allowed_hosts;
mod build_commands;
pub mod cli;
mod clock;
mod engine;
mod executor;
mod kv;
mod logs;
pub mod manifest;
mod outbound;
mod redis_server;
mod routes;
mod runtime_config;
mod server;
pub mod spin_cli;
mod state_dir;
mod variables;

/// Host bindings for the Spin interfaces in `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "closeloop:test-host/host",
        imports: { default: async | trappable },
    });
}

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, bail};
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub use clock::TestClock;
pub use kv::KvHandle;
pub use manifest::Manifest;
pub use redis_server::RedisServer;
pub use runtime_config::RuntimeConfig;
pub use spin_cli::{SpinApp, SpinCli, SpinError, SpinOptions};

use kv::{Backend, RedisBackend, SqliteBackend, Store};
use logs::{Echo, LogSink};
use runtime_config::KvStoreConfig;
use server::{App, ComponentRuntime};
use state_dir::{Given, StateDirs};

/// Runs every component's `[component.x.build]` command of the manifest once per process.
///
/// Safe to call from many tests at once (the first caller builds, the others wait), and from
/// inside `cargo test`: cargo has released its build lock by the time test binaries run.
pub fn build_components(manifest: &Path) -> anyhow::Result<()> {
    build_commands::run_once(manifest)
}

/// How to run an app. Defaults follow `spin up` except the listen port (`127.0.0.1:0`).
#[derive(Clone, Debug)]
pub struct AppOptions {
    manifest: PathBuf,
    listen: SocketAddr,
    listener: Option<Arc<std::net::TcpListener>>,
    variables: BTreeMap<String, String>,
    kv_in_memory: bool,
    sqlite_path: Option<PathBuf>,
    runtime_config_file: Option<PathBuf>,
    clock: TestClock,
    state_dir: Given,
    log_dir: Given,
    echo_logs: bool,
}

impl AppOptions {
    /// Runs the app described by `manifest` (a `spin.toml`, or a directory holding one).
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: None,
            variables: BTreeMap::new(),
            kv_in_memory: false,
            sqlite_path: None,
            runtime_config_file: None,
            clock: TestClock::new_real(),
            state_dir: Given::Default,
            log_dir: Given::Default,
            echo_logs: false,
        }
    }

    /// Serves on a listener the caller already bound. Apps that must know each other's
    /// address before they start (replicas handing work to each other) bind first and pass
    /// the listeners in, instead of picking a free port and racing other processes for it.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// The address to listen on.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Sets an application variable for this app only, above every other provider.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Keeps every key-value store in memory (no database file is opened).
    pub fn key_value_in_memory(mut self) -> Self {
        self.kv_in_memory = true;
        self
    }

    /// Puts the `default` store's SQLite file at `path`, wherever the state directory is.
    pub fn sqlite_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.sqlite_path = Some(path.into());
        self
    }

    /// Reads a Spin runtime-config file.
    pub fn runtime_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config_file = Some(path.into());
        self
    }

    /// The wall clock guests see.
    pub fn clock(mut self, clock: TestClock) -> Self {
        self.clock = clock;
        self
    }

    /// `spin up --state-dir`: the directory for the default store and the logs, made
    /// absolute against the working directory; an empty path means none (store in memory, no
    /// log files). Refused at start if the runtime config sets `state_dir` too, as by Spin.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Given::from_flag(dir.into());
        self
    }

    /// `spin up --log-dir`: writes component logs to `dir` instead of `<state dir>/logs`; an
    /// empty path means no log files. Refused at start if the runtime config sets `log_dir`
    /// too, as by Spin.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Given::from_flag(dir.into());
        self
    }

    /// Also copies component output to this process's stdout/stderr (as `spin up` does).
    pub fn echo_logs(mut self, echo: bool) -> Self {
        self.echo_logs = echo;
        self
    }

    fn manifest_path(&self) -> PathBuf {
        if self.manifest.is_dir() {
            self.manifest.join("spin.toml")
        } else {
            self.manifest.clone()
        }
    }
}

/// A running app. Dropping it without [`RunningApp::shutdown`] stops accepting too.
pub struct RunningApp {
    app: Arc<App>,
    addr: SocketAddr,
    stores: HashMap<String, Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningApp {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The routes as `spin up` prints them: `(component, route)`, e.g. `("ingest", "/v1 (wildcard)")`.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.app
            .router
            .routes()
            .iter()
            .map(|r| (r.component.clone(), r.display()))
            .collect()
    }

    /// Seeds and inspects the store `label`. Panics if no component can open that label.
    pub fn kv(&self, label: &str) -> KvHandle {
        let store = self
            .stores
            .get(label)
            .unwrap_or_else(|| panic!("no key-value store labelled {label:?} in this app"));
        KvHandle::new(store.clone())
    }

    /// The component's stderr so far.
    pub fn component_log(&self, component: &str) -> String {
        self.app
            .components
            .get(component)
            .map(|c| c.stderr.captured())
            .unwrap_or_default()
    }

    /// The component's stdout so far.
    pub fn component_stdout(&self, component: &str) -> String {
        self.app
            .components
            .get(component)
            .map(|c| c.stdout.captured())
            .unwrap_or_default()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the process is stopped (for the command line).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Validates a manifest (and runtime config): everything `start` checks except the `.wasm`
/// files and listening.
pub fn check(manifest: &Path, runtime_config: Option<&Path>) -> anyhow::Result<Manifest> {
    let manifest = Manifest::load(manifest)?;
    let rc = match runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let triggers: Vec<_> = manifest
        .http_triggers
        .iter()
        .filter_map(|t| t.route.as_deref().map(|r| (t.component.as_str(), r)))
        .collect();
    routes::Router::build(triggers)?;
    for (id, comp) in &manifest.components {
        for label in &comp.key_value_stores {
            if label != "default" && !rc.key_value_stores.contains_key(label) {
                bail!(
                    "unknown key_value_stores label {label:?} for component {id:?}: labels other than \"default\" need a [key_value_store.{label}] runtime config"
                );
            }
        }
        // Literal entries are checked now; templates once variables resolve (in `start`).
        for entry in &comp.allowed_outbound_hosts {
            variables::Template::parse(entry)
                .with_context(|| format!("component {id:?}: allowed_outbound_hosts {entry:?}"))?;
            if !entry.contains("{{") {
                allowed_hosts::AllowedHosts::parse(std::slice::from_ref(entry))
                    .with_context(|| format!("component {id:?}"))?;
            }
        }
    }
    Ok(manifest)
}

/// Loads, links and starts serving an app.
pub async fn start(opts: AppOptions) -> anyhow::Result<RunningApp> {
    let manifest_path = opts.manifest_path();
    let manifest = check(&manifest_path, opts.runtime_config_file.as_deref())?;
    let rc = match &opts.runtime_config_file {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    let dirs = StateDirs::resolve(
        &manifest_path,
        opts.runtime_config_file.as_deref(),
        &rc,
        &opts.state_dir,
        &opts.log_dir,
    )?;

    let resolver = Arc::new(
        variables::Resolver::new(&manifest, &opts.variables, &rc.variables_providers)
            .with_context(|| format!("cannot start app {}", manifest_path.display()))?,
    );

    // Key-value stores, one per label any component uses or the runtime config defines.
    let mut sqlite: HashMap<PathBuf, Arc<dyn Backend>> = HashMap::new();
    let mut redis: HashMap<String, Arc<dyn Backend>> = HashMap::new();
    let mut stores: HashMap<String, Store> = HashMap::new();
    let labels = manifest
        .components
        .values()
        .flat_map(|c| c.key_value_stores.iter().cloned())
        .chain(rc.key_value_stores.keys().cloned());
    for label in labels {
        if stores.contains_key(&label) {
            continue;
        }
        let config = match (opts.kv_in_memory, label.as_str(), &opts.sqlite_path) {
            (true, _, _) => KvStoreConfig::InMemory,
            (false, "default", Some(path)) => KvStoreConfig::Sqlite(path.clone()),
            _ => match rc.key_value_stores.get(&label) {
                Some(c) => c.clone(),
                None => dirs.default_store.clone(),
            },
        };
        let backend: Arc<dyn Backend> = match config {
            KvStoreConfig::InMemory => Arc::new(SqliteBackend::in_memory()?),
            KvStoreConfig::Sqlite(path) => match sqlite.get(&path) {
                Some(b) => b.clone(),
                None => {
                    let b: Arc<dyn Backend> = Arc::new(SqliteBackend::open(&path)?);
                    sqlite.insert(path, b.clone());
                    b
                }
            },
            KvStoreConfig::Redis(url) => match redis.get(&url) {
                Some(b) => b.clone(),
                None => {
                    let b: Arc<dyn Backend> = Arc::new(
                        RedisBackend::open(&url)
                            .with_context(|| format!("key-value store {label:?}"))?,
                    );
                    redis.insert(url, b.clone());
                    b
                }
            },
            KvStoreConfig::Unserved(kind) => bail!(
                "key-value store {label:?} is of type {kind:?}, which spin-test-host validates but cannot serve: run on Spin, or use type \"redis\" or \"spin\" locally"
            ),
        };
        stores.insert(label.clone(), Store::new(&label, backend));
    }

    let (router, duplicates) = routes::Router::build(
        manifest
            .http_triggers
            .iter()
            .filter_map(|t| t.route.as_deref().map(|r| (t.component.as_str(), r))),
    )?;
    if !duplicates.is_empty() {
        eprintln!("The following component routes are duplicates and will never be used:");
        for d in duplicates {
            eprintln!("{d}");
        }
    }

    let linker = server::linker()?;
    let mut components = HashMap::new();
    let triggered: std::collections::HashSet<&str> = manifest
        .http_triggers
        .iter()
        .map(|t| t.component.as_str())
        .collect();
    for (id, decl) in &manifest.components {
        if !triggered.contains(id.as_str()) {
            continue;
        }
        let source = manifest.source_path(decl);
        if !source.exists() {
            let how = match &decl.build {
                Some(b) => format!(
                    "build it with `{}` (from {}), or run `spin-test-host build`",
                    b.command.as_vec().join(" && "),
                    manifest.dir.display()
                ),
                None => format!("component {id:?} has no [component.{id}.build] command"),
            };
            bail!(
                "component {id:?}: source {} does not exist: {how}",
                source.display()
            );
        }
        let component = engine::load_component(&source)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component {id:?} ({}) cannot be linked", source.display()))?;
        let pre = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component {id:?} does not export wasi:http/incoming-handler@0.2")
            })?;
        let allowed = decl
            .allowed_outbound_hosts
            .iter()
            .map(|entry| {
                let t = variables::Template::parse(entry)?;
                resolver
                    .resolve_template(&t)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .and_then(|hosts| allowed_hosts::AllowedHosts::parse(&hosts))
            .unwrap_or_else(|e| {
                // Like Spin 4.0.2: a template that resolves to an invalid entry does not stop
                // the app; the component starts, and every outbound request it makes is denied.
                eprintln!(
                    "component {id:?}: invalid allowed_outbound_hosts ({e:#}); its outbound requests will be denied"
                );
                allowed_hosts::AllowedHosts::default()
            });
        let (out_echo, err_echo) = if opts.echo_logs {
            (Echo::Stdout, Echo::Stderr)
        } else {
            (Echo::None, Echo::None)
        };
        components.insert(
            id.clone(),
            ComponentRuntime {
                pre,
                allowed,
                stores: decl
                    .key_value_stores
                    .iter()
                    .filter_map(|l| stores.get(l).map(|s| (l.clone(), s.clone())))
                    .collect(),
                env: decl
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                stdout: LogSink::open(dirs.log_dir.as_deref(), id, "stdout", true, out_echo)?,
                stderr: LogSink::open(dirs.log_dir.as_deref(), id, "stderr", true, err_echo)?,
            },
        );
    }

    // The listener, its connections and the instances live on the app runtime, whatever
    // runtime the caller is on.
    let runtime = executor::runtime();
    let listener = match &opts.listener {
        Some(bound) => {
            let listener = bound
                .try_clone()
                .context("Unable to use the given listener")?;
            listener.set_nonblocking(true)?;
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        }
        None => runtime
            .spawn(tokio::net::TcpListener::bind(opts.listen))
            .await?
            .with_context(|| format!("Unable to listen on {}", opts.listen))?,
    };
    let addr = listener.local_addr()?;
    let app = Arc::new(App {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        router,
        components,
        resolver,
        clock: opts.clock.clone(),
        local_addr: OnceLock::new(),
    });
    let _ = app.local_addr.set(addr);

    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = app.clone();
    let task = runtime.spawn(async move {
        loop {
            let (stream, client) = tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        continue;
                    }
                },
            };
            let app = serving.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move {
                            let req = req.map(|b| {
                                b.map_err(wasmtime_wasi_http::p2::hyper_request_error)
                                    .boxed_unsync()
                            });
                            Ok::<_, std::convert::Infallible>(app.handle(req, client).await)
                        }
                    },
                );
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    Ok(RunningApp {
        app,
        addr,
        stores,
        stop: Some(stop),
        task: Some(task),
    })
}
