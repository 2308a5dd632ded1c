//! The simulator's MQTT transport: publish a plan's messages with QoS 1, through broker restarts,
//! and record exactly which of them the broker acknowledged.
//!
//! One task drives rumqttc's event loop and feeds it from the plan, so nothing is spawned and
//! nothing can deadlock on the request channel: at most `WINDOW` messages are unacknowledged at
//! a time, each is stamped with the current `time` as it is handed over, and `--rate` holds a
//! message back until its units are due. A PUBACK is matched to its message by packet id
//! (`Outgoing::Publish(pkid)` gives the id in hand-over order, `Incoming::PubAck(pkid)` returns
//! it), so `Delivered::acked` lists the message ids the broker acknowledged, each once.
//!
//! Like a line controller that must not lose what it sent, the simulator keeps a persistent
//! session (clean session off, one client id for the whole run) and does not give up when the
//! broker goes away: it drops that connection's client and connects again — at once, then
//! with backoff (100 ms doubling to 2 s), for up to 60 s — then publishes again, in plan order
//! and before anything new, every message that had no PUBACK. It does that itself, with a
//! fresh client, rather than let rumqttc replay its queue: rumqttc forgets un-acknowledged
//! publishes whenever the broker answers without a session, and the events it buffered on the
//! old connection would shift the packet-id bookkeeping. A message whose PUBACK was lost on
//! the way is published twice; the gateway keeps it once (it de-duplicates by message id). A
//! PUBACK means the broker has the message; whether the gateway accepted it is the gateway's
//! business (`linegate batch show`, the rejects topic).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::ProgressBar;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::time::Instant;

use super::summary::Delivered;
use super::{SimMessage, SimulateError};
use crate::config::Config;
use crate::config::Mqtt;
use crate::sources::mqtt::options;

/// Messages handed to rumqttc and not yet acknowledged.
const WINDOW: usize = 64;
/// How long to keep trying to reach the broker at the start.
const CONNECT_DEADLINE: Duration = Duration::from_secs(15);
/// How long the broker may stay away mid-run before the simulator gives up.
const RECONNECT_DEADLINE: Duration = Duration::from_secs(60);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Largest message we send (rumqttc's default of 10 KiB is less than a case of codes).
const MAX_OUTGOING: usize = 64 * 1024 * 1024;

/// Where the line publishes: the broker of the gateway's `[mqtt]` section and the line's topic.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Stable for the whole run: the broker keeps the session under it across reconnects.
    pub client_id: String,
    pub topic: String,
    /// The gateway's `[mqtt]` section, for its TLS and login settings (the line's client uses
    /// the broker as the gateway does); None: plain TCP, anonymous.
    pub settings: Option<Mqtt>,
}

impl Target {
    /// The events topic of `line` on the gateway's broker, under a client id of its own.
    pub fn from_config(config: &Config, line: &str) -> Target {
        Target {
            host: config.mqtt.host.clone(),
            port: config.mqtt.port,
            client_id: format!(
                "{}-sim-{line}-{}",
                config.mqtt.client_id,
                std::process::id()
            ),
            topic: format!("{}/lines/{line}/events", config.mqtt.topic_prefix),
            settings: Some(config.mqtt.clone()),
        }
    }

    fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Which messages are where: handed over, in flight under a packet id, acknowledged.
#[derive(Default)]
struct Flight {
    /// Handed to rumqttc, no packet id yet, in hand-over order.
    unsent: VecDeque<usize>,
    /// Packet id → message, sent and not acknowledged.
    inflight: HashMap<u16, usize>,
    /// Published on a connection that was lost without a PUBACK: they go first, in order.
    again: VecDeque<usize>,
    acked: Vec<usize>,
}

impl Flight {
    fn outstanding(&self) -> usize {
        self.unsent.len() + self.inflight.len()
    }

