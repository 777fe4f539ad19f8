//! Step-by-step interleaving of workflows in native tests.
//!
//! Each racing workflow runs on its own named thread against one
//! [`MemoryStore`](crate::memory::MemoryStore). A [`Schedule`] pauses every store call until
//! it is that thread's turn in the order the test wrote (`["a", "b", "a", ...]`: one entry per
//! call), so a test can put one workflow's read between another's read and write, exactly the
//! interleavings that break check-then-write code. Calls from threads the schedule does not
//! name, and every call once the order is used up, run freely.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::memory::{Call, MemoryStore, Phase};

/// How long a thread waits for its turn before the test fails: a schedule naming a thread
/// that never calls again would otherwise hang the test.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    order: VecDeque<String>,
    /// The thread at the front of `order` is inside its call.
    busy: bool,
    trace: Vec<(String, Call, String)>,
}

#[derive(Clone, Default)]
pub struct Schedule {
    inner: Arc<(Mutex<State>, Condvar)>,
}

impl Schedule {
    /// Pauses `store`'s calls to follow `order` (thread names, one per call).
    pub fn install(store: &MemoryStore, order: &[&str]) -> Schedule {
        let schedule = Schedule::default();
        schedule.lock().order = order.iter().map(|s| (*s).to_owned()).collect();
        let s = schedule.clone();
        store.set_hook(move |call, key, phase| match phase {
            Phase::Before => s.wait_turn(call, key),
            Phase::After => s.end_turn(),
        });
        schedule
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until it is this thread's turn (if the schedule names it).
    fn wait_turn(&self, call: Call, key: &str) {
        let me = std::thread::current().name().unwrap_or("").to_owned();
        let (_, cvar) = &*self.inner;
        let mut state = self.lock();
        if state.order.contains(&me) {
            let (guard, timeout) = cvar
                .wait_timeout_while(state, TURN_TIMEOUT, |s| {
                    s.order.front() != Some(&me) || s.busy
                })
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            assert!(
                !timeout.timed_out(),
                "{me} waited for its turn ({call:?} {key}) but the schedule is at {:?}",
                state.order.front()
            );
            state.busy = true;
        }
        state.trace.push((me, call, key.to_owned()));
    }

    /// The call has taken effect: the next turn may start.
    fn end_turn(&self) {
        let me = std::thread::current().name().unwrap_or("").to_owned();
        let mut state = self.lock();
        if state.busy && state.order.front() == Some(&me) {
            state.order.pop_front();
            state.busy = false;
        }
        self.inner.1.notify_all();
    }

    /// Every call so far: (thread, call, key).
    pub fn trace(&self) -> Vec<(String, Call, String)> {
        self.lock().trace.clone()
    }

    /// The turns not taken yet.
    pub fn remaining(&self) -> Vec<String> {
        self.lock().order.iter().cloned().collect()
    }
}

/// Runs `f` on a thread named `name` (what the schedule calls it).
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn a test thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// The check-then-write a schedule exposes: both read "absent", both write.
    #[test]
    fn a_schedule_interleaves_two_threads_call_by_call() {
        let store = Arc::new(MemoryStore::new());
        let schedule = Schedule::install(&store, &["a", "b", "a", "b"]);
        let run = |name: &'static str| {
            let store = store.clone();
            spawn(name, move || {
                let seen = store.get("k").unwrap();
                store.set_many(&[("k".into(), name.into())]).unwrap();
                seen
            })
        };
        let (a, b) = (run("a"), run("b"));
        assert_eq!(a.join().unwrap(), None);
        assert_eq!(b.join().unwrap(), None, "b read before a wrote");
        let order: Vec<_> = schedule
            .trace()
            .into_iter()
            .map(|(t, c, _)| (t, c))
            .collect();
        assert_eq!(
            order,
            [
                ("a".into(), Call::Get),
                ("b".into(), Call::Get),
                ("a".into(), Call::SetMany),
                ("b".into(), Call::SetMany)
            ]
        );
    }
}
