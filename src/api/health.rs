//! `GET /health` and `GET /api/v1/health`: whether linegate is well, and if not, why.
//!
//! Both show what the daemon's health registry holds — one problem per part (`disk`, `mqtt`,
//! `store…`, `outbox…`, `scanner:…`), each a sentence for the operator with since when it
//! holds — plus the intake's state, the version and each line's scanner stations. `/health` is
//! the probe for monitoring and load balancers: 200 when nothing is wrong, 503 otherwise, so a
//! plain HTTP check turns red with the daemon. `/api/v1/health` is the same document for
//! tools that want to read it whatever it says: always 200 while the daemon answers. Nothing
//! here asks the store: a hung writer cannot hang the health (the registry learns about it
//! from `health::store_watch`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{ApiState, reply};

/// `GET /health`: 200 when healthy, 503 with the problems otherwise.
pub(super) async fn probe(State(s): State<Arc<ApiState>>) -> Response {
    let (healthy, body) = document(&s);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(status, &body)
}

/// `GET /api/v1/health`: the same document, 200 whatever it says.
pub(super) async fn status(State(s): State<Arc<ApiState>>) -> Response {
    reply(StatusCode::OK, &document(&s).1)
}

fn document(s: &ApiState) -> (bool, Value) {
    let health = &s.shared.health;
    let open = *s.shared.intake.borrow();
    let problems = health.problems();
    let healthy = problems.is_empty();
    let lines: Vec<_> = (s.lines.iter())
        .map(|line| json!({"line": line, "stations": health.stations_on(line)}))
        .collect();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "healthy": healthy,
        "version": env!("CARGO_PKG_VERSION"),
        "intake": if open { "open" } else { "paused" },
        "problems": problems,
        "lines": lines,
    });
    (healthy, body)
}
