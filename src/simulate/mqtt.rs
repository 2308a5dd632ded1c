//! The simulator's MQTT transport: publish a plan's messages with QoS 1 and wait for each PUBACK.
//!
//! One task drives rumqttc's event loop and feeds it from the plan, so nothing is spawned and
//! nothing can deadlock on the request channel: at most `WINDOW` messages are unacknowledged at
//! a time, each is stamped with the current `time` as it is handed over, and `--rate` holds a
//! message back until its units are due. A PUBACK means the broker has the message; whether the
//! gateway accepted it is the gateway's business (`linegate batch show`, the rejects topic).
//! A broker that goes away mid-run ends the run with the count acknowledged so far: a real line
//! controller would reconnect and resend, the simulator reports and stops.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::ProgressBar;
use rumqttc::{AsyncClient, ClientError, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::time::Instant;

use super::{SimMessage, SimulateError};
use crate::config::Config;

/// Messages handed to rumqttc and not yet acknowledged.
const WINDOW: usize = 64;
/// How long to keep trying to reach the broker at the start.
const CONNECT_DEADLINE: Duration = Duration::from_secs(15);
/// Largest message we send (rumqttc's default of 10 KiB is less than a case of codes).
const MAX_OUTGOING: usize = 64 * 1024 * 1024;

/// Where the line publishes: the broker of the gateway's `[mqtt]` section and the line's topic.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub topic: String,
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
        }
    }

    fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What the broker acknowledged, and how long it took from the first message.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub messages: usize,
    pub units: u64,
    pub elapsed: Duration,
}

/// Publishes `messages` in order; returns once the broker acknowledged every one.
pub async fn play(
    target: &Target,
    messages: &[SimMessage],
    rate: Option<f64>,
    progress: &ProgressBar,
) -> Result<Delivered, SimulateError> {
    let mut opts = MqttOptions::new(&target.client_id, &target.host, target.port);
    opts.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(WINDOW as u16)
        .set_max_packet_size(1024 * 1024, MAX_OUTGOING);
    let (client, mut eventloop) = AsyncClient::new(opts, WINDOW + 8);
    connect(target, &mut eventloop).await?;

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
    let (mut sent, mut acked) = (0usize, 0usize);
    while acked < total {
        while sent < total && sent - acked < WINDOW && due(sent, start) <= Instant::now() {
            let m = &messages[sent];
            let mut body = m.body.clone();
            body["time"] = Utc::now()
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into();
            match client.try_publish(&target.topic, QoS::AtLeastOnce, false, body.to_string()) {
                Ok(()) => sent += 1,
                // The request channel is full: the event loop has to run first.
                Err(ClientError::TryRequest(_)) => break,
                Err(ClientError::Request(_)) => break,
            }
        }
        let next_due = if sent < total {
            due(sent, start)
        } else {
            start
        };
        // Waiting for `--rate` (not for the broker): wake when the next message is due.
        let paced = sent < total && sent - acked < WINDOW && next_due > Instant::now();
        tokio::select! {
            // Cancel-safe: rumqttc keeps partially read packets in its state between polls.
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    progress.inc(1);
                }
                Ok(_) => {}
                Err(source) => {
                    return Err(SimulateError::Lost { broker: target.broker(), acked, total, source });
                }
            },
            _ = tokio::time::sleep_until(next_due), if paced => {}
        }
    }
    let elapsed = start.elapsed();
    disconnect(&client, &mut eventloop).await;
    Ok(Delivered {
        messages: total,
        units: messages.iter().map(|m| u64::from(m.units)).sum(),
        elapsed,
    })
}

/// Polls until the CONNACK, retrying a refused connection until `CONNECT_DEADLINE`.
async fn connect(target: &Target, eventloop: &mut rumqttc::EventLoop) -> Result<(), SimulateError> {
    let deadline = Instant::now() + CONNECT_DEADLINE;
    let mut last_error = String::from("no answer");
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                last_error = e.to_string();
                // Backoff between attempts; the deadline below still bounds the whole wait.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(SimulateError::Connect {
                broker: target.broker(),
                secs: CONNECT_DEADLINE.as_secs(),
                last_error,
            });
        }
    }
}

/// A clean DISCONNECT, bounded: the messages are acknowledged already, so this is courtesy.
async fn disconnect(client: &AsyncClient, eventloop: &mut rumqttc::EventLoop) {
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
