//! Which scanner stations are connected, since when, and whether they went quiet.
//!
//! A serial link that dies silently is the classic complaint about line gateways (a USB
//! scanner replugged, a cable pulled, a port that hangs). Every station records its state
//! here as it changes; anything that reports on the gateway (logs, a status topic, a future
//! health endpoint) reads a snapshot. A clone is a handle to the same registry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

/// One station's state.
#[derive(Debug, Clone, PartialEq)]
pub struct StationHealth {
    pub device: PathBuf,
    /// The port is open and being read.
    pub up: bool,
    /// When `up` last changed (or the station started).
    pub since: DateTime<Utc>,
    /// Why the port is down, while it is.
    pub error: Option<String>,
    /// The line has an open batch and this station read nothing for `idle_alarm_secs`.
    pub idle: bool,
    pub last_read: Option<DateTime<Utc>>,
    /// Frames read since the daemon started.
    pub reads: u64,
}

/// The shared registry: station id → health.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<BTreeMap<String, StationHealth>>>);

impl Health {
    fn map(&self) -> MutexGuard<'_, BTreeMap<String, StationHealth>> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every station, by id.
    pub fn snapshot(&self) -> BTreeMap<String, StationHealth> {
        self.map().clone()
    }

    pub fn get(&self, station: &str) -> Option<StationHealth> {
        self.map().get(station).cloned()
    }

    /// Registers a station as down (not opened yet).
    pub fn register(&self, station: &str, device: PathBuf) {
        self.map().insert(
            station.to_string(),
            StationHealth {
                device,
                up: false,
                since: Utc::now(),
                error: Some("not opened yet".into()),
                idle: false,
                last_read: None,
                reads: 0,
            },
        );
    }

    fn update(&self, station: &str, f: impl FnOnce(&mut StationHealth)) {
        if let Some(h) = self.map().get_mut(station) {
            f(h);
        }
    }

    pub fn set_up(&self, station: &str) {
        self.update(station, |h| {
            h.up = true;
            h.since = Utc::now();
            h.error = None;
        });
    }

    /// Marks the station down; `since` moves only on the up → down change, not per retry.
    pub fn set_down(&self, station: &str, error: &str) {
        self.update(station, |h| {
            if h.up {
                h.since = Utc::now();
            }
            h.up = false;
            h.error = Some(error.to_string());
        });
    }

    pub fn record_read(&self, station: &str) {
        self.update(station, |h| {
            h.reads += 1;
            h.last_read = Some(Utc::now());
            h.idle = false;
        });
    }

    pub fn set_idle(&self, station: &str, idle: bool) {
        self.update(station, |h| h.idle = idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_since_is_the_start_of_the_outage_not_the_last_retry() {
        let health = Health::default();
        let other = health.clone();
        health.register("S1", "/dev/x".into());
        health.set_up("S1");
        health.record_read("S1");
        health.set_down("S1", "EIO");
        let first = other.get("S1").expect("registered");
        health.set_down("S1", "ENOENT");
        let later = other.get("S1").expect("registered");
        assert!(!later.up && later.since == first.since);
        assert_eq!(later.error.as_deref(), Some("ENOENT"));
        assert_eq!(later.reads, 1);
        health.set_idle("S1", true);
        health.set_up("S1");
        let up = other.snapshot()["S1"].clone();
        assert!(up.up && up.idle && up.error.is_none());
        assert!(other.get("nope").is_none());
    }
}
