//! Broker restarts: linegate reconnects, subscribes again, and stores everything exactly once.
//!
//! Promise: while a line publishes 50,000 QoS1 messages and the broker is stopped and started
//! ten times, every message the broker acknowledged to the publisher is stored exactly once:
//! the publisher re-sends what it had no PUBACK for (QoS1), the broker re-delivers what
//! linegate had not acknowledged, and linegate de-duplicates by message id. The broker is
//! stopped with SIGTERM (it saves its queue): with SIGKILL mosquitto itself loses up to one
//! autosave interval of messages it had acknowledged, which is the broker's durability, not
//! ours (`durability.rs` covers SIGKILL with an autosave barrier). A second scenario restarts
//! a broker without persistence, which forgets our session and every retained message:
//! linegate must subscribe again and republish the line state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use crate::mqtt_backpressure::next_json;
use crate::mqtt_world::{MqttWorld, plain};
use crate::support::mosquitto::Setup;
use crate::support::{
    LINE, MqttClient, QuarantineRow, TOPIC_PREFIX, batch_open, cli_json, code, commission,
    events_topic, pace, poll_until, run_tag,
};

const RESTARTS: usize = 10;
/// How far the publisher may run ahead of what is stored.
const WINDOW: u64 = 5_000;

fn messages() -> usize {
    std::env::var("LINEGATE_IT_MQTT_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

#[tokio::test]
async fn mqtt_broker_restarted_ten_times_under_load_stores_each_message_once() -> Result<()> {
    let n = messages();
    let started = Instant::now();
    let dir = MqttWorld::dir()?;
    let mut world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", "").await?;
    let daemon = world.daemon().await?;
    // A persistent session, like a PLC that must not lose what it sent: rumqttc drops its
    // un-acknowledged publishes when it reconnects to a session the broker does not have.
    let line = Arc::new(MqttClient::connect(world.broker.port(), "plc", false).await?);
    let topic = events_topic(LINE);
    line.publish(&topic, batch_open("open", "B-RST"), "open")
        .await?;
    // The publisher keeps at most WINDOW messages ahead of what linegate stored, so every
    // restart finds both sides mid-stream.
    let stored = Arc::new(AtomicU64::new(0));
    let tag = run_tag();
    let publisher = {
        let (line, topic, stored) = (line.clone(), topic.clone(), stored.clone());
        tokio::spawn(async move {
            let mut tick = pace(Duration::from_millis(50));
            for i in 0..n {
                while (i as u64) > stored.load(Ordering::Relaxed) + WINDOW {
                    tick.tick().await;
                }
                let id = format!("m{i}");
                let body = commission(&id, "B-RST", &[code(&format!("S{tag}{i:06}"))]);
                line.publish(&topic, body, &id).await?;
            }
            anyhow::Ok(())
        })
    };
    let mut restarts = 0;
    let mut tick = pace(Duration::from_millis(250));
    while restarts < RESTARTS || !publisher.is_finished() {
        tick.tick().await;
        if let Ok(s) = world.stored_serials().await {
            stored.store(s, Ordering::Relaxed);
        }
        // Restart k once linegate stored k/11 of the messages: mid-stream on both sides.
        let due = ((restarts + 1) * n / (RESTARTS + 1)) as u64;
        // … and only once linegate is back (subscribed again) after the previous restart.
        let back = plain(&daemon.log()).matches("subscribed filter=").count() > restarts;
        if restarts < RESTARTS && back && stored.load(Ordering::Relaxed) >= due {
            world.broker.restart_graceful().await?;
            restarts += 1;
            eprintln!(
                "restart {restarts}: {} acked by the broker, {} stored, {:.1} s",
                line.acked_count(),
                stored.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
        ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "no progress: {} acked, {} stored",
            line.acked_count(),
            stored.load(Ordering::Relaxed)
        );
    }
    publisher.await??;
    line.wait_acked(n + 1, Duration::from_secs(600)).await?;
    world
        .wait_serials(n as u64, Duration::from_secs(900))
        .await?;
    let q: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(
        q.is_empty(),
        "refused (duplicates?): {:#?}",
        &q[..q.len().min(5)]
    );
    // Subscribed again after every restart (the last one may still be reconnecting).
    poll_until(
        "a subscription after every restart",
        Duration::from_secs(60),
        async || {
            let subscribed = plain(&daemon.log()).matches("subscribed filter=").count();
            Ok((subscribed > RESTARTS).then_some(()))
        },
    )
    .await?;
    eprintln!(
        "{n} messages, {RESTARTS} broker restarts: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test]
async fn mqtt_resubscribes_and_republishes_state_after_a_broker_forgot_everything() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let setup = Setup {
        persistence: false,
        secured: None,
    };
    let mut world = MqttWorld::start(dir, &setup, |b| b.url(), "", "").await?;
    let daemon = world.daemon().await?;
    world.broker.restart().await?;
    // No session at the broker any more: only a new subscription brings messages.
    poll_until(
        "the daemon subscribing again",
        Duration::from_secs(60),
        async || {
            let log = plain(&daemon.log());
            Ok((log.matches("subscribed filter=").count() >= 2).then_some(()))
        },
    )
    .await?;
    ensure!(plain(&daemon.log()).contains("session_present=false"));

    let line = world.line_client("plc").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    let codes: Vec<String> = (0..5).map(|i| code(&format!("S{tag}{i}"))).collect();
    line.publish(&topic, batch_open("o", "B-NP"), "o").await?;
    line.publish(&topic, commission("c", "B-NP", &codes), "c")
        .await?;
    line.wait_acked(2, Duration::from_secs(30)).await?;
    world.wait_serials(5, Duration::from_secs(60)).await?;

    // The HMI's view: retained, published again after the broker lost it, with the counts.
    let hmi = world.line_client("hmi").await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    loop {
        let state = next_json(&hmi).await?;
        let batch = &state["batches"][0];
        if batch["batch"] == "B-NP" && batch["commissioned"] == 5 {
            ensure!(
                state["intake"] == "open" && state["line"] == LINE,
                "{state}"
            );
            ensure!(
                batch["state"] == "running" && batch["rejected"] == 0,
                "{state}"
            );
            break;
        }
    }
    Ok(())
}
