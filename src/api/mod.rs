//! The local HTTP API (`[api]`, docs/local-api.md): a third way in beside the MQTT source and
//! the scanner stations, for programs on the gateway's own machine.
//!
//! A warehouse system, a line controller without MQTT, or a script may hand linegate a
//! protocol-v1 message over HTTP instead of publishing it (shipping through `ship` is the
//! reason it exists), and tools may read the daemon's health and a batch. Writes obey the
//! sources' rules: the same decoder (`protocol::decode`, with the line's configuration), the
//! same store path (`Store::ingest`, de-duplicated on the line and message id, refusals
//! quarantined), an answer only after the commit, and no input taken while the disk guard has
//! closed the intake. It talks to nothing but the store: no source, assembler or forwarder is
//! called. It listens on loopback unless configured otherwise, and writes need the bearer token
//! of `api.token_file` (`token`); the reads (health, a batch, the outbox, `/metrics`) are open
//! to any local caller, and go to the health registry and a read-only store connection, never
//! to the writer. The outbox's operator actions (`outbox`) are writes: token, one writer
//! transaction each. axum is built without its JSON and query features here, so replies are
//! serialised by hand (`reply`) and query strings read by hand (`outbox`).

mod messages;
pub mod metrics;
mod outbox;
mod token;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use token::Token;

use crate::config::{self, Config};
use crate::gs1::CompanyPrefixes;
use crate::health::Health;
use crate::store::{ReadOnlyStore, Store};

/// Errors at the API's boundary: starting it (its token, its socket) and serving.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token file (`api.token_file`) cannot be used; never shows the file's content.
    #[error("the API token file {path} (api.token_file) {problem}")]
    Token { path: PathBuf, problem: String },
    #[error("cannot listen on {addr} (api.listen): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the local API stopped serving: {0}")]
    Serve(std::io::Error),
}

/// What the API shares with the rest of the daemon.
pub struct Shared {
    pub store: Store,
    pub health: Health,
    /// The disk guard's intake: `false` while no input may be taken.
    pub intake: watch::Receiver<bool>,
}

/// The state every request sees.
struct ApiState {
    shared: Shared,
    token: Token,
    lines: BTreeSet<String>,
    prefixes: CompanyPrefixes,
    max_payload_bytes: usize,
    data_dir: PathBuf,
    /// The configured upstreams (`/metrics` shows each, owing something or not).
    upstreams: Vec<String>,
    /// `gateway.max_outbox_bytes`, for `/metrics`.
    max_outbox_bytes: u64,
}

/// The API with its token read and its socket bound, not serving yet.
pub struct Listener {
    listener: TcpListener,
    token: Token,
}

impl Listener {
    /// Reads the token and binds `api.listen`: a daemon that cannot do either does not start.
    pub async fn open(cfg: &config::Api) -> Result<Listener, ApiError> {
        let token = Token::read(&cfg.token_file)?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ApiError::Bind {
                addr: cfg.listen,
                source,
            })?;
        tracing::info!(listen = %cfg.listen, "local API listening");
        Ok(Listener { listener, token })
    }

    /// Serves until `shutdown`, then finishes the requests under way (each waits for its
    /// commit; the store outlives the sources).
    pub async fn serve(self, config: &Config, shared: Shared, shutdown: CancellationToken) {
        let state = Arc::new(ApiState {
            shared,
            token: self.token,
            lines: config.lines.iter().map(|l| l.id.clone()).collect(),
            prefixes: config.prefixes.clone(),
            max_payload_bytes: config.mqtt.max_payload_bytes,
            data_dir: config.gateway.data_dir.clone(),
            upstreams: config.upstreams.iter().map(|u| u.name.clone()).collect(),
            max_outbox_bytes: config.gateway.max_outbox_bytes,
        });
        let served = axum::serve(self.listener, router(state))
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %ApiError::Serve(e), "the local API is down until linegate restarts");
        }
    }
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/batches/{batch}", get(batch))
        .route("/api/v1/lines/{line}/messages", post(messages::post))
        .route("/api/v1/outbox", get(outbox::list))
        .route("/api/v1/outbox/{document_id}", get(outbox::show))
        .route("/api/v1/outbox/{document_id}/{action}", post(outbox::act))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async {
            reply(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such endpoint; see docs/local-api.md"}),
            )
        })
        .with_state(state)
}

/// `GET /api/v1/health`: what the health registry holds, the intake's state and the version;
/// 200 whenever the daemon answers at all (`healthy` says whether anything is wrong).
async fn health(State(s): State<Arc<ApiState>>) -> Response {
    let health = &s.shared.health;
    let open = *s.shared.intake.borrow();
    let lines: Vec<_> = (s.lines.iter())
        .map(|line| json!({"line": line, "stations": health.stations_on(line)}))
        .collect();
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "healthy": health.is_healthy(),
        "intake": if open { "open" } else { "paused" },
        "problems": health.problems(),
        "lines": lines,
    });
    reply(StatusCode::OK, &body)
}

/// `GET /api/v1/batches/{batch}`: `ReadOnlyStore::batch`, the JSON `linegate batch show --json`
/// prints, read through a read-only connection on a blocking thread (never the writer's).
async fn batch(State(s): State<Arc<ApiState>>, Path(batch): Path<String>) -> Response {
    let dir = s.data_dir.clone();
    let id = batch.clone();
    let read = tokio::task::spawn_blocking(move || ReadOnlyStore::open(&dir)?.batch(&id)).await;
    match read {
        Ok(Ok(Some(detail))) => reply(StatusCode::OK, &detail),
        Ok(Ok(None)) => reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("batch {batch} is unknown here")}),
        ),
        Ok(Err(e)) => store_failed(&e, "try again"),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": format!("reading the batch stopped: {e}")}),
        ),
    }
}

/// A JSON answer.
fn reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    reply_with(status, body, None)
}

/// 401 for a write without the API's bearer token, saying where the token is.
fn unauthorized() -> Response {
    let challenge = HeaderValue::from_static("Bearer realm=\"linegate\"");
    reply_with(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "a write needs the header Authorization: Bearer <the token in api.token_file>"}),
        Some((axum::http::header::WWW_AUTHENTICATE, challenge)),
    )
}

/// A JSON answer with one more header.
fn reply_with(
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
fn store_failed(e: &crate::store::StoreError, then: &str) -> Response {
    tracing::error!(error = %e, "local API: the store failed");
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({"error": format!("{e}; {then}")}),
    )
}
