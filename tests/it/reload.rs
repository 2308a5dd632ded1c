//! `systemctl reload linegate` (SIGHUP) while the line keeps sending: nothing is lost.
//!
//! Plant IT edits `/etc/linegate/linegate.toml` and reloads during production. The line must not
//! notice: a valid file is applied (what can change live, live; what cannot is named in a
//! warning), a file with a mistake is refused whole with its problems logged by key path, and
//! the daemon keeps running on the settings it had. Throughout, every message the line
//! publishes is committed exactly once and acknowledged. Each load and reload is in the audit
//! trail with the file's hash.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;

use crate::mqtt_world::MqttWorld;
use crate::support::mosquitto::Setup;
use crate::support::{
    LINE, QuarantineRow, batch_open, cli_json, code, commission, events_topic, run_tag,
};

const MESSAGES: usize = 120;
const CODES_PER_MESSAGE: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_valid_then_an_invalid_file_while_events_flow_loses_nothing() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", "").await?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    daemon.wait_serving().await?;
    let original = std::fs::read_to_string(&world.config)?;

    // The line publishes steadily from its own task while the file is edited and reloaded.
    let client = world.line_client("reload-line").await?;
    let tag = run_tag();
    let batch = format!("R{tag}");
    let topic = events_topic(LINE);
    client
        .publish(&topic, batch_open("open", &batch), "open")
        .await?;
    let line = {
        let (client, topic, batch, tag) = (client, topic.clone(), batch.clone(), tag.clone());
        tokio::spawn(async move {
            for m in 0..MESSAGES {
                let codes: Vec<String> = (0..CODES_PER_MESSAGE)
                    .map(|c| code(&format!("S{tag}{m:03}{c}")))
                    .collect();
                let id = format!("c{m}");
                client
                    .publish(&topic, commission(&id, &batch, &codes), &id)
                    .await?;
                // One message in flight at a time, like a line that waits for its ack.
                client.wait_acked(m + 2, Duration::from_secs(60)).await?;
            }
            anyhow::Ok(client)
        })
    };

    // A valid edit: one live setting, one that needs a restart.
    let valid = original
        .replacen(
            "shutdown_timeout_secs = 10",
            "shutdown_timeout_secs = 10\nmin_free_disk_mb = 1",
            1,
        )
        .replacen("retry_max_ms = 500", "retry_max_ms = 900", 1);
    ensure!(valid != original, "the valid edit changed nothing");
    std::fs::write(&world.config, &valid)?;
    daemon.hangup().await?;
    daemon
        .wait_log(
            "configuration reloaded: applied live",
            1,
            Duration::from_secs(30),
        )
        .await?;
    daemon
        .wait_log(
            "takes effect only after a restart",
            1,
            Duration::from_secs(30),
        )
        .await?;

    // An invalid edit: refused whole, its problem named by key path.
    let invalid = valid.replacen("site_gln = \"0361414000001\"", "site_gln = \"12\"", 1);
    ensure!(invalid != valid, "the invalid edit changed nothing");
    std::fs::write(&world.config, &invalid)?;
    daemon.hangup().await?;
    daemon
        .wait_log("configuration refused", 1, Duration::from_secs(30))
        .await?;
    // The problems follow the refusal line, each with its key path.
    let log = daemon.log_text();
    let refusal: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.contains("configuration refused"))
        .take(4)
        .collect();
    ensure!(
        refusal.first().is_some_and(|l| l.contains("ERROR"))
            && refusal.iter().any(|l| l.contains("gateway.site_gln")),
        "the refusal is not an ERROR naming the key: {refusal:?}"
    );

    // Plant IT puts the valid file back (the CLI reads it too); no reload needed for that.
    std::fs::write(&world.config, &valid)?;

    // The line finished; every message is committed once, none quarantined, daemon alive.
    let client = line.await??;
    ensure!(
        client.acked_count() == MESSAGES + 1,
        "acks {}",
        client.acked_count()
    );
    world
        .wait_serials(
            (MESSAGES * CODES_PER_MESSAGE) as u64,
            Duration::from_secs(60),
        )
        .await?;
    let quarantine: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(quarantine.is_empty(), "quarantined: {quarantine:?}");
    ensure!(daemon.is_running(), "the daemon stopped");
    ensure!(
        !daemon.log_text().contains("panicked"),
        "a panic in the log"
    );

    // The audit trail holds the start and both reloads, each with the file's hash.
    let all: Vec<Value> = cli_json(&["audit", "list", "--limit", "100000"], &world.config).await?;
    let rows: Vec<Value> = (all.into_iter())
        .filter(|r| {
            r["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("config_"))
        })
        .collect();
    let of = |action: &str| {
        rows.iter()
            .filter(|r| r["action"] == action)
            .cloned()
            .collect::<Vec<Value>>()
    };
    ensure!(of("config_load").len() == 1, "config_load rows: {rows:?}");
    let reloads = of("config_reload");
    let refused = of("config_reload_refused");
    ensure!(
        reloads.len() == 1 && refused.len() == 1,
        "reload rows: {rows:?}"
    );
    let hash_of = |text: &str| sha256_hex(text.as_bytes());
    ensure!(
        reloads[0]["new_value"] == hash_of(&valid).as_str(),
        "reload hash {} is not the valid file's",
        reloads[0]["new_value"]
    );
    ensure!(
        refused[0]["new_value"] == hash_of(&invalid).as_str()
            && refused[0]["detail"]
                .as_str()
                .unwrap_or("")
                .contains("gateway.site_gln"),
        "refused reload row {:?}",
        refused[0]
    );
    let verify = crate::support::cli(&[
        "audit",
        "verify",
        "--config",
        world.config.to_str().unwrap_or_default(),
    ])
    .await?;
    ensure!(
        verify.status.success(),
        "audit verify: {}",
        verify.all_text()
    );
    daemon.terminate().await?;
    Ok(())
}

/// The file's SHA-256 as the audit trail writes it, computed here independently.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
