//! The key-value interfaces as an instance sees them, after Spin's
//! `crates/factor-key-value/src/host.rs`.
//!
//! A component may open only the labels listed in its `key_value_stores` (others fail with
//! `access-denied`); both interfaces share one table of open stores, of [`TABLE_CAPACITY`]
//! slots, and compare-and-swaps have a table of the same size; `list-keys` has no cursor
//! support; batch calls with no keys return at once, without reaching the store. A
//! compare-and-swap whose `swap` fails is replaced by a fresh one, already read (`current`).
//!
//! Every call that reaches the store is counted on its [`Store`] and runs as Spin's do: an
//! `async` host call doing its blocking work inside `tokio::task::block_in_place`
//! ([`blocking`]), which hands the worker's other tasks to another thread for the duration, so
//! that concurrent instances run, and interleave, between any two calls of one another.
//! Backend failures Spin's host does not survive trap the guest.

use std::collections::HashMap;

use wasmtime::component::Resource;

use super::{BackendError, BackendResult, CallKind, Cas, Store};
use crate::bindings::fermyon::spin::key_value as spin_kv;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// Spin's limit on open stores, and on open compare-and-swaps, per instance.
const TABLE_CAPACITY: usize = 256;

/// Runs one blocking backend call as Spin's key-value host does: other instances carry on on
/// the runtime's other threads meanwhile. Instances run on the multi-threaded app runtime
/// (`executor`), where this is allowed.
pub(crate) fn blocking<T>(op: impl FnOnce() -> BackendResult<T>) -> BackendResult<T> {
    tokio::task::block_in_place(op)
}

/// A backend result for the guest: an error it receives, or a trap.
fn to_guest<T, E>(
    result: BackendResult<T>,
    error: impl FnOnce(String) -> E,
) -> wasmtime::Result<Result<T, E>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(BackendError::Store(message)) => Ok(Err(error(message))),
        Err(BackendError::Trap(message)) => Err(wasmtime::Error::msg(message)),
    }
}

/// Per-instance key-value state: what the component may open, and what it has open.
pub(crate) struct KvCtx {
    allowed: HashMap<String, Store>,
    open: Vec<Option<Store>>,
    cas: Vec<Option<OpenCas>>,
}

/// A compare-and-swap of the instance: the bucket it came from, and the backend's state.
struct OpenCas {
    bucket: u32,
    key: String,
    store: Store,
    state: Box<dyn Cas>,
}

enum OpenError {
    AccessDenied,
    TableFull,
}

const CAS_NOT_FOUND: &str = "compare and swap not found";
const CAS_TABLE_FULL: &str = "too many compare_and_swaps opened";

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

    /// A `fermyon:spin` store: an unknown handle traps, as in Spin.
    fn store(&self, rep: u32) -> wasmtime::Result<&Store> {
        self.open
            .get(rep as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| wasmtime::Error::msg("invalid store"))
    }

    /// A `wasi:keyvalue` bucket: an unknown handle is `no-such-store`.
    fn bucket(&self, rep: u32) -> Result<&Store, wasi_kv::Error> {
        self.open
            .get(rep as usize)
            .and_then(Option::as_ref)
            .ok_or(wasi_kv::Error::NoSuchStore)
    }

    /// Opens a compare-and-swap on `key` of bucket `bucket`.
    fn new_cas(
        &mut self,
        bucket: u32,
        key: String,
    ) -> wasmtime::Result<Result<u32, wasi_kv::Error>> {
        let store = match self.bucket(bucket) {
            Ok(s) => s.clone(),
            Err(e) => return Ok(Err(e)),
        };
        let opened = blocking(|| store.backend.new_cas(&store.label, &key));
        let state = match to_guest(opened, wasi_kv::Error::Other)? {
            Ok(state) => state,
            Err(e) => return Ok(Err(e)),
        };
        let cas = OpenCas {
            bucket,
            key,
            store,
            state,
        };
        Ok(push(&mut self.cas, cas).ok_or_else(|| wasi_kv::Error::Other(CAS_TABLE_FULL.into())))
    }

    /// `current` of the compare-and-swap in slot `rep`.
    fn cas_current(
        &mut self,
        rep: u32,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let Some(OpenCas { store, state, .. }) =
            self.cas.get_mut(rep as usize).and_then(Option::as_mut)
        else {
            return Ok(Err(wasi_kv::Error::Other(CAS_NOT_FOUND.into())));
        };
        to_guest(
            store.call(CallKind::Read, |_, _| state.current()),
            wasi_kv::Error::Other,
        )
    }
}

