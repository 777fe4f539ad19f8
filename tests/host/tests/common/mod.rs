//! What the host's test binaries share: their fixtures, the conformance guest built once, and
//! scratch directories. Each binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The conformance app's manifest, its guest built.
pub fn conformance_manifest() -> PathBuf {
    let m = fixture("conformance/spin.toml");
    spin_test_host::build_components(&m).expect("build the conformance guest");
    m
}

/// A fresh directory under the system's temp dir, named after `tag`.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "spin-test-host-{tag}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
