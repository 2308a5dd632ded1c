//! The daemon's health: what is wrong right now, one entry per part, readable by every part.
//!
//! A part reports a problem (`set(part, Some(text))`) or its recovery (`set(part, None)`).
//! Only a change of state is logged — once as a warning when the part becomes unhealthy, once
//! when it recovers — so a disk that stays full does not flood the journal; the text may be
//! refreshed silently meanwhile. Every change also goes to systemd as the unit's STATUS line
//! and wakes whoever watches `changes()` (the MQTT line-state publisher shows it on the HMI).
//! Parts are named by what an operator would look at: `disk`, `mqtt`, `store`, and for
//! scanner stations `scanner:{station}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;

/// One current problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub part: String,
    pub problem: String,
}

/// A cheap, cloneable handle to the shared health record.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    problems: Mutex<BTreeMap<String, String>>,
    /// Bumped on every change; receivers only care that it moved.
    changed: watch::Sender<u64>,
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
                problems: Mutex::new(BTreeMap::new()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// Records `part`'s problem (`Some`) or its recovery (`None`).
    pub fn set(&self, part: &str, problem: Option<String>) {
        let status = {
            let mut problems = self.lock();
            let before = problems.get(part).cloned();
            if before == problem {
                return;
            }
            match (&before, &problem) {
                (None, Some(p)) => tracing::warn!(%part, problem = %p, "unhealthy"),
                (Some(_), None) => tracing::info!(%part, "recovered"),
                _ => {}
            }
            match problem {
                Some(p) => problems.insert(part.to_string(), p),
                None => problems.remove(part),
            };
            status_line(&problems)
        };
        crate::shutdown::notify_status(&status);
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// Whether `part` has a problem now.
    pub fn has_problem(&self, part: &str) -> bool {
        self.lock().contains_key(part)
    }

    pub fn is_healthy(&self) -> bool {
        self.lock().is_empty()
    }

    /// The current problems, ordered by part.
    pub fn problems(&self) -> Vec<Problem> {
        self.lock()
            .iter()
            .map(|(part, problem)| Problem {
                part: part.clone(),
                problem: problem.clone(),
            })
            .collect()
    }

    /// Changes whenever a problem appears, changes or goes away.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A panic while holding this lock cannot leave the map half-written; keep using it.
        self.inner
            .problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// The systemd STATUS line for the current problems.
fn status_line(problems: &BTreeMap<String, String>) -> String {
    if problems.is_empty() {
        return "serving".into();
    }
    let list: Vec<String> = problems.iter().map(|(k, v)| format!("{k}: {v}")).collect();
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
        h.set("mqtt", Some("broker down".into()));
        assert_eq!(
            h.problems()
                .iter()
                .map(|p| p.part.as_str())
                .collect::<Vec<_>>(),
            ["disk", "mqtt"]
        );
        assert_eq!(
            status_line(&h.lock()),
            "degraded — disk: 12 MiB free; mqtt: broker down"
        );
        h.set("disk", None);
        h.set("mqtt", None);
        assert!(h.is_healthy() && !h.has_problem("disk"));
    }
}
