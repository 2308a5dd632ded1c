//! The HTTP(S) sink: POST one document, map the answer to what the outbox should do.
//!
//! reqwest with rustls; server certificates are verified against the platform's roots plus an
//! optional CA file, unless `tls_verify = false` (logged at ERROR whenever the sink is built).
//! The client certificate, bearer token or basic-auth password are read from their files when
//! the sink is built, so a broken file stops the daemon at start with the file named, not at
//! the first document; secrets live only in sensitive header values (never logged, no `Debug`).
//! Every attempt sends the same bytes with the same `Idempotency-Key` (the document id), gzip
//! compressed when the partner takes it. The mapping is the at-least-once contract: 2xx is
//! delivered; 408, 429, 5xx, timeouts and connection or TLS failures are worth retrying (at
//! least as late as `Retry-After` asks); any other status (3xx, 4xx) is a refusal that no retry
//! will change, so it is parked as rejected for an operator. Each error says what to do.

use std::io::Read;
use std::time::{Duration, SystemTime};

use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName,
    HeaderValue, LOCATION, RETRY_AFTER,
};

use super::sink::{Body, Outgoing, Verdict, excerpt};
use crate::config::upstream_target::HttpTarget;
use files::{authorization, ca_certificates, read_file, warn_if_open};
use verdict::chain;

mod files;
mod verdict;
pub use verdict::{classify, describe};

/// How much of an answer is read for its excerpt.
const MAX_ANSWER: usize = 8 * 1024;

/// Errors building the sink: a file that cannot be used, or the client itself.
#[derive(Debug, thiserror::Error)]
pub enum HttpSinkError {
    #[error(
        "cannot read CA file {path}: {source}; it must be readable by the user linegate runs as"
    )]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "CA file {path} holds no usable PEM certificate ({problem}): give the partner's CA as PEM (-----BEGIN CERTIFICATE-----)"
    )]
    CaPem { path: String, problem: String },
    #[error(
        "cannot read {what} {path}: {source}; it must be readable by the user linegate runs as"
    )]
    Unreadable {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "client certificate {cert} with key {key} is not a usable PEM pair ({problem}): give the certificate (-----BEGIN CERTIFICATE-----) and its unencrypted private key (-----BEGIN PRIVATE KEY-----)"
    )]
    Identity {
        cert: String,
        key: String,
        problem: String,
    },
    #[error("{what} {path} {problem}")]
    Secret {
        what: &'static str,
        path: String,
        problem: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Deliberately not `Debug`: it holds the `Authorization` header.
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    /// The configured `headers`, then `Authorization` (marked sensitive).
    headers: HeaderMap,
    gzip: bool,
    timeout: Duration,
}

impl HttpSink {
    pub fn new(target: &HttpTarget, timeout: Duration) -> Result<Self, HttpSinkError> {
        let url = &target.url;
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirected POST would become a GET elsewhere: a 3xx is the operator's to fix.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("linegate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &target.ca_file {
            builder = builder.tls_certs_merge(ca_certificates(path)?);
        }
        if let Some(c) = &target.client_auth {
            let mut pem = read_file("client certificate", &c.cert_file)?;
            pem.push(b'\n');
            pem.extend(read_file("client key", &c.key_file)?);
            warn_if_open("client key", &c.key_file);
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|e| HttpSinkError::Identity {
                    cert: c.cert_file.display().to_string(),
                    key: c.key_file.display().to_string(),
                    problem: chain(&e),
                })?;
            builder = builder.identity(identity);
        }
        if target.insecure_skip_verify {
            tracing::error!(%url, "TLS verification is OFF for upstream {url} (tls_verify = false): anyone on the network path can read and change the documents sent to it; set tls_verify = true (the default) and ca_file to the partner's CA");
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build()?;
        let mut headers = HeaderMap::new();
        for (name, value) in &target.headers {
            // Checked when the configuration was read; skipped here only if that changed.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        if let Some(auth) = &target.auth {
            headers.insert(AUTHORIZATION, authorization(&client, url, auth)?);
            if url.starts_with("http://") {
                tracing::warn!(%url, "upstream {url} is plain http://: its credentials and documents cross the network unencrypted; use https://");
            }
        }
        Ok(HttpSink {
            client,
            url: url.clone(),
            headers,
            gzip: target.gzip,
            timeout,
        })
    }

    pub async fn send(&self, d: &Outgoing) -> Verdict {
        let Ok(key) = HeaderValue::from_str(&d.document_id) else {
            return Verdict::Rejected {
                status: None,
                error: format!(
                    "document id {:?} cannot be an Idempotency-Key header",
                    d.document_id
                ),
                response: None,
            };
        };
        let (body, len) = match self.body(&d.body).await {
            Ok(b) => b,
            Err(e) => {
                let file = match &d.body {
                    Body::File { path, .. } => format!(" {}", path.display()),
                    Body::Inline(_) => String::new(),
                };
                return Verdict::retry(format!(
                    "cannot read the document's file{file}: {e}; check the data directory's \
                     disk and permissions (will retry)"
                ));
            }
        };
        let content_type = HeaderValue::from_str(&d.content_type)
            .unwrap_or(HeaderValue::from_static("application/xml"));
        let mut req = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, len)
            .header("Idempotency-Key", key)
            .header("X-Linegate-Part", format!("{}/{}", d.part, d.parts));
        if self.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => return Verdict::retry(describe(&e, self.timeout)),
        };
        let status = resp.status().as_u16();
        let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(RETRY_AFTER).and_then(|v| retry_after(v, SystemTime::now()));
        let location = header(LOCATION).map(str::to_string);
        let text = excerpt(&answer(resp).await, 300);
        let mut verdict = classify(status, text, retry_after);
        if let (Verdict::Rejected { error, .. }, Some(to)) = (&mut verdict, location) {
            if (300..400).contains(&status) {
                error.push_str(&format!(" (it redirects to {to})"));
            }
        }
        verdict
    }

    /// The request body and its length: the file streamed as it is, or gzip-compressed in
    /// memory (a compressed document is a fraction of the file).
    async fn body(&self, body: &Body) -> std::io::Result<(reqwest::Body, u64)> {
        match (body, self.gzip) {
            (Body::Inline(bytes), false) => Ok((bytes.clone().into(), bytes.len() as u64)),
            (Body::Inline(bytes), true) => {
                let bytes = bytes.clone();
                let gz = tokio::task::spawn_blocking(move || gzip(&bytes[..])).await??;
                let len = gz.len() as u64;
                Ok((gz.into(), len))
            }
            (Body::File { path, .. }, false) => {
                let file = tokio::fs::File::open(path).await?;
                let len = file.metadata().await?.len();
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
                Ok((reqwest::Body::wrap_stream(stream), len))
            }
            (Body::File { path, .. }, true) => {
                let path = path.clone();
                let gz = tokio::task::spawn_blocking(move || {
                    gzip(std::io::BufReader::new(std::fs::File::open(path)?))
                })
                .await??;
                let len = gz.len() as u64;
                Ok((gz.into(), len))
            }
        }
    }
}

/// The bytes gzip-compressed (deterministic: no time or name in the header, so every attempt
/// sends the same bytes).
fn gzip(mut from: impl Read) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::read::GzEncoder::new(&mut from, flate2::Compression::default());
    let mut out = Vec::new();
    enc.read_to_end(&mut out)?;
    Ok(out)
}

/// The start of the upstream's answer (at most `MAX_ANSWER` bytes are read).
async fn answer(mut resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_ANSWER);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past is
/// no pause. None when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests;
