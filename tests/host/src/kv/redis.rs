//! The Redis key-value backend (`[key_value_store.<label>] type = "redis"`, `url`).
//!
//! Follows Spin's `crates/key-value-redis/src/store.rs` command for command, faults included,
//! because those faults are what an app deployed on Redis meets. Observed with `spin` 4.0.2 and
//! the conformance guest against a local `redis-server`:
//!
//! - labels do not namespace keys: every store on one Redis server shares one key space (the
//!   label is ignored), so apps prefix their keys; `get-keys` is `KEYS *`;
//! - `increment` is `INCRBY`, atomic on the server (800 racing increments, 800 distinct
//!   results), the counter kept as decimal text; on a non-integer value it is an error ("value
//!   is not an integer or out of range"), nothing worse;
//! - `set-many` is one `MSET`;
//! - `get-many` sends `KEYS` with the requested keys as arguments and reads the reply as
//!   key-value pairs. With several keys Redis refuses ("wrong number of arguments for 'keys'
//!   command"). With one key, that key is a glob pattern: no match gives an empty answer; an
//!   even number of matching key names comes back paired as `(name, Some(next name))` (keys
//!   `x1`, `x2` and `get-many ["x*"]` gave `x2=x1`); an odd number makes Spin's host panic (the
//!   request fails with a 500), which the host turns into a trap;
//! - compare-and-swap opens a connection of its own; `current` is `WATCH` then `GET`; `swap`
//!   is `MULTI SET EXEC`, conditional on the watched key (100 keys each created by 8 racing
//!   clients: exactly 100 values written), followed by `UNWATCH <key>`, which Redis refuses
//!   (`UNWATCH` takes no argument), so `swap` reports `cas-failed` every time, even when it
//!   wrote. Spin then opens a fresh compare-and-swap and runs its `current` (a new `WATCH`)
//!   before handing it back. A guest that retries on `cas-failed` loops for ever, writing on
//!   each turn (two clients of the guest's `cas-incr` pushed a counter past 11,000).
//!
//! Two host processes (or two apps in one process) given the same `url` share state exactly as
//! two Spin replicas on one Redis do: only through the server. Calls are synchronous (the host
//! runs them off the instance's task); connections are pooled so that concurrent instances do
//! not wait on one socket.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;

use super::{Backend, BackendError, BackendResult, Cas};

/// How long a connection attempt or a reply may take before the call fails.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct RedisBackend {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

