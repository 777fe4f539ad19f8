//! The `spin-test-host` binary as a subprocess: what only a process of its own can show.
//!
//! Environment variables and the working directory (where `.env` is read) are per process, and
//! tests share one, so variable precedence is pinned here with the environment set only for the
//! child. The same goes for `up` (its printed routes, its exit on a bad start), for `build`
//! (which `rustup` it finds on `PATH`), and for two `up` processes sharing one Redis, the
//! literal stand-in for two Spin replicas.

mod common;

use common::{fixture, scratch_dir};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Loading and compiling the guest on a busy 2-core machine can take a while.
const STARTUP: Duration = Duration::from_secs(120);

/// The conformance guest, built once; every fixture here runs it.
fn built_fixture(name: &str) -> PathBuf {
    spin_test_host::build_components(&fixture("conformance/spin.toml"))
        .expect("build the conformance guest");
    fixture(name)
}

/// The binary with an empty environment (plus a `PATH` for `sh`) in working directory `dir`.
fn host(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spin-test-host"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir);
    cmd
}

/// A runtime config that keeps the app's state (SQLite, logs) in `dir`, plus `extra`.
fn runtime_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("runtime-config.toml");
    let state = dir.join("state");
    std::fs::write(
        &path,
        format!("state_dir = {:?}\n{extra}", state.display().to_string()),
    )
    .unwrap();
    path
}

