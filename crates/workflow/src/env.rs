//! What a workflow takes from its surroundings besides the store: the time, a way to wait, and
//! unguessable tokens. The edge passes Spin's (wall clock, WASI sleep, WASI random); tests pass
//! a [`TestEnv`] whose clock they move.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use closeloop_domain::Timestamp;

pub trait Env {
    fn now(&self) -> Timestamp;
    /// Waits `d` (a real pause: other instances run meanwhile).
    fn sleep(&self, d: Duration);
    /// A fresh unguessable token (leases, link nonces, fold tokens).
    fn token(&self) -> String;
    /// A number in 0..1 for retry jitter.
    fn jitter(&self) -> f64;
}

/// A controllable environment for tests: time stands still unless moved with
/// [`TestEnv::advance`], or unless `sleeping_moves_time` is on, in which case every `sleep`
/// moves it by the time slept (a waiting loop then reaches its timeouts at once).
#[derive(Clone)]
pub struct TestEnv {
    now: Arc<Mutex<Timestamp>>,
    tokens: Arc<AtomicU64>,
    sleeping_moves_time: bool,
}

impl TestEnv {
    pub fn at(now: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
            tokens: Arc::default(),
            sleeping_moves_time: false,
        }
    }

    /// Every `sleep` moves the clock by the time slept.
    pub fn sleeping_moves_time(mut self) -> Self {
        self.sleeping_moves_time = true;
        self
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Env for TestEnv {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d.min(Duration::from_millis(1)));
        if self.sleeping_moves_time {
            self.advance(chrono::Duration::from_std(d).unwrap_or_default());
        }
    }

    fn token(&self) -> String {
        format!("token-{}", self.tokens.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn jitter(&self) -> f64 {
        0.5
    }
}
