//! A wall clock that tests can move. Not a Spin feature: a test hook.
//!
//! closeloop's escalation, retry and expiry logic reads `wasi:clocks/wall-clock` inside the
//! components. To test "five minutes later" without waiting five minutes, every instance of a
//! running app reads its wall clock from one shared [`TestClock`], which tests freeze, set or
//! advance. The monotonic clock stays real (timeouts keep working).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A shared, controllable wall clock. Clones share the same time.
#[derive(Clone, Debug)]
pub struct TestClock {
    mode: Arc<Mutex<Mode>>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Real time shifted by `offset` (moved by [`TestClock::advance`]).
    Real { offset: Duration },
    /// Frozen at a fixed instant until set or advanced.
    Fixed(SystemTime),
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new_real()
    }
}

impl TestClock {
    /// Real time (the default): guests see the host's clock until the test advances it.
    pub fn new_real() -> Self {
        Self::with(Mode::Real {
            offset: Duration::ZERO,
        })
    }

    /// A clock frozen at `at`; it moves only when advanced or set.
    pub fn at(at: SystemTime) -> Self {
        Self::with(Mode::Fixed(at))
    }

    fn with(mode: Mode) -> Self {
        Self {
            mode: Arc::new(Mutex::new(mode)),
        }
    }

    /// Moves the clock forward by `by` (for every app and instance sharing it).
    pub fn advance(&self, by: Duration) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { offset } => Mode::Real {
                offset: offset + by,
            },
            Mode::Fixed(at) => Mode::Fixed(at + by),
        };
    }

    /// Freezes the clock at `at`.
    pub fn set(&self, at: SystemTime) {
        *self.lock() = Mode::Fixed(at);
    }

    /// The time guests currently see.
    pub fn now(&self) -> SystemTime {
        match *self.lock() {
            Mode::Real { offset } => SystemTime::now() + offset,
            Mode::Fixed(at) => at,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl wasmtime_wasi::HostWallClock for TestClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        TestClock::now(self)
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = TestClock::at(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::from_secs(300));
        assert_eq!(clock.now(), start + Duration::from_secs(300));
        clock.set(start);
        assert_eq!(shared.now(), start);
    }

    #[test]
    fn real_clock_can_be_advanced() {
        let clock = TestClock::new_real();
        clock.advance(Duration::from_secs(3600));
        let ahead = clock.now().duration_since(SystemTime::now()).unwrap();
        assert!(ahead > Duration::from_secs(3590));
    }
}
