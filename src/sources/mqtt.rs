//! The MQTT source: PLCs and line controllers publish protocol-v1 events; we ack after commit.
//!
//! rumqttc with manual acknowledgements and a persistent session (`clean_session = false`), so
//! the broker keeps every un-acknowledged QoS1 message for us across our restarts and outages.
//! Two loops run side by side for each connection: the event loop decodes each PUBLISH and
//! submits it to the store (waiting when the store is behind — backpressure), and the ack loop
//! awaits each commit in arrival order, publishes a reject notice when needed, and only then
//! acknowledges the PUBLISH. If the store fails, nothing more is acknowledged and the
//! connection is rebuilt, so the broker delivers the un-acknowledged messages again.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::gs1::CompanyPrefixes;
use crate::model::{RejectCode, Rejection};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome, PendingIngest, Store};

/// Messages decoded and submitted but not yet acknowledged, per connection.
const ACK_QUEUE: usize = 1024;
/// rumqttc request channel: acks and notices for every queued message fit, so the ack loop
/// never waits on the event loop while the event loop waits on it.
const REQUEST_CAPACITY: usize = 2 * ACK_QUEUE + 16;
/// Largest packet we read off the wire. Bigger than any sane payload so that an oversized
/// message reaches the decoder and is quarantined, instead of killing the connection (which
/// would make the broker redeliver it forever).
const MAX_INCOMING_PACKET: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct MqttSourceConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    pub topic_prefix: String,
    pub max_payload_bytes: usize,
    pub lines: HashSet<String>,
    pub prefixes: CompanyPrefixes,
}

impl MqttSourceConfig {
    fn events_filter(&self) -> String {
        format!("{}/lines/+/events", self.topic_prefix)
    }

    /// The line named by `{prefix}/lines/{line}/events`.
    fn line_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let rest = topic
            .strip_prefix(&self.topic_prefix)?
            .strip_prefix("/lines/")?;
        rest.strip_suffix("/events").filter(|l| !l.contains('/'))
    }
}

/// Why a connection ended.
enum Ended {
    Shutdown,
    StoreFailed,
}

/// Runs until `shutdown`. `ready` fires once the first subscription is acknowledged.
pub async fn run(
    cfg: MqttSourceConfig,
    store: Store,
    shutdown: CancellationToken,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        match connection(&cfg, &store, &shutdown, &mut ready).await {
            Ended::Shutdown => return,
            Ended::StoreFailed => {
                tracing::error!(
                    "the store failed; not acknowledging, reconnecting to the broker in 5 s to have the messages delivered again"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
}

struct Unacked {
    publish: Publish,
    line: String,
    pending: PendingIngest,
}

async fn connection(
    cfg: &MqttSourceConfig,
    store: &Store,
    shutdown: &CancellationToken,
    ready: &mut Option<oneshot::Sender<()>>,
) -> Ended {
    let mut opts = MqttOptions::new(&cfg.client_id, &cfg.host, cfg.port);
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_keep_alive(cfg.keep_alive);
    opts.set_max_packet_size(MAX_INCOMING_PACKET, 1024 * 1024);
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
    let (ack_tx, ack_rx) = mpsc::channel::<Unacked>(ACK_QUEUE);
    let acks = ack_loop(client.clone(), cfg.topic_prefix.clone(), ack_rx);
    tokio::pin!(acks);

    let mut connected = false;
    let mut retry = Duration::from_millis(500);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = client.try_disconnect();
                return Ended::Shutdown;
            }
            // The ack loop only ends when the store failed (or every sender is gone).
            _ = &mut acks => return Ended::StoreFailed,
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(broker = %format!("{}:{}", cfg.host, cfg.port), session_present = ack.session_present, "connected to MQTT broker");
                    connected = true;
                    retry = Duration::from_millis(500);
                    if let Err(e) = client.try_subscribe(cfg.events_filter(), QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "cannot queue the subscription");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    tracing::info!(filter = %cfg.events_filter(), "subscribed");
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let (item, line) = to_item(cfg, &publish);
                    // Waiting in either send is backpressure: the store or the acks are behind.
                    let pending = match store.submit_ingest(item).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot hand the message to the store");
                            return Ended::StoreFailed;
                        }
                    };
                    if ack_tx.send(Unacked { publish, line, pending }).await.is_err() {
                        return Ended::StoreFailed;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::warn!(error = %e, "lost the MQTT broker; reconnecting with backoff (messages stay with the broker)");
                        connected = false;
                    } else {
                        tracing::debug!(error = %e, "MQTT broker still unreachable");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ended::Shutdown,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Decodes a PUBLISH into what the store keeps. Never fails: a bad message is a refusal.
fn to_item(cfg: &MqttSourceConfig, publish: &Publish) -> (IngestItem, String) {
    let topic = publish.topic.clone();
    let received_at = Utc::now();
    let topic_line = cfg.line_of(&topic).unwrap_or("unknown").to_string();
    let known = cfg.lines.contains(&topic_line);
    let decoded = if known {
        let ctx = DecodeContext {
            line: &topic_line,
            received_at,
            max_payload_bytes: cfg.max_payload_bytes,
            prefixes: &cfg.prefixes,
        };
        match protocol::decode(&publish.payload, &ctx) {
            Ok(msg) => Decoded::Accepted(msg),
            Err(r) => Decoded::Refused {
                message_id: r.message_id,
                rejection: r.rejection,
            },
        }
    } else {
        Decoded::Refused {
            message_id: None,
            rejection: Rejection::new(
                RejectCode::UnknownLine,
                format!(
                    "line '{topic_line}' is not configured in [[line]]; add it or fix the topic"
                ),
            ),
        }
    };
    let item = IngestItem {
        topic,
        line: known.then(|| topic_line.clone()),
        received_at,
        payload: publish.payload.to_vec(),
        decoded,
    };
    (item, topic_line)
}

/// Acknowledges each message, in arrival order, once its commit is known. Returns on store failure.
async fn ack_loop(client: AsyncClient, prefix: String, mut rx: mpsc::Receiver<Unacked>) {
    while let Some(u) = rx.recv().await {
        let outcome = match u.pending.outcome().await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, topic = %u.publish.topic, "message not committed; it is not acknowledged");
                return;
            }
        };
        let notice = match &outcome {
            IngestOutcome::Applied | IngestOutcome::Duplicate { earlier: None } => None,
            IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => Some(r),
        };
        if let Some(r) = notice {
            let id = message_id_of(&u.publish.payload);
            tracing::warn!(line = %u.line, id = ?id, code = r.code.as_str(), reason = %r.reason, "message rejected and quarantined");
            let body = serde_json::json!({ "id": id, "code": r.code.as_str(), "reason": r.reason });
            let topic = format!("{prefix}/lines/{}/rejects", u.line);
            if let Err(e) = client
                .publish(topic, QoS::AtLeastOnce, false, body.to_string())
                .await
            {
                tracing::warn!(error = %e, "cannot queue the reject notice; it stays in quarantine");
            }
        }
        if let Err(e) = client.ack(&u.publish).await {
            tracing::warn!(error = %e, "cannot queue the acknowledgement; the broker will redeliver and it will be de-duplicated");
        }
    }
}

/// The message id for a notice, when the payload has one (even a refused payload may).
fn message_id_of(payload: &[u8]) -> Option<String> {
    if payload.len() > 1024 * 1024 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("id")?.as_str().map(str::to_string)
}
