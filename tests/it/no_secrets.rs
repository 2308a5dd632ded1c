//! No secret ever reaches the log, even at the most verbose level; the data files are 0600.
//!
//! The journal is read by many people and shipped off the box, so the MQTT password, the
//! upstream's bearer token and the local API's token must never appear in it — not at `trace`,
//! not in an error about a refused login, not when the configuration is reloaded, not when an
//! API caller presents a wrong token. The daemon runs with `RUST_LOG=trace` (every crate),
//! goes through each of those paths, and the test searches the whole log for every secret.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::mqtt_world::{MqttWorld, mosquitto_password_file};
use crate::support::mosquitto::Setup;
use crate::support::{
    LINE, batch_close, batch_open, code, commission, events_topic, free_port, run_tag,
};

const MQTT_PASSWORD: &str = "mqtt-secret-7c1e5b0a93";
const WRONG_MQTT_PASSWORD: &str = "mqtt-wrong-secret-44d1f0";
const UPSTREAM_TOKEN: &str = "upstream-bearer-secret-2b9d61";
const API_TOKEN: &str = "api-token-secret-8e30c7f5aa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_even_at_trace() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let passwd = dir.path().join("mosquitto.passwd");
    mosquitto_password_file(&passwd, "line", MQTT_PASSWORD).await?;
    let setup = Setup {
        persistence: true,
        secured: Some(format!(
            "allow_anonymous false\npassword_file {}",
            passwd.display()
        )),
    };
    let password_file = dir.path().join("mqtt.password");
    let token_file = dir.path().join("upstream.token");
    let api_token_file = dir.path().join("api.token");
    for (file, secret) in [
        (&password_file, WRONG_MQTT_PASSWORD),
        (&token_file, UPSTREAM_TOKEN),
        (&api_token_file, API_TOKEN),
    ] {
        std::fs::write(file, secret)?;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    let mqtt_extra = format!(
        "username = \"line\"\npassword_file = \"{}\"",
        password_file.display()
    );
    let world = MqttWorld::start(
        dir,
        &setup,
        |b| {
            format!(
                "mqtt://127.0.0.1:{}",
                b.secure_port().expect("secured listener")
            )
        },
        &mqtt_extra,
        "",
    )
    .await?;
    // The upstream gets a bearer token (nothing listens there: every attempt fails and is
    // logged), and the API a token of its own.
    let api_port = free_port()?;
    let text = std::fs::read_to_string(&world.config)?.replacen(
        "retry_max_ms = 500",
        &format!(
            "retry_max_ms = 500\nauth = \"bearer\"\ntoken_file = \"{}\"",
            token_file.display()
        ),
        1,
    );
    std::fs::write(
        &world.config,
        format!(
            "{text}\n[api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken_file = \"{}\"\n",
            api_token_file.display()
        ),
    )?;

    let mut daemon = world.spawn_unready_with("daemon.log", "trace")?;
    // Refused login first: the daemon names the cause (not the password) and retries.
    daemon
        .wait_log("refused the login", 1, Duration::from_secs(60))
        .await
        .context("the refused login was not logged")?;
    std::fs::write(&password_file, MQTT_PASSWORD)?;
    daemon.wait_serving().await?;

    // A message flows, so a document is built and its delivery (with the token) attempted.
    let client = world.line_client("secrets-line").await?;
    let batch = format!("X{}", run_tag());
    client
        .publish(&events_topic(LINE), batch_open("open", &batch), "open")
        .await?;
    let codes = vec![code(&format!("S{batch}1"))];
    client
        .publish(&events_topic(LINE), commission("c1", &batch, &codes), "c1")
        .await?;
    client
        .publish(&events_topic(LINE), batch_close("close", &batch), "close")
        .await?;
    client.wait_acked(3, Duration::from_secs(60)).await?;
    // Its delivery is tried with the bearer token, fails (nothing listens) and is retried.
    daemon
        .wait_log("will retry", 1, Duration::from_secs(60))
        .await
        .context("no delivery attempt was logged")?;

    // API writes with a wrong and with the right token, then a reload.
    let api = format!("127.0.0.1:{api_port}");
    for token in ["not-the-token", API_TOKEN] {
        let status = http_post(&api, "/api/v1/outbox/no-such-document/retry", token).await?;
        ensure!(status != 0, "no answer from the API");
    }
    daemon.hangup().await?;
    daemon
        .wait_log("configuration reloaded", 1, Duration::from_secs(30))
        .await?;
    daemon.terminate().await?;

    let log = std::fs::read_to_string(&daemon.log)?;
    ensure!(
        log.contains("TRACE") && log.contains("DEBUG"),
        "the log is not at trace level ({} lines)",
        log.lines().count()
    );
    for secret in [
        MQTT_PASSWORD,
        WRONG_MQTT_PASSWORD,
        UPSTREAM_TOKEN,
        API_TOKEN,
    ] {
        let hit = log.lines().find(|l| l.contains(secret));
        ensure!(
            hit.is_none(),
            "secret {secret} logged: {}",
            hit.unwrap_or("")
        );
    }
    // The production data it left is readable by the service user only: the database (and
    // its WAL files while they exist) and the End of Batch document waiting in the outbox.
    let data = world.path("data");
    let mut files: Vec<std::path::PathBuf> = ["linegate.db", "linegate.db-wal", "linegate.db-shm"]
        .iter()
        .map(|f| data.join(f))
        .filter(|p| p.exists())
        .collect();
    let outbox: Vec<std::path::PathBuf> = std::fs::read_dir(data.join("outbox"))
        .context("the outbox folder")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    ensure!(!outbox.is_empty(), "no document file in the outbox");
    files.extend(outbox);
    for f in &files {
        let mode = std::fs::metadata(f)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "{} has mode {mode:o}, not 600", f.display());
    }
    Ok(())
}

/// A bare HTTP/1.1 POST with a bearer token; returns the status code.
async fn http_post(addr: &str, path: &str, token: &str) -> Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let body = r#"{"reason":"secret test"}"#;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).await?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(status)
}
