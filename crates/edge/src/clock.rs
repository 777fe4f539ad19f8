//! Time and entropy from the host: read here, at the edge, and passed into the domain.

use closeloop_domain::Timestamp;

/// The wall clock (WASI `wall-clock`; the test host can move it).
pub fn now() -> Timestamp {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
}

/// Random bytes for identifiers and nonces.
pub fn entropy<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let random = wasi::random::random::get_random_bytes(N as u64);
    bytes.copy_from_slice(&random[..N]);
    bytes
}

/// A fresh time-ordered id.
pub fn new_id(now: Timestamp) -> String {
    closeloop_domain::ids::random(now, entropy()).to_string()
}

/// A number in 0..1 for retry jitter.
pub fn jitter() -> f64 {
    let [a, b, c, d] = entropy::<4>();
    f64::from(u32::from_le_bytes([a, b, c, d])) / f64::from(u32::MAX)
}