/// Puts `item` in the first free slot; `None` when the table is full.
fn push<T>(table: &mut Vec<Option<T>>, item: T) -> Option<u32> {
    let slot = match table.iter().position(Option::is_none) {
        Some(i) => i,
        None if table.len() < TABLE_CAPACITY => {
            table.push(None);
            table.len() - 1
        }
        None => return None,
    };
    table[slot] = Some(item);
    u32::try_from(slot).ok()
}

fn free<T>(table: &mut [Option<T>], rep: u32) {
    if let Some(slot) = table.get_mut(rep as usize) {
        *slot = None;
    }
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
        let r = s.call(CallKind::Read, |b, l| b.get(l, &key));
        to_guest(r, spin_kv::Error::Other)
    }

    async fn set(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let s = self.store(store.rep())?;
        let r = s.call(CallKind::Write, |b, l| b.set_many(l, &[(key, value)]));
        to_guest(r, spin_kv::Error::Other)
    }

    async fn delete(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let s = self.store(store.rep())?;
        let r = s.call(CallKind::Write, |b, l| b.delete_many(l, &[key]));
        to_guest(r, spin_kv::Error::Other)
    }

    async fn exists(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let s = self.store(store.rep())?;
        let r = s.call(CallKind::Read, |b, l| b.get(l, &key).map(|v| v.is_some()));
        to_guest(r, spin_kv::Error::Other)
    }

    async fn get_keys(
        &mut self,
        store: Resource<spin_kv::Store>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let s = self.store(store.rep())?;
        let r = s.call(CallKind::Listing, |b, l| b.keys(l));
        to_guest(r, spin_kv::Error::Other)
    }

    async fn drop(&mut self, store: Resource<spin_kv::Store>) -> wasmtime::Result<()> {
        free(&mut self.open, store.rep());
        Ok(())
    }
}

// ---- wasi:keyvalue@0.2.0-draft2 ----

/// Runs `op` on the bucket `rep` (or answers `no-such-store`).
fn on_bucket<T>(
    ctx: &KvCtx,
    rep: u32,
    kind: CallKind,
    op: impl FnOnce(&dyn super::Backend, &str) -> BackendResult<T>,
) -> wasmtime::Result<Result<T, wasi_kv::Error>> {
    match ctx.bucket(rep) {
        Ok(s) => to_guest(s.call(kind, op), wasi_kv::Error::Other),
        Err(e) => Ok(Err(e)),
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
        on_bucket(self, bucket.rep(), CallKind::Read, |b, l| b.get(l, &key))
    }

    async fn set(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_bucket(self, bucket.rep(), CallKind::Write, |b, l| {
            b.set_many(l, &[(key, value)])
        })
    }

    async fn delete(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        on_bucket(self, bucket.rep(), CallKind::Write, |b, l| {
            b.delete_many(l, &[key])
        })
    }

    async fn exists(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        on_bucket(self, bucket.rep(), CallKind::Read, |b, l| {
            b.get(l, &key).map(|v| v.is_some())
        })
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
        on_bucket(self, bucket.rep(), CallKind::Listing, |b, l| {
            b.keys(l)
                .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
        })
    }

    async fn drop(&mut self, bucket: Resource<wasi_kv::Bucket>) -> wasmtime::Result<()> {
        free(&mut self.open, bucket.rep());
        Ok(())
    }
}

impl batch::Host for KvCtx {
    async fn get_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error>> {
        if let Err(e) = self.bucket(bucket.rep()) {
            return Ok(Err(e));
        }
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        on_bucket(self, bucket.rep(), CallKind::Read, |b, l| {
            b.get_many(l, &keys)
        })
    }

    async fn set_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        if let Err(e) = self.bucket(bucket.rep()) {
            return Ok(Err(e));
        }
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        on_bucket(self, bucket.rep(), CallKind::Write, |b, l| {
            b.set_many(l, &key_values)
        })
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<batch::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        if let Err(e) = self.bucket(bucket.rep()) {
            return Ok(Err(e));
        }
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        on_bucket(self, bucket.rep(), CallKind::Write, |b, l| {
            b.delete_many(l, &keys)
        })
    }
}

impl atomics::Host for KvCtx {
    async fn increment(
        &mut self,
        bucket: Resource<atomics::Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        on_bucket(self, bucket.rep(), CallKind::Write, |b, l| {
            b.increment(l, &key, delta)
        })
    }

