//! Key-value stores: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`.
//!
//! Semantics follow Spin's `crates/factor-key-value/src/host.rs`: a component may open only the
//! labels listed in its `key_value_stores` (others fail with `access-denied`); both interfaces
//! share one table of open stores; `list-keys` has no cursor support; batch calls with no keys do
//! nothing. Storage follows `crates/key-value-spin/src/store.rs`: one SQLite table
//! `spin_key_value(store, key, value)` keyed by `(store, key)`, so a file written here is read by
//! `spin up` and back; `increment` keeps an `i64` as 8 little-endian bytes and runs in one
//! transaction under the connection lock, so concurrent increments never lose an update. A
//! compare-and-swap on a key that did not exist is an upsert, as on Spin's SQLite store. The
//! in-memory backend has the same semantics, for tests.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value as spin_kv;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// Spin's limit on open stores per instance.
const STORE_TABLE_CAPACITY: usize = 256;

pub(crate) type BackendResult<T> = Result<T, String>;

/// Storage shared by every instance of an app.
pub(crate) trait Backend: Send + Sync {
    fn get(&self, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>>;
    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()>;
    fn delete_many(&self, store: &str, keys: &[String]) -> BackendResult<()>;
    fn keys(&self, store: &str) -> BackendResult<Vec<String>>;
    fn increment(&self, store: &str, key: &str, delta: i64) -> BackendResult<i64>;
    /// Writes `new` if the value is still `expected`; `expected == None` upserts.
    fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> BackendResult<bool>;
}

fn decode_counter(value: Option<Vec<u8>>) -> BackendResult<i64> {
    match value {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(i64::from_le_bytes)
            .map_err(|_| "value is not an 8-byte little-endian counter".to_string()),
    }
}

/// Spin's SQLite store.
pub(crate) struct SqliteBackend {
    conn: Mutex<Connection>,
}

fn sql_err(e: rusqlite::Error) -> String {
    e.to_string()
}

impl SqliteBackend {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open key-value database {}", path.display()))?;
        // Another process (e.g. `spin up` on the same file) may hold the lock briefly.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                           store TEXT NOT NULL,
                           key   TEXT NOT NULL,
                           value BLOB NOT NULL,

                           PRIMARY KEY (store, key)
                        )",
            [],
        )
        .with_context(|| format!("cannot initialise key-value database {}", path.display()))?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT(store, key) DO UPDATE SET value=$3";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2";

impl Backend for SqliteBackend {
    fn get(&self, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>> {
        self.conn()
            .prepare_cached(SELECT)
            .and_then(|mut s| s.query_row([store, key], |r| r.get(0)).optional())
            .map_err(sql_err)
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql_err)?;
        for (k, v) in entries {
            tx.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![store, k, v]))
                .map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> BackendResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql_err)?;
        for k in keys {
            tx.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                .and_then(|mut s| s.execute([store, k]))
                .map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)
    }

    fn keys(&self, store: &str) -> BackendResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
            .map_err(sql_err)?;
        stmt.query_map([store], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(sql_err)
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> BackendResult<i64> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let current: Option<Vec<u8>> = tx
            .prepare_cached(SELECT)
            .and_then(|mut s| s.query_row([store, key], |r| r.get(0)).optional())
            .map_err(sql_err)?;
        let new = decode_counter(current)?
            .checked_add(delta)
            .ok_or("counter overflow")?;
        tx.prepare_cached(UPSERT)
            .and_then(|mut s| s.execute(params![store, key, new.to_le_bytes()]))
            .map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
        Ok(new)
    }

    fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> BackendResult<bool> {
        let conn = self.conn();
        let changed = match expected {
            Some(old) => conn
                .prepare_cached(
                    "UPDATE spin_key_value SET value=?4 WHERE store=?1 AND key=?2 AND value=?3",
                )
                .and_then(|mut s| s.execute(params![store, key, old, new])),
            None => conn
                .prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![store, key, new])),
        }
        .map_err(sql_err)?;
        Ok(changed == 1)
    }
}

