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
//!
//! This file holds the registry and its problems; the station records and the `station_*`
//! methods are in `health/stations.rs`.

mod stations;
pub mod store_watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::watch;

pub use stations::{StationHealth, StationReport};

/// One current problem: the part, a sentence for the operator, and since when it holds (RFC
/// 3339, UTC; a problem whose text changes keeps its start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub part: String,
    pub problem: String,
    pub since: String,
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

    /// Changes whenever a problem appears, changes or goes away, and when a station is
    /// registered or goes up, down, idle or busy again.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
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
}
