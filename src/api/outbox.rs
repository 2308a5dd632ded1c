//! The outbox over the local API: the pages and documents `linegate outbox list|show` prints,
//! and the operator actions `retry`, `replay` and `reject` (docs/local-api.md).
//!
//! Reads go to a read-only connection on a blocking thread, never to the writer, and read a
//! page at a time (200 rows unless `limit` says otherwise, at most `MAX_LIMIT`): an outbox may
//! hold millions of rows. An action needs the bearer token, like every write, and a `reason`;
//! it is `Store::outbox_action` — one writer transaction, noted and audited as done by
//! `api:<api.token_name>` — and
//! the forwarders are woken by its commit. An action that does not apply is refused with 409
//! and the store's explanation; nothing changed then.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{ApiState, reply, store_failed};
use crate::store::{OperatorAction, OperatorRequest, OutboxQuery, ReadOnlyStore, StoreError};

/// Rows a page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 200;
/// The largest page the API builds.
const MAX_LIMIT: usize = 10_000;

/// `GET /api/v1/outbox?state=&upstream=&batch=&limit=`: a page, as `linegate outbox list`.
pub(super) async fn list(State(s): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let q = match query(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return reply(StatusCode::BAD_REQUEST, &json!({"error": e})),
    };
    let dir = s.data_dir.clone();
    let read = tokio::task::spawn_blocking(move || ReadOnlyStore::open(&dir)?.outbox_page(&q));
    match read.await {
        Ok(Ok(page)) => reply(StatusCode::OK, &page),
        Ok(Err(StoreError::Refused(e))) => reply(StatusCode::BAD_REQUEST, &json!({"error": e})),
        Ok(Err(e)) => store_failed(&e, "try again"),
        Err(e) => stopped(&e),
    }
}

/// `GET /api/v1/outbox/{document_id}`: one document and its deliveries, as `outbox show`.
pub(super) async fn show(State(s): State<Arc<ApiState>>, Path(doc): Path<String>) -> Response {
    let dir = s.data_dir.clone();
    let id = doc.clone();
    let read = tokio::task::spawn_blocking(move || ReadOnlyStore::open(&dir)?.outbox_document(&id));
    match read.await {
        Ok(Ok(Some(d))) => reply(StatusCode::OK, &d),
        Ok(Ok(None)) => unknown(&doc),
        Ok(Err(e)) => store_failed(&e, "try again"),
        Err(e) => stopped(&e),
    }
}

/// The body of an action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    upstream: Option<String>,
    reason: Option<String>,
}

/// `POST /api/v1/outbox/{document_id}/{retry|replay|reject}` with `{"reason", "upstream"?}`.
pub(super) async fn act(
    State(s): State<Arc<ApiState>>,
    Path((doc, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.authorized(&headers) {
        return s.unauthorized();
    }
    let action = match action.as_str() {
        "retry" => OperatorAction::Retry,
        "replay" => OperatorAction::Replay,
        "reject" => OperatorAction::Reject,
        other => {
            return reply(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no outbox action '{other}'; the actions are retry, replay and reject")}),
            );
        }
    };
    let parsed: Result<ActionBody, _> = serde_json::from_slice(&body);
    let (upstream, reason) = match parsed {
        Ok(ActionBody {
            upstream,
            reason: Some(reason),
        }) if !reason.trim().is_empty() => (upstream, reason),
        Ok(_) => return bad_body("\"reason\" is required and may not be empty"),
        Err(e) => return bad_body(&e.to_string()),
    };
    // An unknown document is a 404, not a refusal of the action.
    let dir = s.data_dir.clone();
    let id = doc.clone();
    let known =
        tokio::task::spawn_blocking(move || ReadOnlyStore::open(&dir)?.outbox_document(&id));
    match known.await {
        Ok(Ok(Some(_))) => {}
        Ok(Ok(None)) => return unknown(&doc),
        Ok(Err(e)) => return store_failed(&e, "nothing was changed; try again"),
        Err(e) => return stopped(&e),
    }
    let req = OperatorRequest {
        action,
        document_id: doc.clone(),
        upstream,
        actor: s.actor.clone(),
        reason,
    };
    match s.shared.store.outbox_action(req).await {
        Ok(changed) => {
            tracing::info!(document = %doc, action = action.as_str(), actor = %s.actor, "outbox action applied");
            reply(
                StatusCode::OK,
                &json!({"action": action.as_str(), "document_id": doc, "changed": changed}),
            )
        }
        Err(StoreError::Refused(why)) => reply(StatusCode::CONFLICT, &json!({"error": why})),
        Err(e) => store_failed(
            &e,
            "whether it was applied is unknown: GET the document to see",
        ),
    }
}

fn bad_body(why: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": format!("the body must be JSON {{\"reason\": \"why\", \"upstream\": \"name\" (optional)}}: {why}; nothing was changed")}),
    )
}

fn unknown(doc: &str) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("document {doc} is unknown here; GET /api/v1/outbox lists the documents")}),
    )
}

fn stopped(e: &tokio::task::JoinError) -> Response {
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"error": format!("reading the outbox stopped: {e}")}),
    )
}

/// The page a query string asks for.
fn query(raw: &str) -> Result<OutboxQuery, String> {
    let mut q = OutboxQuery {
        limit: Some(DEFAULT_LIMIT),
        ..OutboxQuery::default()
    };
    for (key, value) in super::reply::query_pairs(raw)? {
        match key.as_str() {
            "state" => q.state = Some(value),
            "upstream" => q.upstream = Some(value),
            "batch" => q.batch = Some(value),
            "limit" => {
                q.limit = match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
                    _ => return Err(format!("limit must be a number from 1 to {MAX_LIMIT}")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown parameter '{key}'; the parameters are state, upstream, batch and limit"
                ));
            }
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_names_the_page() {
        let q = query("state=rejected&upstream=m%C3%A4h&batch=B+1&limit=5").expect("valid");
        assert_eq!(
            q,
            OutboxQuery {
                state: Some("rejected".into()),
                upstream: Some("mäh".into()),
                batch: Some("B 1".into()),
                limit: Some(5),
            }
        );
        assert_eq!(query("").expect("valid").limit, Some(DEFAULT_LIMIT));
        assert!(query("limit=0").is_err());
        assert!(query("limit=10001").is_err());
        assert!(query("colour=red").expect_err("unknown").contains("colour"));
        assert!(query("batch=%zz").is_err());
    }
}
