//! The line-state publisher: `{prefix}/lines/{line}/state`, retained, for the line's HMI.
//!
//! One JSON document per line (docs/mqtt-protocol-v1.md, schemas/line-state-v1.schema.json):
//! its open and running batches with the counts so far, whether linegate is taking input, the
//! daemon's current health problems (disk, broker, store, scanner stations), and the line's
//! scanner stations (up or down since when, last error, idle, reads) from the same `Health`.
//! It is published retained with QoS 1, so an HMI that connects later gets the latest state at
//! once.
//!
//! When: a line is marked dirty after a commit that touched it and every line after a health
//! change (a station going up, down or idle is one), and a line whose scanner stations read or
//! had a read committed since the last look; at most once a second (the session's tick) the
//! dirty lines are read from the store and published if their content changed. Every `SWEEP` all lines are re-read, which catches
//! changes made from the command line (`linegate batch close`). On every connect everything is
//! published again, because a broker restarted without persistence has lost retained messages.
//! Publishing uses `try_publish`: when rumqttc's queue is full the line stays dirty.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use serde_json::json;

use super::MqttSourceConfig;
use crate::health::{Health, StationReport};
use crate::store::{BatchProgress, ReadOnlyStore};

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
    /// `Health::line_activity` per line when last looked at.
    activity: HashMap<String, u64>,
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
            activity: HashMap::new(),
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
        // Scans (a station's reads and their commits) are no health change: compare, in memory.
        for line in &self.lines {
            let activity = health.line_activity(line);
            if self.activity.insert(line.clone(), activity) != Some(activity) {
                self.dirty.insert(line.clone());
            }
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
                    let state = state(line, intake_open, health, &batches);
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

/// A line's state without its timestamp (`at` is added when it is published).
fn state(
    line: &str,
    intake_open: bool,
    health: &Health,
    batches: &[BatchProgress],
) -> serde_json::Value {
    let stations: Vec<StationReport> = health.stations_on(line);
    json!({
        "line": line,
        "intake": if intake_open { "open" } else { "paused" },
        "healthy": health.is_healthy(),
        "problems": health.problems(),
        "batches": batches,
        "stations": stations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/line-state-v1.schema.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json")
    }

    fn keys(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    }

    fn listed(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string").to_string())
            .collect();
        k.sort();
        k
    }

    /// Every field the publisher writes is in the schema and required there, and the reverse
    /// (`at` is added at publishing); the integration tests check whole published documents.
    #[test]
    fn the_schema_lists_exactly_the_fields_of_a_state_and_its_stations() {
        let health = Health::new();
        health.register_station("S1", "L1", "commission", "/dev/serial/by-id/s1".into());
        health.station_down("S1", "gone");
        let batch = BatchProgress {
            batch: "B1".into(),
            gtin: "00361414567894".into(),
            lot: "L".into(),
            expiry: "2027-01-31".into(),
            state: "open".into(),
            opened_at: "2026-01-01T00:00:00+00:00".into(),
            work_order: None,
            planned_quantity: None,
            commissioned: 0,
            rejected: 0,
        };
        let mut doc = state("L1", false, &health, &[batch]);
        doc["at"] = json!("2026-01-01T00:00:00.000Z");
        let schema = schema();
        assert_eq!(keys(&doc), keys(&schema["properties"]));
        assert_eq!(keys(&doc), listed(&schema["required"]));
        let station = &doc["stations"][0];
        let items = &schema["properties"]["stations"]["items"];
        assert_eq!(keys(station), keys(&items["properties"]));
        assert_eq!(keys(station), listed(&items["required"]));
        assert_eq!(station["up"], false);
        assert_eq!(station["error"], "gone");
        assert_eq!(doc["problems"][0]["part"], "scanner:S1");
        let batch = &doc["batches"][0];
        let items = &schema["properties"]["batches"]["items"];
        assert_eq!(keys(batch), keys(&items["properties"]));
    }
}
