//! `POST /api/v1/lines/{line}/messages`: one protocol-v1 message, taken as the MQTT source takes
//! a PUBLISH, and answered only after the store committed it.
//!
//! The body is the message exactly as a line or the warehouse would publish it on
//! `{prefix}/lines/{line}/events`. The checks run cheapest and least revealing first: the token
//! (401, nothing read), the line (404), the disk guard's intake (503 with Retry-After: like the
//! other sources, the API takes no input while it is closed — it cannot hold a request the way
//! the broker holds a message, so the caller is told to come back), and the size (413, read no
//! further than `mqtt.max_payload_bytes`). None of these stores anything: the caller hears at
//! once and nothing of the message was taken. Then the message is decoded by
//! `protocol::decode` and handed to the store with the topic `api/lines/{line}/messages`;
//! from there it is an ordinary message (de-duplicated on line and id, judged by the rules in
//! the writing transaction, a refusal quarantined). The status says what became of the id: 200
//! applied (or applied before: `duplicate`), 422 refused (now, or before: `duplicate`).

use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use super::{reply, reply_with, store_failed};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome};

/// Seconds a caller refused for low disk space is asked to wait (the guard checks every 2 s).
const RETRY_AFTER_SECS: &str = "10";

pub(super) async fn post(
    State(s): State<Arc<super::ApiState>>,
    Path(line): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !s.authorized(&headers) {
        return s.unauthorized();
    }
    if !s.lines.contains(&line) {
        return reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("line '{line}' is not configured ([[line]] id); nothing was stored")}),
        );
    }
    if !*s.shared.intake.borrow() {
        return paused();
    }
    let payload = match read_body(&headers, body, s.max_payload_bytes).await {
        Ok(p) => p,
        Err(BodyError::TooLarge) => {
            let limit = s.max_payload_bytes;
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"error": format!("the message is larger than mqtt.max_payload_bytes = {limit}; split it (nothing was stored)")}),
            );
        }
        Err(BodyError::Broken(e)) => {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("the request body could not be read: {e}")}),
            );
        }
    };

    let received_at = Utc::now();
    let ctx = DecodeContext {
        line: &line,
        received_at,
        max_payload_bytes: s.max_payload_bytes,
        prefixes: &s.prefixes,
    };
    let (id, decoded) = match protocol::decode(&payload, &ctx) {
        Ok(msg) => (Some(msg.message_id.clone()), Decoded::Accepted(msg)),
        Err(r) => (
            r.message_id.clone(),
            Decoded::Refused {
                message_id: r.message_id,
                rejection: r.rejection,
            },
        ),
    };
    let item = IngestItem {
        topic: format!("api/lines/{line}/messages"),
        line: Some(line.clone()),
        received_at,
        payload,
        decoded,
    };
    match s.shared.store.ingest(item).await {
        Ok(outcome) => answer(&line, id, &outcome),
        Err(e) => store_failed(
            &e,
            "whether it was stored is unknown: send the message again with the same id",
        ),
    }
}

/// 503 while the disk guard has closed the intake: nothing is taken, come back later.
pub(super) fn paused() -> Response {
    reply_with(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": "linegate is not taking input: free disk space is low (GET /health says why); nothing was stored, send it again later"}),
        Some((RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS))),
    )
}

/// The committed outcome as the caller sees it (the operator's writes answer the same way).
pub(super) fn answer(line: &str, id: Option<String>, outcome: &IngestOutcome) -> Response {
    let (status, body) = match outcome {
        IngestOutcome::Applied => (StatusCode::OK, json!({"outcome": "applied", "id": id})),
        IngestOutcome::Duplicate { earlier: None } => (
            StatusCode::OK,
            json!({"outcome": "duplicate", "id": id, "earlier": "applied"}),
        ),
        IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => {
            let duplicate = matches!(outcome, IngestOutcome::Duplicate { .. });
            tracing::warn!(%line, id = ?id, code = r.code.as_str(), reason = %r.reason, duplicate, "API message rejected and quarantined");
            let body = if duplicate {
                json!({"outcome": "duplicate", "id": id, "earlier": "rejected", "code": r.code.as_str(), "reason": r.reason})
            } else {
                json!({"outcome": "rejected", "id": id, "code": r.code.as_str(), "reason": r.reason})
            };
            (StatusCode::UNPROCESSABLE_ENTITY, body)
        }
    };
    reply(status, &body)
}

enum BodyError {
    TooLarge,
    Broken(axum::Error),
}

/// The request body, refused as soon as it is known to be over `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = (headers.get(CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = body;
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}
