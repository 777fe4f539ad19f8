//! Spin's default key-value store: SQLite, as `crates/key-value-spin/src/store.rs` keeps it.
//!
//! One table `spin_key_value(store, key, value)` keyed by `(store, key)`, one connection behind a
//! lock, the same statements: a file written here is read by `spin up` and back. A store with no
//! path (`type = "spin"` without `path`, or no state directory) is the same database in memory.
//!
//! Observed with `spin` 4.0.2 and the conformance guest, 8 clients racing:
//! - every write call is its own transaction (SQLite's defaults: rollback journal, full sync);
//!   `set-many` writes all its keys in one transaction;
//! - `increment` keeps an `i64` as 8 little-endian bytes, in one transaction under the lock:
//!   800 racing increments gave 800 distinct results. On a value that is not such a counter,
//!   Spin panics holding the lock and poisons the store (see `lock`);
//! - compare-and-swap compares with the value `current` saw (`UPDATE .. WHERE value = old`): a
//!   real conditional write (400 racing compare-and-swap increments: 400 kept, 75 conflicts).
//!   From an absent key (or without `current`) it is an upsert, not a create-if-absent: 100 keys
//!   each created by 8 racing clients reported 103 "created";
//! - `get-many` answers only the keys found, in the table's key order (`c,zz,a,b` gave `a,b,c`).
//!
//! Unlike Spin, the connection waits up to [`BUSY_TIMEOUT`] for another process's lock, so that
//! `spin up` and the host can share a file.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, named_params, params};

use super::lock::StoreLock;
use super::{Backend, BackendError, BackendResult, Cas};

/// How long a call waits for another process holding the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
                           store TEXT NOT NULL,
                           key   TEXT NOT NULL,
                           value BLOB NOT NULL,

                           PRIMARY KEY (store, key)
                        )";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT(store, key) DO UPDATE SET value=$3";

pub(crate) struct SqliteBackend {
    conn: StoreLock<Connection>,
}

fn sql_err(e: rusqlite::Error) -> BackendError {
    BackendError::Store(e.to_string())
}

/// A list of keys as a parameter for `rarray(..)`, as Spin binds it.
fn key_array(keys: &[String]) -> Rc<Vec<Value>> {
    Rc::new(keys.iter().cloned().map(Value::from).collect())
}

impl SqliteBackend {
    /// The store in the file at `path` (created with its directory if missing).
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open key-value database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Self::with(conn)
            .with_context(|| format!("cannot initialise key-value database {}", path.display()))
    }

    /// A temporary store in memory.
    pub(crate) fn in_memory() -> anyhow::Result<Self> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> anyhow::Result<Self> {
        conn.execute(CREATE, [])?;
        rusqlite::vtab::array::load_module(&conn)?;
        Ok(Self {
            conn: StoreLock::new(conn),
        })
    }
}

