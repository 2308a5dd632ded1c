//! Serial scanner stations obey the disk guard, and lose nothing doing so.
//!
//! A serial port has no broker to give a read back later, so while the disk guard has closed
//! the intake a station holds what it reads: not committed, not answered. The test is the
//! scanner on a real pty; the threshold is raised and lowered live (config file + SIGHUP), as
//! plant IT would. Promise: reads made while the intake is closed get no reply and are not in
//! the store; when it opens, each is committed once and answered ACK, in order; and reads
//! still held when the daemon is stopped gracefully are committed before it exits.

use std::time::Duration;

use anyhow::{Result, ensure};

use crate::mqtt_world::{MqttWorld, Unready, wait_state};
use crate::support::ledger::SerialDetail;
use crate::support::mosquitto::Setup;
use crate::support::pty::{ACK, Scanner};
use crate::support::{
    LINE, QuarantineRow, TOPIC_PREFIX, batch_open, cli_json, code, events_topic, poll_until,
    run_tag,
};

/// More than any test machine has free (1 PiB).
const NO_ROOM: &str = "1073741824";
/// Reads made while the intake is closed, then reads held at the graceful stop.
const HELD: usize = 12;
const HELD_AT_STOP: usize = 3;

/// Rewrites the config with `min_free_disk_mb` and the scanner, and has the daemon reload it.
async fn set_threshold(
    world: &MqttWorld,
    daemon: &mut Unready,
    station: &str,
    mb: &str,
) -> Result<()> {
    world.write_config(&world.broker.url(), "", &format!("min_free_disk_mb = {mb}"))?;
    world.append_config(station)?;
    daemon.hangup().await
}

/// Waits until the disk guard has closed the intake for the `nth` time (its health log line).
async fn intake_closed(daemon: &Unready, nth: usize) -> Result<()> {
    poll_until(
        "the disk guard closing the intake",
        Duration::from_secs(30),
        async || {
            let n = daemon.log_text().matches("unhealthy part=disk").count();
            Ok((n >= nth).then_some(()))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_held_while_the_disk_guard_is_closed_are_committed_when_it_opens() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", "").await?;
    let scanner = Scanner::plugged(world.dir.path(), "guarded")?;
    let station = scanner.toml("station = \"commission\"");
    world.write_config(&world.broker.url(), "", "min_free_disk_mb = 0")?;
    world.append_config(&station)?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    daemon.wait_serving().await?;

    let tag = run_tag();
    let batch = format!("G{tag}");
    let line = world.line_client("plc").await?;
    line.publish(&events_topic(LINE), batch_open("open", &batch), "open")
        .await?;
    line.wait_acked(1, Duration::from_secs(30)).await?;
    poll_until("the batch stored", Duration::from_secs(30), async || {
        Ok((world.batch_count().await? == 1).then_some(()))
    })
    .await?;
    let codes: Vec<String> = (0..1 + HELD + HELD_AT_STOP)
        .map(|n| code(&format!("G{tag}{n:03}")))
        .collect();
    let reply = scanner.read(format!("{}\r", codes[0]).as_bytes()).await?;
    ensure!(reply == ACK, "first read answered {reply:#04x}");
    world.wait_serials(1, Duration::from_secs(30)).await?;

    // No room: the station keeps reading, and holds.
    set_threshold(&world, &mut daemon, &station, NO_ROOM).await?;
    intake_closed(&daemon, 1).await?;
    for c in &codes[1..=HELD] {
        scanner.pty.send(format!("{c}\r").as_bytes()).await?;
    }
    daemon
        .wait_log("intake closed: read held", HELD, Duration::from_secs(30))
        .await?;
    ensure!(
        world.stored_serials().await? == 1,
        "a read was committed while the intake was closed"
    );

    // The HMI sees the line paused and its station up, with every read counted.
    let hmi = world.line_client("hmi").await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    let reads = (1 + HELD) as u64;
    let state = wait_state(&hmi, "paused with every read counted", |s| {
        s["intake"] == "paused" && s["stations"][0]["reads"] == reads
    })
    .await?;
    let s = &state["stations"][0];
    ensure!(
        s["id"] == "guarded"
            && s["kind"] == "commission"
            && s["up"] == true
            && s["error"].is_null()
            && s["device"] == scanner.link.path.display().to_string()
            && s["last_read"].is_string(),
        "station: {s}"
    );

    // Room again: every held read is committed, then answered, in read order.
    set_threshold(&world, &mut daemon, &station, "0").await?;
    let replies = scanner.pty.receive(HELD, Duration::from_secs(60)).await?;
    ensure!(
        replies.iter().all(|r| *r == ACK),
        "replies after the intake opened: {replies:02x?}"
    );
    world
        .wait_serials((1 + HELD) as u64, Duration::from_secs(30))
        .await?;
    for c in &codes[..=HELD] {
        let s: SerialDetail = cli_json(&["serial", "show", c], &world.config).await?;
        ensure!(
            s.state == "commissioned" && s.batch == batch,
            "{c}: {} in {}",
            s.state,
            s.batch
        );
    }

    // Closed again, and the daemon stopped while it holds reads: they are committed on the way
    // out (nobody could send them again), not dropped.
    set_threshold(&world, &mut daemon, &station, NO_ROOM).await?;
    intake_closed(&daemon, 2).await?;
    for c in &codes[1 + HELD..] {
        scanner.pty.send(format!("{c}\r").as_bytes()).await?;
    }
    daemon
        .wait_log(
            "intake closed: read held",
            HELD + HELD_AT_STOP,
            Duration::from_secs(30),
        )
        .await?;
    ensure!(world.stored_serials().await? == (1 + HELD) as u64);
    daemon.terminate().await?;
    ensure!(
        daemon
            .log_text()
            .contains("the held reads are committed now"),
        "no word about the held reads at the stop"
    );
    ensure!(
        world.stored_serials().await? == codes.len() as u64,
        "held reads were lost at the graceful stop"
    );
    let q: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(q.is_empty(), "refused: {q:#?}");
    Ok(())
}
