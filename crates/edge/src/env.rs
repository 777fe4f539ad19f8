//! The workflows' [`Env`] on Spin: the WASI wall clock, a real pause (other instances run
//! meanwhile), and WASI random for tokens.

use closeloop_domain::Timestamp;
use closeloop_workflow::env::Env;

use crate::clock;

pub struct SpinEnv;

impl Env for SpinEnv {
    fn now(&self) -> Timestamp {
        clock::now()
    }

    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d);
    }

    fn token(&self) -> String {
        let bytes: [u8; 16] = clock::entropy();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn jitter(&self) -> f64 {
        clock::jitter()
    }
}
