//! How the API answers and reads what it is sent: JSON replies with the right status, the 401
//! of a write without the token, a store failure with what the caller may do, a read on a
//! read-only connection off the async threads, query strings and write bodies read by hand.
//!
//! axum is built without its JSON and query features (fewer dependencies in a daemon that
//! needs little of them), so what those would do is done here, once for every endpoint.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::store::{ReadOnlyStore, StoreError};

/// A JSON answer.
pub(super) fn reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    reply_with(status, body, None)
}

/// A JSON answer `{"error": text}`.
pub(super) fn error(status: StatusCode, text: impl Into<String>) -> Response {
    reply(status, &json!({"error": text.into()}))
}

/// 401 for a write without the API's bearer token, saying where the token is (or that this
/// API takes no writes at all).
pub(super) fn unauthorized(has_token: bool) -> Response {
    let challenge = HeaderValue::from_static("Bearer realm=\"linegate\"");
    let text = if has_token {
        "a write needs the header Authorization: Bearer <the token in api.token_file>"
    } else {
        "this API takes no writes: it has no token (set api.token_file and restart linegate)"
    };
    reply_with(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": text }),
        Some((WWW_AUTHENTICATE, challenge)),
    )
}

/// A JSON answer with one more header.
pub(super) fn reply_with(
    status: StatusCode,
    body: &impl serde::Serialize,
    header: Option<(HeaderName, HeaderValue)>,
) -> Response {
    let Ok(text) = serde_json::to_string(body) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response();
    if let Some((name, value)) = header {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A failure of the store, with what the caller may do about it.
pub(super) fn store_failed(e: &StoreError, then: &str) -> Response {
    tracing::error!(error = %e, "local API: the store failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}; {then}"))
}

/// Runs `read` on a read-only connection to `dir`, on a blocking thread (never the writer's);
/// a failure is the answer to send.
pub(super) async fn read_only<T: Send + 'static>(
    dir: &Path,
    read: impl FnOnce(&ReadOnlyStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let dir: PathBuf = dir.to_path_buf();
    let done = tokio::task::spawn_blocking(move || read(&ReadOnlyStore::open(&dir)?)).await;
    match done {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(StoreError::Refused(why))) => Err(error(StatusCode::BAD_REQUEST, why)),
        Ok(Err(e)) => Err(store_failed(&e, "try again")),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the read stopped: {e}"),
        )),
    }
}

/// The `key=value` pairs of a query string, percent-decoded.
pub(super) fn query_pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    (raw.split('&').filter(|p| !p.is_empty()))
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || format!("'{key}' is not percent-encoded UTF-8");
            Ok((
                percent_decode(key).ok_or_else(bad)?,
                percent_decode(value).ok_or_else(bad)?,
            ))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A write's body: a JSON object with a non-empty `reason` (what the audit trail records as
/// why). Returns the reason and the other fields, or the 400 naming what is missing.
#[allow(clippy::result_large_err)] // the error is the answer, sent as it is
pub(super) fn write_body(body: &[u8]) -> Result<(String, Map<String, Value>), Response> {
    let bad = |why: String| {
        reply(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("{why}; nothing was changed"), "field": "reason"}),
        )
    };
    let mut fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) if body.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Ok(_) => return Err(bad("the body must be a JSON object".into())),
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Err(e) => return Err(bad(format!("the body is not JSON ({e})"))),
    };
    match fields.remove("reason") {
        Some(Value::String(r)) if !r.trim().is_empty() => Ok((r.trim().to_string(), fields)),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(bad(
            "the field \"reason\" is required: say why (it goes into the audit trail)".into(),
        )),
        Some(_) => Err(bad("the field \"reason\" must be a string".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_decoded_pairs() {
        let pairs = query_pairs("state=open&batch=B+1&x=m%C3%A4h&flag").expect("valid");
        let flat: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        assert_eq!(
            flat,
            [
                ("state", "open"),
                ("batch", "B 1"),
                ("x", "mäh"),
                ("flag", "")
            ]
        );
        assert!(query_pairs("batch=%zz").is_err());
        assert!(query_pairs("batch=%C3").is_err(), "not UTF-8");
    }

    #[test]
    fn a_write_body_needs_a_reason() {
        let (reason, rest) = write_body(br#"{"reason": " line stop ", "batch": "B1"}"#)
            .unwrap_or_else(|_| panic!("accepted"));
        assert_eq!(reason, "line stop");
        assert_eq!(rest.get("batch"), Some(&json!("B1")));
        assert!(rest.get("reason").is_none());
        for body in [
            &b""[..],
            b"{}",
            br#"{"reason": " "}"#,
            br#"{"reason": 3}"#,
            b"[1]",
            b"{",
        ] {
            let refused = write_body(body).expect_err("refused");
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{body:?}");
        }
    }
}
