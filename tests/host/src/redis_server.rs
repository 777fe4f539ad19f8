//! A throwaway `redis-server` on 127.0.0.1 for tests of the Redis key-value store.
//!
//! Tests that need Redis call [`RedisServer::start`]. Where `redis-server` is not installed
//! (a developer's machine without it) the test is skipped with a loud message, unless `CI` is
//! set: CI installs Redis (`.ci/run`), so there a missing server fails the test instead of
//! silently skipping it. The server keeps nothing on disk (`--save ''`, no AOF) and is killed
//! when the value drops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server`, stopped on drop.
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free loopback port; `None` (after a message on stderr) when
    /// `redis-server` is not installed and `CI` is not set.
    ///
    /// # Panics
    /// When `redis-server` is missing under CI, or does not start.
    pub fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "redis-server is not installed, and CI is set: .ci/run must install it (apt-get install -y redis-server)"
            );
            // Straight to stderr: libtest captures eprintln! of passing tests, and a skip must
            // be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n**********\nSKIPPED: redis-server is not installed; install it (apt-get install -y redis-server) to run this test\n**********"
            );
            return None;
        }
        // A port picked free can be taken before the server binds it: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn try_start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "spin-test-host-redis-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if server.ping() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server on port {port} exited ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("redis-server on port {port} never answered PING"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:PORT`, for a runtime config's `url`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// A runtime config file (in the server's own directory, removed with it) that keeps the
    /// default key-value store on this server, for `--runtime-config-file`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn runtime_config_file(&self) -> PathBuf {
        let file = self.dir.join("runtime-config.toml");
        let toml = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            self.url()
        );
        std::fs::write(&file, toml).expect("a runtime config file beside redis-server's dir");
        file
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
