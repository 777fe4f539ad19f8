//! Typed records in Spin's key-value store, and the atomic claim.
//!
//! Records go through `closeloop_domain::envelope`. A claim increments a `claim:*` key with
//! `wasi:keyvalue/atomics.increment`, which is atomic on every Spin backend (SQLite in a
//! transaction, Redis INCR): the caller that gets 1 owns the claim. Unlike compare-and-swap,
//! whose semantics differ between backends, this is safe to rest correctness on.

use closeloop_domain::envelope::{self, Record};
use closeloop_domain::problem::{Problem, ProblemKind};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};

/// The store label closeloop uses.
pub const LABEL: &str = "default";

#[derive(Debug)]
pub enum KvError {
    /// The store failed: worth retrying.
    Store(String),
    /// A stored value could not be read: a bug or a foreign value.
    Corrupt { key: String, error: String },
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => write!(f, "key-value store error: {e}"),
            Self::Corrupt { key, error } => write!(f, "unreadable value at {key}: {error}"),
        }
    }
}

impl From<KvError> for Problem {
    /// Logs the detail and answers without it.
    fn from(error: KvError) -> Self {
        eprintln!("{{\"level\":\"error\",\"msg\":{:?}}}", error.to_string());
        match error {
            KvError::Store(_) => Problem::new(
                ProblemKind::StoreUnavailable,
                "storage did not answer; nothing was changed, please retry",
            ),
            KvError::Corrupt { .. } => {
                Problem::new(ProblemKind::Internal, "a stored record could not be read")
            }
        }
    }
}

pub struct Kv {
    store: Store,
    bucket: wasi_store::Bucket,
}

fn store_error(e: impl std::fmt::Debug) -> KvError {
    KvError::Store(format!("{e:?}"))
}

impl Kv {
    pub fn open() -> Result<Self, KvError> {
        Ok(Self {
            store: Store::open(LABEL).map_err(store_error)?,
            bucket: wasi_store::open(LABEL).map_err(store_error)?,
        })
    }

    pub fn get<T: Record>(&self, key: &str) -> Result<Option<T>, KvError> {
        match self.store.get(key).map_err(store_error)? {
            None => Ok(None),
            Some(bytes) => envelope::decode(&bytes)
                .map(Some)
                .map_err(|e| KvError::Corrupt {
                    key: key.to_owned(),
                    error: e.to_string(),
                }),
        }
    }

    pub fn put<T: Record>(&self, key: &str, value: &T) -> Result<(), KvError> {
        self.store
            .set(key, &envelope::encode(value))
            .map_err(store_error)
    }

    pub fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.store.exists(key).map_err(store_error)
    }

    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store.delete(key).map_err(store_error)
    }

    /// Every key starting with `prefix`, sorted. Spin lists all keys of a store at once.
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut keys: Vec<String> = self
            .store
            .get_keys()
            .map_err(store_error)?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every record under `prefix`, in key order; unreadable ones are logged and skipped so that
    /// one bad value cannot block a whole listing.
    pub fn records_with_prefix<T: Record>(&self, prefix: &str) -> Result<Vec<T>, KvError> {
        let mut out = Vec::new();
        for key in self.keys_with_prefix(prefix)? {
            match self.get(&key) {
                Ok(Some(record)) => out.push(record),
                Ok(None) => {}
                Err(KvError::Corrupt { key, error }) => {
                    eprintln!(
                        "{{\"level\":\"error\",\"msg\":\"skipping unreadable {key}: {error}\"}}"
                    )
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Adds one to the counter `key` atomically and returns the new value (1 the first time):
    /// each of any number of racing callers gets a different value.
    pub fn increment(&self, key: &str) -> Result<u64, KvError> {
        self.add(key, 1)
    }

    /// Adds `delta` to the counter at `key` atomically and returns the new value: concurrent
    /// callers adding 1 each see a different number; adding 0 reads the counter.
    pub fn add(&self, key: &str, delta: i64) -> Result<u64, KvError> {
        atomics::increment(&self.bucket, key, delta)
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(store_error)
    }

    /// Claims `key`: true for exactly one caller, however many race.
    pub fn claim(&self, key: &str) -> Result<bool, KvError> {
        atomics::increment(&self.bucket, key, 1)
            .map(|n| n == 1)
            .map_err(store_error)
    }
}