    async fn swap(
        &mut self,
        cas: Resource<atomics::Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // The guest gave the handle up: its slot is free whatever happens.
        let Some(mut c) = self.cas.get_mut(cas.rep() as usize).and_then(Option::take) else {
            return Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(
                CAS_NOT_FOUND.into(),
            ))));
        };
        let swapped = c.store.call(CallKind::Write, |_, _| c.state.swap(&value));
        match to_guest(swapped, wasi_kv::Error::Other)? {
            Ok(true) => Ok(Ok(())),
            Err(e) => Ok(Err(atomics::CasError::StoreError(e))),
            Ok(false) => {
                // Like Spin: a fresh compare-and-swap on the same key, already read.
                let rep = match self.new_cas(c.bucket, c.key)? {
                    Ok(rep) => rep,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
                };
                Ok(match self.cas_current(rep)? {
                    Ok(_) => Err(atomics::CasError::CasFailed(Resource::new_own(rep))),
                    Err(e) => Err(atomics::CasError::StoreError(e)),
                })
            }
        }
    }
}

impl atomics::HostCas for KvCtx {
    async fn new(
        &mut self,
        bucket: Resource<atomics::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<atomics::Cas>, wasi_kv::Error>> {
        Ok(self.new_cas(bucket.rep(), key)?.map(Resource::new_own))
    }

    async fn current(
        &mut self,
        cas: Resource<atomics::Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        self.cas_current(cas.rep())
    }

    async fn drop(&mut self, cas: Resource<atomics::Cas>) -> wasmtime::Result<()> {
        free(&mut self.cas, cas.rep());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kv::{KvHandle, SqliteBackend};

    fn instance() -> (KvCtx, KvHandle) {
        let store = Store::new("default", Arc::new(SqliteBackend::in_memory().unwrap()));
        let handle = KvHandle::new(store.clone());
        (
            KvCtx::new(HashMap::from([("default".into(), store)])),
            handle,
        )
    }

    /// `(reads, writes, listings)` components made.
    fn calls(h: &KvHandle) -> (u64, u64, u64) {
        (h.reads(), h.writes(), h.listings())
    }

    fn own<T: 'static>(rep: u32) -> Resource<T> {
        Resource::new_own(rep)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn fermyon_calls_are_counted_by_kind() {
        let (mut kv, h) = instance();
        let s = spin_kv::HostStore::open(&mut kv, "default".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        spin_kv::HostStore::set(&mut kv, own(s), "a".into(), b"1".to_vec())
            .await
            .unwrap()
            .unwrap();
        spin_kv::HostStore::delete(&mut kv, own(s), "absent".into())
            .await
            .unwrap()
            .unwrap();
        let got = spin_kv::HostStore::get(&mut kv, own(s), "a".into()).await;
        assert_eq!(got.unwrap().unwrap().as_deref(), Some(&b"1"[..]));
        assert!(
            spin_kv::HostStore::exists(&mut kv, own(s), "a".into())
                .await
                .unwrap()
                .unwrap()
        );
        let keys = spin_kv::HostStore::get_keys(&mut kv, own(s)).await;
        assert_eq!(keys.unwrap().unwrap(), ["a"]);
        assert_eq!(calls(&h), (2, 2, 1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn wasi_write_calls_count_once_whatever_their_keys() {
        let (mut kv, h) = instance();
        let b = wasi_kv::Host::open(&mut kv, "default".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        let pairs = |keys: &[&str]| -> Vec<(String, Vec<u8>)> {
            keys.iter()
                .map(|k| (k.to_string(), b"v".to_vec()))
                .collect()
        };
        batch::Host::set_many(&mut kv, own(b), pairs(&["a", "b", "c"]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(&h), (0, 1, 0), "three keys, one call");
        batch::Host::delete_many(&mut kv, own(b), vec!["b".into(), "c".into()])
            .await
            .unwrap()
            .unwrap();
        wasi_kv::HostBucket::set(&mut kv, own(b), "d".into(), b"v".to_vec())
            .await
            .unwrap()
            .unwrap();
        wasi_kv::HostBucket::delete(&mut kv, own(b), "d".into())
            .await
            .unwrap()
            .unwrap();
        atomics::Host::increment(&mut kv, own(b), "n".into(), 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(&h), (0, 5, 0));

        // Empty batches do not reach the store: nothing to count.
        batch::Host::set_many(&mut kv, own(b), Vec::new())
            .await
            .unwrap()
            .unwrap();
        batch::Host::delete_many(&mut kv, own(b), Vec::new())
            .await
            .unwrap()
            .unwrap();
        batch::Host::get_many(&mut kv, own(b), Vec::new())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(&h), (0, 5, 0));

        let found = batch::Host::get_many(&mut kv, own(b), vec!["a".into(), "zz".into()]).await;
        assert_eq!(found.unwrap().unwrap(), [("a".into(), Some(b"v".to_vec()))]);
        wasi_kv::HostBucket::get(&mut kv, own(b), "a".into())
            .await
            .unwrap()
            .unwrap();
        wasi_kv::HostBucket::exists(&mut kv, own(b), "a".into())
            .await
            .unwrap()
            .unwrap();
        wasi_kv::HostBucket::list_keys(&mut kv, own(b), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(&h), (3, 5, 1));

        // What a test does through its handle is not counted.
        h.set("seeded", b"1");
        h.set_many(&pairs(&["x", "y"]));
        h.delete("x");
        assert_eq!(h.get("seeded").as_deref(), Some(&b"1"[..]));
        assert_eq!(h.keys(), ["a", "n", "seeded", "y"]);
        assert_eq!(calls(&h), (3, 5, 1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_compare_and_swap_reads_on_current_and_writes_on_swap() {
        let (mut kv, h) = instance();
        let b = wasi_kv::Host::open(&mut kv, "default".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        let cas = atomics::HostCas::new(&mut kv, own(b), "k".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        assert_eq!(calls(&h), (0, 0, 0), "opening one reads nothing");
        let now = atomics::HostCas::current(&mut kv, own(cas)).await;
        assert_eq!(now.unwrap().unwrap(), None);
        atomics::Host::swap(&mut kv, own(cas), b"1".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls(&h), (1, 1, 0));

        // A swap from a stale value fails, and the fresh one it hands back was read.
        let stale = atomics::HostCas::new(&mut kv, own(b), "k".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        atomics::HostCas::current(&mut kv, own(stale))
            .await
            .unwrap()
            .unwrap();
        h.set("k", b"changed");
        match atomics::Host::swap(&mut kv, own(stale), b"2".to_vec()).await {
            Ok(Err(atomics::CasError::CasFailed(fresh))) => {
                assert_eq!(calls(&h), (3, 2, 0));
                atomics::Host::swap(&mut kv, fresh, b"3".to_vec())
                    .await
                    .unwrap()
                    .unwrap();
            }
            _ => panic!("expected cas-failed"),
        }
        assert_eq!(h.get("k").as_deref(), Some(&b"3"[..]));
        assert_eq!(calls(&h), (3, 3, 0));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_fatal_backend_call_traps_and_poisoned_calls_trap_too() {
        let (mut kv, h) = instance();
        h.set("text", b"hello");
        let b = wasi_kv::Host::open(&mut kv, "default".into())
            .await
            .unwrap()
            .unwrap()
            .rep();
        let trap = atomics::Host::increment(&mut kv, own(b), "text".into(), 1)
            .await
            .expect_err("increment of a non-counter traps");
        assert!(format!("{trap}").contains("poisons"), "{trap}");
        let later = wasi_kv::HostBucket::get(&mut kv, own(b), "other".into())
            .await
            .expect_err("the store is poisoned");
        assert!(format!("{later}").contains("poisoned"), "{later}");
        assert_eq!(calls(&h), (1, 1, 0), "both calls reached the store");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn labels_not_listed_are_denied_and_the_table_holds_its_capacity() {
        let (mut kv, _) = instance();
        let denied = spin_kv::HostStore::open(&mut kv, "other".into()).await;
        assert!(matches!(denied.unwrap(), Err(spin_kv::Error::AccessDenied)));
        for _ in 0..TABLE_CAPACITY {
            spin_kv::HostStore::open(&mut kv, "default".into())
                .await
                .unwrap()
                .unwrap();
        }
        let full = spin_kv::HostStore::open(&mut kv, "default".into()).await;
        assert!(matches!(full.unwrap(), Err(spin_kv::Error::StoreTableFull)));
        spin_kv::HostStore::drop(&mut kv, own(7)).await.unwrap();
        let reused = spin_kv::HostStore::open(&mut kv, "default".into()).await;
        assert_eq!(reused.unwrap().unwrap().rep(), 7);
    }
}
