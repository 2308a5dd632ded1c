//! The world of the MQTT scenarios: a broker set up per test, a daemon config with extra keys.
//!
//! `Gateway` starts a plain anonymous broker; the MQTT scenarios need brokers that demand TLS
//! client certificates or a password, or that forget everything on restart, and daemons that
//! are *not* ready (wrong CA, wrong password), so they start the binary themselves and judge it
//! by its log. The test's own line client always uses the broker's plain anonymous listener;
//! the daemon gets the secured one (`Setup::secured`). Such a daemon (`Unready`) can also be
//! sent SIGHUP, after its config file was rewritten, to reload it live.
//!
//! The line-state topic is what a line's HMI reads, so every state a test looks at is first
//! checked against the published schema (`check_line_state`).

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

    /// Appends `text` (e.g. `[[scanner]]` tables) to the daemon config.
    pub fn append_config(&self, text: &str) -> Result<()> {
        let mut all = std::fs::read_to_string(&self.config)?;
        all.push_str(text);
        std::fs::write(&self.config, all)?;
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
        self.spawn_unready_with(log_name, "info,linegate=debug")
    }

    /// [`Self::spawn_unready`] with `RUST_LOG=rust_log`.
    pub fn spawn_unready_with(&self, log_name: &str, rust_log: &str) -> Result<Unready> {
        let log = self.path(log_name);
        let file = std::fs::File::create(&log)?;
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", rust_log)
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

    /// Waits until the daemon says it is serving (subscribed; READY would be sent).
    pub async fn wait_serving(&mut self) -> Result<()> {
        self.wait_log("linegate is serving", 1, Duration::from_secs(60))
            .await
    }

    /// `kill -HUP`: the daemon reads its config file again.
    pub async fn hangup(&mut self) -> Result<()> {
        self.signal("-HUP").await
    }

    /// `kill -TERM`, then waits (bounded) for the exit; a graceful stop must succeed.
    pub async fn terminate(&mut self) -> Result<()> {
        self.signal("-TERM").await?;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("the daemon did not stop within 60 s of SIGTERM")??;
        ensure!(status.success(), "the daemon exited with {status}");
        Ok(())
    }

    async fn signal(&mut self, which: &str) -> Result<()> {
        ensure!(self.is_running(), "the daemon is not running");
        let pid = self.child.id().context("daemon pid")?;
        let sent = Command::new("kill")
            .args([which, &pid.to_string()])
            .status()
            .await?;
        ensure!(sent.success(), "kill {which} {pid} failed: {sent}");
        Ok(())
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

/// Waits for a line state on `hmi` (subscribed to the state topic) for which `want` holds;
/// every state seen on the way must match the schema.
pub async fn wait_state(
    hmi: &MqttClient,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let next = hmi.next_message(left.max(Duration::from_millis(1))).await;
        let (_, payload) =
            next.with_context(|| format!("no line state with {what}; last: {last}"))?;
        let state: Value = serde_json::from_slice(&payload)?;
        check_line_state(&state)?;
        if want(&state) {
            return Ok(state);
        }
        last = state;
    }
}

/// Checks a line state against schemas/line-state-v1.schema.json.
pub fn check_line_state(state: &Value) -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/line-state-v1.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    conforms(&schema, state, "$").with_context(|| format!("line state {state}"))
}