fn redis_err(e: redis::RedisError) -> BackendError {
    BackendError::Store(e.to_string())
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
            .map_err(anyhow::Error::from)
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

    fn get_many(
        &self,
        _store: &str,
        keys: &[String],
    ) -> BackendResult<Vec<(String, Option<Vec<u8>>)>> {
        let names: Vec<String> = self.with(|c| redis::cmd("KEYS").arg(keys).query(c))?;
        if names.len() % 2 == 1 {
            return Err(BackendError::Trap(format!(
                "get-many {keys:?} on Redis: Spin 4.0.2 sends KEYS with the requested keys and \
                 reads the key names it answers ({names:?}) as key-value pairs; with an odd \
                 number of names its host panics and the request fails with a 500"
            )));
        }
        Ok(names
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), Some(pair[1].clone().into_bytes())))
            .collect())
    }

    fn set_many(&self, _store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()> {
        // `MSET` and `DEL` need a key; Spin never sends an empty batch (nor does the host).
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

    fn new_cas(&self, _store: &str, key: &str) -> BackendResult<Box<dyn Cas>> {
        Ok(Box::new(RedisCas {
            conn: self.connect()?,
            key: key.to_owned(),
        }))
    }
}

/// Spin's `CompareAndSwap` on Redis: a connection of its own, so that `WATCH` is its own.
struct RedisCas {
    conn: redis::Connection,
    key: String,
}

impl Cas for RedisCas {
    fn current(&mut self) -> BackendResult<Option<Vec<u8>>> {
        redis::cmd("WATCH")
            .arg(&self.key)
            .exec(&mut self.conn)
            .map_err(redis_err)?;
        redis::cmd("GET")
            .arg(&self.key)
            .query(&mut self.conn)
            .map_err(redis_err)
    }

    fn swap(&mut self, value: &[u8]) -> BackendResult<bool> {
        // Spin's order: the transaction (aborted by Redis if the watched key changed), then
        // `UNWATCH <key>`, then success only if both succeeded.
        let written: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&self.key)
            .arg(value)
            .ignore()
            .exec(&mut self.conn);
        // Refused by Redis (`UNWATCH` takes no argument): every swap reports `cas-failed`.
        let unwatched: redis::RedisResult<()> =
            redis::cmd("UNWATCH").arg(&self.key).exec(&mut self.conn);
        Ok(unwatched.is_ok() && written.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisServer;

    fn backend() -> Option<(RedisServer, RedisBackend)> {
        let server = RedisServer::start()?;
        let backend = RedisBackend::open(&server.url()).unwrap();
        Some((server, backend))
    }

    fn seed(b: &RedisBackend, keys: &[&str]) {
        let entries: Vec<_> = keys
            .iter()
            .map(|k| (k.to_string(), b"v".to_vec()))
            .collect();
        b.set_many("any label", &entries).unwrap();
    }

    #[test]
    fn get_many_reads_keys_answer_as_pairs_as_spin_does() {
        let Some((_server, b)) = backend() else {
            return;
        };
        seed(&b, &["x1", "x2", "y1", "y2", "y3"]);
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        match b.get_many("s", &keys(&["x1", "y1"])) {
            Err(BackendError::Store(m)) => assert!(m.contains("wrong number of arguments"), "{m}"),
            other => panic!("several keys: {other:?}"),
        }
        assert_eq!(b.get_many("s", &keys(&["absent"])).unwrap(), []);
        // One key is a pattern; two names make one "pair".
        let pairs = b.get_many("s", &keys(&["x*"])).unwrap();
        assert_eq!(pairs.len(), 1);
        let (k, v) = &pairs[0];
        let mut names = [k.clone(), String::from_utf8(v.clone().unwrap()).unwrap()];
        names.sort();
        assert_eq!(names, ["x1", "x2"]);
        // One name (or three): Spin's host panics.
        for pattern in ["x1", "y*"] {
            match b.get_many("s", &keys(&[pattern])) {
                Err(BackendError::Trap(m)) => assert!(m.contains("500"), "{m}"),
                other => panic!("{pattern}: {other:?}"),
            }
        }
    }

    #[test]
    fn swap_writes_only_if_the_watched_key_is_unchanged_and_always_reports_failure() {
        let Some((_server, b)) = backend() else {
            return;
        };
        // Watched and unchanged: written, yet refused.
        let mut cas = b.new_cas("s", "k").unwrap();
        assert_eq!(cas.current().unwrap(), None);
        assert!(!cas.swap(b"first").unwrap());
        assert_eq!(b.get("s", "k").unwrap().as_deref(), Some(&b"first"[..]));

        // Watched and changed in between (even to the same value): not written.
        let mut stale = b.new_cas("s", "k").unwrap();
        assert_eq!(stale.current().unwrap().as_deref(), Some(&b"first"[..]));
        b.set_many("s", &[("k".into(), b"first".to_vec())]).unwrap();
        assert!(!stale.swap(b"second").unwrap());
        assert_eq!(b.get("s", "k").unwrap().as_deref(), Some(&b"first"[..]));

        // Not watched (no `current`): a plain write, refused all the same.
        let mut blind = b.new_cas("s", "k").unwrap();
        assert!(!blind.swap(b"third").unwrap());
        assert_eq!(b.get("s", "k").unwrap().as_deref(), Some(&b"third"[..]));
    }

    #[test]
    fn increment_is_decimal_text_and_refuses_other_values() {
        let Some((_server, b)) = backend() else {
            return;
        };
        assert_eq!(b.increment("s", "n", 5).unwrap(), 5);
        assert_eq!(b.get("s", "n").unwrap().as_deref(), Some(&b"5"[..]));
        seed(&b, &["text"]);
        match b.increment("s", "text", 1) {
            Err(BackendError::Store(m)) => assert!(m.contains("not an integer"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.increment("s", "n", 1).unwrap(), 6, "nothing is poisoned");
    }
}
