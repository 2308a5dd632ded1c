//! A partner's EPCIS endpoint over HTTPS, for the outbox drain benchmark and the 24-hour outage
//! test (`tests/it/backlog_drain.rs` includes this file with `#[path]`): rustls under hyper's
//! HTTP/1.1 server, with a CA and a server certificate for 127.0.0.1 made by rcgen at run time,
//! so the daemon's HTTPS sink verifies a real chain (`ca_file`).
//!
//! A drained backlog is hundreds of MB, so nothing keeps the bodies: each `POST /epcis` is
//! answered 200 and noted as an `Arrival` — its `Idempotency-Key`, its length, its arrival
//! order, and, when the receiver was given the outbox directory, whether the bytes are exactly
//! the document's file there (`<key>.<extension>`). Memory stays flat however long the drain.

#![allow(dead_code)] // the test and the benchmark each use their own part

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

/// The receiver's certificates: the CA file for the daemon's `ca_file`, and the server's
/// certificate and key (PEM).
pub struct Pki {
    pub ca_file: PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    /// A fresh CA (written to `dir/receiver-ca.pem`) and a server certificate it signed for
    /// 127.0.0.1 and localhost.
    pub fn generate(dir: &Path) -> Result<Pki> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "linegate drain receiver CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "drain receiver");
        let cert = server.signed_by(&key, &issuer)?;
        let ca_file = dir.join("receiver-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())?;
        Ok(Pki {
            ca_file,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    fn server_config(&self) -> Result<ServerConfig> {
        let provider = Arc::new(crypto::aws_lc_rs::default_provider());
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// One document as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// The `Idempotency-Key` header (empty when missing).
    pub key: String,
    pub bytes: u64,
    /// Whether the body equals the outbox file of that key (None: not checked).
    pub same_as_file: Option<bool>,
}

/// What the body is checked against: the outbox directory and the files' extension.
#[derive(Clone)]
pub struct FileCheck {
    pub outbox: PathBuf,
    pub extension: String,
}

struct Shared {
    arrivals: Mutex<Vec<Arrival>>,
    bytes: AtomicU64,
    check: Option<FileCheck>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Serves `https://127.0.0.1:{port}/epcis` (port 0: any free one).
    pub async fn start(pki: &Pki, port: u16, check: Option<FileCheck>) -> Result<Receiver> {
        let acceptor = TlsAcceptor::from(Arc::new(pki.server_config()?));
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the receiver on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            arrivals: Mutex::new(Vec::new()),
            bytes: AtomicU64::new(0),
            check,
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(Receiver { port, shared, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/epcis", self.port)
    }

    /// Every arrival so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.arrivals.lock().expect("arrivals").clone()
    }

    pub fn count(&self) -> usize {
        self.shared.arrivals.lock().expect("arrivals").len()
    }

    /// Body bytes received.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| respond(req, shared.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn respond(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let routed = req.method() == hyper::Method::POST && req.uri().path() == "/epcis";
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req.into_body().collect().await?.to_bytes();
    if !routed {
        return Ok(answer(StatusCode::NOT_FOUND, "no such endpoint\n"));
    }
    let same_as_file = match &shared.check {
        Some(c) => {
            let file = c.outbox.join(format!("{key}.{}", c.extension));
            Some(tokio::fs::read(&file).await.is_ok_and(|f| f == body))
        }
        None => None,
    };
    shared.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    shared.arrivals.lock().expect("arrivals").push(Arrival {
        at: Instant::now(),
        key,
        bytes: body.len() as u64,
        same_as_file,
    });
    Ok(answer(StatusCode::OK, "ok\n"))
}

fn answer(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r
}
