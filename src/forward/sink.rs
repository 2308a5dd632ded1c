//! What every way of delivering a document has in common: the document as a sink sees it, the
//! verdict a sink returns, and the `Sink` that dispatches to HTTPS, MQTT or a pickup directory.
//!
//! A sink never touches the store. It is handed one `Outgoing` (the document's id, its file and
//! how to label it) and answers with a `Verdict`: delivered, worth retrying, or refused for good.
//! The scheduler (`forward::run`) turns verdicts into outbox state, applies backoff and keeps
//! each ordering group in causal order; a sink only has to be honest about what happened to the
//! bytes. `send` takes `&self` and may be called for several documents at once (documents of
//! different ordering groups are in flight together).

use std::time::Duration;

use super::directory::DirectorySink;
use super::http::HttpSink;
use super::mqtt::MqttSink;
pub use crate::model::{Body, Outgoing};

impl Body {
    /// The whole body. Documents are bounded by `max_bytes_per_document`; sinks that can stream
    /// (HTTP) should prefer the file.
    pub async fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::File { path, .. } => tokio::fs::read(path).await,
            Body::Inline(b) => Ok(b.clone()),
        }
    }
}

/// What one attempt came to, before backoff is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The upstream has the document (2xx, PUBACK, renamed into place).
    Delivered {
        status: Option<u16>,
        /// The start of the upstream's answer, kept for the operator.
        response: Option<String>,
    },
    /// Not delivered this time; the same bytes are sent again later.
    Retry {
        status: Option<u16>,
        error: String,
        response: Option<String>,
        /// The upstream asked for this pause (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Refused for good: no retry will change it. Parked as a dead letter for an operator.
    Rejected {
        status: Option<u16>,
        error: String,
        response: Option<String>,
    },
}

impl Verdict {
    /// Not delivered, for a reason of our side or the connection's (no status, no answer):
    /// the same bytes go again after the backoff.
    pub fn retry(error: String) -> Verdict {
        Verdict::Retry {
            status: None,
            error,
            response: None,
            retry_after: None,
        }
    }
}

/// The delivery of one upstream.
pub enum Sink {
    Http(HttpSink),
    Mqtt(MqttSink),
    Directory(DirectorySink),
}

impl Sink {
    pub async fn send(&self, d: &Outgoing) -> Verdict {
        match self {
            Sink::Http(s) => s.send(d).await,
            Sink::Mqtt(s) => s.send(d).await,
            Sink::Directory(s) => s.send(d).await,
        }
    }

    /// What it is, for logs.
    pub fn describe(&self) -> &'static str {
        match self {
            Sink::Http(_) => "https",
            Sink::Mqtt(_) => "mqtt",
            Sink::Directory(_) => "directory",
        }
    }
}

/// The first `max` characters of an upstream's answer, trimmed, for the outbox row.
pub fn excerpt(text: &str, max: usize) -> String {
    let t = text.trim();
    if t.chars().count() <= max {
        t.to_string()
    } else {
        format!("{}…", t.chars().take(max).collect::<String>())
    }
}
