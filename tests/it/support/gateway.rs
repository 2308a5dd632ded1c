//! The complete test world one scenario runs in, and the config that wires it.
//!
//! Each scenario needs its own broker, upstream, data dir and config file so
//! that tests can run in parallel and kill things without disturbing each
//! other. `Gateway` builds that world in a temp dir and offers the operations
//! scenarios share: starting the daemon, a line-side MQTT client, reading the
//! outbox and quarantine through the CLI, and checking a delivered document
//! against what the line sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use tempfile::TempDir;

use super::{
    Broker, Daemon, EpcisDoc, LINE, Mosquitto, MqttClient, OutboxRow, QuarantineRow, Recorded,
    TOPIC_PREFIX, Upstream, UpstreamServer, batch_close, batch_open, check_epcs, cli_json, code,
    commission, events_topic, free_port, poll_until, sgtin, url_for_port,
};

/// A complete test world: temp dir, broker, upstream, config file.
pub struct Gateway {
    pub broker: Broker,
    /// `None` while the upstream is deliberately down.
    pub upstream: Option<UpstreamServer>,
    pub upstream_port: u16,
    pub config: PathBuf,
    /// Declared last so it is removed after the broker's Drop printed its
    /// log. Kept on disk when `LINEGATE_IT_KEEP` is set (for post-mortems).
    pub dir: TempDir,
}

impl Gateway {
    /// Broker and upstream running; the upstream answers from `script`.
    pub async fn start(script: &[u16]) -> Result<Gateway> {
        let upstream = Upstream::start(script).await?;
        let port = upstream.port();
        Self::assemble(Some(upstream), port).await
    }

    /// The config points at a port on which nothing listens (yet).
    pub async fn start_with_dead_upstream() -> Result<Gateway> {
        let port = free_port()?;
        Self::assemble(None, port).await
    }

    async fn assemble(upstream: Option<UpstreamServer>, upstream_port: u16) -> Result<Gateway> {
        let keep = std::env::var_os("LINEGATE_IT_KEEP").is_some();
        let dir = tempfile::Builder::new()
            .prefix("linegate-it-")
            .disable_cleanup(keep)
            .tempdir()?;
        if keep {
            eprintln!("keeping test dir {}", dir.path().display());
        }
        let broker = Mosquitto::start(dir.path()).await?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir)?;
        let config = dir.path().join("linegate.toml");
        std::fs::write(
            &config,
            config_toml(&data_dir, &broker.url(), &url_for_port(upstream_port)),
        )?;
        Ok(Gateway {
            dir,
            broker,
            upstream,
            upstream_port,
            config,
        })
    }

    /// Starts the upstream on the configured port (after `start_with_dead_upstream`).
    pub async fn revive_upstream(&mut self, script: &[u16]) -> Result<&UpstreamServer> {
        let server = Upstream::start_on(self.upstream_port, script).await?;
        Ok(self.upstream.insert(server))
    }

    /// Points the `[[upstream]]` at `url` (an MQTT broker, a pickup folder) instead of the
    /// HTTP receiver, with the `extra` keys added to it. Call it before starting the daemon.
    pub fn set_upstream(&self, url: &str, extra: &str) -> Result<()> {
        let data_dir = self.dir.path().join("data");
        let text = config_toml(&data_dir, &self.broker.url(), url);
        std::fs::write(&self.config, format!("{text}{extra}"))?;
        Ok(())
    }

    pub fn upstream(&self) -> &UpstreamServer {
        self.upstream.as_ref().expect("upstream is not running")
    }

    pub async fn daemon(&self) -> Result<Daemon> {
        Daemon::start(&self.config).await
    }

    /// A line-side client that also listens to every line's rejects topic.
    pub async fn line_client(&self, name: &str) -> Result<MqttClient> {
        let client = MqttClient::connect(self.broker.port(), name, true).await?;
        client
            .subscribe(&format!("{TOPIC_PREFIX}/lines/+/rejects"))
            .await?;
        Ok(client)
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxRow>> {
        cli_json(&["outbox", "list"], &self.config).await
    }

    pub async fn quarantine(&self) -> Result<Vec<QuarantineRow>> {
        cli_json(&["quarantine", "list"], &self.config).await
    }

    /// Polls `outbox list` until `done(rows)` holds; returns those rows.
    pub async fn wait_outbox(
        &self,
        what: &str,
        done: impl Fn(&[OutboxRow]) -> bool,
    ) -> Result<Vec<OutboxRow>> {
        let mut last = Vec::new();
        let found = poll_until(what, Duration::from_secs(60), async || {
            let rows = self.outbox().await?;
            let ok = done(&rows);
            last = rows.clone();
            Ok(ok.then_some(rows))
        })
        .await;
        found.with_context(|| format!("outbox was: {last:#?}"))
    }

    /// Full check of one delivered document against what the line sent:
    /// headers, XSD validity, exactly the expected EPCs, lot and expiry.
    pub async fn check_document(&self, req: &Recorded, serials: &[String]) -> Result<EpcisDoc> {
        let ctype = req.header("content-type").unwrap_or_default();
        let media = ctype.split(';').next().unwrap_or_default().trim();
        ensure!(
            media.eq_ignore_ascii_case("application/xml"),
            "Content-Type {ctype:?}"
        );
        let expected: Vec<String> = serials.iter().map(|s| sgtin(s)).collect();
        let doc = self.check_end_of_batch(req, &expected).await?;
        // Loose units only: one commissioning event, and the release names them all.
        ensure!(
            doc.actions == ["ADD", "OBSERVE"],
            "actions {:?}",
            doc.actions
        );
        check_epcs(&doc.released(), &expected, &[])?;
        Ok(doc)
    }

    /// Publishes batch_open, the serials in messages of `per_msg` codes, and
    /// batch_close, in that order; waits until the broker acked all of them.
    pub async fn publish_batch(
        &self,
        client: &MqttClient,
        batch: &str,
        serials: &[String],
        per_msg: usize,
    ) -> Result<()> {
        let topic = events_topic(LINE);
        let before = client.acked_count();
        client
            .publish(&topic, batch_open(&format!("{batch}-open"), batch), "open")
            .await?;
        let mut sent = 1;
        for (i, chunk) in serials.chunks(per_msg).enumerate() {
            let codes: Vec<String> = chunk.iter().map(|s| code(s)).collect();
            let id = format!("{batch}-c{i}");
            client
                .publish(&topic, commission(&id, batch, &codes), &id)
                .await?;
            sent += 1;
        }
        client
            .publish(
                &topic,
                batch_close(&format!("{batch}-close"), batch),
                "close",
            )
            .await?;
        client
            .wait_acked(before + sent + 1, Duration::from_secs(60))
            .await
    }
}

/// The daemon config used by every scenario (format: see the crate's README/contract).
pub fn config_toml(data_dir: &Path, mqtt_url: &str, upstream_url: &str) -> String {
    format!(
        r#"[gateway]
data_dir = "{data}"
site_gln = "0361414000001"
shutdown_timeout_secs = 10

[gs1]
company_prefixes = ["0361414"]
default_company_prefix_length = 7

[mqtt]
url = "{mqtt_url}"
topic_prefix = "{TOPIC_PREFIX}"
client_id = "linegate-test"
max_payload_bytes = 1048576

[[line]]
id = "{LINE}"
sgln = "urn:epc:id:sgln:0361414.00001.{LINE}"

[[upstream]]
name = "mah"
url = "{upstream_url}"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
timeout_secs = 5
retry_initial_ms = 50
retry_max_ms = 500
"#,
        data = data_dir.display()
    )
}
