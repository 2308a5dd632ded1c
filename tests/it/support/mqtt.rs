//! An MQTT test client that knows exactly which of its publishes the broker
//! acknowledged.
//!
//! The durability scenario's oracle is "every code whose PUBLISH the broker
//! PUBACKed must end up in the document", so this client tags each QoS1
//! publish, maps the packet id rumqttc assigns (`Outgoing::Publish(pkid)`) back
//! to the tag, and records the tag when the matching `Incoming::PubAck`
//! arrives. It also collects incoming messages (the daemon's reject notices).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::pace;

#[derive(Default)]
struct Track {
    /// Tags of publishes handed to rumqttc that have no packet id yet.
    unsent: VecDeque<String>,
    /// Packet id -> tag for publishes sent and not yet acked.
    inflight: HashMap<u16, String>,
    acked: Vec<String>,
    last_error: Option<String>,
}

pub struct MqttClient {
    client: AsyncClient,
    track: Arc<Mutex<Track>>,
    publish_order: tokio::sync::Mutex<()>,
    acked: watch::Receiver<usize>,
    connacks: watch::Receiver<u64>,
    subacks: watch::Receiver<u64>,
    incoming: tokio::sync::Mutex<UnboundedReceiver<(String, Vec<u8>)>>,
    task: Option<JoinHandle<()>>,
}

struct LoopCtx {
    track: Arc<Mutex<Track>>,
    acked: watch::Sender<usize>,
    connacks: watch::Sender<u64>,
    subacks: watch::Sender<u64>,
    incoming: UnboundedSender<(String, Vec<u8>)>,
}

impl MqttClient {
    /// Connects to the broker on `port` and waits for the CONNACK.
    pub async fn connect(port: u16, client_id: &str, clean_session: bool) -> Result<MqttClient> {
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_clean_session(clean_session)
            .set_keep_alive(Duration::from_secs(30))
            // Outgoing limit high enough for the 10 MB bad-input payload.
            .set_max_packet_size(4 << 20, 16 << 20);
        let (client, eventloop) = AsyncClient::new(opts, 256);
        let track = Arc::new(Mutex::new(Track::default()));
        let (acked_tx, acked) = watch::channel(0);
        let (conn_tx, connacks) = watch::channel(0);
        let (sub_tx, subacks) = watch::channel(0);
        let (in_tx, in_rx) = unbounded_channel();
        let ctx = LoopCtx {
            track: track.clone(),
            acked: acked_tx,
            connacks: conn_tx,
            subacks: sub_tx,
            incoming: in_tx,
        };
        let task = tokio::spawn(run_loop(eventloop, ctx));
        let me = MqttClient {
            client,
            track,
            publish_order: tokio::sync::Mutex::new(()),
            acked,
            connacks,
            subacks,
            incoming: tokio::sync::Mutex::new(in_rx),
            task: Some(task),
        };
        let mut rx = me.connacks.clone();
        let waited = tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|n| *n > 0)).await;
        if waited.is_err() {
            let err = me.last_error();
            return Err(anyhow!(
                "no CONNACK from broker on port {port}; last error: {err:?}"
            ));
        }
        Ok(me)
    }

    /// QoS1 publish; `tag` is what `acked()` reports once the broker PUBACKs it.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, tag: &str) -> Result<()> {
        let _order = self.publish_order.lock().await;
        self.track.lock().unwrap().unsent.push_back(tag.to_string());
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .context("hand publish to rumqttc")
    }

    /// Number of tracked publishes the broker has acknowledged.
    pub fn acked_count(&self) -> usize {
        *self.acked.borrow()
    }

    /// Tags of acknowledged publishes, in ack order.
    pub fn acked(&self) -> Vec<String> {
        self.track.lock().unwrap().acked.clone()
    }

    pub fn last_error(&self) -> Option<String> {
        self.track.lock().unwrap().last_error.clone()
    }

    /// Waits until at least `n` publishes were acknowledged.
    pub async fn wait_acked(&self, n: usize, timeout: Duration) -> Result<()> {
        let mut rx = self.acked.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await {
            Ok(r) => r.map(|_| ()).context("mqtt event loop ended"),
            Err(_) => Err(anyhow!(
                "only {} of {n} publishes acked within {timeout:?}; last error: {:?}",
                self.acked_count(),
                self.last_error()
            )),
        }
    }

    /// QoS1 subscription; returns once the broker sent the SUBACK.
    pub async fn subscribe(&self, filter: &str) -> Result<()> {
        let mut rx = self.subacks.clone();
        let before = *rx.borrow_and_update();
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|n| *n > before))
            .await
            .map_err(|_| anyhow!("no SUBACK for {filter}"))??;
        Ok(())
    }

    /// Next message delivered on any subscription: (topic, payload).
    pub async fn next_message(&self, timeout: Duration) -> Result<(String, Vec<u8>)> {
        let mut rx = self.incoming.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .map_err(|_| anyhow!("no MQTT message within {timeout:?}"))?
            .ok_or_else(|| anyhow!("mqtt event loop ended"))
    }

    /// A message that has already arrived, without waiting.
    pub fn try_next_message(&self) -> Option<(String, Vec<u8>)> {
        self.incoming.try_lock().ok()?.try_recv().ok()
    }

    /// Clean DISCONNECT; the persistent session (if any) stays on the broker.
    pub async fn disconnect(mut self) -> Result<()> {
        self.client.disconnect().await?;
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .context("event loop did not stop after DISCONNECT")??;
        }
        Ok(())
    }
}

async fn run_loop(mut eventloop: EventLoop, ctx: LoopCtx) {
    // Paces reconnect attempts while the broker is down.
    let mut retry = pace(Duration::from_millis(100));
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => {
                let mut t = ctx.track.lock().unwrap();
                // A pkid already in flight is a retransmission after reconnect.
                if !t.inflight.contains_key(&pkid) {
                    if let Some(tag) = t.unsent.pop_front() {
                        t.inflight.insert(pkid, tag);
                    }
                }
            }
            Ok(Event::Incoming(Incoming::PubAck(ack))) => {
                let mut t = ctx.track.lock().unwrap();
                if let Some(tag) = t.inflight.remove(&ack.pkid) {
                    t.acked.push(tag);
                    let _ = ctx.acked.send(t.acked.len());
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                let _ = ctx.incoming.send((p.topic.clone(), p.payload.to_vec()));
            }
            Ok(Event::Incoming(Incoming::ConnAck(_))) => ctx.connacks.send_modify(|n| *n += 1),
            Ok(Event::Incoming(Incoming::SubAck(_))) => ctx.subacks.send_modify(|n| *n += 1),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                ctx.track.lock().unwrap().last_error = Some(e.to_string());
                retry.tick().await;
            }
        }
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
