//! One MQTT connection: receive, hand to the store, acknowledge after commit, in order.
//!
//! One task polls the event loop, decodes each PUBLISH and submits it to the store (waiting
//! when the store is behind — backpressure), and, as each commit comes back in arrival order,
//! queues a reject notice when needed and only then the acknowledgement. Nothing in this task
//! waits for the event loop to be polled (replies go through `try_*` and wait in `unsent` when
//! rumqttc's request channel is full), so it cannot deadlock against that channel.
//!
//! While the disk guard has closed the intake, PUBLISHes keep being read (so keep-alive pings
//! still flow) but are *held*: not submitted, not acknowledged. The broker's in-flight window
//! bounds how many arrive that way; the rest wait at the broker. When the intake opens, the
//! held messages go to the store in order. A session never outlives its connection: on any
//! connection error everything un-acknowledged is dropped here and redelivered by the broker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{MqttSourceConfig, Shared, ingest, line_state::Publisher, options};
use crate::store::{IngestOutcome, PendingIngest, StoreError};

/// Messages read but not yet acknowledged (submitted or held), per connection. In practice the
/// broker's in-flight window (mosquitto: max_inflight_messages, default 20) bounds it first;
/// at this limit we stop reading from the broker until commits catch up.
const ACK_QUEUE: usize = 1024;
/// rumqttc request channel: room for an ack and a notice per queued message, plus line states.
const REQUEST_CAPACITY: usize = 2 * ACK_QUEUE + 64;
/// A submit that waits longer than this means the store is not keeping up.
const STORE_SLOW: Duration = Duration::from_secs(2);

/// How a session ended.
pub enum Ended {
    Shutdown,
    StoreFailed,
    /// The connection failed or was lost; `connected` says whether it had been up.
    Lost {
        error: ConnectionError,
        connected: bool,
    },
}

/// What a session borrows from the source for its lifetime.
pub struct Ctx<'a> {
    pub cfg: &'a MqttSourceConfig,
    pub shared: &'a Shared,
    pub shutdown: &'a CancellationToken,
    pub ready: &'a mut Option<oneshot::Sender<()>>,
    pub publisher: &'a mut Publisher,
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

/// Runs one connection until it ends.
pub async fn run(ctx: &mut Ctx<'_>, opts: MqttOptions) -> Ended {
    let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
    eventloop.set_network_options(options::network());
    let cfg = ctx.cfg;
    let mut intake = ctx.shared.intake.clone();
    let mut health_changes = ctx.shared.health.changes();
    let mut unacked: VecDeque<Unacked> = VecDeque::new();
    let mut held: VecDeque<Publish> = VecDeque::new();
    let mut unsent: VecDeque<Reply> = VecDeque::new();
    let mut connected = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let open = *intake.borrow_and_update();
        if open {
            while let Some(p) = held.pop_front() {
                match submit(cfg, ctx.shared, p).await {
                    Ok(u) => unacked.push_back(u),
                    Err(()) => return Ended::StoreFailed,
                }
            }
        }
        flush(&client, &mut unsent);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                let _ = client.try_disconnect();
                return Ended::Shutdown;
            }
            // Cancel-safe: the oneshot keeps its value if another branch wins.
            Some(outcome) = next_outcome(&mut unacked), if !unacked.is_empty() => {
                let Some(u) = unacked.pop_front() else { continue };
                match outcome {
                    Ok(o) => {
                        ctx.publisher.mark(&u.line);
                        if let Some((topic, body)) = ingest::notice(&cfg.mqtt.topic_prefix, &u.line, &u.publish, &o) {
                            unsent.push_back(Reply::Notice { topic, body });
                        }
                        unsent.push_back(Reply::Ack(u.publish));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, topic = %u.publish.topic, "message not committed; it is not acknowledged");
                        return Ended::StoreFailed;
                    }
                }
                if unacked.is_empty() {
                    ctx.shared.health.set("store", None);
                }
            }
            // Only while closed: wakes the loop when the disk guard opens the intake. (An
            // error means the guard is gone, at shutdown: the branch is then simply disabled.)
            Ok(()) = intake.changed(), if !open => {}
            Ok(()) = health_changes.changed() => ctx.publisher.mark_all(),
            _ = tick.tick(), if connected => ctx.publisher.publish_due(&client, &ctx.shared.health, open),
            // Never gated on `unsent`: only polling lets rumqttc drain its request channel (and
            // notice a dead connection), so waiting for room there here would deadlock.
            ev = eventloop.poll(), if unacked.len() + held.len() < ACK_QUEUE => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(broker = %format!("{}:{}", cfg.mqtt.host, cfg.mqtt.port), tls = cfg.mqtt.tls.is_some(), session_present = ack.session_present, "connected to MQTT broker");
                    connected = true;
                    ctx.shared.health.set("mqtt", None);
                    // Every connection subscribes: a broker that lost our session (restarted
                    // without persistence, or expired it) would otherwise send us nothing.
                    if let Err(e) = client.try_subscribe(cfg.events_filter(), QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "cannot queue the subscription");
                    }
                    ctx.publisher.on_connect();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    tracing::info!(filter = %cfg.events_filter(), "subscribed");
                    if let Some(r) = ctx.ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if open && held.is_empty() {
                        match submit(cfg, ctx.shared, publish).await {
                            Ok(u) => unacked.push_back(u),
                            Err(()) => return Ended::StoreFailed,
                        }
                    } else {
                        tracing::debug!(topic = %publish.topic, held = held.len() + 1, "intake closed: message held, not acknowledged");
                        held.push_back(publish);
                    }
                }
                Ok(_) => {}
                Err(error) => return Ended::Lost { error, connected },
            },
        }
    }
}

/// Decodes and submits one message. Waiting here is backpressure: the store is behind, and
/// the broker keeps what we have not acknowledged.
async fn submit(cfg: &MqttSourceConfig, shared: &Shared, publish: Publish) -> Result<Unacked, ()> {
    let (item, line) = ingest::to_item(cfg, &publish);
    let waited = Instant::now();
    let pending = match shared.store.submit_ingest(item).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot hand the message to the store");
            return Err(());
        }
    };
    if waited.elapsed() > STORE_SLOW {
        shared.health.set(
            "store",
            Some(format!(
                "the store is slow (a message waited {} ms to be queued); input is held back at the broker",
                waited.elapsed().as_millis()
            )),
        );
    }
    Ok(Unacked {
        publish,
        line,
        pending,
    })
}

/// The commit outcome of the oldest unacknowledged message (acks must go out in order).
async fn next_outcome(
    unacked: &mut VecDeque<Unacked>,
) -> Option<Result<IngestOutcome, StoreError>> {
    Some(unacked.front_mut()?.pending.wait().await)
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
