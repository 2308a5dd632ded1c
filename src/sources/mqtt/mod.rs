//! The MQTT source: PLCs and line controllers publish protocol-v1 events; we ack after commit.
//!
//! rumqttc with manual acknowledgements and a persistent session (`clean_session = false`), so
//! the broker keeps every un-acknowledged QoS1 message for us across our restarts and outages.
//! This file is the outer loop: it builds the connection options (TLS, credentials — see
//! `options`), runs one `session` per connection, and after a connection ends waits with
//! exponential backoff and jitter before the next. Every connection starts with a fresh client
//! and event loop: acknowledgements never cross from one connection to the next (the broker
//! redelivers what the old one did not acknowledge, and de-duplication answers it), and every
//! connection subscribes again, whether or not the broker kept our session. Why a connection
//! failed is logged in words naming the setting to check — as a warning when the cause is new,
//! then quietly while it stays the same — and the part `mqtt` is reported unhealthy.

mod ingest;
mod line_state;
pub mod options;
mod session;

use std::collections::BTreeSet;
use std::path::PathBuf;

use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use options::MqttSetupError;

use crate::config::Mqtt;
use crate::gs1::CompanyPrefixes;
use crate::health::Health;
use crate::store::Store;
use session::Ended;

/// Everything the MQTT source needs from the configuration.
#[derive(Debug, Clone)]
pub struct MqttSourceConfig {
    /// The `[mqtt]` section.
    pub mqtt: Mqtt,
    /// The configured line ids (`[[line]] id`).
    pub lines: BTreeSet<String>,
    pub prefixes: CompanyPrefixes,
    /// `gateway.data_dir`: the line-state publisher reads the store there.
    pub data_dir: PathBuf,
}

impl MqttSourceConfig {
    fn events_filter(&self) -> String {
        format!("{}/lines/+/events", self.mqtt.topic_prefix)
    }

    /// The line named by `{prefix}/lines/{line}/events`.
    fn line_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let rest = topic
            .strip_prefix(&self.mqtt.topic_prefix)?
            .strip_prefix("/lines/")?;
        rest.strip_suffix("/events").filter(|l| !l.contains('/'))
    }
}

/// What the source shares with the rest of the daemon.
pub struct Shared {
    pub store: Store,
    pub health: Health,
    /// `false` while the disk guard holds input back.
    pub intake: watch::Receiver<bool>,
}

/// Runs until `shutdown`. `ready` fires once the first subscription is acknowledged.
pub async fn run(
    cfg: MqttSourceConfig,
    shared: Shared,
    shutdown: CancellationToken,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = options::Backoff::new();
    let mut publisher = line_state::Publisher::new(&cfg);
    // The cause last logged as a warning; the same cause again is logged at debug level.
    let mut last_cause = String::new();
    loop {
        let cause = match options::build(&cfg) {
            Err(e) => format!("cannot prepare the MQTT connection: {e}"),
            Ok(opts) => {
                let mut ctx = session::Ctx {
                    cfg: &cfg,
                    shared: &shared,
                    shutdown: &shutdown,
                    ready: &mut ready,
                    publisher: &mut publisher,
                };
                match session::run(&mut ctx, opts).await {
                    Ended::Shutdown => return,
                    Ended::StoreFailed => {
                        "the store failed; nothing more is acknowledged, reconnecting so the broker delivers the messages again".to_string()
                    }
                    Ended::Lost { error, connected } => {
                        if connected {
                            backoff.reset();
                            last_cause.clear();
                            tracing::warn!(error = %error, "lost the MQTT broker; reconnecting with backoff (messages stay with the broker)");
                        }
                        options::explain(&cfg, &error)
                    }
                }
            }
        };
        let delay = backoff.next_delay();
        if cause != last_cause {
            tracing::warn!(retry_in_ms = delay.as_millis() as u64, "{cause}; retrying");
            last_cause = cause.clone();
        } else {
            tracing::debug!(retry_in_ms = delay.as_millis() as u64, "{cause}; retrying");
        }
        shared.health.set("mqtt", Some(cause));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