/// A temporary store in memory.
#[derive(Default)]
pub(crate) struct MemoryBackend {
    stores: Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryBackend {
    fn with<T>(&self, store: &str, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T) -> T {
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        f(stores.entry(store.to_owned()).or_default())
    }
}

impl Backend for MemoryBackend {
    fn get(&self, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>> {
        Ok(self.with(store, |m| m.get(key).cloned()))
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()> {
        self.with(store, |m| {
            m.extend(entries.iter().cloned());
        });
        Ok(())
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> BackendResult<()> {
        self.with(store, |m| keys.iter().for_each(|k| drop(m.remove(k))));
        Ok(())
    }

    fn keys(&self, store: &str) -> BackendResult<Vec<String>> {
        Ok(self.with(store, |m| m.keys().cloned().collect()))
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> BackendResult<i64> {
        self.with(store, |m| {
            let new = decode_counter(m.get(key).cloned())?
                .checked_add(delta)
                .ok_or("counter overflow")?;
            m.insert(key.to_owned(), new.to_le_bytes().to_vec());
            Ok(new)
        })
    }

    fn swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> BackendResult<bool> {
        self.with(store, |m| {
            let ok = expected.is_none_or(|old| m.get(key).map(Vec::as_slice) == Some(old));
            if ok {
                m.insert(key.to_owned(), new.to_vec());
            }
            Ok(ok)
        })
    }
}

/// One labelled store of an app.
#[derive(Clone)]
pub(crate) struct Store {
    label: String,
    backend: Arc<dyn Backend>,
    /// How often components listed every key (the only listing Spin offers): tests count the
    /// full scans a request makes.
    listings: Arc<AtomicU64>,
}

impl Store {
    pub(crate) fn new(label: &str, backend: Arc<dyn Backend>) -> Self {
        Self {
            label: label.to_owned(),
            backend,
            listings: Arc::default(),
        }
    }

    /// Every key, for a component (`get-keys`, `list-keys`), counted.
    fn list(&self) -> BackendResult<Vec<String>> {
        self.listings.fetch_add(1, Ordering::Relaxed);
        self.backend.keys(&self.label)
    }
}

/// Seeds and inspects a store from tests (synchronous; panics on storage errors).
#[derive(Clone)]
pub struct KvHandle {
    store: Store,
}

impl KvHandle {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.store
            .backend
            .get(&self.store.label, key)
            .expect("key-value get")
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) {
        self.store
            .backend
            .set_many(&self.store.label, &[(key.to_owned(), value.to_vec())])
            .expect("key-value set")
    }

    /// Sets every `(key, value)` of `entries` in one write (one transaction on SQLite): how
    /// benchmarks seed a large store quickly, in the layout the components read.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) {
        self.store
            .backend
            .set_many(&self.store.label, entries)
            .expect("key-value set_many")
    }

    /// Deletes `key` (no error when absent).
    pub fn delete(&self, key: &str) {
        self.store
            .backend
            .delete_many(&self.store.label, &[key.to_owned()])
            .expect("key-value delete")
    }

    /// How many times components have listed every key of this store (`get-keys` or
    /// `list-keys`): what a test reads to show a request scanned nothing.
    pub fn listings(&self) -> u64 {
        self.store.listings.load(Ordering::Relaxed)
    }

    /// Every key in the store, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = self
            .store
            .backend
            .keys(&self.store.label)
            .expect("key-value keys");
        keys.sort();
        keys
    }
}

/// Per-instance key-value state: what the component may open, and what it has open.
pub(crate) struct KvCtx {
    allowed: HashMap<String, Store>,
    open: Vec<Option<Store>>,
    cas: Vec<Option<Cas>>,
}

struct Cas {
    bucket: u32,
    key: String,
    seen: Option<Vec<u8>>,
}

enum OpenError {
    AccessDenied,
    TableFull,
}

impl KvCtx {
    pub(crate) fn new(allowed: HashMap<String, Store>) -> Self {
        Self {
            allowed,
            open: Vec::new(),
            cas: Vec::new(),
        }
    }

    fn open_label(&mut self, label: &str) -> Result<u32, OpenError> {
        let store = self
            .allowed
            .get(label)
            .cloned()
            .ok_or(OpenError::AccessDenied)?;
        push(&mut self.open, store).ok_or(OpenError::TableFull)
    }

