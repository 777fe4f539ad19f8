//! [`Store`] over Spin's raw `wasi:keyvalue` calls, with what Spin 4.0.2's backends really do.
//!
//! The raw calls are behind [`RawKv`] (the edge crate implements it with spin-sdk), so this
//! adapter, where the backend quirks are handled, is tested natively against models of them:
//!
//! - `get-many` fails on Spin's Redis store (it sends the keys to `KEYS`): the adapter falls
//!   back to one `get` per key, and remembers to for the rest of the instance.
//! - `swap` on Redis reports `cas-failed` even when it wrote (its `UNWATCH` errors after
//!   `EXEC`): after a reported failure the adapter reads the value back through the fresh
//!   handle, and the swap succeeded if the value is the one it wrote. Values written by swap
//!   carry a token, so another writer's value never reads as ours.
//! - `swap` from an absent key is an upsert on SQLite, so the adapter refuses to swap when the
//!   current value is not the expected one before trying: a swap only ever replaces a value.

use std::cell::Cell;

use crate::store::{Store, StoreError};

/// Why a raw compare-and-swap did not report success.
pub enum CasFailure<C> {
    /// The backend says the value changed; here is a fresh handle on the key.
    Failed(C),
    Store(String),
}

/// Key-value pairs as `get-many` answers them.
pub type Found = Vec<(String, Option<Vec<u8>>)>;

/// The raw `wasi:keyvalue` (store, batch, atomics) calls on one opened bucket.
pub trait RawKv {
    type Cas;
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Pairs for the keys the backend found (SQLite returns only those that exist).
    fn get_many(&self, keys: &[String]) -> Result<Found, String>;
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), String>;
    fn delete_many(&self, keys: &[String]) -> Result<(), String>;
    fn increment(&self, key: &str, delta: i64) -> Result<i64, String>;
    fn cas_new(&self, key: &str) -> Result<Self::Cas, String>;
    fn cas_current(&self, cas: &Self::Cas) -> Result<Option<Vec<u8>>, String>;
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasFailure<Self::Cas>>;
}

pub struct SpinStore<R> {
    raw: R,
    /// `get-many` failed once: this backend cannot batch reads.
    no_batch_reads: Cell<bool>,
}

impl<R: RawKv> SpinStore<R> {
    pub fn new(raw: R) -> Self {
        Self {
            raw,
            no_batch_reads: Cell::new(false),
        }
    }
}

fn unavailable(e: String) -> StoreError {
    StoreError::Unavailable(e)
}

impl<R: RawKv> Store for SpinStore<R> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.raw.get(key).map_err(unavailable)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.len() > 1 && !self.no_batch_reads.get() {
            match self.raw.get_many(keys) {
                Ok(found) => {
                    let mut found: std::collections::HashMap<String, Option<Vec<u8>>> =
                        found.into_iter().collect();
                    return Ok(keys.iter().map(|k| found.remove(k).flatten()).collect());
                }
                Err(_) => self.no_batch_reads.set(true),
            }
        }
        keys.iter().map(|k| self.get(k)).collect()
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.raw.set_many(entries).map_err(unavailable)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.raw.delete_many(keys).map_err(unavailable)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.raw.increment(key, delta).map_err(unavailable)
    }

    fn swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let cas = self.raw.cas_new(key).map_err(unavailable)?;
        if self.raw.cas_current(&cas).map_err(unavailable)?.as_deref() != Some(expected) {
            return Ok(false);
        }
        match self.raw.cas_swap(cas, new) {
            Ok(()) => Ok(true),
            Err(CasFailure::Failed(fresh)) => Ok(self
                .raw
                .cas_current(&fresh)
                .map_err(unavailable)?
                .is_some_and(|v| v == new)),
            Err(CasFailure::Store(e)) => Err(unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// Spin 4.0.2's two local backends as measured: `redis` reports every swap as failed
    /// and cannot batch reads; SQLite upserts a swap from an absent key.
    struct Model {
        redis: bool,
        values: Mutex<BTreeMap<String, Vec<u8>>>,
    }

    struct Handle {
        key: String,
    }

    impl Model {
        fn new(redis: bool) -> Self {
            Self {
                redis,
                values: Mutex::default(),
            }
        }
    }

    impl RawKv for Model {
        type Cas = Handle;
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(self.values.lock().unwrap().get(key).cloned())
        }
        fn get_many(&self, keys: &[String]) -> Result<Found, String> {
            if self.redis {
                return Err("wrong number of arguments for 'keys' command".into());
            }
            let v = self.values.lock().unwrap();
            Ok(keys
                .iter()
                .filter_map(|k| v.get(k).map(|x| (k.clone(), Some(x.clone()))))
                .collect())
        }
        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), String> {
            self.values.lock().unwrap().extend(entries.iter().cloned());
            Ok(())
        }
        fn delete_many(&self, keys: &[String]) -> Result<(), String> {
            let mut v = self.values.lock().unwrap();
            keys.iter().for_each(|k| drop(v.remove(k)));
            Ok(())
        }
        fn increment(&self, _: &str, _: i64) -> Result<i64, String> {
            unreachable!()
        }
        fn cas_new(&self, key: &str) -> Result<Handle, String> {
            Ok(Handle { key: key.into() })
        }
        fn cas_current(&self, cas: &Handle) -> Result<Option<Vec<u8>>, String> {
            self.get(&cas.key)
        }
        fn cas_swap(&self, cas: Handle, value: &[u8]) -> Result<(), CasFailure<Handle>> {
            let mut v = self.values.lock().unwrap();
            // Nothing races here: the value is the one the adapter checked. Redis's WATCH
            // refuses to create; SQLite's upsert would.
            if v.contains_key(&cas.key) || !self.redis {
                v.insert(cas.key.clone(), value.to_vec());
            }
            if self.redis {
                return Err(CasFailure::Failed(cas));
            }
            Ok(())
        }
    }

    #[test]
    fn reads_fall_back_when_the_backend_cannot_batch() {
        for redis in [false, true] {
            let s = SpinStore::new(Model::new(redis));
            s.set_many(&[("a".into(), b"1".to_vec())]).unwrap();
            let got = s.get_many(&["b".into(), "a".into()]).unwrap();
            assert_eq!(got, vec![None, Some(b"1".to_vec())], "redis: {redis}");
            assert_eq!(s.no_batch_reads.get(), redis);
        }
    }

    #[test]
    fn a_swap_reported_failed_but_written_is_a_success() {
        for redis in [false, true] {
            let s = SpinStore::new(Model::new(redis));
            s.set_many(&[("k".into(), b"v1".to_vec())]).unwrap();
            assert!(s.swap("k", b"v1", b"v2 token-a").unwrap(), "redis: {redis}");
            assert!(
                !s.swap("k", b"v1", b"v3 token-b").unwrap(),
                "redis: {redis}"
            );
            assert_eq!(s.get("k").unwrap().unwrap(), b"v2 token-a");
            // Never a creation: the absent key stays absent.
            assert!(!s.swap("absent", b"", b"x").unwrap());
            assert_eq!(s.get("absent").unwrap(), None);
        }
    }
}
