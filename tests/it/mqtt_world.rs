//! The world of the MQTT scenarios: a broker set up per test, a daemon config with extra keys.
//!
//! `Gateway` starts a plain anonymous broker; the MQTT scenarios need brokers that demand TLS
//! client certificates or a password, or that forget everything on restart, and daemons that
//! are *not* ready (wrong CA, wrong password), so they start the binary themselves and judge it
//! by its log. The test's own line client always uses the broker's plain anonymous listener;
//! the daemon gets the secured one (`Setup::secured`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::support::daemon::BIN;
use crate::support::mosquitto::Setup;
use crate::support::{
    Broker, Daemon, Mosquitto, MqttClient, cli_json, config_toml, free_port, log_tail, poll_until,
    url_for_port,
};

pub struct MqttWorld {
    pub broker: Broker,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    /// Declared last: removed after the broker's Drop printed its log.
    pub dir: TempDir,
}

impl MqttWorld {
    /// A temp dir for the test (certificates and password files go here before the broker).
    pub fn dir() -> Result<TempDir> {
        let keep = std::env::var_os("LINEGATE_IT_KEEP").is_some();
        Ok(tempfile::Builder::new()
            .prefix("linegate-mqtt-")
            .disable_cleanup(keep)
            .tempdir()?)
    }

    /// Starts the broker in `dir` and writes the daemon config: `url` for the daemon,
    /// `mqtt_extra` lines appended to `[mqtt]`, `gateway_extra` to `[gateway]`.
    pub async fn start(
        dir: TempDir,
        setup: &Setup,
        url: impl FnOnce(&Broker) -> String,
        mqtt_extra: &str,
        gateway_extra: &str,
    ) -> Result<MqttWorld> {
        let broker = Mosquitto::start_with(dir.path(), setup).await?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let world = MqttWorld {
            config: dir.path().join("linegate.toml"),
            data_dir,
            broker,
            dir,
        };
        world.write_config(&url(&world.broker), mqtt_extra, gateway_extra)?;
        Ok(world)
    }

    /// (Re)writes the daemon config. The upstream is a port nothing listens on: these
    /// scenarios are about the line side.
    pub fn write_config(&self, url: &str, mqtt_extra: &str, gateway_extra: &str) -> Result<()> {
        let base = config_toml(&self.data_dir, url, &url_for_port(free_port()?));
        let text = base
            .replacen(
                "client_id = \"linegate-test\"",
                &format!("client_id = \"linegate-test\"\n{mqtt_extra}"),
                1,
            )
            .replacen(
                "shutdown_timeout_secs = 10",
                &format!("shutdown_timeout_secs = 10\n{gateway_extra}"),
                1,
            );
        std::fs::write(&self.config, text)?;
        Ok(())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemon, started and READY (subscribed).
    pub async fn daemon(&self) -> Result<Daemon> {
        Daemon::start(&self.config).await
    }

    /// The daemon started without waiting for READY (it may never get there).
    pub fn spawn_unready(&self, log_name: &str) -> Result<Unready> {
        let log = self.path(log_name);
        let file = std::fs::File::create(&log)?;
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,linegate=debug")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {BIN}"))?;
        Ok(Unready { child, log })
    }

    /// A line client on the broker's plain anonymous listener.
    pub async fn line_client(&self, name: &str) -> Result<MqttClient> {
        MqttClient::connect(self.broker.port(), name, true).await
    }

    /// Identifiers stored per batch (`linegate batch list --json`), summed.
    pub async fn stored_serials(&self) -> Result<u64> {
        let rows: Vec<Value> = cli_json(&["batch", "list"], &self.config).await?;
        Ok(rows.iter().filter_map(|r| r["serials"].as_u64()).sum())
    }

    pub async fn batch_count(&self) -> Result<usize> {
        let rows: Vec<Value> = cli_json(&["batch", "list"], &self.config).await?;
        Ok(rows.len())
    }

    /// Polls until exactly `n` identifiers are stored.
    pub async fn wait_serials(&self, n: u64, timeout: Duration) -> Result<()> {
        let mut last = 0;
        let r = poll_until(&format!("{n} stored serials"), timeout, async || {
            last = self.stored_serials().await.unwrap_or(0);
            if last > n {
                bail!("{last} serials stored, more than the {n} sent");
            }
            Ok((last == n).then_some(()))
        })
        .await;
        r.with_context(|| format!("{last} of {n} serials stored"))
    }
}

/// A daemon process judged by its log (it may not be ready).
pub struct Unready {
    pub child: Child,
    pub log: PathBuf,
}

impl Unready {
    pub fn log_text(&self) -> String {
        plain(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Polls the log until `needle` occurs at least `times` times.
    pub async fn wait_log(&mut self, needle: &str, times: usize, timeout: Duration) -> Result<()> {
        let log = self.log.clone();
        let found = poll_until(
            &format!("{times}× '{needle}' in the log"),
            timeout,
            async || {
                if let Some(status) = self.child.try_wait()? {
                    bail!("daemon exited ({status})");
                }
                let n = std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches(needle)
                    .count();
                Ok((n >= times).then_some(()))
            },
        )
        .await;
        found.with_context(|| format!("log tail:\n{}", log_tail(&log, 30)))
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A connection failure as plant IT must see it: the log names `cause`, the daemon retries
    /// (at least three attempts) and keeps running. Returns the log for further checks.
    pub async fn fails_named_and_retries(&mut self, cause: &str) -> Result<String> {
        self.wait_log(cause, 1, Duration::from_secs(30)).await?;
        self.wait_log("retrying", 3, Duration::from_secs(30))
            .await?;
        ensure!(self.is_running(), "the daemon exited");
        Ok(self.log_text())
    }
}

impl Drop for Unready {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        eprintln!(
            "---- linegate log tail ({}) ----\n{}",
            self.log.display(),
            log_tail(&self.log, 40)
        );
    }
}

/// `text` without ANSI colour sequences (the daemon colours field names).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().skip(1).find(|c| ('@'..='~').contains(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// `mosquitto_passwd -c -b FILE USER PASSWORD`: a broker password file made at test time.
pub async fn mosquitto_password_file(path: &Path, user: &str, password: &str) -> Result<()> {
    let out = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(path)
        .args([user, password])
        .output()
        .await
        .context("run mosquitto_passwd")?;
    if !out.status.success() {
        bail!(
            "mosquitto_passwd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
