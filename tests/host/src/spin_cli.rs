//! The real `spin up` as a child process: the reference the test host is held to.
//!
//! closeloop's users run it on Spin, not on this host, so tests also run the same `spin.toml`
//! on the Spin 4.0.2 CLI. [`SpinCli::find_or_skip`] finds `spin` (`SPIN_BIN`, then `PATH`, then
//! `~/.local/bin/spin`, where `../shared/tools/spin/install` puts it); where it is missing the
//! Spin runs are skipped with a loud message, unless `CI` is set: CI installs it (`.ci/run`), so
//! there a missing `spin` fails the test, as for `redis-server`.
//!
//! [`SpinCli::up`] starts one run: a free loopback port (`--listen 127.0.0.1:<port>`), the
//! variables as `SPIN_VARIABLE_<NAME>` (nothing else `SPIN_*` leaks in from the test's
//! environment), a state directory of its own (`--state-dir`: the default SQLite store and the
//! component logs land there, never in the repository's `.spin/`), an optional runtime-config
//! file, and `spin up`'s own output captured in a file ([`SpinApp::log`]), printed when a test
//! panics with the run alive. It returns once the app answers Spin's health route. The run
//! (`spin up` and the `spin trigger http` process it serves from) is killed on drop;
//! [`SpinApp::kill`] is the crash (`kill -9`) and [`SpinApp::restart`] brings the app back on
//! the same state and port.
//!
//! [`SpinApp::kv`] inspects a store with the [`KvHandle`] tests use on the host, opened
//! directly on Spin's SQLite file (same table layout, a busy timeout because Spin writes with a
//! rollback journal) or on the Redis server the runtime config names.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::KvHandle;
use crate::runtime_config::{KvStoreConfig, RuntimeConfig};

/// How long `spin up` may take to answer: the first run compiles every component (Spin then
/// caches them), on a machine other builds share.
pub const READY_WITHIN: Duration = Duration::from_secs(120);
/// How many free ports a run tries when another process takes the one it picked first.
const PORT_ATTEMPTS: usize = 5;
/// How long a run waits for a port it must keep (the caller's, or its own on a restart) to be
/// free: a killed run's port is free at once, another server's stays taken.
pub const KEPT_PORT_WAIT: Duration = Duration::from_secs(5);
/// How often readiness is polled.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// How much of `spin up`'s log an error or a failing test prints.
const LOG_TAIL_LINES: usize = 60;
/// Spin's own route, answered without running a component.
const HEALTH_PATH: &str = "/.well-known/spin/health";
/// The line the log gets before each start of `spin up`.
const START_MARK: &str = "==== spin up";
/// Spin's prefix for variables taken from the environment.
const VARIABLE_PREFIX: &str = "SPIN_VARIABLE_";

