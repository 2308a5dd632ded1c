//! Disk-guard backpressure: below `gateway.min_free_disk_mb` nothing is taken, nothing is lost.
//!
//! Promise: when free space under `gateway.data_dir` is below the threshold, linegate stops
//! acknowledging — the messages stay at the broker — reports itself unhealthy (log, and the
//! line's retained state topic says `intake: paused` with the `disk` problem), and once it
//! has room (here: plant IT lowers the threshold and restarts it, after a `kill -9` so no
//! graceful path can help) every message arrives exactly once.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;

use crate::mqtt_world::{MqttWorld, plain};
use crate::support::mosquitto::Setup;
use crate::support::{
    LINE, QuarantineRow, TOPIC_PREFIX, batch_open, cli_json, code, commission, events_topic,
    poll_until, run_tag,
};

const MESSAGES: usize = 30;
const CODES_PER_MESSAGE: usize = 10;

#[tokio::test]
async fn mqtt_disk_guard_holds_messages_at_the_broker_until_there_is_room() -> Result<()> {
    let dir = MqttWorld::dir()?;
    // 2^30 MiB = 1 PiB: more than any test machine has free.
    let low = "min_free_disk_mb = 1073741824";
    let world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", low).await?;
    let mut daemon = world.daemon().await?;

    // The HMI sees why the line is not being served.
    let hmi = world.line_client("hmi").await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    let state = next_json(&hmi).await?;
    ensure!(state["intake"] == "paused", "state: {state}");
    ensure!(
        state["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["part"] == "disk")),
        "state: {state}"
    );

    let line = world.line_client("plc").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    line.publish(&topic, batch_open("open", "B-DISK"), "open")
        .await?;
    for m in 0..MESSAGES {
        let codes: Vec<String> = (0..CODES_PER_MESSAGE)
            .map(|c| code(&format!("S{tag}{m:03}{c:02}")))
            .collect();
        let id = format!("c{m}");
        line.publish(&topic, commission(&id, "B-DISK", &codes), &id)
            .await?;
    }
    line.wait_acked(MESSAGES + 1, Duration::from_secs(30))
        .await?;
    // The broker's in-flight window (20) reaches the daemon and is held there, unacknowledged.
    poll_until(
        "the daemon holding messages",
        Duration::from_secs(30),
        async || {
            let held = plain(&daemon.log())
                .matches("intake closed: message held")
                .count();
            Ok((held >= 20).then_some(()))
        },
    )
    .await?;
    ensure!(
        world.batch_count().await? == 0,
        "a message was stored below the disk threshold"
    );
    let log = plain(&daemon.log());
    ensure!(
        log.contains("unhealthy part=disk") && log.contains("gateway.min_free_disk_mb"),
        "no unhealthy report naming the setting:\n{log}"
    );
    ensure!(daemon.is_running());

    // kill -9: whatever the daemon held was never acknowledged, so the broker still has it.
    daemon.kill9().await?;
    world.write_config(&world.broker.url(), "", "min_free_disk_mb = 0")?;
    let _daemon = world.daemon().await?;
    world
        .wait_serials(
            (MESSAGES * CODES_PER_MESSAGE) as u64,
            Duration::from_secs(60),
        )
        .await?;
    let q: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(q.is_empty(), "refused (duplicates?): {q:#?}");
    Ok(())
}

/// The next message on the client's subscriptions, as JSON.
pub async fn next_json(client: &crate::support::MqttClient) -> Result<Value> {
    let (_, payload) = client.next_message(Duration::from_secs(30)).await?;
    Ok(serde_json::from_slice(&payload)?)
}