fn select(conn: &Connection, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>> {
    conn.prepare_cached(SELECT)
        .and_then(|mut s| s.query_row([store, key], |r| r.get(0)).optional())
        .map_err(sql_err)
}

impl Backend for SqliteBackend {
    fn get(&self, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>> {
        select(&*self.conn.lock()?, store, key)
    }

    fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> BackendResult<Vec<(String, Option<Vec<u8>>)>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, value FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)",
            )
            .map_err(sql_err)?;
        stmt.query_map(
            named_params! {":name": store, ":keys": key_array(keys)},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .and_then(|rows| rows.collect())
        .map_err(sql_err)
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()> {
        let mut conn = self.conn.lock()?;
        let tx = conn.transaction().map_err(sql_err)?;
        for (k, v) in entries {
            tx.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![store, k, v]))
                .map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> BackendResult<()> {
        self.conn
            .lock()?
            .prepare_cached("DELETE FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)")
            .and_then(|mut s| s.execute(named_params! {":name": store, ":keys": key_array(keys)}))
            .map(drop)
            .map_err(sql_err)
    }

    fn keys(&self, store: &str) -> BackendResult<Vec<String>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
            .map_err(sql_err)?;
        stmt.query_map([store], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(sql_err)
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> BackendResult<i64> {
        let mut conn = self.conn.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let current = match select(&tx, store, key)? {
            None => 0,
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(bytes) => i64::from_le_bytes(bytes),
                Err(_) => {
                    drop(tx);
                    drop(conn);
                    return Err(self.conn.poison(format!(
                        "increment of key {key:?} in store {store:?}: its value ({} bytes) is \
                         not an 8-byte little-endian counter",
                        v.len()
                    )));
                }
            },
        };
        // Spin adds without an overflow check, in a release build: it wraps.
        let new = current.wrapping_add(delta);
        tx.prepare_cached(UPSERT)
            .and_then(|mut s| s.execute(params![store, key, new.to_le_bytes()]))
            .map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
        Ok(new)
    }

    fn new_cas(&self, store: &str, key: &str) -> BackendResult<Box<dyn Cas>> {
        Ok(Box::new(SqliteCas {
            conn: self.conn.clone(),
            store: store.to_owned(),
            key: key.to_owned(),
            seen: None,
        }))
    }
}

/// Spin's `CompareAndSwap`: remembers what `current` read, and swaps only from that value.
struct SqliteCas {
    conn: StoreLock<Connection>,
    store: String,
    key: String,
    seen: Option<Vec<u8>>,
}

impl Cas for SqliteCas {
    fn current(&mut self) -> BackendResult<Option<Vec<u8>>> {
        let value = select(&*self.conn.lock()?, &self.store, &self.key)?;
        self.seen.clone_from(&value);
        Ok(value)
    }

    fn swap(&mut self, value: &[u8]) -> BackendResult<bool> {
        let mut conn = self.conn.lock()?;
        let changed = match &self.seen {
            Some(old) => conn
                .prepare_cached(
                    "UPDATE spin_key_value SET value=:new WHERE store=:name AND key=:key AND value=:old",
                )
                .and_then(|mut s| {
                    s.execute(named_params! {
                        ":name": self.store, ":key": self.key, ":old": old, ":new": value,
                    })
                })
                .map_err(sql_err)?,
            None => {
                let tx = conn.transaction().map_err(sql_err)?;
                let rows = tx
                    .prepare_cached(UPSERT)
                    .and_then(|mut s| s.execute(params![self.store, self.key, value]))
                    .map_err(sql_err)?;
                tx.commit().map_err(sql_err)?;
                rows
            }
        };
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> Vec<(SqliteBackend, Option<std::path::PathBuf>)> {
        let dir = std::env::temp_dir().join(format!(
            "spin-test-host-sqlite-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let file = SqliteBackend::open(&dir.join(".spin/sqlite_key_value.db")).unwrap();
        vec![
            (SqliteBackend::in_memory().unwrap(), None),
            (file, Some(dir)),
        ]
    }

    fn cleanup(dir: Option<std::path::PathBuf>) {
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn stores_are_separate_and_counters_are_little_endian() {
        for (b, dir) in stores() {
            b.set_many("a", &[("k".into(), b"1".to_vec())]).unwrap();
            assert_eq!(b.get("b", "k").unwrap(), None);
            assert_eq!(b.increment("a", "n", 5).unwrap(), 5);
            assert_eq!(b.increment("a", "n", -2).unwrap(), 3);
            assert_eq!(b.get("a", "n").unwrap(), Some(3i64.to_le_bytes().to_vec()));
            assert_eq!(b.increment("a", "max", i64::MAX).unwrap(), i64::MAX);
            assert_eq!(
                b.increment("a", "max", 1).unwrap(),
                i64::MIN,
                "wraps, as Spin"
            );
            let mut keys = b.keys("a").unwrap();
            keys.sort();
            assert_eq!(keys, ["k", "max", "n"]);
            cleanup(dir);
        }
    }

    #[test]
    fn increment_on_a_non_counter_poisons_the_store() {
        for (b, dir) in stores() {
            b.set_many("a", &[("text".into(), b"hello".to_vec())])
                .unwrap();
            let cas = b.new_cas("a", "text");
            match b.increment("a", "text", 1) {
                Err(BackendError::Trap(m)) => assert!(m.contains("\"text\""), "{m}"),
                other => panic!("{other:?}"),
            }
            // Every later call, on any key or store label, and open compare-and-swaps too.
            assert!(matches!(b.get("b", "other"), Err(BackendError::Trap(_))));
            assert!(matches!(b.keys("a"), Err(BackendError::Trap(_))));
            assert!(matches!(cas.unwrap().current(), Err(BackendError::Trap(_))));
            cleanup(dir);
        }
    }

    #[test]
    fn get_many_answers_the_keys_found_in_key_order() {
        for (b, dir) in stores() {
            let v = |s: &str| Some(s.as_bytes().to_vec());
            b.set_many(
                "s",
                &[
                    ("b".into(), b"2".to_vec()),
                    ("a".into(), b"1".to_vec()),
                    ("c".into(), b"3".to_vec()),
                ],
            )
            .unwrap();
            let keys = ["c", "zz", "a", "b"].map(String::from);
            assert_eq!(
                b.get_many("s", &keys).unwrap(),
                [
                    ("a".into(), v("1")),
                    ("b".into(), v("2")),
                    ("c".into(), v("3"))
                ]
            );
            assert_eq!(b.get_many("other", &keys).unwrap(), []);
            b.delete_many("s", &["a".into(), "c".into(), "zz".into()])
                .unwrap();
            assert_eq!(b.keys("s").unwrap(), ["b"]);
            cleanup(dir);
        }
    }

    #[test]
    fn swap_compares_with_what_current_saw_and_upserts_from_absent() {
        for (b, dir) in stores() {
            // From absent: an upsert, even when the key appeared in between.
            let mut create = b.new_cas("s", "k").unwrap();
            assert_eq!(create.current().unwrap(), None);
            b.set_many("s", &[("k".into(), b"theirs".to_vec())])
                .unwrap();
            assert!(create.swap(b"mine").unwrap());
            assert_eq!(b.get("s", "k").unwrap().as_deref(), Some(&b"mine"[..]));

            // From a value: conditional.
            let mut stale = b.new_cas("s", "k").unwrap();
            let mut fresh = b.new_cas("s", "k").unwrap();
            assert_eq!(stale.current().unwrap().as_deref(), Some(&b"mine"[..]));
            assert_eq!(fresh.current().unwrap().as_deref(), Some(&b"mine"[..]));
            assert!(fresh.swap(b"v2").unwrap());
            assert!(!stale.swap(b"v3").unwrap());
            assert_eq!(b.get("s", "k").unwrap().as_deref(), Some(&b"v2"[..]));
            cleanup(dir);
        }
    }

    #[test]
    fn concurrent_increments_lose_nothing() {
        for (b, dir) in stores() {
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        for _ in 0..50 {
                            b.increment("c", "n", 1).unwrap();
                        }
                    });
                }
            });
            assert_eq!(b.increment("c", "n", 0).unwrap(), 400);
            cleanup(dir);
        }
    }
}
