//! The fold's unit of work: it reads through to the store (each key once), sees its own
//! writes, and ends as one `set-many`.
//!
//! A fold never deletes (a delete would be a second write call): what it no longer needs it
//! overwrites. A value put back unchanged is not written at all, so a fold that finds nothing
//! new writes nothing.

use std::collections::{BTreeMap, HashMap};

use closeloop_domain::envelope::{self, Record};

use crate::store::{Store, StoreError, decode};

pub struct Tx<'s> {
    store: &'s dyn Store,
    read: HashMap<String, Option<Vec<u8>>>,
    written: BTreeMap<String, Vec<u8>>,
}

impl<'s> Tx<'s> {
    pub fn new(store: &'s dyn Store) -> Self {
        Self {
            store,
            read: HashMap::new(),
            written: BTreeMap::new(),
        }
    }

    /// The value at `key` as this unit of work sees it.
    pub fn get_raw(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.written.get(key) {
            return Ok(Some(v.clone()));
        }
        if let Some(v) = self.read.get(key) {
            return Ok(v.clone());
        }
        let v = self.store.get(key)?;
        self.read.insert(key.to_owned(), v.clone());
        Ok(v)
    }

    pub fn get<T: Record>(&mut self, key: &str) -> Result<Option<T>, StoreError> {
        self.get_raw(key)?.map(|b| decode(key, &b)).transpose()
    }

    /// Reads every key not read yet in one round trip, so later `get`s cost nothing.
    pub fn prefetch(&mut self, keys: &[String]) -> Result<(), StoreError> {
        let missing: Vec<String> = keys
            .iter()
            .filter(|k| !self.read.contains_key(*k) && !self.written.contains_key(*k))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let values = self.store.get_many(&missing)?;
        self.read.extend(missing.into_iter().zip(values));
        Ok(())
    }

    /// Takes `key` as holding nothing, without reading it: for the keys of records this unit
    /// of work creates under an id nothing can have used before.
    pub fn known_absent(&mut self, key: impl Into<String>) {
        let key = key.into();
        if !self.written.contains_key(&key) {
            self.read.entry(key).or_insert(None);
        }
    }

    pub fn put<T: Record>(&mut self, key: impl Into<String>, value: &T) {
        self.put_raw(key, envelope::encode(value));
    }

    pub fn put_raw(&mut self, key: impl Into<String>, value: Vec<u8>) {
        self.written.insert(key.into(), value);
    }

    /// The writes that change something, for one `set-many`.
    pub fn into_writes(self) -> Vec<(String, Vec<u8>)> {
        let read = self.read;
        self.written
            .into_iter()
            .filter(|(k, v)| read.get(k).and_then(Option::as_ref) != Some(v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    #[test]
    fn reads_once_sees_its_writes_and_drops_no_ops() {
        let store = MemoryStore::new();
        store.seed("a", b"1".to_vec());
        store.seed("b", b"2".to_vec());
        let mut tx = Tx::new(&store);
        tx.prefetch(&["a".into(), "b".into(), "c".into()]).unwrap();
        assert_eq!(tx.get_raw("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(tx.get_raw("c").unwrap(), None);
        tx.put_raw("a", b"1".to_vec());
        tx.put_raw("b", b"3".to_vec());
        tx.put_raw("c", b"4".to_vec());
        assert_eq!(tx.get_raw("b").unwrap(), Some(b"3".to_vec()));
        assert_eq!(store.reads(), 1, "one round trip for the three keys");
        assert_eq!(
            tx.into_writes(),
            vec![("b".into(), b"3".to_vec()), ("c".into(), b"4".to_vec())]
        );
    }

    #[test]
    fn a_key_known_absent_is_not_read() {
        let store = MemoryStore::new();
        let mut tx = Tx::new(&store);
        tx.known_absent("new");
        assert_eq!(tx.get_raw("new").unwrap(), None);
        tx.put_raw("mine", b"1".to_vec());
        tx.known_absent("mine");
        assert_eq!(
            tx.get_raw("mine").unwrap(),
            Some(b"1".to_vec()),
            "own writes stand"
        );
        assert_eq!(store.reads(), 0);
    }
}