/// Why a Spin run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpinError {
    /// No `spin` binary in `SPIN_BIN`, on `PATH` or in `~/.local/bin`.
    #[error(
        "the Spin CLI was not found (SPIN_BIN, PATH, ~/.local/bin/spin): run ../shared/tools/spin/install"
    )]
    NotFound,
    /// `SPIN_BIN` names no executable file.
    #[error("SPIN_BIN={0} is not an executable file")]
    NotExecutable(PathBuf),
    /// The binary could not be run.
    #[error("cannot run {bin}: {source}")]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `spin up` stopped before it answered.
    #[error("spin up exited ({status}) before answering; the end of its log {log}:\n{tail}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// `spin up` runs but never answered.
    #[error(
        "spin up did not answer on {addr} within {within:?}; the end of its log {log}:\n{tail}"
    )]
    NotReady {
        /// Where it should listen.
        addr: SocketAddr,
        /// How long it had.
        within: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// A file or port of the run could not be set up.
    #[error("setting up a spin up run: {0}")]
    Io(#[from] std::io::Error),
}

/// The Spin CLI found on this machine.
#[derive(Clone, Debug)]
pub struct SpinCli {
    bin: PathBuf,
}

impl SpinCli {
    /// `SPIN_BIN` if set (it must then be executable), else `spin` on `PATH`, else
    /// `~/.local/bin/spin`.
    pub fn find() -> Result<Self, SpinError> {
        if let Some(bin) = std::env::var_os("SPIN_BIN").filter(|b| !b.is_empty()) {
            let bin = PathBuf::from(bin);
            return if is_executable(&bin) {
                Ok(Self { bin })
            } else {
                Err(SpinError::NotExecutable(bin))
            };
        }
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("spin"));
        let local = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/bin/spin"));
        on_path
            .chain(local)
            .find(|p| is_executable(p))
            .map(|bin| Self { bin })
            .ok_or(SpinError::NotFound)
    }

    /// Like [`SpinCli::find`]; `None` (after a message on stderr) when `spin` is missing and
    /// `CI` is not set.
    ///
    /// # Panics
    /// When `spin` is missing under CI: `.ci/run` installs it.
    pub fn find_or_skip() -> Option<Self> {
        match Self::find() {
            Ok(cli) => Some(cli),
            Err(e) => {
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
                assert!(!ci, "{e}, and CI is set: .ci/run must install it");
                // Straight to stderr: libtest captures eprintln! of passing tests, and a skip
                // must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n**********\nSKIPPED on Spin: {e}, to run this test on real Spin too\n**********"
                );
                None
            }
        }
    }

    /// A binary at `bin` that runs like `spin up` (the same `up` flags and `SPIN_VARIABLE_*`,
    /// printing `Serving <url>` when ready): the test host's own CLI, run as a process so that
    /// a test can kill it as it kills Spin.
    pub fn at(bin: impl Into<PathBuf>) -> Self {
        Self { bin: bin.into() }
    }

    /// The binary.
    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// Starts `spin up` and waits until the app answers (blocking: from async code, call it in
    /// `spawn_blocking`).
    pub fn up(&self, options: SpinOptions) -> Result<SpinApp, SpinError> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run_dir = std::env::temp_dir().join(format!(
            "spin-run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        let state_dir = match &options.state_dir {
            Some(dir) => std::path::absolute(dir)?,
            None => run_dir.join("state"),
        };
        std::fs::create_dir_all(&state_dir)?;
        let mut app = SpinApp {
            bin: self.bin.clone(),
            addr: SocketAddr::from(([127, 0, 0, 1], options.port.unwrap_or(0))),
            log: run_dir.join("spin.log"),
            run_dir,
            state_dir,
            options,
            child: None,
            stores: Mutex::new(HashMap::new()),
        };
        app.launch()?;
        Ok(app)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A free loopback port. Another process may take it before `spin up` binds it (seconds
/// later, once the components are loaded): a run then tries another one.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How to run an app on `spin up`.
#[derive(Clone, Debug)]
pub struct SpinOptions {
    manifest: PathBuf,
    variables: BTreeMap<String, String>,
    own_url_variables: Vec<String>,
    runtime_config_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    port: Option<u16>,
}

impl SpinOptions {
    /// Runs `manifest` (a `spin.toml`, or a directory holding one).
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            variables: BTreeMap::new(),
            own_url_variables: Vec::new(),
            runtime_config_file: None,
            state_dir: None,
            port: None,
        }
    }

    /// Sets an application variable (passed as `SPIN_VARIABLE_<NAME>`).
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the variable `name` to the run's own URL (`http://127.0.0.1:<port>`), whichever
    /// free port it ends up on: for an app that calls itself (stage URLs without chaining).
    pub fn own_url_variable(mut self, name: &str) -> Self {
        self.own_url_variables.push(name.to_owned());
        self
    }

    /// `--runtime-config-file`.
    pub fn runtime_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config_file = Some(path.into());
        self
    }

    /// `--state-dir`; by default each run has a fresh one, removed when it drops.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Listens on `127.0.0.1:<port>` instead of a free port the run picks (and picks again if
    /// another process takes it first).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

