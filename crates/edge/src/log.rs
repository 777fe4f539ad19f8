//! Logs: one line of one JSON object per request or event on stderr, written in ONE write so
//! that lines of concurrent instances never interleave (Spin keeps one log per component).
//!
//! The request line names the route pattern, never the raw path: paths can carry confirmation
//! tokens. Callers add ids, never an email, phone number or secret.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::clock;

/// Writes `value` as one line with one write call.
fn write_line(value: &Value) {
    let mut line = value.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn timestamp() -> String {
    clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub struct RequestLog {
    component: &'static str,
    method: String,
    route: &'static str,
    started: std::time::Instant,
    fields: Map<String, Value>,
}

impl RequestLog {
    pub fn start(component: &'static str, method: &str) -> Self {
        Self {
            component,
            method: method.to_owned(),
            route: "unmatched",
            started: std::time::Instant::now(),
            fields: Map::new(),
        }
    }

    pub fn route(&mut self, route: &'static str) {
        self.route = route;
    }

    pub fn field(&mut self, name: &str, value: impl Into<Value>) {
        self.fields.insert(name.to_owned(), value.into());
    }

    pub fn finish(self, status: u16) {
        let mut line = json!({
            "ts": timestamp(),
            "component": self.component,
            "method": self.method,
            "route": self.route,
            "status": status,
            "ms": self.started.elapsed().as_millis() as u64,
        });
        if let Value::Object(map) = &mut line {
            map.extend(self.fields);
        }
        write_line(&line);
    }
}

/// A line about work done after the response (hand-overs, deliveries, ticks).
pub fn event(component: &'static str, msg: &str, fields: Value) {
    write_line(&json!({
        "ts": timestamp(),
        "component": component,
        "msg": msg,
        "fields": fields,
    }));
}

/// An error line: something the operator should look at (no secrets in `detail`).
pub fn error(msg: &str, detail: &str) {
    write_line(&json!({
        "ts": timestamp(),
        "level": "error",
        "msg": msg,
        "detail": detail,
    }));
}
