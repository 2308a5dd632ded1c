//! Where an `[[upstream]]`'s documents go, chosen by the scheme of its `url`: `https://` (or
//! `http://`) is an HTTP POST per document, `mqtt://`/`mqtts://` a QoS 1 publish per document,
//! `file:///path` a pickup directory (an SFTP or AS2 tool takes the files from there).
//!
//! Like `[mqtt]`, only where secrets are is configured (files), never the secrets themselves;
//! the files are read when the forwarder starts, not here, so an operator's CLI that loads the
//! same configuration never needs them. Each kind's own keys are read in its own file
//! (`upstream_http`, `upstream_mqtt`, `upstream_directory`); a key of another kind is refused
//! as unknown, so a typo or a key meant for another sink never passes silently.

use std::path::PathBuf;

use super::mqtt_security::{ClientAuth, MqttCredentials, MqttTls};
use super::reader::{Problems, Table};

/// The sink of one upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Http(HttpTarget),
    Mqtt(MqttTarget),
    Directory(DirectoryTarget),
}

impl Target {
    /// The kind, as in logs and `linegate outbox`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Http(_) => "https",
            Target::Mqtt(_) => "mqtt",
            Target::Directory(_) => "directory",
        }
    }
}

/// `url = "https://…"`: one POST per document.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    pub url: String,
    /// Extra CA certificates (PEM) trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for partners that require mutual TLS.
    pub client_auth: Option<ClientAuth>,
    pub auth: Option<HttpAuth>,
    /// Extra request headers (`headers`), sorted by name; checked valid and not reserved.
    pub headers: Vec<(String, String)>,
    /// Send bodies gzip-compressed (`Content-Encoding: gzip`); only for partners that accept it.
    pub gzip: bool,
    /// `tls_verify = false`: the server certificate is NOT verified. Logged at ERROR at every
    /// start; for commissioning against a test endpoint only.
    pub insecure_skip_verify: bool,
}

/// How the HTTP sink authenticates, the secret always in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    Bearer {
        token_file: PathBuf,
    },
    Basic {
        username: String,
        password_file: PathBuf,
    },
}

/// `url = "mqtts://host:port"` + `topic`: one QoS 1 publish per document.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttTarget {
    pub host: String,
    pub port: u16,
    pub tls: Option<MqttTls>,
    pub credentials: Option<MqttCredentials>,
    /// A template: `{kind}`, `{batch}` and `{document_id}` are filled in per document.
    pub topic: String,
    pub client_id: String,
    pub keep_alive_secs: u64,
    /// The largest PUBLISH packet (topic, payload and headers) the broker takes; a larger
    /// document is refused for good instead of breaking the connection each time.
    pub max_packet_bytes: usize,
}

/// `url = "file:///var/spool/linegate/outgoing"`: documents renamed into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryTarget {
    pub path: PathBuf,
}

/// Reads `url` and the keys of its kind; `name` is the upstream's (for a default client id).
pub(super) fn read(t: &Table<'_>, name: Option<&str>, p: &mut Problems) -> Option<Target> {
    let url = t.string("url", p)?;
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => super::upstream_http::read(t, &url, p).map(Target::Http),
        Some("mqtt" | "mqtts") => super::upstream_mqtt::read(t, &url, name, p).map(Target::Mqtt),
        Some("file") => super::upstream_directory::read(t, &url, p).map(Target::Directory),
        _ => {
            p.add(
                t.path_of("url"),
                format!(
                    "'{url}' must be an https:// (or http://) URL, an mqtt:// or mqtts:// broker, \
                     or a file:/// directory"
                ),
            );
            None
        }
    }
}