    fn store(&self, rep: u32) -> wasmtime::Result<&Store> {
        self.open
            .get(rep as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| wasmtime::Error::msg("invalid store"))
    }
}

/// Puts `item` in the first free slot; `None` when the table is full.
fn push<T>(table: &mut Vec<Option<T>>, item: T) -> Option<u32> {
    let slot = match table.iter().position(Option::is_none) {
        Some(i) => i,
        None if table.len() < STORE_TABLE_CAPACITY => {
            table.push(None);
            table.len() - 1
        }
        None => return None,
    };
    table[slot] = Some(item);
    u32::try_from(slot).ok()
}

// ---- fermyon:spin/key-value@2.0.0 ----

impl spin_kv::Host for KvCtx {}

impl spin_kv::HostStore for KvCtx {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<spin_kv::Store>, spin_kv::Error>> {
        Ok(match self.open_label(&label) {
            Ok(rep) => Ok(Resource::new_own(rep)),
            Err(OpenError::AccessDenied) => Err(spin_kv::Error::AccessDenied),
            Err(OpenError::TableFull) => Err(spin_kv::Error::StoreTableFull),
        })
    }

    async fn get(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let s = self.store(store.rep())?;
        Ok(s.backend.get(&s.label, &key).map_err(spin_kv::Error::Other))
    }

    async fn set(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let s = self.store(store.rep())?;
        Ok(s.backend
            .set_many(&s.label, &[(key, value)])
            .map_err(spin_kv::Error::Other))
    }

    async fn delete(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let s = self.store(store.rep())?;
        Ok(s.backend
            .delete_many(&s.label, &[key])
            .map_err(spin_kv::Error::Other))
    }

    async fn exists(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let s = self.store(store.rep())?;
        Ok(s.backend
            .get(&s.label, &key)
            .map(|v| v.is_some())
            .map_err(spin_kv::Error::Other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<spin_kv::Store>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let s = self.store(store.rep())?;
        Ok(s.list().map_err(spin_kv::Error::Other))
    }

    async fn drop(&mut self, store: Resource<spin_kv::Store>) -> wasmtime::Result<()> {
        if let Some(slot) = self.open.get_mut(store.rep() as usize) {
            *slot = None;
        }
        Ok(())
    }
}

// ---- wasi:keyvalue@0.2.0-draft2 ----

impl KvCtx {
    fn bucket(&self, rep: u32) -> Result<&Store, wasi_kv::Error> {
        self.open
            .get(rep as usize)
            .and_then(Option::as_ref)
            .ok_or(wasi_kv::Error::NoSuchStore)
    }
}

impl wasi_kv::Host for KvCtx {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<wasi_kv::Bucket>, wasi_kv::Error>> {
        Ok(match self.open_label(&identifier) {
            Ok(rep) => Ok(Resource::new_own(rep)),
            Err(OpenError::AccessDenied) => Err(wasi_kv::Error::AccessDenied),
            Err(OpenError::TableFull) => Err(wasi_kv::Error::Other("store table full".into())),
        })
    }
}

impl wasi_kv::HostBucket for KvCtx {
    async fn get(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(self
            .bucket(bucket.rep())
            .and_then(|s| s.backend.get(&s.label, &key).map_err(wasi_kv::Error::Other)))
    }

    async fn set(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            s.backend
                .set_many(&s.label, &[(key, value)])
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn delete(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            s.backend
                .delete_many(&s.label, &[key])
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn exists(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            s.backend
                .get(&s.label, &key)
                .map(|v| v.is_some())
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_kv::Error::Other(
                "list_keys: cursor not supported".into(),
            )));
        }
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            s.list()
                .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn drop(&mut self, bucket: Resource<wasi_kv::Bucket>) -> wasmtime::Result<()> {
        if let Some(slot) = self.open.get_mut(bucket.rep() as usize) {
            *slot = None;
        }
        Ok(())
    }
}

impl batch::Host for KvCtx {
    async fn get_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            // Like Spin's SQLite store: only keys that exist are returned.
            let mut out = Vec::new();
            for k in keys {
                if let Some(v) = s.backend.get(&s.label, &k).map_err(wasi_kv::Error::Other)? {
                    out.push((k, Some(v)));
                }
            }
            Ok(out)
        }))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            if key_values.is_empty() {
                return Ok(());
            }
            s.backend
                .set_many(&s.label, &key_values)
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            if keys.is_empty() {
                return Ok(());
            }
            s.backend
                .delete_many(&s.label, &keys)
                .map_err(wasi_kv::Error::Other)
        }))
    }
}

impl atomics::Host for KvCtx {
    async fn increment(
        &mut self,
        bucket: Resource<atomics::Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        Ok(self.bucket(bucket.rep()).and_then(|s| {
            s.backend
                .increment(&s.label, &key, delta)
                .map_err(wasi_kv::Error::Other)
        }))
    }

