//! The local HTTP API (`[api]`, docs/local-api.md): a third way in beside the MQTT source and
//! the scanner stations, for programs on the gateway's own machine, and the daemon's window for
//! monitoring.
//!
//! Reads are open to any local caller: the health (`health`: 200, or 503 with the reasons),
//! Prometheus metrics (`metrics`), batches (`batches`), serials (`serials`) and the outbox
//! (`outbox`). They go to the health registry, the writer's figures and a read-only store
//! connection, never to the writer. Writes need the bearer token of `api.token_file` (`token`):
//! a protocol-v1 message as a line would publish it (`messages`), an operator's batch decision
//! or shipment (`writes`) and the outbox's actions (`outbox`). Writes obey the sources' rules:
//! the same decoder (`protocol::decode`), the same store path (de-duplicated, judged by the
//! line rules in the writing transaction, refusals quarantined), an answer only after the
//! commit, no input while the disk guard has closed the intake; an operator's write carries a
//! reason and is recorded in the audit trail under `api:<api.token_name>`. It talks to nothing
//! but the store: no source, assembler or forwarder is called. It listens on loopback unless
//! configured otherwise, and never off loopback without a token. axum is built without its
//! JSON and query features here, so replies are serialised and query strings read by hand
//! (`reply`).

mod batches;
mod exposition;
mod health;
mod messages;
pub mod metrics;
mod outbox;
mod reply;
mod serials;
mod token;
mod writes;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use token::Token;

use crate::config::{self, Config};
use crate::gs1::CompanyPrefixes;
use crate::health::Health;
use crate::store::Store;
use reply::{error, reply, reply_with, store_failed};

/// Errors at the API's boundary: starting it (its token, its socket) and serving.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token file (`api.token_file`) cannot be used; never shows the file's content.
    #[error("the API token file {path} (api.token_file) {problem}")]
    Token { path: PathBuf, problem: String },
    #[error(
        "the API would listen on {0}, which is not a loopback address, without a token: set api.token_file, or listen on 127.0.0.1"
    )]
    Unprotected(SocketAddr),
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
    /// None: this API takes no writes.
    token: Option<Token>,
    /// Who the token's writes are recorded as: `api:<api.token_name>`.
    actor: String,
    lines: BTreeSet<String>,
    prefixes: CompanyPrefixes,
    max_payload_bytes: usize,
    data_dir: PathBuf,
    /// The configured upstreams (`/metrics` shows each, owing something or not).
    upstreams: Vec<String>,
    /// `gateway.max_outbox_bytes`, for `/metrics`.
    max_outbox_bytes: u64,
}

impl ApiState {
    /// Whether the request carries this API's bearer token (never, when it has none).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.token.as_ref().is_some_and(|t| t.authorizes(headers))
    }

    /// The 401 for a request that is not.
    fn unauthorized(&self) -> axum::response::Response {
        reply::unauthorized(self.token.is_some())
    }
}

/// The API with its token read and its socket bound, not serving yet.
pub struct Listener {
    listener: TcpListener,
    token: Option<Token>,
    actor: String,
}

impl Listener {
    /// Reads the token and binds `api.listen`: a daemon that cannot do either does not start,
    /// nor one whose API would be reachable from the network without a token.
    pub async fn open(cfg: &config::Api) -> Result<Listener, ApiError> {
        let token = match &cfg.token_file {
            Some(file) => Some(Token::read(file)?),
            None if !cfg.listen.ip().is_loopback() => {
                return Err(ApiError::Unprotected(cfg.listen));
            }
            None => None,
        };
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ApiError::Bind {
                addr: cfg.listen,
                source,
            })?;
        tracing::info!(listen = %cfg.listen, writes = token.is_some(), "local API listening");
        Ok(Listener {
            listener,
            token,
            actor: format!("api:{}", cfg.token_name),
        })
    }

    /// Serves until `shutdown`, then finishes the requests under way (each waits for its
    /// commit; the store outlives the sources).
    pub async fn serve(self, config: &Config, shared: Shared, shutdown: CancellationToken) {
        let state = Arc::new(ApiState {
            shared,
            token: self.token,
            actor: self.actor,
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
        .route("/health", get(health::probe))
        .route("/api/v1/health", get(health::status))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/batches", get(batches::list).post(writes::open))
        .route("/api/v1/batches/{batch}", get(batches::show))
        .route("/api/v1/batches/{batch}/{decision}", post(writes::decide))
        .route("/api/v1/shipments", post(writes::ship))
        .route("/api/v1/serials/{code}", get(serials::show))
        .route("/api/v1/lines/{line}/messages", post(messages::post))
        .route("/api/v1/outbox", get(outbox::list))
        .route("/api/v1/outbox/{document_id}", get(outbox::show))
        .route("/api/v1/outbox/{document_id}/{action}", post(outbox::act))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; see docs/local-api.md",
            )
        })
        .with_state(state)
}
