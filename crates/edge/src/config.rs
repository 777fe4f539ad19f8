//! Spin variables, read per request (a component keeps nothing between requests).

use closeloop_domain::link::{self, LinkKey};
use closeloop_domain::problem::Problem;

/// A variable's value; unset or blank reads as `None`.
pub fn optional(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A variable the component cannot work without. A missing one is the operator's mistake:
/// logged with its name, answered as a generic 500 that reveals nothing.
pub fn required(name: &str) -> Result<String, Problem> {
    optional(name).ok_or_else(|| {
        crate::log::error("a required variable is not set", name);
        Problem::not_configured()
    })
}

/// A numeric variable, falling back to `default` when unset or unreadable.
pub fn number(name: &str, default: u64) -> u64 {
    optional(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The key that signs links and reply addresses (`link_signing_key`); `None` when it is unset
/// or too short (a short one is logged: it is the operator's mistake, never used).
pub fn link_key() -> Option<LinkKey> {
    let secret = optional("link_signing_key")?;
    let key = LinkKey::new(&secret);
    if key.is_none() {
        crate::log::error(
            "link_signing_key is too short",
            &format!("at least {} bytes", link::MIN_KEY_BYTES),
        );
    }
    key
}

/// closeloop's public base URL, without a trailing slash.
pub fn public_base_url() -> String {
    optional("public_base_url")
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned())
        .trim_end_matches('/')
        .to_owned()
}
