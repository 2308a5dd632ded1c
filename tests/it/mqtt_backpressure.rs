//! Disk-guard backpressure: below `gateway.min_free_disk_mb` nothing is taken, nothing is lost.
//!
//! Promise: when free space under `gateway.data_dir` is below the threshold, linegate stops
//! acknowledging — the messages stay at the broker — and reports itself unhealthy (log, and the
//! line's retained state topic says `intake: paused` with the `disk` problem). Plant IT lowers
//! the threshold in the config file and sends SIGHUP (`systemctl kill -s HUP linegate`): the running daemon
//! applies it at once, takes every held message exactly once and is healthy again. A file with
//! a mistake in it is refused on SIGHUP, whole, and the daemon runs on as it was.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;

use crate::mqtt_world::{MqttWorld, check_line_state, wait_state};
use crate::support::mosquitto::Setup;
use crate::support::{
    LINE, QuarantineRow, TOPIC_PREFIX, batch_open, cli_json, code, commission, events_topic,
    run_tag,
};

const MESSAGES: usize = 30;
const CODES_PER_MESSAGE: usize = 10;
/// 2^30 MiB = 1 PiB: more than any test machine has free.
const NO_ROOM: &str = "min_free_disk_mb = 1073741824";

#[tokio::test]
async fn mqtt_disk_guard_holds_messages_at_the_broker_until_the_threshold_is_lowered_live()
-> Result<()> {
    let dir = MqttWorld::dir()?;
    let world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", NO_ROOM).await?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    daemon.wait_serving().await?;

    // The HMI sees why the line is not being served.
    let hmi = world.line_client("hmi").await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    let state = next_json(&hmi).await?;
    check_line_state(&state)?;
    ensure!(
        state["intake"] == "paused" && state["healthy"] == false,
        "state: {state}"
    );
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
    daemon
        .wait_log("intake closed: message held", 20, Duration::from_secs(30))
        .await?;
    ensure!(
        world.batch_count().await? == 0,
        "a message was stored below the disk threshold"
    );
    let log = daemon.log_text();
    ensure!(
        log.contains("unhealthy part=disk") && log.contains("gateway.min_free_disk_mb"),
        "no unhealthy report naming the setting:\n{log}"
    );

    // A mistake in the file: refused whole (its lower threshold too), every problem named.
    world.write_config(
        &world.broker.url(),
        "",
        "min_free_disk_mb = 0\nsurprise = true",
    )?;
    daemon.hangup().await?;
    daemon
        .wait_log("configuration refused", 1, Duration::from_secs(30))
        .await?;
    let log = daemon.log_text();
    ensure!(
        log.contains("gateway.surprise"),
        "problem not named:\n{log}"
    );
    ensure!(!log.contains("applied live"), "applied from a refused file");
    ensure!(daemon.is_running(), "the daemon stopped on a bad reload");

    // Lowered for real. (`write_config` also moves the upstream to a new port: a setting the
    // daemon must name as needing a restart, and not apply.)
    world.write_config(&world.broker.url(), "", "min_free_disk_mb = 0")?;
    daemon.hangup().await?;
    world
        .wait_serials(
            (MESSAGES * CODES_PER_MESSAGE) as u64,
            Duration::from_secs(60),
        )
        .await?;
    let q: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(q.is_empty(), "refused (duplicates?): {q:#?}");
    wait_state(&hmi, "intake open and healthy", |s| {
        s["intake"] == "open" && s["healthy"] == true
    })
    .await?;

    let log = daemon.log_text();
    ensure!(
        log.contains("applied live") && log.contains("to=0"),
        "the threshold change is not logged:\n{log}"
    );
    ensure!(
        log.lines()
            .any(|l| l.contains("only after a restart") && l.contains("upstream")),
        "the changed upstream is not named as needing a restart:\n{log}"
    );
    ensure!(
        log.matches("linegate is serving").count() == 1 && daemon.is_running(),
        "the daemon restarted instead of reloading"
    );
    Ok(())
}

/// The next message on the client's subscriptions, as JSON.
pub async fn next_json(client: &crate::support::MqttClient) -> Result<Value> {
    let (_, payload) = client.next_message(Duration::from_secs(30)).await?;
    Ok(serde_json::from_slice(&payload)?)
}
