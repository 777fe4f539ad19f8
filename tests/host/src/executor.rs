//! The runtime apps run on: one multi-threaded tokio runtime per process, with a worker per
//! core, as `spin up` serves on (`#[tokio::main]`).
//!
//! [`crate::start`] puts an app's listener, connections and instances here whatever runtime
//! the caller runs on. A `#[tokio::test]` is single-threaded: on its runtime, instances whose
//! host calls never wait would run one after another, and a race that loses updates on Spin
//! would never show. Here, as on Spin, instances run in parallel and interleave at every
//! key-value and outbound HTTP call, whoever started the app.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

/// The process's app runtime, started on first use and kept for the life of the process.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .enable_all()
            .thread_name("spin-test-host")
            .build()
            .expect("the app runtime starts")
    })
}
