//! Shared harness for the `linegate` integration tests.
//!
//! Every scenario needs the same real parts wired together: a mosquitto
//! broker, an upstream HTTP receiver, a config file pointing the daemon at
//! both, and a data dir of its own. `gateway::Gateway` builds that world in a
//! temp dir; the other submodules hold the individual parts. This file holds
//! the line protocol message builders and the GTIN/serial -> EPC URI
//! expectation, so that every scenario computes its expected results the same
//! way, plus the small polling and log helpers the parts share.

pub mod daemon;
pub mod gateway;
pub mod https_upstream;
pub mod ledger;
pub mod mosquitto;
pub mod mqtt;
pub mod prometheus;
pub mod pty;
pub mod tls;
pub mod upstream;
pub mod xml;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;
use tokio::time::{Interval, MissedTickBehavior};

pub use daemon::{Daemon, OutboxRow, QuarantineRow, cli, cli_json};
pub use gateway::{Gateway, config_toml};
pub use mosquitto::{Broker, Mosquitto, free_port};
pub use mqtt::MqttClient;
pub use upstream::{Recorded, Upstream, UpstreamServer, url_for_port};
pub use xml::{EpcisDoc, check_epcs, validate_epcis12};

pub const TOPIC_PREFIX: &str = "acme/plant1";
pub const LINE: &str = "L1";
pub const GTIN: &str = "00361414567894";
pub const COMPANY_PREFIX_LEN: usize = 7;
pub const LOT: &str = "LOT-4711";
pub const EXPIRY: &str = "2027-03-31";
/// Generous bound for "the document reaches the upstream" on a loaded 2-core box.
pub const DOC_DEADLINE: Duration = Duration::from_secs(180);

/// A paced interval for poll loops (missed ticks are delayed, not bursted).
pub fn pace(period: Duration) -> Interval {
    let mut iv = tokio::time::interval(period);
    iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
    iv
}

/// Last `n` lines of a log file (for failure messages), ANSI colours removed.
pub fn log_tail(path: &Path, n: usize) -> String {
    log_tail_without(path, n, &[])
}

/// Like [`log_tail`], skipping lines that contain any of `noise`.
pub fn log_tail_without(path: &Path, n: usize, noise: &[&str]) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !noise.iter().any(|x| l.contains(x)))
        .collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    let mut plain = String::with_capacity(tail.len());
    let mut chars = tail.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ params... final byte in @..~
            chars.by_ref().skip(1).find(|c| ('@'..='~').contains(c));
        } else {
            plain.push(c);
        }
    }
    plain
}

pub fn events_topic(line: &str) -> String {
    format!("{TOPIC_PREFIX}/lines/{line}/events")
}

/// A fresh 4-letter tag so serials/ids differ between runs.
pub fn run_tag() -> String {
    (0..4).map(|_| fastrand::uppercase()).collect()
}

/// `(01)GTIN(21)SERIAL`, the bracketed element string a line scanner sends.
pub fn code(serial: &str) -> String {
    format!("(01){GTIN}(21){serial}")
}

/// The SGTIN pure-identity URI expected for `serial` of [`GTIN`].
pub fn sgtin(serial: &str) -> String {
    let (indicator, rest) = GTIN.split_at(1);
    let without_check = &rest[..rest.len() - 1];
    let (prefix, item) = without_check.split_at(COMPANY_PREFIX_LEN);
    format!("urn:epc:id:sgtin:{prefix}.{indicator}{item}.{serial}")
}

pub fn batch_open(id: &str, batch: &str) -> String {
    json!({"id": id, "type": "batch_open", "batch": batch, "gtin": GTIN,
           "lot": LOT, "expiry": EXPIRY, "time": chrono::Utc::now().to_rfc3339()})
    .to_string()
}

pub fn commission(id: &str, batch: &str, codes: &[String]) -> String {
    json!({"id": id, "type": "commission", "batch": batch, "codes": codes}).to_string()
}

pub fn batch_close(id: &str, batch: &str) -> String {
    json!({"id": id, "type": "batch_close", "batch": batch}).to_string()
}

/// Serials `S{tag}{n:05}` for n in 0..count.
pub fn serials(tag: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("S{tag}{n:05}")).collect()
}

/// Polls `probe` every 250 ms until it yields `Some`, failing after `timeout`.
pub async fn poll_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut tick = pace(Duration::from_millis(250));
    let mut last_err = None;
    loop {
        tick.tick().await;
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last error: {last_err:?}");
        }
    }
}
