//! The operator's writes over the API: open a batch, close, release or cancel it, record a
//! shipment — what `linegate batch …` and `linegate ship` do at the command line.
//!
//! Each needs the bearer token (401 otherwise, nothing read) and a `reason` in its JSON body
//! (400 naming the field otherwise). Each becomes the line message the command line or the
//! warehouse would send: opening a batch and shipping are protocol-v1 messages (`batch_open`,
//! `ship`) made of the body's fields and read by `protocol::decode`, so fields are checked and
//! refused in the very words the MQTT source uses (400, nothing stored); the batch decisions
//! are the supervisor's events, as `supervise` builds them (`batch_release` is no line
//! message). The message goes through `Store::ingest_by` under the id `api-<uuid>` and the
//! actor `api:<api.token_name>`: judged by the line rules in the writing transaction, written
//! with its audit row (who, what, old and new state, the reason) in that same transaction,
//! and answered after the commit — 200 applied, 422 refused by the rules (quarantined, as any
//! refused message). Like every input, none is taken while the disk guard has closed the
//! intake (503).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::messages::{answer, paused};
use super::reply::{read_only, write_body};
use super::{ApiState, error, reply, store_failed};
use crate::model::{LineEvent, LineMessage};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome, Operator};

/// An operator's write may go on: the bearer token matches and the body has a `reason`.
/// Returns the reason and the other fields, or the 401 / 400 to send.
#[allow(clippy::result_large_err)] // the error is the answer, sent as it is
fn operator_write(
    s: &ApiState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Map<String, Value>), Response> {
    if !s.authorized(headers) {
        return Err(s.unauthorized());
    }
    write_body(body)
}

/// `POST /api/v1/batches` with a `batch_open` message's fields, `line` and `reason`.
pub(super) async fn open(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reason, fields) = match operator_write(&s, &headers, &body) {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let batch = fields
        .get("batch")
        .and_then(Value::as_str)
        .map(String::from);
    let (id, line, outcome) = match submit(&s, "batch_open", fields, reason).await {
        Ok(done) => done,
        Err(answer) => return answer,
    };
    match (outcome, batch) {
        (IngestOutcome::Applied, Some(batch)) => reply(
            StatusCode::OK,
            &json!({"outcome": "applied", "id": id, "batch": batch}),
        ),
        (outcome, _) => answer(&line, Some(id), &outcome),
    }
}

/// `POST /api/v1/shipments` with a `ship` message's fields, `line` and `reason`.
pub(super) async fn ship(
    State(s): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reason, fields) = match operator_write(&s, &headers, &body) {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let shipment = fields
        .get("shipment")
        .and_then(Value::as_str)
        .map(String::from);
    let (id, line, outcome) = match submit(&s, "ship", fields, reason).await {
        Ok(done) => done,
        Err(answer) => return answer,
    };
    let (IngestOutcome::Applied, Some(shipment)) = (&outcome, shipment) else {
        return answer(&line, Some(id), &outcome);
    };
    let read = shipment.clone();
    match read_only(&s.data_dir, move |store| store.shipment(&read)).await {
        Ok(summary) => reply(
            StatusCode::OK,
            &json!({"outcome": "applied", "id": id, "shipment": summary}),
        ),
        Err(answer) => answer,
    }
}

