//! `GET /api/v1/serials/{code}`: one identifier — its state, batch, parents, children and
//! history — as `linegate serial show --json` prints it.
//!
//! The code may be given in any form the command takes (`gs1::parse_code`: bracketed element
//! strings, raw scanner data, a Digital Link, an EPC URI), percent-encoded in the path (a
//! Digital Link's slashes as `%2F`, a GS separator as `%1D`). An unreadable code is a 400 that
//! says why; a readable one that was never commissioned here a 404.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::reply::read_only;
use super::{ApiState, error, reply};

pub(super) async fn show(State(s): State<Arc<ApiState>>, Path(code): Path<String>) -> Response {
    let today = chrono::Utc::now().date_naive();
    let key = match crate::gs1::parse_code(&code, today) {
        Ok(c) => c.id.key(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "'{code}' is not a GS1 code naming one unit ({e}); give it as (01)…(21)…, \
                     (00)…, raw scanner data, a Digital Link or an EPC URI, percent-encoded"
                ),
            );
        }
    };
    let looked_up = key.clone();
    match read_only(&s.data_dir, move |store| store.serial(&looked_up)).await {
        Ok(Some(detail)) => reply(StatusCode::OK, &detail),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("{key} was never commissioned here (read from '{code}')"),
        ),
        Err(answer) => answer,
    }
}
