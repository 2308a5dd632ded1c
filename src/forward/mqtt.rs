//! The MQTT sink: each document a QoS 1 PUBLISH to a plant or cloud broker, delivered when the
//! broker's PUBACK for that very packet arrives.
//!
//! `send` reads the document, fills in the topic template, refuses a document that can never
//! fit the broker's packet limit, and hands the rest to the connection task
//! (`mqtt/connection.rs`), which owns the rumqttc client and matches PUBACKs to publishes
//! (`mqtt/tracker.rs`). Every `send` gets exactly one verdict: the task answers each request
//! once, and should it ever fail to, `send` gives up waiting after a bound and says "retry".
//! The payload is the document's bytes exactly; MQTT 3.1.1 has no headers, so the document id
//! travels in the topic (`{document_id}`) if the template asks for it, and always inside the
//! document (its SBDH InstanceIdentifier / EPCIS document id).
//!
//! Connecting reuses what the MQTT source uses (`sources::mqtt::options::for_broker`: TLS with
//! the server always verified, CA and client certificate, the password read from its file or
//! variable at each connection and never logged).

mod connection;
mod tracker;

use std::path::PathBuf;
use std::time::Duration;

use rumqttc::MqttOptions;
use tokio::sync::{mpsc, oneshot};

use super::sink::{Outgoing, Verdict};
use crate::config::Mqtt;
use crate::config::upstream_target::MqttTarget;
use crate::sources::mqtt::options::{MqttSetupError, for_broker};
use connection::{MAX_OUTSTANDING, Request};

/// Largest packet read from the broker: only acknowledgements come back.
const MAX_INCOMING_PACKET: usize = 64 * 1024;
/// Beyond the upstream's timeout, how long `send` waits for the connection task's answer
/// (its queue, a connection attempt) before it gives up and says "retry".
const ANSWER_SLACK: Duration = Duration::from_secs(15);

/// Errors setting the sink up: the TLS files or the password cannot be used. The names are
/// this upstream's keys.
#[derive(Debug, thiserror::Error)]
pub enum MqttSinkError {
    #[error("cannot read {what} {path} (this upstream's {key}): {source}")]
    Read {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} (this upstream's {key}) contains no PEM {what}")]
    NotPem {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
    },
    #[error("the password file {path} (this upstream's password_file) is empty")]
    EmptyPasswordFile { path: PathBuf },
    #[error(
        "environment variable {name} (named by this upstream's password_env) is not set or empty"
    )]
    MissingPasswordEnv { name: String },
    #[error("the MQTT sink must be built inside the tokio runtime")]
    NoRuntime,
}

impl From<MqttSetupError> for MqttSinkError {
    /// The source's errors name `[mqtt]`'s keys (`mqtt.ca_file`); these are the upstream's.
    fn from(e: MqttSetupError) -> Self {
        let own = |key: &'static str| key.strip_prefix("mqtt.").unwrap_or(key);
        match e {
            MqttSetupError::Read {
                what,
                key,
                path,
                source,
            } => MqttSinkError::Read {
                what,
                key: own(key),
                path,
                source,
            },
            MqttSetupError::NotPem { what, key, path } => MqttSinkError::NotPem {
                what,
                key: own(key),
                path,
            },
            MqttSetupError::EmptyPasswordFile { path } => MqttSinkError::EmptyPasswordFile { path },
            MqttSetupError::MissingPasswordEnv { name } => {
                MqttSinkError::MissingPasswordEnv { name }
            }
        }
    }
}

/// What the connection task needs to know.
struct Settings {
    upstream: String,
    target: MqttTarget,
    /// How long a publish may wait for its PUBACK.
    timeout: Duration,
}

impl Settings {
    fn broker(&self) -> String {
        format!("{}:{}", self.target.host, self.target.port)
    }

    /// Options for one connection; reads the TLS files and the password now.
    fn options(&self) -> Result<MqttOptions, MqttSinkError> {
        let t = &self.target;
        let broker = Mqtt {
            host: t.host.clone(),
            port: t.port,
            tls: t.tls.clone(),
            credentials: t.credentials.clone(),
            topic_prefix: String::new(),
            client_id: t.client_id.clone(),
            keep_alive: Duration::from_secs(t.keep_alive_secs),
            max_payload_bytes: t.max_packet_bytes,
            embedded_broker: false,
        };
        let mut opts = for_broker(&broker, &t.client_id)?;
        // Nothing is kept at the broker between connections: what had no PUBACK is sent again
        // by the scheduler, on a fresh connection.
        opts.set_clean_session(true);
        opts.set_max_packet_size(MAX_INCOMING_PACKET, t.max_packet_bytes);
        Ok(opts)
    }
}

pub struct MqttSink {
    target: MqttTarget,
    requests: mpsc::Sender<Request>,
    /// The longest `send` waits for its verdict.
    answer_within: Duration,
}

impl MqttSink {
    /// Checks the TLS files and the password can be read, and starts the connection task (it
    /// ends when the sink is dropped).
    pub fn new(
        target: &MqttTarget,
        upstream: &str,
        timeout: Duration,
    ) -> Result<Self, MqttSinkError> {
        let settings = Settings {
            upstream: upstream.to_string(),
            target: target.clone(),
            timeout,
        };
        settings.options()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| MqttSinkError::NoRuntime)?;
        let (requests, rx) = mpsc::channel(MAX_OUTSTANDING);
        runtime.spawn(connection::run(settings, rx));
        Ok(MqttSink {
            target: target.clone(),
            requests,
            answer_within: timeout * 2 + ANSWER_SLACK,
        })
    }

    pub async fn send(&self, d: &Outgoing) -> Verdict {
        let payload = match d.body.read_all().await {
            Ok(b) => b,
            Err(e) => return Verdict::retry(format!("cannot read the document's file: {e}")),
        };
        let topic = self
            .target
            .topic_for(&d.kind, d.batch.as_deref(), &d.document_id);
        let size = packet_size(topic.len(), payload.len());
        if size > self.target.max_packet_bytes {
            return Verdict::Rejected {
                status: None,
                error: format!(
                    "the document is {} bytes, {size} bytes as an MQTT packet: more than the broker takes (max_packet_bytes = {}). Set this upstream's max_bytes_per_document to at most {} so documents are split into parts that fit (or raise max_packet_bytes if the broker allows larger packets)",
                    payload.len(),
                    self.target.max_packet_bytes,
                    self.target
                        .max_packet_bytes
                        .saturating_sub(size - payload.len())
                ),
                response: None,
            };
        }
        let (reply, answer) = oneshot::channel();
        let request = Request {
            topic,
            payload,
            reply,
        };
        let asked = async {
            self.requests.send(request).await.ok()?;
            answer.await.ok()
        };
        match tokio::time::timeout(self.answer_within, asked).await {
            Ok(Some(verdict)) => verdict,
            Ok(None) => Verdict::retry("the MQTT connection task stopped; will retry".into()),
            Err(_) => Verdict::retry(format!(
                "no answer from the MQTT connection within {} s; will retry",
                self.answer_within.as_secs()
            )),
        }
    }
}

/// The size of a QoS 1 PUBLISH on the wire, as rumqttc measures it against its limit: fixed
/// header (type byte, remaining length) + topic length prefix + topic + packet id + payload.
fn packet_size(topic: usize, payload: usize) -> usize {
    let remaining = 2 + topic + 2 + payload;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

#[cfg(test)]
mod tests;
