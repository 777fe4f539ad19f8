//! The Redis key-value backend (`[key_value_store.<label>] type = "redis"`, `url`).
//!
//! Follows Spin's `crates/key-value-redis/src/store.rs`, including where Redis differs from
//! SQLite, because those differences are what an app deployed on Redis meets:
//!
//! - labels do not namespace keys: every store on one Redis server shares one key space (the
//!   label is ignored), so apps prefix their keys;
//! - `get-keys` is `KEYS *`;
//! - `increment` is `INCRBY`, atomic on the server, and the counter is stored as decimal text
//!   (not SQLite's 8 little-endian bytes);
//! - compare-and-swap is `WATCH` / `MULTI` / `SET` / `EXEC`; when the value changed in between,
//!   the `EXEC` aborts and the write is dropped, yet the swap reports success, as in Spin.
//!
//! Two host processes (or two apps in one process) given the same `url` share state exactly as
//! two Spin replicas on one Redis do: only through the server. Calls are short and synchronous,
//! like the SQLite backend's; connections are pooled so that concurrent instances do not wait on
//! one socket.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;

use crate::kv::{Backend, BackendResult};

/// How long a connection attempt or a reply may take before the call fails.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct RedisBackend {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

fn redis_err(e: redis::RedisError) -> String {
    e.to_string()
}

impl RedisBackend {
    /// Connects once, so that a wrong `url` or an unreachable server stops start-up.
    pub(crate) fn open(url: &str) -> anyhow::Result<Self> {
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL {url}"))?;
        let backend = Self {
            client,
            idle: Mutex::new(Vec::new()),
        };
        let conn = backend
            .connect()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("cannot connect to Redis at {url}"))?;
        backend.release(conn);
        Ok(backend)
    }

    fn connect(&self) -> BackendResult<redis::Connection> {
        let conn = self
            .client
            .get_connection_with_timeout(IO_TIMEOUT)
            .map_err(redis_err)?;
        conn.set_read_timeout(Some(IO_TIMEOUT)).map_err(redis_err)?;
        conn.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(redis_err)?;
        Ok(conn)
    }

    fn release(&self, conn: redis::Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    /// Runs `f` on a pooled connection; a connection that failed is not reused.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> BackendResult<T> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let result = f(&mut conn);
        if result.is_ok() {
            self.release(conn);
        }
        result.map_err(redis_err)
    }
}

impl Backend for RedisBackend {
    fn get(&self, _store: &str, key: &str) -> BackendResult<Option<Vec<u8>>> {
        self.with(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn set_many(&self, _store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("MSET");
        for (k, v) in entries {
            cmd.arg(k).arg(v.as_slice());
        }
        self.with(|c| cmd.exec(c))
    }

    fn delete_many(&self, _store: &str, keys: &[String]) -> BackendResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with(|c| redis::cmd("DEL").arg(keys).exec(c))
    }

    fn keys(&self, _store: &str) -> BackendResult<Vec<String>> {
        self.with(|c| redis::cmd("KEYS").arg("*").query(c))
    }

    fn increment(&self, _store: &str, key: &str, delta: i64) -> BackendResult<i64> {
        self.with(|c| redis::cmd("INCRBY").arg(key).arg(delta).query(c))
    }

    fn swap(
        &self,
        _store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> BackendResult<bool> {
        self.with(|c| {
            let Some(expected) = expected else {
                // No `current` call, so no WATCH: Spin's swap is a plain transactional SET.
                redis::cmd("SET").arg(key).arg(new).exec(c)?;
                return Ok(true);
            };
            redis::cmd("WATCH").arg(key).exec(c)?;
            let now: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(c)?;
            if now.as_deref() != Some(expected) {
                // The value changed after `current`: EXEC would abort, and Spin reports success.
                redis::cmd("UNWATCH").exec(c)?;
                return Ok(true);
            }
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(key)
                .arg(new)
                .ignore()
                .exec(c)?;
            Ok(true)
        })
    }
}
