//! The HTTP(S) sink: POST one document, map the answer to what the outbox should do.
//!
//! reqwest with rustls; server certificates are verified against the platform's roots (plus an
//! optional CA file). The mapping is the at-least-once contract: 2xx is delivered; 408, 429,
//! 5xx, timeouts and connection errors are worth retrying; any other status is a refusal that
//! no retry will change, so it is parked as rejected for an operator.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::sink::{Outgoing, Verdict, excerpt};
use crate::config::upstream_target::HttpTarget;

/// Errors building the client (bad CA file); sending never errors, it classifies.
#[derive(Debug, thiserror::Error)]
pub enum HttpSinkError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

pub struct HttpSink {
    client: reqwest::Client,
    url: String,
}

impl HttpSink {
    pub fn new(target: &HttpTarget, timeout: Duration) -> Result<Self, HttpSinkError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
        if let Some(path) = &target.ca_file {
            let pem = std::fs::read(path).map_err(|source| HttpSinkError::CaFile {
                path: path.display().to_string(),
                source,
            })?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Ok(HttpSink {
            client: builder.build()?,
            url: target.url.clone(),
        })
    }

    pub async fn send(&self, d: &Outgoing) -> Verdict {
        let body = match d.body.read_all().await {
            Ok(b) => b,
            Err(e) => {
                return Verdict::Retry {
                    status: None,
                    error: format!("cannot read the document's file: {e}"),
                    response: None,
                    retry_after: None,
                };
            }
        };
        let content_type = HeaderValue::from_str(&d.content_type)
            .unwrap_or(HeaderValue::from_static("application/xml"));
        let result = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, content_type)
            .header("Idempotency-Key", &d.document_id)
            .body(body)
            .send()
            .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                return Verdict::Retry {
                    status: None,
                    error: describe(&e),
                    response: None,
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = excerpt(&resp.text().await.unwrap_or_default(), 300);
        classify(status, text, retry_after)
    }
}

/// The status mapping, apart from I/O so it can be tested on its own.
pub fn classify(status: u16, body_excerpt: String, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered {
            status: Some(status),
            response: Some(body_excerpt),
        },
        408 | 429 | 500..=599 => Verdict::Retry {
            status: Some(status),
            error: format!("HTTP {status}"),
            response: Some(body_excerpt),
            retry_after,
        },
        _ => Verdict::Rejected {
            status: Some(status),
            error: format!("HTTP {status}"),
            response: Some(body_excerpt),
        },
    }
}

/// reqwest's Display hides the cause (connection refused, TLS failure); show the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, expect: &str) {
        let got = match classify(status, String::new(), None) {
            Verdict::Delivered { .. } => "delivered",
            Verdict::Retry { .. } => "retry",
            Verdict::Rejected { .. } => "rejected",
        };
        assert_eq!(got, expect, "HTTP {status}");
    }

    #[test]
    fn maps_statuses_to_outbox_decisions() {
        check(200, "delivered");
        check(202, "delivered");
        check(204, "delivered");
        check(408, "retry");
        check(429, "retry");
        check(500, "retry");
        check(503, "retry");
        check(400, "rejected");
        check(401, "rejected");
        check(404, "rejected");
        check(409, "rejected");
        check(301, "rejected");
    }
}
