//! The demo's upstream partner: a loopback HTTP receiver that files every document it gets.
//!
//! axum on `127.0.0.1:0`. Each `POST /epcis` body is written to `DIR/NNN-<Idempotency-Key>.xml`
//! before the receiver answers 202, and the demo is told about it over a channel — so "the
//! document arrived" is an event the demo awaits, not something it polls a directory for.
//! A resend with a key seen before (at-least-once delivery) is answered 202 and not filed twice.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A document as the upstream filed it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: PathBuf,
    pub bytes: usize,
    pub idempotency_key: String,
}

pub struct Receiver {
    pub addr: SocketAddr,
    documents: mpsc::UnboundedReceiver<Received>,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

#[derive(Clone)]
struct Shared {
    dir: PathBuf,
    seen: Arc<Mutex<HashSet<String>>>,
    tx: mpsc::UnboundedSender<Received>,
}

impl Receiver {
    /// Listens on a free loopback port and files documents in `dir` (which must exist).
    pub async fn start(dir: &Path) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, documents) = mpsc::unbounded_channel();
        let shared = Shared {
            dir: dir.to_path_buf(),
            seen: Arc::default(),
            tx,
        };
        let app = Router::new()
            .route("/epcis", post(receive))
            .with_state(shared);
        let stop = CancellationToken::new();
        let until = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(until)
                .await
        });
        Ok(Receiver {
            addr,
            documents,
            stop,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/epcis", self.addr)
    }

    /// The next document filed (None if the server is gone).
    pub async fn next_document(&mut self) -> Option<Received> {
        self.documents.recv().await
    }

    /// Stops listening and waits for the server task.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no-key")
        .to_string();
    let number = {
        let Ok(mut seen) = s.seen.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR;
        };
        if !seen.insert(key.clone()) {
            return StatusCode::ACCEPTED; // a resend of a document already filed
        }
        seen.len()
    };
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = s.dir.join(format!("{number:03}-{safe}.xml"));
    if let Err(e) = tokio::fs::write(&path, &body).await {
        tracing::error!(error = %e, path = %path.display(), "demo upstream cannot file a document");
        if let Ok(mut seen) = s.seen.lock() {
            seen.remove(&key);
        }
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let _ = s.tx.send(Received {
        path,
        bytes: body.len(),
        idempotency_key: key,
    });
    StatusCode::ACCEPTED
}
