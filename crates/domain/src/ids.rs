//! Identifiers: UUIDv7, so that they sort by time.
//!
//! Most identifiers are *derived*: a hash of what makes a thing unique (the platform's external
//! id, the case a notice is about, the channel a delivery goes to) fills the random bits. Two
//! requests racing to create the same thing then compute the same id and write the same key,
//! which is how closeloop stays idempotent on stores that offer no transactions.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::Timestamp;

/// A UUIDv7 whose time part is `at` and whose other bits come from hashing `parts`.
pub fn derived(at: Timestamp, parts: &[&str]) -> Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    from_parts(at, random)
}

/// A UUIDv7 whose time part is `at` and whose other bits are the caller's entropy.
pub fn random(at: Timestamp, entropy: [u8; 10]) -> Uuid {
    from_parts(at, entropy)
}

fn from_parts(at: Timestamp, random: [u8; 10]) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// A short hex digest of `parts`, for keys that must not carry the raw values (they may hold
/// characters keys forbid, or personal data).
pub fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn derived_ids_are_stable_and_sort_by_time() {
        let t1 = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t2 = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        assert_eq!(derived(t1, &["a", "b"]), derived(t1, &["a", "b"]));
        assert_ne!(derived(t1, &["a", "b"]), derived(t1, &["ab", ""]));
        assert!(derived(t1, &["z"]).to_string() < derived(t2, &["a"]).to_string());
        assert_eq!(derived(t1, &["x"]).get_version_num(), 7);
    }
}