    /// The connection is gone: everything it had not acknowledged is published again.
    fn lost(&mut self) {
        let mut back: Vec<usize> = self.inflight.drain().map(|(_, i)| i).collect();
        back.extend(self.unsent.drain(..));
        back.extend(self.again.drain(..));
        back.sort_unstable();
        self.again = back.into();
    }
}

/// Publishes `messages` in order; returns once the broker acknowledged every one.
pub async fn play(
    target: &Target,
    messages: &[SimMessage],
    rate: Option<f64>,
    progress: &ProgressBar,
) -> Result<Delivered, SimulateError> {
    progress.set_message("acknowledged by the broker");
    let (mut client, mut eventloop) =
        connect(target, CONNECT_DEADLINE)
            .await
            .map_err(|last_error| SimulateError::Connect {
                broker: target.broker(),
                secs: CONNECT_DEADLINE.as_secs(),
                last_error,
            })?;
    // Units commissioned before message i: when it is due under `--rate`.
    let units_before: Vec<u64> = messages
        .iter()
        .scan(0u64, |acc, m| {
            let before = *acc;
            *acc += u64::from(m.units);
            Some(before)
        })
        .collect();
    let due = |i: usize, start: Instant| match rate {
        Some(r) if r > 0.0 => start + Duration::from_secs_f64(units_before[i] as f64 / r),
        _ => start,
    };
    let total = messages.len();
    let start = Instant::now();
    let (mut f, mut next, mut reconnects) = (Flight::default(), 0usize, 0u32);
    while f.acked.len() < total {
        while f.outstanding() < WINDOW {
            let i = match f.again.front() {
                Some(&i) => i,
                None if next < total && due(next, start) <= Instant::now() => next,
                None => break,
            };
            let mut body = messages[i].body.clone();
            body["time"] = Utc::now()
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into();
            // Full request channel: the event loop has to run first.
            if client
                .try_publish(&target.topic, QoS::AtLeastOnce, false, body.to_string())
                .is_err()
            {
                break;
            }
            if f.again.pop_front().is_none() {
                next += 1;
            }
            f.unsent.push_back(i);
        }
        let next_due = due(next.min(total.saturating_sub(1)), start);
        // Waiting for `--rate` (not for the broker): wake when the next message is due.
        let paced = f.again.is_empty()
            && next < total
            && f.outstanding() < WINDOW
            && next_due > Instant::now();
        tokio::select! {
            // Cancel-safe: rumqttc keeps partially read packets in its state between polls.
            ev = eventloop.poll() => match ev {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(i) = f.unsent.pop_front() {
                        f.inflight.insert(pkid, i);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    if let Some(i) = f.inflight.remove(&ack.pkid) {
                        f.acked.push(i);
                        progress.inc(1);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(broker = %target.broker(), error = %e, acked = f.acked.len(), total, "lost the MQTT broker; connecting again and publishing what it had not acknowledged");
                    f.lost();
                    reconnects += 1;
                    (client, eventloop) = connect(target, RECONNECT_DEADLINE)
                        .await
                        .map_err(|last_error| SimulateError::Lost {
                            broker: target.broker(),
                            secs: RECONNECT_DEADLINE.as_secs(),
                            acked: f.acked.len(),
                            total,
                            last_error,
                        })?;
                }
            },
            _ = tokio::time::sleep_until(next_due), if paced => {}
        }
    }
    let elapsed = start.elapsed();
    disconnect(&client, &mut eventloop).await;
    Ok(Delivered {
        transport: "mqtt",
        messages: total,
        units: messages.iter().map(|m| u64::from(m.units)).sum(),
        elapsed,
        acked: f.acked.iter().map(|&i| messages[i].id.clone()).collect(),
        reconnects,
        reads: 0,
        via_store: 0,
    })
}

/// A fresh client on the run's persistent session, polled until the CONNACK; refused or failed
/// attempts are retried with backoff until `deadline` has passed (then: the last error).
async fn connect(target: &Target, deadline: Duration) -> Result<(AsyncClient, EventLoop), String> {
    let mut opts = match &target.settings {
        // A setup problem (an unreadable CA file, a missing password) will not go away by
        // retrying: report it at once.
        Some(mqtt) => options::for_broker(mqtt, &target.client_id).map_err(|e| e.to_string())?,
        None => MqttOptions::new(&target.client_id, &target.host, target.port),
    };
    opts.set_clean_session(false)
        // Room beyond WINDOW: packet ids never collide while the broker acks in order.
        .set_inflight(2 * WINDOW as u16)
        .set_max_packet_size(1024 * 1024, MAX_OUTGOING);
    let (client, mut eventloop) = AsyncClient::new(opts, WINDOW + 8);
    eventloop.set_network_options(options::network());
    let until = Instant::now() + deadline;
    let mut backoff = BACKOFF_FIRST;
    let mut last_error = String::from("no answer");
    loop {
        match tokio::time::timeout_at(until, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok((client, eventloop)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                last_error = e.to_string();
                tokio::time::sleep(backoff.min(until.saturating_duration_since(Instant::now())))
                    .await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(_) => {}
        }
        if Instant::now() >= until {
            return Err(last_error);
        }
    }
}

/// A clean DISCONNECT, bounded: the messages are acknowledged already, so this is courtesy.
async fn disconnect(client: &AsyncClient, eventloop: &mut EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(ev) = eventloop.poll().await {
            if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}
