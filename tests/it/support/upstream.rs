//! The upstream EPCIS receiver, played by a real HTTP server in the test.
//!
//! Delivery semantics (retry on 5xx/408/429/connection errors, park on other
//! 4xx, one stable `Idempotency-Key` per document) are only observable from
//! the receiving side, so this axum server records every request it gets
//! (headers, body, arrival time, the status it answered) and answers from a
//! script of status codes that a test can change while it runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status this server answered with.
    pub status: u16,
}

impl Recorded {
    /// Case-insensitive header lookup (first value).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).context("request body is not UTF-8")
    }
}

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<u16>>,
    /// How long each answer takes (a slow upstream).
    delay: Mutex<Duration>,
    tx: UnboundedSender<Recorded>,
}

/// Entry point: `Upstream::start(&[503, 200])`.
pub struct Upstream;

pub struct UpstreamServer {
    port: u16,
    shared: Arc<Shared>,
    rx: tokio::sync::Mutex<UnboundedReceiver<Recorded>>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Serves on an ephemeral port; `script` is consumed one status per
    /// request, 200 once it is empty.
    pub async fn start(script: &[u16]) -> Result<UpstreamServer> {
        Self::start_on(0, script).await
    }

    /// Serves on a given port (used to bring a dead upstream back to life).
    pub async fn start_on(port: u16, script: &[u16]) -> Result<UpstreamServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("bind upstream on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(script.iter().copied().collect()),
            delay: Mutex::new(Duration::ZERO),
            tx,
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("upstream server stopped: {e}");
            }
        });
        Ok(UpstreamServer {
            port,
            shared,
            rx: tokio::sync::Mutex::new(rx),
            task,
        })
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let at = Instant::now();
    let routed = method == Method::POST && uri.path() == "/epcis";
    let status = if routed {
        shared.script.lock().unwrap().pop_front().unwrap_or(200)
    } else {
        404
    };
    let record = Recorded {
        at,
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body: body.to_vec(),
        status,
    };
    shared.requests.lock().unwrap().push(record.clone());
    let _ = shared.tx.send(record);
    let delay = *shared.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        if code.is_success() {
            "ok\n"
        } else {
            "scripted failure\n"
        },
    )
}

impl UpstreamServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        url_for_port(self.port)
    }

    /// Every answer from now on takes `delay` (the request is recorded on arrival).
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// Replaces the remaining script.
    pub fn set_script(&self, statuses: &[u16]) {
        *self.shared.script.lock().unwrap() = statuses.iter().copied().collect();
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits for the next request not yet taken by a previous call.
    pub async fn next_request(&self, timeout: Duration) -> Result<Recorded> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .map_err(|_| anyhow!("no request reached the upstream within {timeout:?}"))?
            .ok_or_else(|| anyhow!("upstream request channel closed"))
    }
}

/// The URL the daemon is configured with for an upstream on `port`.
pub fn url_for_port(port: u16) -> String {
    format!("http://127.0.0.1:{port}/epcis")
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
