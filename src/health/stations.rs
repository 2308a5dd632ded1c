//! Scanner stations in the health registry: one record per `[[scanner]]`, and the problem it
//! implies.
//!
//! A station reports what happens to its port and its reads through the `station_*` methods;
//! each change updates the record and, through `station_problem`, the station's
//! `scanner:{id}` problem (port down: the error; idle alarm raised: no reads while a batch is
//! open). The station logs its own outages, with the device and how long it was down, so these
//! problems are not logged again by the registry. The records also feed the line-state topic
//! (`stations_on`) and the count of scans per line (`line_activity`), which is how the
//! publisher notices reads without every scan waking it.

use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{Health, Log, set_problem};

/// One scanner station's state.
#[derive(Debug, Clone, PartialEq)]
pub struct StationHealth {
    /// The `[[line]] id` the station reads for.
    pub line: String,
    /// The station kind: `commission`, `aggregate`, `reject` or `sample`.
    pub kind: &'static str,
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
    /// Messages from this station the store has answered (committed or refused).
    pub answered: u64,
}

/// A station as the line-state topic shows it (schemas/line-state-v1.schema.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationReport {
    pub id: String,
    pub kind: String,
    pub device: String,
    pub up: bool,
    pub since: String,
    pub error: Option<String>,
    pub idle: bool,
    pub last_read: Option<String>,
    pub reads: u64,
}

impl Health {
    /// Every station's record, by id.
    pub fn stations(&self) -> Vec<(String, StationHealth)> {
        let state = self.lock();
        (state.stations.iter())
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect()
    }

    /// Registers a station as down (not opened yet). It is no problem until an open fails.
    pub fn register_station(&self, id: &str, line: &str, kind: &'static str, device: PathBuf) {
        self.lock().stations.insert(
            id.to_string(),
            StationHealth {
                line: line.to_string(),
                kind,
                device,
                up: false,
                since: Utc::now(),
                error: Some("not opened yet".into()),
                idle: false,
                last_read: None,
                reads: 0,
                answered: 0,
            },
        );
        self.signal();
    }

    /// The station's port is open.
    pub fn station_up(&self, id: &str) {
        self.update_station(id, |h| {
            if !h.up {
                h.since = Utc::now();
            }
            h.up = true;
            h.error = None;
        });
    }

    /// The station's port is down; `since` moves only on the up → down change, not per retry.
    pub fn station_down(&self, id: &str, error: &str) {
        self.update_station(id, |h| {
            if h.up {
                h.since = Utc::now();
            }
            h.up = false;
            h.error = Some(error.to_string());
        });
    }

    /// The station read a frame (ends an idle alarm).
    pub fn station_read(&self, id: &str) {
        self.update_station(id, |h| {
            h.reads += 1;
            h.last_read = Some(Utc::now());
            h.idle = false;
        });
    }

    /// The store answered one of the station's messages (its line's counts may have moved).
    pub fn station_answered(&self, id: &str) {
        self.update_station(id, |h| h.answered += 1);
    }

    /// Grows with every read and every answer of `line`'s stations: whoever shows the line's
    /// state compares it to notice scans, which are no health change and not signalled.
    pub fn line_activity(&self, line: &str) -> u64 {
        self.lock()
            .stations
            .values()
            .filter(|h| h.line == line)
            .map(|h| h.reads + h.answered)
            .sum()
    }

    /// The station's idle alarm is raised (`true`) or over.
    pub fn station_idle(&self, id: &str, idle: bool) {
        self.update_station(id, |h| h.idle = idle);
    }

    pub fn station(&self, id: &str) -> Option<StationHealth> {
        self.lock().stations.get(id).cloned()
    }

    /// The stations reading for `line`, by id, as the line-state topic shows them.
    pub fn stations_on(&self, line: &str) -> Vec<StationReport> {
        let stamp = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.lock()
            .stations
            .iter()
            .filter(|(_, h)| h.line == line)
            .map(|(id, h)| StationReport {
                id: id.clone(),
                kind: h.kind.to_string(),
                device: h.device.display().to_string(),
                up: h.up,
                since: stamp(&h.since),
                error: h.error.clone(),
                idle: h.idle,
                last_read: h.last_read.as_ref().map(stamp),
                reads: h.reads,
            })
            .collect()
    }

