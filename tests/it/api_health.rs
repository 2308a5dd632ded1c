//! `GET /health` through the real daemon: red (503) with a reason for each thing that can be
//! wrong, green (200) again once it is put right.
//!
//! Promise: a monitoring probe sees the daemon turn red when free disk space runs low, when
//! the MQTT broker is gone, when the outbox holds more than `gateway.max_outbox_bytes` or a
//! dead letter, and when the database is damaged (found by `PRAGMA quick_check` at start) —
//! each time with the part, a sentence and since when — and green again when the cause is
//! gone: the threshold lowered (SIGHUP), the broker back, the document delivered, a sound
//! database. Every state is read from `/health` as a probe reads it, never from the log.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::api_client::ApiClient;
use crate::mqtt_world::MqttWorld;
use crate::support::mosquitto::Setup;
use crate::support::{Daemon, Gateway, poll_until, run_tag, serials};

/// 2^30 MiB = 1 PiB: more than any test machine has free.
const NO_ROOM: &str = "min_free_disk_mb = 1073741824";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_health_goes_red_when_disk_space_is_low_or_the_broker_is_gone_and_green_again()
-> Result<()> {
    let mut world =
        MqttWorld::start(MqttWorld::dir()?, &Setup::default(), |b| b.url(), "", "").await?;
    let api = ApiClient::new(world.dir.path(), "probe")?;
    world.append_config(&api.table)?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    daemon.wait_serving().await?;
    api.wait_green().await?;

    // Plant IT raises the threshold above the free space: red for the disk, until lowered.
    world.write_config(&world.broker.url(), "", NO_ROOM)?;
    world.append_config(&api.table)?;
    daemon.hangup().await?;
    let disk = api.wait_red("disk", "MiB").await?;
    ensure!(
        disk["problem"]
            .as_str()
            .is_some_and(|p| p.contains("min_free_disk_mb")),
        "the disk reason does not name the setting: {disk}"
    );
    world.write_config(&world.broker.url(), "", "min_free_disk_mb = 0")?;
    world.append_config(&api.table)?;
    daemon.hangup().await?;
    api.wait_green().await?;

    // The broker dies: red for the MQTT source, green once it is back and reconnected.
    world.broker.kill().await?;
    api.wait_red("mqtt", "").await?;
    let metrics = api.get("/metrics").await?;
    ensure!(
        metrics
            .text
            .lines()
            .any(|l| l == "linegate_mqtt_connected 0"),
        "{}",
        metrics.text
    );
    world.broker.start_again().await?;
    api.wait_green().await?;
    daemon.terminate().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_health_goes_red_for_a_dead_letter_and_a_backlog_and_green_once_delivered() -> Result<()>
{
    // The upstream refuses the first document for good (400), then takes what comes.
    let gw = Gateway::start(&[400]).await?;
    let text = std::fs::read_to_string(&gw.config)?;
    let anchor = "shutdown_timeout_secs = 10\n";
    ensure!(text.contains(anchor), "the test config changed");
    std::fs::write(
        &gw.config,
        text.replacen(anchor, &format!("{anchor}max_outbox_bytes = 1\n"), 1),
    )?;
    let api = ApiClient::new(gw.dir.path(), "probe")?;
    api.enable(&gw.config)?;
    let _daemon = gw.daemon().await?;
    api.wait_green().await?;

    let client = gw.line_client("health-dead-letter").await?;
    let tag = run_tag();
    gw.publish_batch(&client, &format!("H{tag}"), &serials(&tag, 5), 5)
        .await?;
    let dead = api.wait_red("outbox:mah", "").await?;
    let backlog = api.wait_red("outbox", "max_outbox_bytes").await?;
    ensure!(dead != backlog, "one reason for two parts");
    let doc = poll_until(
        "the dead letter listed",
        Duration::from_secs(30),
        async || {
            let page = api.get("/api/v1/outbox?state=rejected").await?;
            Ok((page.body["rows"].as_array().into_iter().flatten())
                .find_map(|r| r["document_id"].as_str().map(String::from)))
        },
    )
    .await?;

    // An operator sends it again; delivered, nothing is owed: green.
    let retried = api
        .post(
            &format!("/api/v1/outbox/{doc}/retry"),
            &json!({"reason": "the partner fixed its schema"}),
            true,
        )
        .await?;
    ensure!(retried.status == 200, "{retried:?}");
    api.wait_green().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_health_goes_red_when_quick_check_finds_a_damaged_database_and_green_on_a_sound_one()
-> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let api = ApiClient::new(gw.dir.path(), "probe")?;
    api.enable(&gw.config)?;
    let mut daemon = gw.daemon().await?;
    api.wait_green().await?;
    ensure!(daemon.terminate().await?.success(), "{}", daemon.log());

    let db = gw.dir.path().join("data").join("linegate.db");
    let wal = db.with_extension("db-wal");
    ensure!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the WAL was not checkpointed at the stop"
    );
    let sound = gw.dir.path().join("linegate.db.sound");
    std::fs::copy(&db, &sound)?;
    damage_an_index(&db)?;

    let mut damaged = Daemon::start(&gw.config).await?;
    let reason = api.wait_red("store:integrity", "damaged").await?;
    ensure!(
        reason["problem"]
            .as_str()
            .is_some_and(|p| p.contains("page")),
        "the reason does not show what quick_check found: {reason}"
    );
    ensure!(damaged.terminate().await?.success(), "{}", damaged.log());

    std::fs::copy(&sound, &db)?;
    let _sound = Daemon::start(&gw.config).await?;
    api.wait_green().await
}

/// Makes the root page of the index `shipment_items_by_serial` (read by nothing while no
/// shipment is recorded) something that is no b-tree page: the file still opens, and
/// `quick_check` reports the page.
fn damage_an_index(db: &std::path::Path) -> Result<()> {
    let (root, page_size): (i64, i64) = {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let root = conn.query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'shipment_items_by_serial'",
            [],
            |r| r.get(0),
        )?;
        let size = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let before: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        ensure!(before == "ok", "the database was damaged already: {before}");
        (root, size)
    };
    ensure!(root > 1, "no such index");
    let mut bytes = std::fs::read(db)?;
    let at = usize::try_from((root - 1) * page_size)?;
    let header = bytes.get_mut(at).context("the page is beyond the file")?;
    ensure!(
        [0x02, 0x0a].contains(header),
        "not an index page: {header:#x}"
    );
    // 0x00 is no b-tree page type.
    *header = 0x00;
    std::fs::write(db, &bytes)?;
    Ok(())
}