/// An app running on `spin up`, killed on drop.
pub struct SpinApp {
    bin: PathBuf,
    options: SpinOptions,
    addr: SocketAddr,
    run_dir: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    stores: Mutex<HashMap<String, KvHandle>>,
}

impl SpinApp {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its `--state-dir`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The file holding `spin up`'s stdout and stderr, every start of the run appended.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `spin up`'s output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The component's stderr so far, from Spin's log dir (`<state dir>/logs`).
    pub fn component_log(&self, component: &str) -> String {
        self.component_output(component, "stderr")
    }

    /// The component's stdout so far.
    pub fn component_stdout(&self, component: &str) -> String {
        self.component_output(component, "stdout")
    }

    fn component_output(&self, component: &str, stream: &str) -> String {
        let file = self
            .state_dir
            .join("logs")
            .join(format!("{component}_{stream}.txt"));
        std::fs::read_to_string(file).unwrap_or_default()
    }

    /// Seeds and inspects the store `label`, where this run keeps it: the runtime config's
    /// `[key_value_store.<label>]` (a SQLite file or a Redis server), else, for `default`,
    /// `<state dir>/sqlite_key_value.db`. Opened once per label and kept.
    ///
    /// # Panics
    /// When the label has no store this process can open (in memory inside Spin, a cloud
    /// store, or no such label), or the store cannot be opened.
    pub fn kv(&self, label: &str) -> KvHandle {
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kv) = stores.get(label) {
            return kv.clone();
        }
        let configured = self.options.runtime_config_file.as_ref().and_then(|rc| {
            let rc = RuntimeConfig::load(rc)
                .unwrap_or_else(|e| panic!("reading the run's runtime config: {e:#}"));
            rc.key_value_stores.get(label).cloned()
        });
        let kv = match (configured, label) {
            (Some(KvStoreConfig::Sqlite(path)), _) => KvHandle::open_sqlite(&path, label),
            (Some(KvStoreConfig::Redis(url)), _) => KvHandle::open_redis(&url, label),
            (None, "default") => {
                KvHandle::open_sqlite(&self.state_dir.join("sqlite_key_value.db"), label)
            }
            (other, _) => panic!(
                "the store {label:?} of this Spin run cannot be opened from the test ({other:?})"
            ),
        }
        .unwrap_or_else(|e| panic!("opening the store {label:?} of a Spin run: {e:#}"));
        stores.insert(label.to_owned(), kv.clone());
        kv
    }

    /// The crash: `kill -9` of the runtime, whatever it is doing, and waits for it to be gone.
    ///
    /// `spin up` serves from a child process of its own (`spin trigger http`), which outlives
    /// a killed `spin up`: both are killed. `spin up` is stopped first, so that it starts no
    /// other child meanwhile.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Ok(pid) = libc::pid_t::try_from(child.id()) else {
            return;
        };
        signal(pid, libc::SIGSTOP);
        for trigger in children(pid) {
            signal(trigger, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts `spin up` again on the same state directory and port (after [`SpinApp::kill`];
    /// kills a run still alive first), and waits until it answers.
    pub fn restart(&mut self) -> Result<(), SpinError> {
        self.kill();
        self.launch()
    }

    /// Starts the process and waits for it to answer. A port the run picked itself and that
    /// another process took meanwhile is replaced; a port the caller chose, or the one a
    /// restart reuses, is retried for [`KEPT_PORT_WAIT`].
    fn launch(&mut self) -> Result<(), SpinError> {
        // One start at a time in this process: the first compiles every component (Spin caches
        // them for the next), and several compiling at once on a small machine, each on every
        // core, all miss READY_WITHIN.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + READY_WITHIN;
        let port_deadline = Instant::now() + KEPT_PORT_WAIT;
        let fresh_port = self.addr.port() == 0;
        let mut attempts = 0;
        loop {
            attempts += 1;
            if fresh_port {
                self.addr.set_port(free_port()?);
            }
            self.spawn()?;
            match self.wait_ready(deadline) {
                Ok(()) => return Ok(()),
                Err(e @ SpinError::Exited { .. }) if self.port_was_taken() => {
                    let retry = if fresh_port {
                        attempts < PORT_ATTEMPTS
                    } else {
                        Instant::now() < port_deadline
                    };
                    if !retry {
                        return Err(e);
                    }
                    if !fresh_port {
                        std::thread::sleep(POLL_EVERY * 4);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), SpinError> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        writeln!(log, "{START_MARK} --listen {}", self.addr)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("up")
            .arg("--from")
            .arg(std::path::absolute(&self.options.manifest)?)
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--state-dir")
            .arg(&self.state_dir);
        if let Some(rc) = &self.options.runtime_config_file {
            cmd.arg("--runtime-config-file")
                .arg(std::path::absolute(rc)?);
        }
        // Only this run's settings: no variable, runtime config or listen address inherited
        // from the environment the tests run in.
        let inherited: Vec<OsString> = std::env::vars_os()
            .map(|(k, _)| k)
            .filter(|k| {
                k.to_str().is_some_and(|k| {
                    k.starts_with("SPIN_")
                        || ["RUNTIME_CONFIG_FILE", "WASMTIME_CACHE_FILE"].contains(&k)
                })
            })
            .collect();
        for k in inherited {
            cmd.env_remove(k);
        }
        let own_url = self.base_url();
        let own = self.options.own_url_variables.iter().map(|n| (n, &own_url));
        for (name, value) in self.options.variables.iter().chain(own) {
            cmd.env(
                format!("{VARIABLE_PREFIX}{}", name.to_ascii_uppercase()),
                value,
            );
        }
        // Relative paths Spin resolves against the working directory (a `.env`) stay in the run.
        cmd.current_dir(&self.run_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().map_err(|source| SpinError::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<(), SpinError> {
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return Err(self.exited_error());
            }
            // Serving, and on this port: another server there (a port taken between picking
            // and binding it) answers too, but Spin then fails to bind and says so.
            if self
                .current_log()
                .contains(&format!("Serving {}", self.base_url()))
                && answers(self.addr)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                let e = SpinError::NotReady {
                    addr: self.addr,
                    within: READY_WITHIN,
                    log: self.log.clone(),
                    tail: self.log_tail(),
                };
                self.kill();
                return Err(e);
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// The error for a process that has exited (reaped by the caller's `try_wait`).
    fn exited_error(&mut self) -> SpinError {
        let status = self
            .child
            .take()
            .and_then(|mut c| c.wait().ok())
            .unwrap_or_else(|| std::os::unix::process::ExitStatusExt::from_raw(0));
        SpinError::Exited {
            status,
            log: self.log.clone(),
            tail: self.log_tail(),
        }
    }

    /// What the last start of `spin up` has logged.
    fn current_log(&self) -> String {
        let log = self.log();
        log.rsplit(START_MARK).next().unwrap_or("").to_owned()
    }

    /// Whether the last start failed because the port was in use.
    fn port_was_taken(&self) -> bool {
        // Spin 4.0.2: "127.0.0.1:PORT is already in use. To have Spin search for a free port..."
        self.current_log().contains("is already in use")
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// Sends `sig` to the process `pid` (one this module started, or a child of one).
fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process; `pid` is
    // positive, so it names one process, never a group.
    if pid > 0 {
        unsafe { libc::kill(pid, sig) };
    }
}

/// The child processes of `pid`, from `/proc/<pid>/task/*/children`.
fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether an HTTP server answers Spin's health route at `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut status = [0u8; 9];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.")
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        let alive = self.child.is_some();
        self.kill();
        if std::thread::panicking() {
            // The test failed: show what Spin said, and keep the run's files for a look.
            if alive {
                eprintln!(
                    "---- the end of spin up's log ({}; state in {}):\n{}\n----",
                    self.log.display(),
                    self.state_dir.display(),
                    self.log_tail()
                );
            }
            return;
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}