    /// Applies `f` to the station's record and keeps its `scanner:{id}` problem in step.
    fn update_station(&self, id: &str, f: impl FnOnce(&mut StationHealth)) {
        let (signal, status) = {
            let mut state = self.lock();
            let Some(h) = state.stations.get_mut(id) else {
                return;
            };
            let before = (h.up, h.error.clone(), h.idle);
            f(h);
            let moved = before != (h.up, h.error.clone(), h.idle);
            let problem = station_problem(h);
            let part = format!("scanner:{id}");
            let status = set_problem(&mut state.problems, &part, problem, Log::ByReporter);
            (moved || status.is_some(), status)
        };
        if let Some(status) = status {
            crate::shutdown::notify_status(&status);
        }
        if signal {
            self.signal();
        }
    }
}

/// What is wrong with a station, if anything: a port that is down (after its first open
/// attempt), else a raised idle alarm.
fn station_problem(h: &StationHealth) -> Option<String> {
    match (&h.error, h.up, h.idle) {
        (Some(e), false, _) => Some(format!("scanner port down: {e}")),
        (_, _, true) => Some("no read while a batch is open (idle alarm)".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_is_a_problem_while_down_or_idle_and_since_is_the_start_of_the_outage() {
        let health = Health::new();
        let other = health.clone();
        let mut rx = other.changes();
        health.register_station("S1", "L1", "commission", "/dev/x".into());
        assert!(rx.has_changed().unwrap(), "a new station is shown");
        rx.mark_unchanged();
        // Registered but not tried yet: shown down, but no problem (no STATUS flicker at start).
        assert!(health.is_healthy() && !other.station("S1").unwrap().up);

        health.station_up("S1");
        assert!(rx.has_changed().unwrap() && health.is_healthy());
        rx.mark_unchanged();
        health.station_read("S1");
        assert!(!rx.has_changed().unwrap(), "a read is no health change");

        health.station_down("S1", "EIO");
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        let first = other.station("S1").expect("registered");
        health.station_down("S1", "EIO");
        assert!(
            !rx.has_changed().unwrap(),
            "a retry with the same error changes nothing"
        );
        health.station_down("S1", "ENOENT");
        let later = other.station("S1").expect("registered");
        assert!(
            !later.up && later.since == first.since,
            "since is the outage's start"
        );
        assert_eq!(later.error.as_deref(), Some("ENOENT"));
        assert_eq!(later.reads, 1);
        assert_eq!(
            (other.problems().iter())
                .map(|p| (p.part.as_str(), p.problem.as_str()))
                .collect::<Vec<_>>(),
            [("scanner:S1", "scanner port down: ENOENT")]
        );

        health.station_idle("S1", true);
        health.station_up("S1");
        let up = other.station("S1").unwrap();
        assert!(up.up && up.idle && up.error.is_none() && up.since > later.since);
        assert!(other.has_problem("scanner:S1"), "idle is a problem too");
        health.station_read("S1");
        assert!(other.is_healthy(), "a read ends the idle alarm");
        assert!(other.station("nope").is_none());
    }

    #[test]
    fn the_line_state_shows_only_the_line_s_stations() {
        let health = Health::new();
        health.register_station("b", "L1", "reject", "/dev/serial/by-id/bin".into());
        health.register_station("a", "L1", "commission", "/dev/serial/by-id/a".into());
        health.register_station("c", "L2", "sample", "/dev/c".into());
        health.station_up("a");
        assert_eq!(health.line_activity("L1"), 0);
        health.station_read("a");
        health.station_answered("a");
        health.station_answered("c");
        assert_eq!(
            (health.line_activity("L1"), health.line_activity("L2")),
            (2, 1)
        );
        let l1 = health.stations_on("L1");
        assert_eq!(
            l1.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(l1[0].up && l1[0].reads == 1 && l1[0].last_read.is_some());
        assert_eq!(l1[1].error.as_deref(), Some("not opened yet"));
        assert_eq!(
            (l1[1].kind.as_str(), l1[1].device.as_str()),
            ("reject", "/dev/serial/by-id/bin")
        );
        assert!(l1[0].since.ends_with('Z'), "{}", l1[0].since);
        assert!(health.stations_on("L3").is_empty());
    }
}