/// A child process killed when the test ends, however it ends.
struct Child {
    process: std::process::Child,
    stdout: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Child {
    fn spawn(mut cmd: Command, dir: &Path) -> Self {
        let stderr = dir.join("stderr.txt");
        let mut process = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let out = process.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            process,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn next_line(&self) -> String {
        self.stdout.recv_timeout(STARTUP).unwrap_or_else(|e| {
            panic!(
                "no more output from spin-test-host ({e}); stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// Reads the start-up banner: the base URL and the `  component: url` route lines.
    fn serving(&self, routes: usize) -> (String, Vec<String>) {
        let base = loop {
            let line = self.next_line();
            if let Some(base) = line.strip_prefix("Serving ") {
                break base.to_owned();
            }
        };
        assert_eq!(self.next_line(), "Available Routes:");
        (base, (0..routes).map(|_| self.next_line()).collect())
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.process.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "spin-test-host did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A blocking HTTP/1.0 GET (the response ends when the server closes): `(status, body)`.
fn get(base: &str, path: &str) -> (u16, String) {
    let authority = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[test]
fn up_prints_routes_serves_and_names_a_missing_required_variable() {
    let manifest = built_fixture("conformance/spin.toml");
    let dir = scratch_dir("up");
    let rc = runtime_config(&dir, "");
    let args = |cmd: &mut Command| {
        cmd.arg("up")
            .arg("-f")
            .arg(&manifest)
            .args(["--listen", "127.0.0.1:0", "--runtime-config-file"])
            .arg(&rc);
    };

    let mut cmd = host(&dir);
    args(&mut cmd);
    cmd.env("SPIN_VARIABLE_API_HOST", "127.0.0.1:9");
    let child = Child::spawn(cmd, &dir);
    // Five routes: the private component has none to print.
    let (base, routes) = child.serving(5);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    for expected in [
        format!("  exact: {base}/exact"),
        format!("  wild: {base}/wild (wildcard)"),
        format!("  param: {base}/users/:user_id/items (wildcard)"),
        format!("  caller: {base}/caller (wildcard)"),
    ] {
        assert!(
            routes.contains(&expected),
            "{expected:?} not in {routes:#?}"
        );
    }
    let (status, echo) = get(&base, "/exact");
    assert_eq!(status, 200, "{echo}");
    assert!(echo.contains("\"spin-matched-route\",\"/exact\""), "{echo}");
    assert_eq!(
        get(&base, "/caller/x?op=var&name=host"),
        (200, "127.0.0.1:9".into())
    );
    drop(child);

    let mut child = Child::spawn(
        {
            let mut cmd = host(&dir);
            args(&mut cmd);
            cmd
        },
        &dir,
    );
    assert!(!child.wait_exit().success());
    let stderr = child.stderr();
    assert!(stderr.contains("\"api_host\""), "{stderr}");
    assert!(stderr.contains("SPIN_VARIABLE_API_HOST"), "{stderr}");
}

#[test]
fn variables_come_from_providers_then_environment_then_dotenv_then_default() {
    let manifest = built_fixture("variables/spin.toml");
    let dir = scratch_dir("variables");
    // Spin consults the runtime config's providers in order, then its default environment
    // provider: SPIN_VARIABLE_<NAME>, then `.env` in the working directory.
    let rc = runtime_config(
        &dir,
        r#"
[[variables_provider]]
type = "static"
values = { from_static = "static" }

[[variables_provider]]
type = "env"
prefix = "CUSTOM"
"#,
    );
    std::fs::write(
        dir.join(".env"),
        "SPIN_VARIABLE_FROM_STATIC=dotenv\nSPIN_VARIABLE_FROM_CUSTOM_ENV=dotenv\n\
         SPIN_VARIABLE_FROM_ENV=dotenv\nSPIN_VARIABLE_FROM_DOTENV=dotenv\n",
    )
    .unwrap();
    let mut cmd = host(&dir);
    cmd.arg("up")
        .arg("-f")
        .arg(&manifest)
        .args(["--listen", "127.0.0.1:0", "--runtime-config-file"])
        .arg(&rc)
        .env("CUSTOM_FROM_STATIC", "custom")
        .env("CUSTOM_FROM_CUSTOM_ENV", "custom")
        .env("SPIN_VARIABLE_FROM_STATIC", "env")
        .env("SPIN_VARIABLE_FROM_CUSTOM_ENV", "env")
        .env("SPIN_VARIABLE_FROM_ENV", "env");
    let child = Child::spawn(cmd, &dir);
    let (base, _) = child.serving(1);
    for (name, expected) in [
        ("from_static", "static"),
        ("from_custom_env", "custom"),
        ("from_env", "env"),
        // Required and set only in .env: start-up found it there.
        ("from_dotenv", "dotenv"),
        ("from_default", "default"),
    ] {
        assert_eq!(
            get(&base, &format!("/?op=var&name={name}")),
            (200, expected.into()),
            "{name}"
        );
    }
}

/// Runs `build` on the build-target fixture with `rustup` replaced by a script (or absent),
/// and returns what ran, in order.
fn build_with_fake_rustup(rustup_lists: Option<&str>) -> Vec<String> {
    let dir = scratch_dir("build");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("build.log");
    std::fs::write(&log, "").unwrap();
    let mut path = "/usr/bin:/bin".to_owned();
    if let Some(listing) = rustup_lists {
        let script = bin.join("rustup");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"rustup $*\" >> \"$BUILD_LOG\"\n\
                 if [ \"$1 $2\" = \"target list\" ]; then printf '{listing}'; fi\n"
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        path = format!("{}:{path}", bin.display());
    }
    let status = host(&dir)
        .env("PATH", path)
        .env("BUILD_LOG", &log)
        .arg("build")
        .arg("-f")
        .arg(fixture("build-target/spin.toml"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn build_adds_the_wasm_target_only_when_rustup_lacks_it() {
    assert_eq!(
        build_with_fake_rustup(Some("x86_64-unknown-linux-gnu\\n")),
        [
            "rustup target list --installed",
            "rustup target add wasm32-wasip2",
            "cargo build --target wasm32-wasip2",
        ]
    );
    assert_eq!(
        build_with_fake_rustup(Some("x86_64-unknown-linux-gnu\\nwasm32-wasip2\\n")),
        [
            "rustup target list --installed",
            "cargo build --target wasm32-wasip2",
        ]
    );
    // Without rustup (a distribution's Rust), the build runs as is.
    assert_eq!(
        build_with_fake_rustup(None),
        ["cargo build --target wasm32-wasip2"]
    );
}

#[test]
fn two_host_processes_share_one_redis_like_two_spin_replicas() {
    let Some(redis) = spin_test_host::RedisServer::start() else {
        return;
    };
    let manifest = built_fixture("conformance/spin.toml");
    let dir = scratch_dir("replicas");
    let rc = runtime_config(
        &dir,
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    );
    let replica = || {
        let mut cmd = host(&dir);
        cmd.arg("up")
            .arg("-f")
            .arg(&manifest)
            .args(["--listen", "127.0.0.1:0", "--runtime-config-file"])
            .arg(&rc)
            .env("SPIN_VARIABLE_API_HOST", "127.0.0.1:9");
        let child = Child::spawn(cmd, &dir);
        let (base, _) = child.serving(5);
        (child, base)
    };
    let (_a, a) = replica();
    let (_b, b) = replica();

    assert_eq!(
        get(&a, "/caller/x?op=kv-set&label=default&key=k&value=from-a").0,
        200
    );
    assert_eq!(
        get(&b, "/caller/x?op=kv-get&label=default&key=k"),
        (200, "from-a".into())
    );
    // Increments from four threads, alternating processes: one count each, none lost.
    let mut counts: Vec<i64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let (a, b) = (&a, &b);
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let base = if (t + i) % 2 == 0 { a } else { b };
                            let (status, n) = get(base, "/caller/x?op=incr&key=n");
                            assert_eq!(status, 200, "{n}");
                            n.parse().unwrap()
                        })
                        .collect::<Vec<i64>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    counts.sort();
    assert_eq!(counts, (1..=100).collect::<Vec<i64>>());
}

/// An app of one component (the conformance guest, on every path, with the default store) in
/// `<dir>/app`, as a user's project sits: the manifest names the guest by absolute path.
fn one_component_app(dir: &Path) -> PathBuf {
    let conformance = built_fixture("conformance");
    let wasm = std::fs::canonicalize(
        conformance.join("../../../../../target/wasm32-wasip2/release/conformance_guest.wasm"),
    )
    .unwrap();
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("dev")).unwrap();
    std::fs::write(
        app.join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"probe\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"g\"\n\
             [component.g]\nsource = {:?}\nkey_value_stores = [\"default\"]\n",
            wasm.display().to_string()
        ),
    )
    .unwrap();
    app
}

/// Runs `up` in `cwd` with `args`, writes one key, stops: the files the app left under `root`.
fn state_files(root: &Path, cwd: &Path, args: &[&str]) -> Vec<String> {
    let mut cmd = host(cwd);
    cmd.args(["up", "--listen", "127.0.0.1:0"]).args(args);
    let child = Child::spawn(cmd, root);
    let (base, _) = child.serving(1);
    assert_eq!(
        get(&base, "/?op=kv-set&label=default&key=k&value=v"),
        (200, "ok".into())
    );
    drop(child);
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "db" || e == "txt") {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found.retain(|f| f != "stderr.txt");
    found.sort();
    found
}

#[test]
fn state_and_logs_go_where_spin_puts_them() {
    let logs = ["g_stderr.txt", "g_stdout.txt"];
    let under = |dir: &str, files: &[&str]| -> Vec<String> {
        files.iter().map(|f| format!("{dir}/{f}")).collect()
    };

    // As measured with `spin up --runtime-config-file dev/rc.toml` in the app directory: the
    // default store beside the runtime config, the logs beside spin.toml.
    let root = scratch_dir("state-rc");
    let app = one_component_app(&root);
    std::fs::write(app.join("dev/rc.toml"), "").unwrap();
    let mut expected = under("app/.spin/logs", &logs);
    expected.push("app/dev/.spin/sqlite_key_value.db".into());
    expected.sort();
    assert_eq!(
        state_files(&root, &app, &["--runtime-config-file", "dev/rc.toml"]),
        expected
    );

    // Without a runtime config, from another directory: all in the app's .spin.
    let root = scratch_dir("state-default");
    one_component_app(&root);
    let mut expected = under("app/.spin/logs", &logs);
    expected.push("app/.spin/sqlite_key_value.db".into());
    expected.sort();
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    assert_eq!(state_files(&root, &elsewhere, &["-f", "../app"]), expected);

    // --state-dir, relative to the working directory, takes both.
    let root = scratch_dir("state-flag");
    let app = one_component_app(&root);
    std::fs::write(app.join("dev/rc.toml"), "").unwrap();
    let mut expected = under("app/st/logs", &logs);
    expected.push("app/st/sqlite_key_value.db".into());
    expected.sort();
    let args = ["--runtime-config-file", "dev/rc.toml", "--state-dir", "st"];
    assert_eq!(state_files(&root, &app, &args), expected);

    // An empty state dir: the store in memory, no log files.
    let root = scratch_dir("state-unset");
    let app = one_component_app(&root);
    assert_eq!(
        state_files(&root, &app, &["--state-dir", ""]),
        Vec::<String>::new()
    );

    // --log-dir moves the logs only.
    let root = scratch_dir("state-logs");
    let app = one_component_app(&root);
    let mut expected = under("app/lg", &logs);
    expected.push("app/.spin/sqlite_key_value.db".into());
    expected.sort();
    assert_eq!(state_files(&root, &app, &["--log-dir", "lg"]), expected);
}

#[test]
fn a_state_dir_flag_and_key_together_are_refused_as_by_spin() {
    let root = scratch_dir("state-both");
    let app = one_component_app(&root);
    std::fs::write(app.join("dev/rc.toml"), "state_dir = \"st\"\n").unwrap();
    let mut cmd = host(&app);
    cmd.args([
        "up",
        "--listen",
        "127.0.0.1:0",
        "--runtime-config-file",
        "dev/rc.toml",
    ])
    .args(["--state-dir", "other"]);
    let mut child = Child::spawn(cmd, &root);
    assert!(!child.wait_exit().success());
    let stderr = child.stderr();
    assert!(
        stderr.contains("unused runtime config key(s): state_dir"),
        "{stderr}"
    );
}
