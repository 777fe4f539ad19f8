//! Spin's key-value store, as the workflows' [`Store`] and as typed records for the admin APIs.
//!
//! The raw `wasi:keyvalue` calls (store, batch, atomics) are [`Bucket`]; the workflow crate's
//! [`SpinStore`] wraps them with what Spin 4.0.2's backends really do (see
//! `closeloop_workflow::spin_kv`). Listing keys (Spin lists all of a store's keys at once) is
//! for admin listings only: no workflow lists.

use closeloop_domain::envelope::{self, Record};
use closeloop_workflow::spin_kv::{CasFailure, Found, RawKv, SpinStore};
use closeloop_workflow::store::{self, Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_store};

/// The store label closeloop uses.
pub const LABEL: &str = "default";

/// One opened `wasi:keyvalue` bucket.
pub struct Bucket(wasi_store::Bucket);

fn text(e: wasi_store::Error) -> String {
    match e {
        wasi_store::Error::NoSuchStore => "no such store".into(),
        wasi_store::Error::AccessDenied => "access denied".into(),
        wasi_store::Error::Other(e) => e,
    }
}

impl RawKv for Bucket {
    type Cas = atomics::Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(key).map_err(text)
    }

    fn get_many(&self, keys: &[String]) -> Result<Found, String> {
        batch::get_many(&self.0, keys).map_err(text)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), String> {
        batch::set_many(&self.0, entries).map_err(text)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), String> {
        batch::delete_many(&self.0, keys).map_err(text)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, String> {
        atomics::increment(&self.0, key, delta).map_err(text)
    }

    fn cas_new(&self, key: &str) -> Result<atomics::Cas, String> {
        atomics::Cas::new(&self.0, key).map_err(text)
    }

    fn cas_current(&self, cas: &atomics::Cas) -> Result<Option<Vec<u8>>, String> {
        cas.current().map_err(text)
    }

    fn cas_swap(&self, cas: atomics::Cas, value: &[u8]) -> Result<(), CasFailure<atomics::Cas>> {
        atomics::swap(cas, value).map_err(|e| match e {
            atomics::CasError::CasFailed(fresh) => CasFailure::Failed(fresh),
            atomics::CasError::StoreError(e) => CasFailure::Store(text(e)),
        })
    }
}

/// closeloop's store.
pub struct Kv {
    store: SpinStore<Bucket>,
    bucket_for_listing: Option<spin_sdk::key_value::Store>,
}

impl Kv {
    pub fn open() -> Result<Self, StoreError> {
        let bucket = wasi_store::open(LABEL).map_err(|e| StoreError::Unavailable(text(e)))?;
        Ok(Self {
            store: SpinStore::new(Bucket(bucket)),
            bucket_for_listing: None,
        })
    }

    /// The store as the workflows take it.
    pub fn store(&self) -> &dyn Store {
        &self.store
    }

    pub fn get<T: Record>(&self, key: &str) -> Result<Option<T>, StoreError> {
        store::get_record(&self.store, key)
    }

    /// Writes one record (one write call).
    pub fn put<T: Record>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        self.store
            .set_many(&[(key.to_owned(), envelope::encode(value))])
    }

    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete_many(&[key.to_owned()])
    }

    /// Every key starting with `prefix`, sorted: admin listings only (Spin lists every key).
    pub fn keys_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if self.bucket_for_listing.is_none() {
            self.bucket_for_listing = Some(
                spin_sdk::key_value::Store::open(LABEL)
                    .map_err(|e| StoreError::Unavailable(format!("{e:?}")))?,
            );
        }
        let listing = self.bucket_for_listing.as_ref().expect("just opened");
        let mut keys: Vec<String> = listing
            .get_keys()
            .map_err(|e| StoreError::Unavailable(format!("{e:?}")))?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Every record under `prefix`, in key order (admin listings); unreadable ones are
    /// logged and skipped so that one bad value cannot block a listing.
    pub fn records_with_prefix<T: Record>(&mut self, prefix: &str) -> Result<Vec<T>, StoreError> {
        let keys = self.keys_with_prefix(prefix)?;
        let values = self.store.get_many(&keys)?;
        let mut out = Vec::new();
        for (key, value) in keys.iter().zip(values) {
            let Some(bytes) = value else { continue };
            match store::decode(key, &bytes) {
                Ok(record) => out.push(record),
                Err(e) => crate::log::error("skipping an unreadable record", &e.to_string()),
            }
        }
        Ok(out)
    }
}
