//! TLS, client certificates and passwords against a mosquitto that demands them.
//!
//! Promise: linegate connects to a broker that requires TLS with a client certificate
//! (`require_certificate true`) or a username and password, with certificates made at test
//! time; and when the CA or the password is wrong it says so in the log, naming the cause and
//! the setting, keeps retrying with backoff and does not crash — a corrected password file is
//! picked up on the next attempt, without a restart. The password never appears in the log.
//! `linegate simulate` uses the same `[mqtt]` TLS and login settings as the daemon.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::mqtt_world::{MqttWorld, mosquitto_password_file, plain};
use crate::support::mosquitto::Setup;
use crate::support::tls::TestPki;
use crate::support::{
    LINE, batch_open, cli, cli_json, code, commission, events_topic, poll_until, run_tag,
};

const RIGHT: &str = "right-horse-battery-staple";
const WRONG: &str = "wrong-horse-battery-staple";

/// The daemon's end of a TLS listener that requires a client certificate.
fn tls_setup(pki: &TestPki) -> Setup {
    Setup {
        persistence: true,
        secured: Some(format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous true",
            pki.ca.display(),
            pki.server_cert.display(),
            pki.server_key.display()
        )),
    }
}

fn mqtts_url(broker: &crate::support::Broker) -> String {
    format!(
        "mqtts://127.0.0.1:{}",
        broker.secure_port().expect("secured listener")
    )
}

/// Publishes a batch_open and one commission of `n` codes; returns once the broker has them.
async fn send_batch(world: &MqttWorld, batch: &str, n: usize) -> Result<()> {
    let client = world.line_client(&format!("line-{batch}")).await?;
    let tag = run_tag();
    let codes: Vec<String> = (0..n).map(|i| code(&format!("S{tag}{i:04}"))).collect();
    let topic = events_topic(LINE);
    client
        .publish(&topic, batch_open(&format!("{batch}-o"), batch), "o")
        .await?;
    client
        .publish(
            &topic,
            commission(&format!("{batch}-c"), batch, &codes),
            "c",
        )
        .await?;
    client.wait_acked(2, Duration::from_secs(30)).await?;
    client.disconnect().await
}

#[tokio::test]
async fn mqtt_tls_with_client_certificate_stores_messages() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let pki = TestPki::generate(dir.path())?;
    let extra = format!(
        "ca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let world = MqttWorld::start(dir, &tls_setup(&pki), mqtts_url, &extra, "").await?;
    let daemon = world.daemon().await?;
    ensure!(
        plain(&daemon.log()).contains("tls=true"),
        "not connected over TLS:\n{}",
        plain(&daemon.log())
    );
    // `linegate simulate` reaches the same broker with the gateway's TLS settings and client
    // certificate (a line client without them would be refused by this broker).
    let config = world.config.to_str().context("config path")?;
    let out = cli(&[
        "simulate",
        "--config",
        config,
        "--units",
        "100",
        "--case-size",
        "25",
        "--seed",
        "5",
        "--quiet",
        "--json",
    ])
    .await?;
    ensure!(
        out.status.success(),
        "simulate over TLS failed:\n{}",
        out.all_text()
    );
    let summary: Value = serde_json::from_str(&out.stdout).context("simulate --json")?;
    let batch = summary["batch"]
        .as_str()
        .context("the summary names its batch")?
        .to_string();
    let simulated = poll_until(
        "the simulated batch closed",
        Duration::from_secs(60),
        async || {
            let rows: Vec<Value> = cli_json(&["batch", "list"], &world.config).await?;
            Ok(rows
                .iter()
                .find(|r| r["batch"] == batch.as_str() && r["state"] == "closed")
                .and_then(|r| r["serials"].as_u64()))
        },
    )
    .await?;
    ensure!(
        simulated >= 100,
        "only {simulated} identifiers of 100 units"
    );

    send_batch(&world, "B-TLS", 25).await?;
    world
        .wait_serials(simulated + 25, Duration::from_secs(60))
        .await?;
    ensure!(world.batch_count().await? == 2);
    Ok(())
}

#[tokio::test]
async fn mqtt_tls_wrong_ca_or_no_client_certificate_is_a_clear_error_and_retried() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let pki = TestPki::generate(dir.path())?;
    let wrong_ca = format!(
        "ca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
        pki.other_ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let world = MqttWorld::start(dir, &tls_setup(&pki), mqtts_url, &wrong_ca, "").await?;
    let mut daemon = world.spawn_unready("wrong-ca.log")?;
    // First attempt logged as a warning naming the cause and the setting, then retried.
    let log = daemon.fails_named_and_retries("TLS with broker").await?;
    ensure!(
        log.contains("UnknownIssuer") && log.contains("mqtt.ca_file"),
        "the cause is not named:\n{log}"
    );
    drop(daemon);

    // The right CA but no client certificate: the broker refuses the handshake.
    let no_cert = format!("ca_file = \"{}\"", pki.ca.display());
    world.write_config(&mqtts_url(&world.broker), &no_cert, "")?;
    let mut daemon = world.spawn_unready("no-cert.log")?;
    daemon
        .fails_named_and_retries("no client certificate")
        .await?;
    ensure!(world.batch_count().await.unwrap_or(0) == 0);
    Ok(())
}

#[tokio::test]
async fn mqtt_wrong_password_is_named_retried_and_a_corrected_file_then_works() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let passwd = dir.path().join("mosquitto.passwd");
    mosquitto_password_file(&passwd, "linegate", RIGHT).await?;
    let setup = Setup {
        persistence: true,
        secured: Some(format!(
            "allow_anonymous false\npassword_file {}",
            passwd.display()
        )),
    };
    let secret = dir.path().join("mqtt-password");
    std::fs::write(&secret, format!("{WRONG}\n"))?;
    let extra = format!(
        "username = \"linegate\"\npassword_file = \"{}\"",
        secret.display()
    );
    let url = |b: &crate::support::Broker| {
        format!("mqtt://127.0.0.1:{}", b.secure_port().expect("secured"))
    };
    let world = MqttWorld::start(dir, &setup, url, &extra, "").await?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    let log = daemon.fails_named_and_retries("refused the login").await?;
    ensure!(
        log.contains("username 'linegate'") && log.contains("mqtt.password_file"),
        "the cause is not named:\n{log}"
    );

    // Plant IT fixes the password file; the next attempt (backoff ≤ 30 s) logs in.
    std::fs::write(&secret, format!("{RIGHT}\n"))?;
    daemon
        .wait_log("subscribed", 1, Duration::from_secs(60))
        .await?;
    send_batch(&world, "B-PW", 10).await?;
    world.wait_serials(10, Duration::from_secs(60)).await?;
    let log = daemon.log_text();
    ensure!(
        !log.contains(RIGHT) && !log.contains(WRONG),
        "a password was logged"
    );
    Ok(())
}
