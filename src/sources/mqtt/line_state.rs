//! The line-state publisher: `{prefix}/lines/{line}/state`, retained, for the line's HMI.
//!
//! One JSON document per line (docs/mqtt-protocol-v1.md, schemas/line-state-v1.schema.json):
//! its open and running batches with the counts so far, whether linegate is taking input, and
//! the daemon's current health problems (disk, broker, store, scanner stations). It is
//! published retained with QoS 1, so an HMI that connects later gets the latest state at once.
//!
//! When: a line is marked dirty after a commit that touched it and every line after a health
//! change; at most once a second (the session's tick) the dirty lines are read from the store
//! and published if their content changed. Every `SWEEP` all lines are re-read, which catches
//! changes made from the command line (`linegate batch close`). On every connect everything is
//! published again, because a broker restarted without persistence has lost retained messages.
//! Publishing uses `try_publish`: when rumqttc's queue is full the line stays dirty.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use serde_json::json;

use super::MqttSourceConfig;
use crate::health::Health;
use crate::store::ReadOnlyStore;

/// Every line is re-read this often, for changes that did not come through this source.
const SWEEP: Duration = Duration::from_secs(10);

pub struct Publisher {
    prefix: String,
    lines: BTreeSet<String>,
    data_dir: PathBuf,
    store: Option<ReadOnlyStore>,
    dirty: BTreeSet<String>,
    /// What was last published per line, without its timestamp.
    last: HashMap<String, serde_json::Value>,
    last_sweep: Instant,
}

impl Publisher {
    pub fn new(cfg: &MqttSourceConfig) -> Self {
        Publisher {
            prefix: cfg.mqtt.topic_prefix.clone(),
            lines: cfg.lines.clone(),
            data_dir: cfg.data_dir.clone(),
            store: None,
            dirty: cfg.lines.clone(),
            last: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    /// A commit touched `line`.
    pub fn mark(&mut self, line: &str) {
        if self.lines.contains(line) && !self.dirty.contains(line) {
            self.dirty.insert(line.to_string());
        }
    }

    pub fn mark_all(&mut self) {
        self.dirty = self.lines.clone();
    }

    /// A new connection: publish every line again, changed or not.
    pub fn on_connect(&mut self) {
        self.last.clear();
        self.mark_all();
    }

    /// Publishes the dirty lines whose state changed (called at most once a second).
    pub fn publish_due(&mut self, client: &AsyncClient, health: &Health, intake_open: bool) {
        if self.last_sweep.elapsed() >= SWEEP {
            self.last_sweep = Instant::now();
            self.mark_all();
        }
        if self.dirty.is_empty() {
            return;
        }
        if !self.open_store() {
            return;
        }
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let mut states = Vec::new();
        let mut failed = false;
        for line in &self.dirty {
            match store.line_progress(line) {
                Ok(batches) => {
                    let state = json!({
                        "line": line,
                        "intake": if intake_open { "open" } else { "paused" },
                        "healthy": health.is_healthy(),
                        "problems": health.problems(),
                        "batches": batches,
                    });
                    states.push((line.clone(), state));
                }
                Err(e) => {
                    tracing::warn!(%line, error = %e, "cannot read the line state; retrying");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            self.store = None;
            return;
        }
        for (line, state) in states {
            if self.last.get(&line) == Some(&state) {
                self.dirty.remove(&line);
                continue;
            }
            let mut doc = state.clone();
            doc["at"] =
                json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            let topic = format!("{}/lines/{line}/state", self.prefix);
            match client.try_publish(topic, QoS::AtLeastOnce, true, doc.to_string()) {
                Ok(()) => {
                    self.dirty.remove(&line);
                    self.last.insert(line, state);
                }
                // Full queue (or a closing client): the line stays dirty for the next tick.
                Err(_) => return,
            }
        }
    }

    /// Opens the read-only connection on first use (and again after an error).
    fn open_store(&mut self) -> bool {
        if self.store.is_none() {
            match ReadOnlyStore::open(&self.data_dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the store to publish line states");
                    return false;
                }
            }
        }
        true
    }
}
