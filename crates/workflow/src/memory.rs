//! An in-memory [`Store`] for native tests: the semantics the workflows may rely on on every
//! Spin backend, counted, and optionally paused before each call so that tests can interleave
//! two workflows step by step ([`crate::testing`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::{Store, StoreError, decode_counter};

/// One call a workflow makes, as a pause point sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Get,
    GetMany,
    SetMany,
    DeleteMany,
    Increment,
    Swap,
}

impl Call {
    pub fn is_write(self) -> bool {
        !matches!(self, Call::Get | Call::GetMany)
    }
}

/// Whether a hook runs before a call or after it has taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

type Hook = Arc<dyn Fn(Call, &str, Phase) + Send + Sync>;

#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<BTreeMap<String, Vec<u8>>>,
    writes: AtomicU64,
    reads: AtomicU64,
    /// Called before and after every call with the call and its (first) key.
    hook: Mutex<Option<Hook>>,
    /// Fails every call while set (a store outage).
    down: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `hook` before and after every store call (see [`crate::testing::Schedule`]).
    pub fn set_hook(&self, hook: impl Fn(Call, &str, Phase) + Send + Sync + 'static) {
        *self.lock_hook() = Some(Arc::new(hook));
    }

    pub fn clear_hook(&self) {
        *self.lock_hook() = None;
    }

    /// Makes every call fail (true) or work again (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Write calls so far (set-many, delete-many, increment, swap: one per call).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Read calls so far (get, get-many: one per call).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Every key, sorted (tests only: workflows never list).
    pub fn keys(&self) -> Vec<String> {
        self.values().keys().cloned().collect()
    }

    /// The raw value at `key` without counting a read.
    pub fn peek(&self, key: &str) -> Option<Vec<u8>> {
        self.values().get(key).cloned()
    }

    /// Sets a value without counting a write (test set-up).
    pub fn seed(&self, key: &str, value: Vec<u8>) {
        self.values().insert(key.to_owned(), value);
    }

    fn values(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_hook(&self) -> MutexGuard<'_, Option<Hook>> {
        self.hook.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hook(&self, call: Call, key: &str, phase: Phase) {
        let hook = self.lock_hook().clone();
        if let Some(hook) = hook {
            hook(call, key, phase);
        }
    }

    /// Runs one call between its hooks, counted.
    fn call<T>(
        &self,
        call: Call,
        key: &str,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.hook(call, key, Phase::Before);
        let result = self.enter(call).and_then(|()| f(&mut self.values()));
        self.hook(call, key, Phase::After);
        result
    }

    fn enter(&self, call: Call) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the store is down (test)".into()));
        }
        let counter = if call.is_write() {
            &self.writes
        } else {
            &self.reads
        };
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.call(Call::Get, key, |v| Ok(v.get(key).cloned()))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let first = keys.first().map_or("", String::as_str);
        self.call(Call::GetMany, first, |v| {
            Ok(keys.iter().map(|k| v.get(k).cloned()).collect())
        })
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let first = entries.first().map_or("", |(k, _)| k.as_str());
        self.call(Call::SetMany, first, |v| {
            v.extend(entries.iter().cloned());
            Ok(())
        })
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let first = keys.first().map_or("", String::as_str);
        self.call(Call::DeleteMany, first, |v| {
            keys.iter().for_each(|k| drop(v.remove(k)));
            Ok(())
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.call(Call::Increment, key, |values| {
            let current = values.get(key).map(Vec::as_slice);
            // Spin's SQLite store would panic and poison itself here: a workflow bug.
            assert!(
                current.is_none_or(|v| v.len() == 8),
                "increment of {key}, which holds a record, not a counter"
            );
            let new = decode_counter(key, current)?
                .checked_add(delta)
                .ok_or_else(|| StoreError::Unavailable("counter overflow".into()))?;
            values.insert(key.to_owned(), new.to_le_bytes().to_vec());
            Ok(new)
        })
    }

    fn swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        self.call(Call::Swap, key, |values| match values.get_mut(key) {
            Some(v) if v.as_slice() == expected => {
                *v = new.to_vec();
                Ok(true)
            }
            _ => Ok(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_not_keys() {
        let s = MemoryStore::new();
        s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(s.increment("n", 2).unwrap(), 2);
        assert!(s.swap("a", b"1", b"3").unwrap());
        assert!(!s.swap("a", b"1", b"4").unwrap());
        assert!(!s.swap("absent", b"", b"x").unwrap(), "no create-if-absent");
        assert_eq!(s.writes(), 5, "a refused swap is still a write call");
        assert_eq!(
            s.get_many(&["a".into(), "zz".into(), "b".into()]).unwrap(),
            vec![Some(b"3".to_vec()), None, Some(b"2".to_vec())]
        );
        assert_eq!(s.reads(), 1);
    }

    #[test]
    #[should_panic(expected = "holds a record")]
    fn incrementing_a_record_is_a_bug() {
        let s = MemoryStore::new();
        s.seed("r", b"{\"a\":1}".to_vec());
        let _ = s.increment("r", 1);
    }
}
