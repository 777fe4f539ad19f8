//! The seam between the workflows and a key-value store.
//!
//! [`Store`] is what every workflow needs from Spin's key-value interfaces, and no more:
//! reads (one key or many), one batched write (`set-many`: one transaction on Spin's SQLite
//! store, one `MSET` on Redis), an atomic counter, and a compare-and-swap **from a value that
//! exists**. There is deliberately no create-if-absent: Spin 4.0.2's SQLite store turns a
//! compare-and-swap on an absent key into an upsert (measured: 104 "creations" of 100 keys
//! raced by 8 clients), so nothing here may rest on it. Records that must be created exactly
//! once are created by the fold ([`crate::log`]), which is the only writer of what it owns.
//!
//! Every method is one round trip; every write method is one write call (on Spin's default
//! store, one transaction and its disk syncs): workflows count them.
//!
//! [`MemoryStore`](crate::memory::MemoryStore) implements the seam for native tests, and
//! [`spin::Adapter`](crate::spin) implements it over the raw `wasi:keyvalue` calls with the
//! backend quirks Spin has.

use closeloop_domain::envelope::{self, Record};
use closeloop_domain::problem::{Problem, ProblemKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or refused: worth retrying later.
    #[error("key-value store error: {0}")]
    Unavailable(String),
    /// A stored value could not be read: a bug or a foreign value.
    #[error("unreadable value at {key}: {error}")]
    Corrupt { key: String, error: String },
}

impl From<StoreError> for Problem {
    /// Answers without the detail, which the caller logs.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Problem::new(
                ProblemKind::StoreUnavailable,
                "storage did not answer; nothing was changed, please retry",
            ),
            StoreError::Corrupt { .. } => {
                Problem::new(ProblemKind::Internal, "a stored record could not be read")
            }
        }
    }
}

pub trait Store {
    /// The value at `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The values at `keys`, in the same order (one round trip where the backend allows).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Writes every entry in one call: all of them or, on an error, possibly none.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// Deletes every key in one call.
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError>;
    /// Adds `delta` to the counter at `key` (absent: 0) atomically and returns the new value:
    /// racing callers each see a different value. Never call it on a key holding a record:
    /// Spin's SQLite store panics and poisons itself for the whole app.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Replaces the value at `key` with `new` if it is still exactly `expected`; `Ok(false)`
    /// when it changed (or vanished). `new` should differ from every value another writer
    /// could write (carry a token or a version), so that a backend that reports a swap as
    /// failed after writing it (Spin's Redis store does) can be read back unambiguously.
    fn swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError>;
}

/// A counter's value as stored: 8 little-endian bytes on Spin's SQLite store, decimal digits
/// on Redis. Anything else is a corrupt counter.
pub fn decode_counter(key: &str, value: Option<&[u8]>) -> Result<i64, StoreError> {
    let Some(bytes) = value else {
        return Ok(0);
    };
    if let Ok(le) = <[u8; 8]>::try_from(bytes) {
        // Eight ASCII digits are a decimal counter, not little-endian bytes.
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Ok(i64::from_le_bytes(le));
        }
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: key.to_owned(),
            error: "not a counter".into(),
        })
}

/// Reads a counter without writing (an `increment` by 0 is a write transaction on SQLite).
pub fn read_counter<S: Store + ?Sized>(store: &S, key: &str) -> Result<i64, StoreError> {
    decode_counter(key, store.get(key)?.as_deref())
}

/// Decodes a record read from `key`.
pub fn decode<T: Record>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    envelope::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        error: e.to_string(),
    })
}

/// Reads and decodes the record at `key`.
pub fn get_record<T: Record, S: Store + ?Sized>(
    store: &S,
    key: &str,
) -> Result<Option<T>, StoreError> {
    store.get(key)?.map(|b| decode(key, &b)).transpose()
}

/// Reads and decodes the records at `keys` in one round trip, in the same order.
pub fn get_records<T: Record, S: Store + ?Sized>(
    store: &S,
    keys: &[String],
) -> Result<Vec<Option<T>>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    keys.iter()
        .zip(store.get_many(keys)?)
        .map(|(key, value)| value.map(|b| decode(key, &b)).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_in_both_encodings() {
        assert_eq!(decode_counter("k", None), Ok(0));
        assert_eq!(decode_counter("k", Some(&42i64.to_le_bytes())), Ok(42));
        assert_eq!(decode_counter("k", Some(b"42")), Ok(42));
        assert_eq!(decode_counter("k", Some(b"12345678")), Ok(12_345_678));
        assert!(decode_counter("k", Some(b"{\"a\":1}")).is_err());
    }
}
