//! Hand-over between stages: a POST to the next stage's internal route.
//!
//! The base URL of each stage is a variable (`triage_url`, `dispatch_url`): by default a
//! service-chaining URL (`http://triage.spin.internal`), which Spin runs in-process; on hosts
//! without chaining, the app's own public URL. Either way the call carries the internal token,
//! and the caller has written its result first, so a failed hand-over only delays the work
//! until the next tick.

use std::time::Duration;

use closeloop_domain::problem::Problem;

use crate::{config, log, outbound};

/// How long a stage waits for the next one to take over.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(20);

/// The internal token every stage route requires.
pub fn internal_token() -> Result<String, Problem> {
    config::required("internal_token")
}

/// Calls `POST {base}{path}` on the stage whose base URL is in variable `base_variable`.
/// Returns the status and body, or why the call failed.
pub fn hand_over(
    base_variable: &str,
    default_base: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<(u16, Vec<u8>), String> {
    let base = config::optional(base_variable).unwrap_or_else(|| default_base.to_owned());
    let token = internal_token().map_err(|p| p.detail)?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let auth = format!("Bearer {token}");
    let body = serde_json::to_vec(body).expect("JSON serializes");
    outbound::post_json(&url, &[("authorization", &auth)], &body, HANDOVER_TIMEOUT)
        .map(|r| (r.status, r.body))
        .map_err(|e| e.to_string())
}

/// Hands over and logs the outcome; a failure is not an error for the caller, whose work is
/// already stored and will be re-driven by tick.
pub fn hand_over_logged(
    component: &'static str,
    base_variable: &str,
    default_base: &str,
    path: &str,
    body: &serde_json::Value,
) {
    match hand_over(base_variable, default_base, path, body) {
        Ok((status, _)) if (200..300).contains(&status) => {}
        Ok((status, _)) => log::event(
            component,
            "hand-over refused; tick will retry",
            serde_json::json!({"to": base_variable, "status": status}),
        ),
        Err(error) => log::event(
            component,
            "hand-over failed; tick will retry",
            serde_json::json!({"to": base_variable, "error": error}),
        ),
    }
}