    async fn swap(
        &mut self,
        cas: Resource<atomics::Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Some(c) = self.cas.get_mut(cas.rep() as usize).and_then(Option::take) else {
            return Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(
                "compare and swap not found".into(),
            ))));
        };
        let store = match self.bucket(c.bucket) {
            Ok(s) => s.clone(),
            Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
        };
        match store
            .backend
            .swap(&store.label, &c.key, c.seen.as_deref(), &value)
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // Like Spin: hand back a fresh CAS holding the current value.
                let seen = match store.backend.get(&store.label, &c.key) {
                    Ok(v) => v,
                    Err(e) => {
                        return Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(e))));
                    }
                };
                let fresh = Cas {
                    bucket: c.bucket,
                    key: c.key,
                    seen,
                };
                match push(&mut self.cas, fresh) {
                    Some(rep) => Ok(Err(atomics::CasError::CasFailed(Resource::new_own(rep)))),
                    None => Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(
                        "too many compare_and_swaps opened".into(),
                    )))),
                }
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(e)))),
        }
    }
}

impl atomics::HostCas for KvCtx {
    async fn new(
        &mut self,
        bucket: Resource<atomics::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<atomics::Cas>, wasi_kv::Error>> {
        let rep = bucket.rep();
        if let Err(e) = self.bucket(rep) {
            return Ok(Err(e));
        }
        let cas = Cas {
            bucket: rep,
            key,
            seen: None,
        };
        Ok(push(&mut self.cas, cas)
            .map(Resource::new_own)
            .ok_or_else(|| wasi_kv::Error::Other("too many compare_and_swaps opened".into())))
    }

    async fn current(
        &mut self,
        cas: Resource<atomics::Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let Some(c) = self.cas.get(cas.rep() as usize).and_then(Option::as_ref) else {
            return Ok(Err(wasi_kv::Error::Other(
                "compare and swap not found".into(),
            )));
        };
        let (bucket, key) = (c.bucket, c.key.clone());
        let value = match self.bucket(bucket) {
            Ok(s) => s.backend.get(&s.label, &key).map_err(wasi_kv::Error::Other),
            Err(e) => Err(e),
        };
        if let (Ok(v), Some(Some(c))) = (&value, self.cas.get_mut(cas.rep() as usize)) {
            c.seen.clone_from(v);
        }
        Ok(value)
    }

    async fn drop(&mut self, cas: Resource<atomics::Cas>) -> wasmtime::Result<()> {
        if let Some(slot) = self.cas.get_mut(cas.rep() as usize) {
            *slot = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> Vec<(Arc<dyn Backend>, tempdir::Dir)> {
        let dir = tempdir::Dir::new();
        let sqlite = SqliteBackend::open(&dir.path().join(".spin/sqlite_key_value.db")).unwrap();
        vec![
            (Arc::new(MemoryBackend::default()), tempdir::Dir::new()),
            (Arc::new(sqlite), dir),
        ]
    }

    mod tempdir {
        /// A throwaway directory removed on drop.
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "spin-test-host-kv-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn stores_are_separate_and_counters_are_little_endian() {
        for (b, _dir) in backends() {
            b.set_many("a", &[("k".into(), b"1".to_vec())]).unwrap();
            assert_eq!(b.get("b", "k").unwrap(), None);
            assert_eq!(b.increment("a", "n", 5).unwrap(), 5);
            assert_eq!(b.increment("a", "n", -2).unwrap(), 3);
            assert_eq!(b.get("a", "n").unwrap(), Some(3i64.to_le_bytes().to_vec()));
            assert!(b.increment("a", "k", 1).is_err());
            let mut keys = b.keys("a").unwrap();
            keys.sort();
            assert_eq!(keys, ["k", "n"]);
        }
    }

    #[test]
    fn swap_checks_the_seen_value_and_upserts_missing_keys() {
        for (b, _dir) in backends() {
            assert!(b.swap("s", "k", None, b"v1").unwrap());
            assert!(!b.swap("s", "k", Some(b"other"), b"v2").unwrap());
            assert!(b.swap("s", "k", Some(b"v1"), b"v2").unwrap());
            assert_eq!(b.get("s", "k").unwrap(), Some(b"v2".to_vec()));
        }
    }

    #[test]
    fn concurrent_increments_lose_nothing() {
        for (b, _dir) in backends() {
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
        }
    }
}
