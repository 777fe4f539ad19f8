//! The lock around a SQLite store, poisoned as Spin's is.
//!
//! Spin's SQLite store keeps its connection in a `std::sync::Mutex` and `unwrap`s every lock.
//! `increment` on a value that is not an 8-byte counter panics while holding it (observed with
//! `spin` 4.0.2: "incorrect length", then "PoisonError" on the next call): from then on every
//! key-value call on that store panics and its request fails with a 500, until the process
//! restarts. The host traps the guest instead of panicking, with a message that says so, and
//! poisons the store the same way: a test that reaches this state must see every later call
//! fail, as production would, rather than pass steps Spin cannot serve.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::{BackendError, BackendResult};

/// A value behind a mutex that a fatal call can poison for good.
pub(crate) struct StoreLock<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    value: Mutex<T>,
    poisoned: OnceLock<String>,
}

impl<T> Clone for StoreLock<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> StoreLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            inner: Arc::new(Inner {
                value: Mutex::new(value),
                poisoned: OnceLock::new(),
            }),
        }
    }

    /// The value, unless an earlier call poisoned the store.
    pub(crate) fn lock(&self) -> BackendResult<MutexGuard<'_, T>> {
        if let Some(why) = self.inner.poisoned.get() {
            return Err(BackendError::Trap(format!(
                "this key-value store is poisoned: {why}; on Spin every key-value call on it now \
                 panics (500) until the app restarts"
            )));
        }
        // The host's own code does not panic while holding the lock; a poisoned mutex is
        // only a test thread's panic, and the data is intact.
        Ok(self.inner.value.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Poisons the store for every later call and returns the trap for the current one.
    pub(crate) fn poison(&self, why: String) -> BackendError {
        let why = self.inner.poisoned.get_or_init(|| why);
        BackendError::Trap(format!(
            "{why}: Spin 4.0.2 panics here while holding its store's lock, which poisons the \
             store (every later key-value call on it panics, 500, until the app restarts); the \
             test host traps and poisons it likewise"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_refuses_every_later_lock_and_says_why() {
        let lock = StoreLock::new(1);
        assert_eq!(*lock.lock().unwrap(), 1);
        let other = lock.clone();
        let BackendError::Trap(first) = lock.poison("increment of \"k\"".into()) else {
            panic!("poisoning traps");
        };
        assert!(first.contains("increment of \"k\"") && first.contains("Spin"));
        match other.lock() {
            Err(BackendError::Trap(later)) => {
                assert!(later.contains("poisoned") && later.contains("increment of \"k\""))
            }
            _ => panic!("a clone shares the poison"),
        }
    }
}
