//! What an HTTP attempt came to, in the outbox's terms and in words an operator can act on.
//!
//! `classify` maps a status to delivered / retry / rejected (apart from I/O, so it is tested on
//! its own); `describe` turns a failed request (refused connection, timeout, reset, a TLS
//! failure named by rustls) into one line that says what happened and what to check, followed
//! by the raw cause chain in brackets for whoever has to dig deeper.

use std::error::Error;
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};

use super::super::sink::Verdict;

/// The status mapping: 2xx delivered; 408, 429 and 5xx worth retrying; any other status
/// (3xx, 4xx) refused for good.
pub fn classify(status: u16, body_excerpt: String, retry_after: Option<Duration>) -> Verdict {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    let http = match reason {
        Some(r) => format!("HTTP {status} {r}"),
        None => format!("HTTP {status}"),
    };
    let response = Some(body_excerpt);
    let retry = |what: String| Verdict::Retry {
        status: Some(status),
        error: format!("{http}: {what}"),
        response: response.clone(),
        retry_after,
    };
    let reject = |what: &str| Verdict::Rejected {
        status: Some(status),
        error: format!("{http}: {what}"),
        response: response.clone(),
    };
    match status {
        200..=299 => Verdict::Delivered {
            status: Some(status),
            response: response.clone(),
        },
        408 => retry("the upstream gave up waiting for the document; will retry".into()),
        429 => retry(match retry_after {
            Some(d) => format!(
                "the upstream asks linegate to slow down; will retry in {} s or later (its \
                 Retry-After)",
                d.as_secs()
            ),
            None => "the upstream asks linegate to slow down; will retry later".into(),
        }),
        500..=599 => {
            retry("the upstream failed to take the document (see its answer); will retry".into())
        }
        300..=399 => reject(
            "the upstream redirects elsewhere, and a document is never re-posted to another \
             address: set url to where it points, restart, then `linegate outbox retry`",
        ),
        401 | 403 => reject(
            "the upstream refused linegate's credentials: check auth and token_file (or \
             username and password_file) and the client certificate, restart, then `linegate \
             outbox retry`",
        ),
        404 | 405 => reject(
            "the upstream has no such endpoint: check the url's path, restart, then `linegate \
             outbox retry`",
        ),
        413 => reject(
            "the document is larger than the upstream takes: set max_bytes_per_document so new \
             documents are split (or gzip = true, if the partner takes it)",
        ),
        415 => reject(
            "the upstream does not take this content type or encoding: check format and gzip \
             with the partner",
        ),
        _ => reject(
            "the upstream refused the document (see its answer): settle it with the partner, \
             then `linegate outbox retry` or `linegate outbox reject`",
        ),
    }
}

/// One line for a request that got no HTTP answer: what happened, what to check, and the cause
/// chain in brackets. Every such failure is retried.
pub fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let chain = chain(e);
    let what = if let Some(tls) = tls_error(e) {
        tls_advice(tls)
    } else if e.is_timeout() {
        format!(
            "no answer from the upstream within {} s (timeout_secs): is it overloaded or \
             unreachable? will retry",
            timeout.as_secs()
        )
    } else {
        match io_kind(e) {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                "connection refused by the upstream: is it running, and is the url's port \
                 right? will retry"
                    .into()
            }
            Some(
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof,
            ) => "the upstream closed the connection without answering (reset); will retry".into(),
            _ if chain.contains("connection closed before message completed") => {
                "the upstream closed the connection without answering; will retry".into()
            }
            _ if e.is_connect() => "cannot connect to the upstream: check the url's host name, \
                                   the route and firewalls; will retry"
                .into(),
            _ => "the request to the upstream failed; will retry".into(),
        }
    };
    format!("{what} [{chain}]")
}

fn tls_advice(e: &rustls::Error) -> String {
    let failed = "TLS handshake with the upstream failed";
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "{failed}: its certificate is not trusted (not signed by a CA linegate trusts): \
                 set ca_file to the partner's CA certificate (PEM); will retry"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "{failed}: its certificate is not for the url's host name: use the name \
                     the certificate was issued for; will retry"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "{failed}: its certificate has expired: the partner must renew it (or check \
                 this gateway's clock); will retry"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "{failed}: its certificate is not valid yet: check this gateway's clock; \
                     will retry"
                )
            }
            _ => format!("{failed}: its certificate was not accepted: check ca_file; will retry"),
        },
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => format!(
            "{failed}: the upstream requires a client certificate: set client_cert_file and \
             client_key_file; will retry"
        ),
        rustls::Error::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure),
        ) => format!(
            "{failed}: the upstream refused it ({a:?}): it may require a client certificate \
             (client_cert_file, client_key_file) or not accept the one configured; will retry"
        ),
        _ => format!("{failed}; will retry"),
    }
}

/// Every error behind a request's failure, outermost first. An `io::Error`'s `source` skips
/// the error it wraps (tokio-rustls puts the rustls error in one, hyper-rustls that one in
/// another), so each `io::Error` is opened as well.
fn causes<'a>(e: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut all = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        all.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => err.source(),
        };
    }
    all
}

/// The rustls error behind a request's failure, if any.
fn tls_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    causes(e)
        .into_iter()
        .find_map(|c| c.downcast_ref::<rustls::Error>())
}

/// The kind of the innermost telling `io::Error` behind a request's failure.
fn io_kind(e: &(dyn Error + 'static)) -> Option<std::io::ErrorKind> {
    (causes(e).into_iter())
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .rfind(|k| *k != std::io::ErrorKind::Other)
}

/// An error and its causes, joined by ": ".
pub(super) fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // Some layers repeat their cause in their own text.
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
