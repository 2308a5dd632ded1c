//! The writer's figures for `/metrics` and the health: commits, their latency, and what became
//! of each line's messages per source.
//!
//! The writer thread records into this after every group commit; the API reads a snapshot when
//! it is scraped. Recording must cost the writer next to nothing, so the totals and the latency
//! histogram are atomics, and only the per line and source counters sit behind a mutex (one
//! short lock per group, not per message, over a map that has one entry per line and source).
//! Nothing here is persisted: the counters start at zero with the daemon, as Prometheus
//! counters may.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{IngestItem, IngestOutcome};

/// Upper bounds (seconds) of the commit-latency histogram's buckets; `+Inf` follows.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What became of one line's messages from one source since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Every message the store answered (applied, refused or seen before).
    pub received: u64,
    /// Refused by the decoder or the line rules (quarantined).
    pub rejected: u64,
    /// Seen before on this line: nothing was applied again.
    pub duplicate: u64,
}

/// A commit that failed and has not been followed by a successful one.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitFailure {
    pub since: DateTime<Utc>,
    pub error: String,
}

/// The figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    pub commits: u64,
    pub commit_failures: u64,
    /// Commits per bucket of `LATENCY_BUCKETS`, cumulative, then the `+Inf` bucket (= `commits`).
    pub latency_cumulative: Vec<u64>,
    pub latency_sum_secs: f64,
    /// Per (line, source).
    pub messages: BTreeMap<(String, String), MessageCounts>,
}

/// The writer's figures, shared by the writer thread and the readers (`Store::stats`).
#[derive(Debug, Default)]
pub struct StoreStats {
    commits: AtomicU64,
    failures: AtomicU64,
    /// Commits per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    messages: Mutex<BTreeMap<(String, String), MessageCounts>>,
    failing: Mutex<Option<CommitFailure>>,
}

impl StoreStats {
    /// A group of messages committed in `elapsed` (from BEGIN to the end of COMMIT).
    pub(super) fn committed<'a>(
        &self,
        elapsed: Duration,
        outcomes: impl Iterator<Item = (&'a IngestItem, &'a IngestOutcome)>,
    ) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = (LATENCY_BUCKETS.iter())
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        let mut messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        for (item, outcome) in outcomes {
            let key = (
                item.line.clone().unwrap_or_else(|| UNCONFIGURED.into()),
                source_of(&item.topic),
            );
            let counts = messages.entry(key).or_default();
            counts.received += 1;
            match outcome {
                IngestOutcome::Applied => {}
                IngestOutcome::Rejected(_) => counts.rejected += 1,
                IngestOutcome::Duplicate { .. } => counts.duplicate += 1,
            }
        }
        drop(messages);
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A group did not commit (`error` says why); nothing of it was answered as done.
    pub(super) fn failed(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let since = failing.as_ref().map_or_else(Utc::now, |f| f.since);
        *failing = Some(CommitFailure {
            since,
            error: error.to_string(),
        });
    }

    /// The failure of the latest commit, while no commit succeeded after it.
    pub fn failing(&self) -> Option<CommitFailure> {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let mut running = 0;
        let latency_cumulative = (self.buckets.iter())
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect::<Vec<u64>>();
        StatsSnapshot {
            // The +Inf bucket is the count; taken from the same loads so the two agree.
            commits: latency_cumulative.last().copied().unwrap_or(0),
            commit_failures: self.failures.load(Ordering::Relaxed),
            latency_sum_secs: self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            latency_cumulative,
            messages: self
                .messages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// The line label of a message whose topic named a line that is not configured.
pub const UNCONFIGURED: &str = "(unconfigured)";

/// The source a message came from, by the topic it was stored under: `mqtt`, `api`, `cli`,
/// `scanner:<station>`, or the topic itself for anything else.
pub fn source_of(topic: &str) -> String {
    if let Some(station) = topic.strip_prefix("scanner/") {
        format!("scanner:{station}")
    } else if topic.starts_with("api/") || topic == "api" {
        "api".into()
    } else if topic.contains("/lines/") {
        "mqtt".into()
    } else {
        topic.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RejectCode, Rejection};
    use crate::store::Decoded;

    fn item(line: Option<&str>, topic: &str) -> IngestItem {
        IngestItem {
            topic: topic.into(),
            line: line.map(String::from),
            received_at: Utc::now(),
            payload: Vec::new(),
            decoded: Decoded::Refused {
                message_id: None,
                rejection: Rejection::new(RejectCode::InvalidJson, "x"),
            },
        }
    }

    #[test]
    fn sources_are_named_by_their_topics() {
        assert_eq!(source_of("acme/plant1/lines/L1/events"), "mqtt");
        assert_eq!(source_of("api/lines/L1/messages"), "api");
        assert_eq!(source_of("scanner/S1"), "scanner:S1");
        assert_eq!(source_of("cli"), "cli");
    }

    #[test]
    fn commits_fill_the_histogram_and_the_counters_and_end_a_failure() {
        let stats = StoreStats::default();
        let (a, b) = (
            item(Some("L1"), "acme/lines/L1/events"),
            item(None, "scanner/S1"),
        );
        let refused = IngestOutcome::Rejected(Rejection::new(RejectCode::InvalidJson, "x"));
        let dup = IngestOutcome::Duplicate { earlier: None };
        stats.committed(
            Duration::from_micros(700),
            [(&a, &IngestOutcome::Applied), (&a, &refused), (&b, &dup)].into_iter(),
        );
        stats.failed("disk I/O error");
        let since = stats.failing().expect("failing").since;
        stats.failed("disk I/O error again");
        let f = stats.failing().expect("still failing");
        assert_eq!((f.since, f.error.as_str()), (since, "disk I/O error again"));
        stats.committed(Duration::from_secs(20), std::iter::empty());
        assert_eq!(stats.failing(), None);

        let s = stats.snapshot();
        assert_eq!((s.commits, s.commit_failures), (2, 2));
        assert_eq!(s.latency_cumulative.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!(s.latency_cumulative[0], 1, "0.7 ms is in the 1 ms bucket");
        assert_eq!(s.latency_cumulative[LATENCY_BUCKETS.len() - 1], 1);
        assert_eq!(s.latency_cumulative[LATENCY_BUCKETS.len()], 2, "+Inf");
        assert!((s.latency_sum_secs - 20.0007).abs() < 1e-9);
        let l1 = s.messages[&("L1".to_string(), "mqtt".to_string())];
        assert_eq!(
            l1,
            MessageCounts {
                received: 2,
                rejected: 1,
                duplicate: 0
            }
        );
        let none = s.messages[&(UNCONFIGURED.to_string(), "scanner:S1".to_string())];
        assert_eq!((none.received, none.duplicate), (1, 1));
    }
}
