//! Key-value stores: `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`.
//!
//! - `host`: the interfaces, as Spin's `crates/factor-key-value/src/host.rs` serves them. Every
//!   call blocks inside `block_in_place`, as Spin's do, on the multi-threaded app runtime, so
//!   concurrent instances interleave between any two key-value calls of one another: a
//!   read-then-write in a component is no more atomic here than in production.
//! - `sqlite`: Spin's default store (`crates/key-value-spin`), on a file or in memory;
//! - `redis`: Spin's Redis store (`crates/key-value-redis`), its faults included.
//!
//! What each backend does was checked against the `spin` 4.0.2 binary with the conformance guest
//! (tests/guests/conformance), where it differs from what the source or the WIT suggests; each
//! backend's module says what was observed.
//!
//! Tests reach a store through [`KvHandle`]: they seed and inspect it (without being counted),
//! and read how many calls components made on it, by kind, to assert read and write budgets.

mod host;
mod lock;
mod redis;
mod sqlite;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use host::KvCtx;
pub(crate) use redis::RedisBackend;
pub(crate) use sqlite::SqliteBackend;

/// Why a backend call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BackendError {
    /// An error the guest receives (`error::other` in both interfaces).
    #[error("{0}")]
    Store(String),
    /// A call Spin's host does not survive (it panics there, failing the request): the guest
    /// traps with this message instead of receiving an error.
    #[error("{0}")]
    Trap(String),
}

pub(crate) type BackendResult<T> = Result<T, BackendError>;

/// Storage shared by every instance of an app. Calls block (`host` runs them as Spin does).
pub(crate) trait Backend: Send + Sync {
    fn get(&self, store: &str, key: &str) -> BackendResult<Option<Vec<u8>>>;
    /// `(key, value)` for the keys found, in the backend's own order.
    fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> BackendResult<Vec<(String, Option<Vec<u8>>)>>;
    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> BackendResult<()>;
    fn delete_many(&self, store: &str, keys: &[String]) -> BackendResult<()>;
    fn keys(&self, store: &str) -> BackendResult<Vec<String>>;
    fn increment(&self, store: &str, key: &str, delta: i64) -> BackendResult<i64>;
    /// A compare-and-swap on `key`, as `wasi:keyvalue/atomics` `cas.new` makes one.
    fn new_cas(&self, store: &str, key: &str) -> BackendResult<Box<dyn Cas>>;
}

/// One compare-and-swap in progress: the backend's state between `current` and `swap`.
pub(crate) trait Cas: Send {
    /// The key's value now (and what `swap` will compare against, where the backend compares).
    fn current(&mut self) -> BackendResult<Option<Vec<u8>>>;
    /// Writes `value` if the backend agrees: `Ok(false)` is `cas-failed`.
    fn swap(&mut self, value: &[u8]) -> BackendResult<bool>;
}

/// The kinds of calls components make on a store, as tests count them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CallKind {
    /// `get`, `exists`, `get-many`, a compare-and-swap's `current`.
    Read,
    /// `set`, `delete`, `set-many`, `delete-many`, `increment`, a compare-and-swap's `swap`.
    Write,
    /// `get-keys` / `list-keys`: every key of the store.
    Listing,
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    listings: AtomicU64,
}

impl Counters {
    fn count(&self, kind: CallKind) {
        let counter = match kind {
            CallKind::Read => &self.reads,
            CallKind::Write => &self.writes,
            CallKind::Listing => &self.listings,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One labelled store of an app.
#[derive(Clone)]
pub(crate) struct Store {
    label: String,
    backend: Arc<dyn Backend>,
    /// The calls components made on this label (never the test's own, through [`KvHandle`]).
    counters: Arc<Counters>,
}

impl Store {
    pub(crate) fn new(label: &str, backend: Arc<dyn Backend>) -> Self {
        Self {
            label: label.to_owned(),
            backend,
            counters: Arc::default(),
        }
    }

    /// One call of a component: counted, then run as Spin runs it (see `host`).
    fn call<T>(
        &self,
        kind: CallKind,
        op: impl FnOnce(&dyn Backend, &str) -> BackendResult<T>,
    ) -> BackendResult<T> {
        self.counters.count(kind);
        host::blocking(|| op(&*self.backend, &self.label))
    }
}

/// Seeds and inspects a store from tests (synchronous; panics on storage errors), and reads
/// how many calls components made on it. The test's own calls here are not counted.
#[derive(Clone)]
pub struct KvHandle {
    store: Store,
}

impl KvHandle {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    fn backend(&self) -> (&dyn Backend, &str) {
        (&*self.store.backend, &self.store.label)
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let (backend, label) = self.backend();
        backend.get(label, key).expect("key-value get")
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) {
        self.set_many(&[(key.to_owned(), value.to_vec())]);
    }

    /// Sets every `(key, value)` of `entries` in one write (one transaction on SQLite): how
    /// benchmarks seed a large store quickly, in the layout the components read.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) {
        let (backend, label) = self.backend();
        backend
            .set_many(label, entries)
            .expect("key-value set_many")
    }

    /// Deletes `key` (no error when absent).
    pub fn delete(&self, key: &str) {
        let (backend, label) = self.backend();
        backend
            .delete_many(label, &[key.to_owned()])
            .expect("key-value delete")
    }

    /// Every key in the store, sorted.
    pub fn keys(&self) -> Vec<String> {
        let (backend, label) = self.backend();
        let mut keys = backend.keys(label).expect("key-value keys");
        keys.sort();
        keys
    }

    /// How many times components have listed every key of this store (`get-keys` or
    /// `list-keys`): what a test reads to show a request scanned nothing.
    pub fn listings(&self) -> u64 {
        self.store.counters.listings.load(Ordering::Relaxed)
    }

    /// How many write calls components have made on this store, through either interface:
    /// `set`, `delete`, `set-many`, `delete-many`, `increment` and a compare-and-swap's `swap`,
    /// each one call whatever its number of keys (batch calls with no keys do not reach the
    /// store and are not counted). What a test reads, before and after a request, to assert a
    /// write budget.
    pub fn writes(&self) -> u64 {
        self.store.counters.writes.load(Ordering::Relaxed)
    }

    /// How many point reads components have made on this store: `get`, `exists`, `get-many`
    /// (one per call) and a compare-and-swap's `current` (listings are counted apart).
    pub fn reads(&self) -> u64 {
        self.store.counters.reads.load(Ordering::Relaxed)
    }
}

/// Stores opened from outside a running app: a `spin up` run's, inspected by tests.
impl KvHandle {
    /// The store `label` of the SQLite file at `path`, in Spin's layout. Safe while another
    /// process (`spin up`) writes it: SQLite locks the file, and a busy timeout waits for it.
    pub fn open_sqlite(path: &std::path::Path, label: &str) -> anyhow::Result<Self> {
        let backend: Arc<dyn Backend> = Arc::new(SqliteBackend::open(path)?);
        Ok(Self::new(Store::new(label, backend)))
    }

    /// The store `label` on the Redis server at `url` (where every label shares one key space).
    pub fn open_redis(url: &str, label: &str) -> anyhow::Result<Self> {
        let backend: Arc<dyn Backend> = Arc::new(RedisBackend::open(url)?);
        Ok(Self::new(Store::new(label, backend)))
    }
}