/// The subset of JSON Schema the line-state schema uses. A keyword not known here fails the
/// check, so the schema cannot outgrow this checker unnoticed.
fn conforms(schema: &Value, v: &Value, at: &str) -> Result<()> {
    let rules = schema.as_object().context("a schema is an object")?;
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" => {}
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    t => vec![t.as_str().context("type")?],
                };
                ensure!(
                    types.iter().any(|t| is_type(v, t)),
                    "{at}: {v} is not of type {types:?}"
                );
            }
            "enum" => ensure!(
                rule.as_array().is_some_and(|a| a.contains(v)),
                "{at}: {v} is not one of {rule}"
            ),
            "required" => {
                if let Some(obj) = v.as_object() {
                    for key in rule.as_array().context("required")? {
                        let key = key.as_str().context("required key")?;
                        ensure!(obj.contains_key(key), "{at}: '{key}' is missing");
                    }
                }
            }
            "properties" => {
                if let Some(obj) = v.as_object() {
                    for (key, sub) in rule.as_object().context("properties")? {
                        if let Some(x) = obj.get(key) {
                            conforms(sub, x, &format!("{at}.{key}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                ensure!(*rule == Value::Bool(false), "{at}: only `false` is known");
                let known = rules.get("properties").and_then(Value::as_object);
                if let Some(obj) = v.as_object() {
                    for key in obj.keys() {
                        ensure!(
                            known.is_some_and(|k| k.contains_key(key)),
                            "{at}.{key} is not in the schema"
                        );
                    }
                }
            }
            "items" => {
                if let Some(items) = v.as_array() {
                    for (i, x) in items.iter().enumerate() {
                        conforms(rule, x, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "minimum" => {
                if let Some(n) = v.as_f64() {
                    ensure!(
                        n >= rule.as_f64().context("minimum")?,
                        "{at}: {n} too small"
                    );
                }
            }
            "minLength" => {
                if let Some(t) = v.as_str() {
                    let min = rule.as_u64().context("minLength")? as usize;
                    ensure!(t.chars().count() >= min, "{at}: '{t}' too short");
                }
            }
            "pattern" => {
                // Only `^[0-9]{n}$` is used (GTINs).
                let n: usize = rule
                    .as_str()
                    .and_then(|p| p.strip_prefix("^[0-9]{")?.strip_suffix("}$")?.parse().ok())
                    .with_context(|| format!("{at}: pattern {rule} unknown to this checker"))?;
                if let Some(t) = v.as_str() {
                    ensure!(
                        t.len() == n && t.bytes().all(|b| b.is_ascii_digit()),
                        "{at}: '{t}' does not match {rule}"
                    );
                }
            }
            "format" => {
                if let Some(t) = v.as_str() {
                    let ok = match rule.as_str() {
                        Some("date-time") => chrono::DateTime::parse_from_rfc3339(t).is_ok(),
                        // Full-date of RFC 3339: zero-padded, which chrono alone does not insist on.
                        Some("date") => {
                            t.len() == 10
                                && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok()
                        }
                        _ => bail!("{at}: format {rule} unknown to this checker"),
                    };
                    ensure!(ok, "{at}: '{t}' is not a {rule}");
                }
            }
            other => bail!("{at}: schema keyword '{other}' unknown to this checker"),
        }
    }
    Ok(())
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => false,
    }
}

#[test]
fn the_line_state_checker_finds_what_breaks_the_schema() {
    let good = serde_json::json!({
        "line": "L1", "at": "2026-01-01T00:00:00.000Z", "intake": "open", "healthy": true,
        "problems": [], "stations": [],
        "batches": [{"batch": "B", "gtin": "00361414567894", "lot": "L", "expiry": "2027-03-31",
                     "state": "open", "opened_at": "x", "work_order": null,
                     "planned_quantity": null, "commissioned": 0, "rejected": 0}]
    });
    check_line_state(&good).expect("valid");
    let broken: [(&str, Value); 5] = [
        ("/intake", "closed".into()),
        ("/batches/0/gtin", "0036141456789".into()),
        ("/batches/0/expiry", "2027-3-31".into()),
        ("/at", "yesterday".into()),
        ("/batches/0/commissioned", (-1).into()),
    ];
    for (pointer, value) in broken {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).expect("pointer") = value;
        assert!(check_line_state(&bad).is_err(), "{pointer} passed");
    }
    let mut extra = good.clone();
    extra["surprise"] = true.into();
    assert!(check_line_state(&extra).is_err(), "an unknown field passed");
    let mut missing = good;
    missing.as_object_mut().expect("object").remove("stations");
    assert!(
        check_line_state(&missing).is_err(),
        "a missing field passed"
    );
}