/// `POST /api/v1/batches/{batch}/{close|release|cancel}` with `reason`.
pub(super) async fn decide(
    State(s): State<Arc<ApiState>>,
    Path((batch, decision)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reason, fields) = match operator_write(&s, &headers, &body) {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let event = match decision.as_str() {
        "close" => LineEvent::BatchClose {
            batch: batch.clone(),
        },
        "release" => LineEvent::BatchRelease {
            batch: batch.clone(),
        },
        "cancel" => LineEvent::BatchCancel {
            batch: batch.clone(),
            reason: Some(reason.clone()),
        },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no batch decision '{other}'; the decisions are close, release and cancel"),
            );
        }
    };
    if let Some(field) = fields.keys().next() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown field \"{field}\": the body is {{\"reason\": \"why\"}}; nothing was changed"
            ),
        );
    }
    let id = batch.clone();
    let line = match read_only(&s.data_dir, move |store| store.batch(&id)).await {
        Ok(Some(detail)) => detail.row.line,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("batch {batch} is unknown here; GET /api/v1/batches lists the batches"),
            );
        }
        Err(answer) => return answer,
    };
    if !*s.shared.intake.borrow() {
        return paused();
    }
    let now = Utc::now();
    let id = message_id();
    let payload = json!({"type": event.kind(), "batch": batch, "actor": s.actor, "reason": reason});
    let item = IngestItem {
        topic: topic(&line),
        line: Some(line.clone()),
        received_at: now,
        payload: payload.to_string().into_bytes(),
        decoded: Decoded::Accepted(LineMessage {
            line: line.clone(),
            message_id: id.clone(),
            time: now,
            event,
        }),
    };
    let outcome = match ingest(&s, item, reason).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    if outcome != IngestOutcome::Applied {
        return answer(&line, Some(id), &outcome);
    }
    let read = batch.clone();
    match read_only(&s.data_dir, move |store| store.batch(&read)).await {
        Ok(detail) => reply(
            StatusCode::OK,
            &json!({"outcome": "applied", "id": id, "batch": batch,
                    "state": detail.map(|d| d.row.state)}),
        ),
        Err(answer) => answer,
    }
}

/// Makes `fields` (less `line`) a protocol-v1 message of `kind`, decodes it as the line's
/// MQTT source would, and ingests it as the operator's: (message id, line, outcome).
async fn submit(
    s: &ApiState,
    kind: &str,
    mut fields: Map<String, Value>,
    reason: String,
) -> Result<(String, String, IngestOutcome), Response> {
    let line = match fields.remove("line") {
        Some(Value::String(l)) if s.lines.contains(&l) => l,
        Some(Value::String(l)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("line '{l}' is not configured ([[line]] id); nothing was stored"),
            ));
        }
        _ => {
            return Err(reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": "the field \"line\" is required: the [[line]] id; nothing was stored", "field": "line"}),
            ));
        }
    };
    for set_here in ["id", "type"] {
        if fields.contains_key(set_here) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the field \"{set_here}\" is set by the API; leave it out (nothing was stored)"
                ),
            ));
        }
    }
    if !*s.shared.intake.borrow() {
        return Err(paused());
    }
    let id = message_id();
    fields.insert("id".into(), json!(id));
    fields.insert("type".into(), json!(kind));
    let payload = Value::Object(fields).to_string().into_bytes();
    let received_at = Utc::now();
    let ctx = DecodeContext {
        line: &line,
        received_at,
        max_payload_bytes: s.max_payload_bytes,
        prefixes: &s.prefixes,
    };
    let msg = protocol::decode(&payload, &ctx).map_err(|r| {
        reply(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("{}; nothing was stored", r.rejection.reason),
                    "code": r.rejection.code.as_str()}),
        )
    })?;
    let item = IngestItem {
        topic: topic(&line),
        line: Some(line.clone()),
        received_at,
        payload,
        decoded: Decoded::Accepted(msg),
    };
    let outcome = ingest(s, item, reason).await?;
    Ok((id, line, outcome))
}

/// Hands `item` to the writer as the token holder's, with `reason`; after the commit.
async fn ingest(s: &ApiState, item: IngestItem, reason: String) -> Result<IngestOutcome, Response> {
    let operator = Operator {
        actor: s.actor.clone(),
        reason,
    };
    let (line, id) = match &item.decoded {
        Decoded::Accepted(m) => (m.line.clone(), m.message_id.clone()),
        Decoded::Refused { .. } => (String::new(), String::new()),
    };
    match s.shared.store.ingest_by(item, operator).await {
        Ok(outcome) => {
            tracing::info!(%line, id = %id, actor = %s.actor, applied = (outcome == IngestOutcome::Applied), "operator write through the API");
            Ok(outcome)
        }
        Err(e) => Err(store_failed(
            &e,
            "whether it was applied is unknown: look at the batch or shipment before trying again",
        )),
    }
}

/// The id of an operator's message: unique, so a write is never taken for a repeat.
fn message_id() -> String {
    format!("api-{}", uuid::Uuid::new_v4())
}

/// Where an operator's message is recorded as coming from.
fn topic(line: &str) -> String {
    format!("api/lines/{line}/operator")
}
