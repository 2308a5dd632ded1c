//! The daemon's health: what is wrong right now, and how each scanner station is doing.
//!
//! One registry for the whole daemon, shared by handle. It holds two things:
//! * **problems**, one per part, named by what an operator would look at: `disk`, `mqtt`,
//!   `store` (slow to take messages), `store:writer` / `store:commits` / `store:integrity`
//!   (`store_watch`: the writer does not answer, commits fail, `quick_check` found damage at
//!   start), `outbox` (undelivered documents above `gateway.max_outbox_bytes`),
//!   `outbox:{upstream}` (dead letters waiting for an operator), and for scanner stations
//!   `scanner:{station}`. Each problem carries since when it holds. A part reports a problem
//!   (`set(part, Some(text))`) or its recovery (`set(part, None)`). Only a change of state is
//!   logged — once as a warning when the part becomes unhealthy, once when it recovers — so a
//!   disk that stays full does not flood the journal; the text may be refreshed silently
//!   meanwhile.
//! * **stations**, one record per `[[scanner]]` (device, up or down since when, the last error,
//!   idle, reads, last read). A station reports through the `station_*` methods; the registry
//!   derives its `scanner:{station}` problem from the record (down: the error; idle: the idle
//!   alarm). The station logs its own outage once, with the device and how long it was down,
//!   so the registry does not log those parts a second time.
//!
//! Every change of a problem goes to systemd as the unit's STATUS line; every change of a
//! problem or of a station's up, error or idle state wakes whoever watches `changes()` (the
//! MQTT line-state publisher shows both on the line's HMI). Reads and answers alone do not
//! signal: they come with every scan, and the publisher notices them on its own tick
//! (`line_activity`).

pub mod store_watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::watch;

/// One current problem: the part, a sentence for the operator, and since when it holds (RFC
/// 3339, UTC; a problem whose text changes keeps its start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub part: String,
    pub problem: String,
    pub since: String,
}

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

/// A cheap, cloneable handle to the shared health record.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every change; receivers only care that it moved.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    problems: BTreeMap<String, Reported>,
    /// Parts that reported at least once (healthy or not): `state_of` tells "fine" from
    /// "never heard of".
    reporters: BTreeSet<String>,
    stations: BTreeMap<String, StationHealth>,
}

/// A problem as the registry keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Reported {
    text: String,
    since: DateTime<Utc>,
}

/// Whether a change is logged by the registry (parts) or was logged by its reporter (stations).
#[derive(Clone, Copy, PartialEq)]
enum Log {
    Here,
    ByReporter,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Health {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// Records `part`'s problem (`Some`) or its recovery (`None`).
    pub fn set(&self, part: &str, problem: Option<String>) {
        let status = {
            let mut state = self.lock();
            state.reporters.insert(part.to_string());
            set_problem(&mut state.problems, part, problem, Log::Here)
        };
        if let Some(status) = status {
            crate::shutdown::notify_status(&status);
            self.signal();
        }
    }

    /// Whether `part` has a problem now.
    pub fn has_problem(&self, part: &str) -> bool {
        self.lock().problems.contains_key(part)
    }

    pub fn is_healthy(&self) -> bool {
        self.lock().problems.is_empty()
    }

    /// The current problems, ordered by part.
    pub fn problems(&self) -> Vec<Problem> {
        self.lock()
            .problems
            .iter()
            .map(|(part, r)| Problem {
                part: part.clone(),
                problem: r.text.clone(),
                since: r.since.to_rfc3339_opts(SecondsFormat::Millis, true),
            })
            .collect()
    }

    /// `Some(true)` while `part` reported and has no problem, `Some(false)` while it has one,
    /// `None` when it never reported (the MQTT source before its first connection attempt).
    pub fn state_of(&self, part: &str) -> Option<bool> {
        let state = self.lock();
        if state.problems.contains_key(part) {
            Some(false)
        } else {
            state.reporters.contains(part).then_some(true)
        }
    }

    /// Every station's record, by id.
    pub fn stations(&self) -> Vec<(String, StationHealth)> {
        let state = self.lock();
        (state.stations.iter())
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect()
    }

    /// Changes whenever a problem appears, changes or goes away, and when a station is
    /// registered or goes up, down, idle or busy again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
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

    fn signal(&self) {
        self.inner.changed.send_modify(|n| *n += 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-written; keep using them.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sets or clears `part`'s problem; returns the new STATUS line if anything changed. A
/// problem whose text changes keeps its `since`.
fn set_problem(
    problems: &mut BTreeMap<String, Reported>,
    part: &str,
    problem: Option<String>,
    log: Log,
) -> Option<String> {
    let before = problems.get(part).map(|r| &r.text);
    if before == problem.as_ref() {
        return None;
    }
    if log == Log::Here {
        match (before, &problem) {
            (None, Some(p)) => tracing::warn!(%part, problem = %p, "unhealthy"),
            (Some(_), None) => tracing::info!(%part, "recovered"),
            _ => {}
        }
    }
    match problem {
        Some(text) => {
            let since = problems.get(part).map_or_else(Utc::now, |r| r.since);
            problems.insert(part.to_string(), Reported { text, since });
        }
        None => {
            problems.remove(part);
        }
    }
    Some(status_line(problems))
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

/// The systemd STATUS line for the current problems.
fn status_line(problems: &BTreeMap<String, Reported>) -> String {
    if problems.is_empty() {
        return "serving".into();
    }
    let list: Vec<String> = (problems.iter())
        .map(|(k, v)| format!("{k}: {}", v.text))
        .collect();
    format!("degraded — {}", list.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_come_and_go_and_every_change_is_signalled() {
        let h = Health::new();
        let mut rx = h.changes();
        assert!(h.is_healthy());
        h.set("disk", Some("12 MiB free".into()));
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        h.set("disk", Some("12 MiB free".into()));
        assert!(!rx.has_changed().unwrap(), "no change, no signal");
        let since = h.problems()[0].since.clone();
        h.set("mqtt", Some("broker down".into()));
        h.set("disk", Some("11 MiB free".into()));
        assert_eq!(h.problems()[0].since, since, "a new text keeps the start");
        assert_eq!(
            h.problems()
                .iter()
                .map(|p| p.part.as_str())
                .collect::<Vec<_>>(),
            ["disk", "mqtt"]
        );
        assert_eq!(
            status_line(&h.lock().problems),
            "degraded — disk: 11 MiB free; mqtt: broker down"
        );
        assert_eq!(h.state_of("mqtt"), Some(false));
        h.set("disk", None);
        h.set("mqtt", None);
        assert!(h.is_healthy() && !h.has_problem("disk"));
        assert_eq!(
            (h.state_of("mqtt"), h.state_of("never")),
            (Some(true), None)
        );
    }

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
