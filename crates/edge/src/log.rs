//! One structured line per request on stderr (Spin keeps it per component).
//!
//! The line names the route pattern, never the raw path: paths can carry confirmation tokens.
//! Callers add ids, never an email, phone number or secret.

use serde_json::{Map, Value, json};

use crate::clock;

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
            "ts": clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "component": self.component,
            "method": self.method,
            "route": self.route,
            "status": status,
            "ms": self.started.elapsed().as_millis() as u64,
        });
        if let Value::Object(map) = &mut line {
            map.extend(self.fields);
        }
        eprintln!("{line}");
    }
}

/// A line about work done after the response (chained stages, deliveries).
pub fn event(component: &'static str, msg: &str, fields: Value) {
    eprintln!(
        "{}",
        json!({
            "ts": clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "component": component,
            "msg": msg,
            "fields": fields,
        })
    );
}
