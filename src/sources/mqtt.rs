//! The MQTT source: PLCs and line controllers publish protocol-v1 events; we ack after commit.
//!
//! rumqttc with manual acknowledgements and a persistent session (`clean_session = false`), so
//! the broker keeps every un-acknowledged QoS1 message for us across our restarts and outages.
//! One task per connection polls the event loop, decodes each PUBLISH and submits it to the
//! store (waiting when the store is behind — backpressure), and, as each commit comes back in
//! arrival order, queues a reject notice when needed and only then the acknowledgement. Nothing
//! in that task waits for the event loop to be polled (replies go through `try_*`), so it cannot
//! deadlock against rumqttc's request channel. If the store fails, nothing more is acknowledged
//! and the connection is rebuilt, so the broker delivers the un-acknowledged messages again.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::gs1::CompanyPrefixes;
use crate::model::{RejectCode, Rejection};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome, PendingIngest, Store};

/// Messages decoded and submitted but not yet acknowledged, per connection. In practice the
/// broker's in-flight window (mosquitto: max_inflight_messages, default 20) bounds it first;
/// at this limit we stop reading from the broker until commits catch up.
const ACK_QUEUE: usize = 1024;
/// rumqttc request channel: room for an ack and a notice per queued message.
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

/// A message handed to the store, waiting for its commit before it is acknowledged.
struct Unacked {
    publish: Publish,
    line: String,
    pending: PendingIngest,
}

/// A request for the broker that could not be queued yet (rumqttc's channel was full).
enum Reply {
    Notice { topic: String, body: String },
    Ack(Publish),
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
    // Everything runs in this one task and nothing here waits on the event loop being polled:
    // replies are queued with try_* calls, and what does not fit waits in `unsent`.
    let mut unacked: VecDeque<Unacked> = VecDeque::new();
    let mut unsent: VecDeque<Reply> = VecDeque::new();
    let mut connected = false;
    let mut retry = Duration::from_millis(500);
    loop {
        flush(&client, &mut unsent);
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = client.try_disconnect();
                return Ended::Shutdown;
            }
            // Cancel-safe: the oneshot keeps its value if another branch wins.
            Some(outcome) = next_outcome(&mut unacked), if !unacked.is_empty() => {
                let Some(u) = unacked.pop_front() else { continue };
                match outcome {
                    Ok(o) => reply(&cfg.topic_prefix, u, &o, &mut unsent),
                    Err(e) => {
                        tracing::error!(error = %e, topic = %u.publish.topic, "message not committed; it is not acknowledged");
                        return Ended::StoreFailed;
                    }
                }
            }
            ev = eventloop.poll(), if unacked.len() < ACK_QUEUE && unsent.len() < ACK_QUEUE => match ev {
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
                    // Waiting here is backpressure: the store is behind, and the broker keeps
                    // the messages we have not acknowledged.
                    let waited = std::time::Instant::now();
                    let pending = match store.submit_ingest(item).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot hand the message to the store");
                            return Ended::StoreFailed;
                        }
                    };
                    if waited.elapsed() > Duration::from_secs(2) {
                        tracing::warn!(waited_ms = waited.elapsed().as_millis() as u64, "the store is slow; input is held back");
                    }
                    unacked.push_back(Unacked { publish, line, pending });
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
            },
        }
    }
}

/// The commit outcome of the oldest unacknowledged message (acks must go out in order).
async fn next_outcome(
    unacked: &mut VecDeque<Unacked>,
) -> Option<Result<IngestOutcome, crate::store::StoreError>> {
    Some(unacked.front_mut()?.pending.wait().await)
}

/// Queues the reject notice (if any) and the acknowledgement for a committed message.
fn reply(prefix: &str, u: Unacked, outcome: &IngestOutcome, unsent: &mut VecDeque<Reply>) {
    let rejection = match outcome {
        IngestOutcome::Applied | IngestOutcome::Duplicate { earlier: None } => None,
        IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => Some(r),
    };
    if let Some(r) = rejection {
        let id = message_id_of(&u.publish.payload);
        tracing::warn!(line = %u.line, id = ?id, code = r.code.as_str(), reason = %r.reason, "message rejected and quarantined");
        let body = serde_json::json!({ "id": id, "code": r.code.as_str(), "reason": r.reason })
            .to_string();
        unsent.push_back(Reply::Notice {
            topic: format!("{prefix}/lines/{}/rejects", u.line),
            body,
        });
    }
    unsent.push_back(Reply::Ack(u.publish));
}

/// Hands queued replies to rumqttc, in order, as far as its request channel has room.
fn flush(client: &AsyncClient, unsent: &mut VecDeque<Reply>) {
    while let Some(r) = unsent.front() {
        let queued = match r {
            Reply::Notice { topic, body } => {
                client.try_publish(topic.clone(), QoS::AtLeastOnce, false, body.clone())
            }
            Reply::Ack(p) => client.try_ack(p),
        };
        match queued {
            Ok(()) => {
                unsent.pop_front();
            }
            Err(rumqttc::ClientError::TryRequest(_)) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot queue a reply to the broker; it is dropped (the broker redelivers, de-duplication answers again)");
                unsent.pop_front();
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
            message_id: message_id_of(&publish.payload),
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

/// The message id for a notice, when the payload has one (even a refused payload may).
fn message_id_of(payload: &[u8]) -> Option<String> {
    if payload.len() > 1024 * 1024 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("id")?.as_str().map(str::to_string)
}
