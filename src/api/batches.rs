//! `GET /api/v1/batches` and `GET /api/v1/batches/{batch}`: the batches as the shift
//! supervisor's `linegate batch list --json` and `batch show --json` print them.
//!
//! Read through a read-only connection on a blocking thread, never the writer's. The list is
//! newest first, a page at a time (`limit`, 200 unless said otherwise): a site keeps every
//! batch it ever made.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::reply::{query_pairs, read_only};
use super::{ApiState, error, reply};

/// Batches a page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 200;
/// The largest page.
const MAX_LIMIT: usize = 10_000;

/// `GET /api/v1/batches?state=&limit=`: the newest batches, in that state if one is named.
pub(super) async fn list(State(s): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let (state, limit) = match query(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let read = read_only(&s.data_dir, move |store| {
        store.batches_where(state.as_deref(), Some(limit))
    });
    match read.await {
        Ok(rows) => reply(StatusCode::OK, &rows),
        Err(answer) => answer,
    }
}

/// `GET /api/v1/batches/{batch}`: `ReadOnlyStore::batch`, as `linegate batch show --json`.
pub(super) async fn show(State(s): State<Arc<ApiState>>, Path(batch): Path<String>) -> Response {
    let id = batch.clone();
    match read_only(&s.data_dir, move |store| store.batch(&id)).await {
        Ok(Some(detail)) => reply(StatusCode::OK, &detail),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("batch {batch} is unknown here; GET /api/v1/batches lists the batches"),
        ),
        Err(answer) => answer,
    }
}

/// The state and the page size a query string asks for.
fn query(raw: &str) -> Result<(Option<String>, usize), String> {
    let (mut state, mut limit) = (None, DEFAULT_LIMIT);
    for (key, value) in query_pairs(raw)? {
        match key.as_str() {
            "state" => state = Some(value),
            "limit" => {
                limit = match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => return Err(format!("limit must be a number from 1 to {MAX_LIMIT}")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown parameter '{key}'; the parameters are state and limit"
                ));
            }
        }
    }
    Ok((state, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_a_state_and_a_page() {
        assert_eq!(query(""), Ok((None, DEFAULT_LIMIT)));
        assert_eq!(
            query("state=closed&limit=5"),
            Ok((Some("closed".into()), 5))
        );
        assert!(query("limit=0").is_err() && query("limit=x").is_err());
        assert!(query("lot=1").expect_err("unknown").contains("'lot'"));
    }
}
