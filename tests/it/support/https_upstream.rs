//! A partner's HTTPS endpoint, played by a real TLS server in the test process.
//!
//! The HTTPS sink's promises (retry what may succeed later, park what never will, honour
//! `Retry-After`, the same `Idempotency-Key` and bytes on every attempt, verify the server,
//! present a client certificate) are only observable from the receiving side and only against
//! a server that misbehaves on cue. This one is rustls (certificates of `tls::TestPki`, made
//! at test time) under hyper's HTTP/1.1 server, answering each `POST /epcis` from a script of
//! `Step`s — a status (with an optional `Retry-After` and body), hanging until the client
//! gives up, or closing the TCP connection without an answer (an RST) — and 200 once the
//! script is used up. It can require a client certificate signed by the test CA. Every request
//! is recorded (headers, body bytes, the step it got, whether a client certificate was
//! presented), and so is every failed TLS handshake; tests wait on either, never on time.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};
use tokio_util::sync::CancellationToken;

use super::tls::TestPki;

/// What the server does with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Answer with this status, and `Retry-After` (as written) and body when given.
    Answer {
        status: u16,
        retry_after: Option<RetryAfter>,
        body: Option<String>,
    },
    /// Never answer (the client's timeout ends it).
    Hang,
    /// Read the request, then close the TCP connection without a word (RST).
    Reset,
}

/// A `Retry-After` value: delta-seconds, or an HTTP-date this many seconds after the answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryAfter {
    Seconds(u64),
    DateIn(u64),
}

impl Step {
    pub fn status(status: u16) -> Step {
        Step::Answer {
            status,
            retry_after: None,
            body: None,
        }
    }

    pub fn retry_after(status: u16, after: RetryAfter) -> Step {
        Step::Answer {
            status,
            retry_after: Some(after),
            body: None,
        }
    }

    pub fn with_body(status: u16, body: &str) -> Step {
        Step::Answer {
            status,
            retry_after: None,
            body: Some(body.into()),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct HttpsRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the server did with it.
    pub step: Step,
    /// The client presented a certificate the server verified.
    pub client_certified: bool,
}

impl HttpsRequest {
    /// Case-insensitive header lookup (first value).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status it was answered with (none when hung or reset).
    pub fn status(&self) -> Option<u16> {
        match self.step {
            Step::Answer { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// How the server is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Refuse a TLS client without a certificate signed by the test CA.
    pub require_client_cert: bool,
}

struct Shared {
    script: Mutex<VecDeque<Step>>,
    requests: Mutex<Vec<HttpsRequest>>,
    failures_tx: UnboundedSender<String>,
    stop: CancellationToken,
}

/// A running scripted HTTPS upstream; stops when dropped.
pub struct HttpsUpstream {
    port: u16,
    shared: Arc<Shared>,
    failures_rx: tokio::sync::Mutex<UnboundedReceiver<String>>,
    task: JoinHandle<()>,
}

impl HttpsUpstream {
    /// Serves on an ephemeral port of 127.0.0.1 with `pki`'s server certificate.
    pub async fn start(pki: &TestPki, options: Options, script: Vec<Step>) -> Result<Self> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(pki, options)?));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let (failures_tx, failures_rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            failures_tx,
            stop: CancellationToken::new(),
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(HttpsUpstream {
            port,
            shared,
            failures_rx: tokio::sync::Mutex::new(failures_rx),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/epcis", self.port)
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<HttpsRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits for the next failed handshake not yet taken by a previous call.
    pub async fn next_handshake_failure(&self, deadline: Duration) -> Result<String> {
        let mut rx = self.failures_rx.lock().await;
        tokio::time::timeout(deadline, rx.recv())
            .await
            .map_err(|_| anyhow!("no TLS handshake failed within {deadline:?}"))?
            .ok_or_else(|| anyhow!("HTTPS upstream stopped"))
    }
}

impl Drop for HttpsUpstream {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.task.abort();
    }
}

fn server_config(pki: &TestPki, options: Options) -> Result<ServerConfig> {
    let provider = Arc::new(crypto::aws_lc_rs::default_provider());
    let certs = CertificateDer::pem_file_iter(&pki.server_cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&pki.server_key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if options.require_client_cert {
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&pki.ca)? {
            roots.add(ca?)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let stop = shared.stop.clone();
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection(tcp, acceptor, shared) => {}
            }
        });
    }
}

/// One TCP connection: the handshake, then HTTP/1.1 requests until either side closes.
async fn connection(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let tls = match acceptor.accept(tcp).into_fallible().await {
        Ok(tls) => tls,
        Err((e, mut tcp)) => {
            let _ = shared.failures_tx.send(e.to_string());
            // The alert has been written; read what the client still sends until it closes,
            // so closing here is a FIN after the alert, not an RST that could overtake it.
            let mut sink = [0u8; 4096];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
    };
    let client_certified = tls.get_ref().1.peer_certificates().is_some();
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResettableIo {
        tls,
        reset: reset.clone(),
    });
    let service = hyper::service::service_fn(move |req| {
        respond(req, shared.clone(), client_certified, reset.clone())
    });
    // An error here is a scripted reset or the client going away.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn respond(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    client_certified: bool,
    reset: Arc<AtomicBool>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    let routed = parts.method == hyper::Method::POST && parts.uri.path() == "/epcis";
    let step = if routed {
        let next = shared.script.lock().unwrap().pop_front();
        next.unwrap_or(Step::status(200))
    } else {
        Step::status(404)
    };
    let record = HttpsRequest {
        at,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: (parts.headers.iter())
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body,
        step: step.clone(),
        client_certified,
    };
    shared.requests.lock().unwrap().push(record);
    match step {
        Step::Answer {
            status,
            retry_after,
            body,
        } => {
            let text = body.unwrap_or_else(|| match status {
                200..=299 => "accepted\n".into(),
                _ => format!("scripted failure {status}\n"),
            });
            let mut answer = Response::builder().status(status);
            if let Some(after) = retry_after {
                answer = answer.header("retry-after", after.header_value());
            }
            Ok(answer.body(Full::new(Bytes::from(text)))?)
        }
        Step::Hang => {
            shared.stop.cancelled().await;
            Err("stopped while hanging".into())
        }
        Step::Reset => {
            // hyper closes the connection when the service fails; the flag turns the close
            // into an RST.
            reset.store(true, Ordering::SeqCst);
            Err("scripted reset".into())
        }
    }
}

impl RetryAfter {
    fn header_value(self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::DateIn(s) => {
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s))
            }
        }
    }
}

/// The TLS stream, closed with an RST instead of a FIN once `reset` is set.
struct ResettableIo {
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.tls.get_ref().0.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl HttpsRequest {
    /// The same request as the plain upstream's record, for `Gateway::check_document`; `body`
    /// replaces the bytes received (a decompressed body).
    pub fn as_recorded(&self, body: Option<Vec<u8>>) -> super::Recorded {
        super::Recorded {
            at: self.at,
            method: self.method.clone(),
            path: self.path.clone(),
            headers: self.headers.clone(),
            body: body.unwrap_or_else(|| self.body.clone()),
            status: self.status().unwrap_or(0),
        }
    }
}
